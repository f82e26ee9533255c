/*
 * intake_scan.h
 *		Reading a manifest document by position (intake_scan.c, intake_prune.c): the
 *		document's structure walked by bluegreen, json-c handed only what intake keeps.
 *		Include jsonc.h first.
 */
#ifndef BLUEGREEN_INTAKE_SCAN_H
#define BLUEGREEN_INTAKE_SCAN_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* json-c nests no deeper than this, and neither does the scanner. */
#define BG_JSON_MAX_DEPTH 64

typedef struct BgManifest BgManifest;

typedef struct ManifestReader
{
	const char *buf;
	size_t		len;
	size_t		pos;
	json_tokener *tok;
	json_object *current;		/* the value being reduced; freed on any exit */
	StringInfoData scratch;		/* strings decoded here, one at a time */
	BgManifest *manifest;
	bool		saw_metadata;
	bool		saw_nodes;
	bool		plan_only;		/* keep only what a plan compares (bg_manifest_parse_for_plan) */
	bool		in_document;	/* stored texts left in the document (bg_manifest_parse_to_store) */
	BgManifest *plan_live;		/* ... against this live manifest, if it enforces contracts */
	BgManifest *plan_reuse;		/* ... whose nodes stand for entries of their digest */
	int			n_reused;		/* entries it stood for */
} ManifestReader;

/* Where one value lies in the document; has_nul: it holds a \u0000 escape. */
typedef struct BgSpan
{
	size_t		start;
	size_t		end;			/* 0: the key was absent */
	bool		has_nul;
} BgSpan;

/*
 * What to keep of an object. Keys in keep are parsed by json-c into the result; keys
 * in spans are checked and passed over, and where their values lie is returned; keys
 * in descend are read as pruned objects themselves (by descend_as) and their spans
 * returned too, after those of spans; with each, every other key's value is read as a
 * pruned object by it. Everything else is checked and passed over. Arrays are NULL
 * terminated. A value that is not an object where a pruned object is expected is parsed
 * whole, so that the caller's type checks see it as it is.
 */
typedef struct BgPrune BgPrune;
struct BgPrune
{
	const char *const *keep;
	const char *const *spans;
	const char *const *descend;
	const BgPrune *const *descend_as;
	const BgPrune *each;
	void	   *lookup;			/* the keys sorted, made at first use */
};

/* Step over whitespace: called between every two tokens, so inline. */
static inline void
bg_reader_skip_ws(ManifestReader *r)
{
	const char *b = r->buf;
	size_t		p = r->pos;

	while (p < r->len && (b[p] == ' ' || b[p] == '\n' || b[p] == '\r' || b[p] == '\t'))
		p++;
	r->pos = p;
}

/* Whether c comes next (after whitespace), without consuming it. */
static inline bool
bg_reader_at(ManifestReader *r, char c)
{
	bg_reader_skip_ws(r);
	return r->pos < r->len && r->buf[r->pos] == c;
}

/* Consume c if it comes next; say whether it did. */
static inline bool
bg_reader_accept(ManifestReader *r, char c)
{
	if (!bg_reader_at(r, c))
		return false;
	r->pos++;
	return true;
}

extern void bg_reader_open(ManifestReader *r, const char *buf, size_t len);
extern void bg_reader_close(ManifestReader *r);
extern pg_attribute_noreturn() void bg_reader_syntax_error(ManifestReader *r, const char *expected,
														   const char *where);
extern void bg_reader_expect(ManifestReader *r, char c, const char *expected, const char *where);
extern void bg_reader_drop_current(ManifestReader *r);
extern json_object *bg_reader_value(ManifestReader *r, const char *where);

/* the scanner (intake_scan.c), for intake_prune.c */
extern pg_attribute_noreturn() void bg_scan_error(ManifestReader *r, enum json_tokener_error e,
												  size_t at, const char *where);
extern void bg_scan_string(ManifestReader *r, const char *where, bool *escaped, bool *nul);
extern void bg_scan_literal(ManifestReader *r, const char *word, enum json_tokener_error e,
							const char *where);
extern void bg_scan_value(ManifestReader *r, const char *where, int depth, bool *nul);
extern void bg_scan_number(ManifestReader *r, const char *where);
extern json_object *bg_parse_json_c(ManifestReader *r, const char *where);
extern void bg_reader_skip(ManifestReader *r, const char *where);
extern uint64 bg_digest_add(uint64 digest, uint32 tag, const char *p, size_t n);
extern uint64 bg_digest_finish(uint64 digest);

/* pruned reading (intake_prune.c) */
extern char *bg_reader_key(ManifestReader *r, const char *where);
extern json_object *bg_reader_pruned(ManifestReader *r, const char *where, BgPrune *prune,
									 BgSpan *spans);
extern bool bg_reader_pruned_slots(ManifestReader *r, const char *where, BgPrune *prune,
								   BgSpan *spans, json_object **kept, uint64 *digest);
extern uint64 bg_reader_entry_digest(ManifestReader *r, const char *where, BgPrune *prune,
									 bool *nul);
extern json_object *bg_reader_pruned_array(ManifestReader *r, const char *where,
										   BgPrune *prune);
extern char *bg_span_text(ManifestReader *r, const BgSpan *span);
extern void bg_span_decode(const char *buf, const BgSpan *span, StringInfo out);

#endif							/* BLUEGREEN_INTAKE_SCAN_H */
