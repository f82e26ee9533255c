/*
 * intake_prune.c
 *		Objects of a manifest read key by key, as BgPrune says: what intake keeps built
 *		into json-c values here (strings decoded as json-c decodes them, numbers parsed
 *		by json-c), the rest checked by the scanner (intake_scan.c) and passed over; and
 *		strings left in the document decoded the same way when they are needed.
 */
#include "postgres.h"

#include "jsonc.h"

#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "intake_json.h"
#include "intake_scan.h"
#include "manifest.h"

typedef enum KeyKind
{
	KEY_KEEP,
	KEY_SPAN,
	KEY_DESCEND
} KeyKind;

typedef struct PruneKey
{
	const char *key;
	size_t		len;
	KeyKind		kind;
	int			index;			/* in spans (KEY_SPAN, KEY_DESCEND) and descend_as */
} PruneKey;

/*
 * What the key at each place of the last object read was found as: dbt writes every
 * entry's keys in one order, so the key at a place is nearly always the one before.
 */
#define MEMO_PLACES 64
#define MEMO_KEY_LEN 32

typedef struct PruneMemo
{
	uint8		len;			/* 0: nothing remembered */
	char		text[MEMO_KEY_LEN];
	const PruneKey *found;		/* NULL: not one of the prune's keys */
} PruneMemo;

typedef struct PruneLookup
{
	int			n;
	int			n_keep;
	int			n_spans;
	PruneMemo	memo[MEMO_PLACES];
	PruneKey	keys[FLEXIBLE_ARRAY_MEMBER];
} PruneLookup;

static void read_pruned_into(ManifestReader *r, const char *where, BgPrune *prune,
							 BgSpan *spans, json_object *o, bool slots, int depth, bool *nul,
							 uint64 *digest);

/* ------------------------------------------------------------------------
 * Keys and kept values
 * ------------------------------------------------------------------------
 */

static uint32
hex4(const char *p)
{
	uint32		v = 0;

	for (int i = 0; i < 4; i++)
	{
		char		c = p[i];

		v = (v << 4) | (uint32) (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/*
 * The string between start (its opening quote) and end (after its closing one), which
 * scan_string has checked, decoded as json-c decodes it: a UTF-16 surrogate without its
 * partner becomes U+FFFD, and \u0000 a NUL byte (which the caller refuses).
 */
static void
decode_into(StringInfo out, const char *b, size_t start, size_t end)
{
	size_t		p = start + 1;
	size_t		stop = end - 1;

	resetStringInfo(out);
	while (p < stop)
	{
		const char *bs = memchr(b + p, '\\', stop - p);
		size_t		run = bs ? (size_t) (bs - (b + p)) : stop - p;
		char		c;

		appendBinaryStringInfo(out, b + p, (int) run);
		p += run;
		if (p >= stop)
			break;
		c = b[p + 1];
		p += 2;
		switch (c)
		{
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				{
					uint32		cp = hex4(b + p);
					unsigned char utf8[4];

					p += 4;
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						uint32		lo = (p + 6 <= stop && b[p] == '\\' && b[p + 1] == 'u') ?
							hex4(b + p + 2) : 0;

						if (lo >= 0xDC00 && lo <= 0xDFFF)
						{
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
							p += 6;
						}
						else
							cp = 0xFFFD;
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
						cp = 0xFFFD;
					unicode_to_utf8(cp, utf8);
					appendBinaryStringInfo(out, (char *) utf8, pg_utf_mblen(utf8));
					continue;
				}
			default:
				break;			/* " \ / stand for themselves */
		}
		appendStringInfoChar(out, c);
	}
}

static json_object *
decoded_string(ManifestReader *r, size_t start, size_t end)
{
	json_object *s;

	decode_into(&r->scratch, r->buf, start, end);
	s = json_object_new_string_len(r->scratch.data, r->scratch.len);
	if (s == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return s;
}

/*
 * The string value at span (its quotes included; checked by the scanner), decoded into
 * out as decoded_string decodes it.
 */
void
bg_span_decode(const char *buf, const BgSpan *span, StringInfo out)
{
	decode_into(out, buf, span->start, span->end);
}

/*
 * The object key at r->pos (not the ":" after it): *key and *len point into the
 * document when it has no escapes; otherwise at a palloc'd decoded copy (*copied set).
 * A key with a \u0000 is refused wherever intake reads one: json-c would cut the key
 * short there, so that "alias\u0000x" stood in for "alias".
 */
static void
scan_key(ManifestReader *r, const char *where, const char **key, size_t *len, bool *copied)
{
	size_t		start;
	bool		escaped = false;
	bool		nul = false;

	bg_reader_skip_ws(r);
	if (r->pos >= r->len || r->buf[r->pos] != '"')
		bg_scan_error(r, r->pos >= r->len ? json_tokener_error_parse_eof :
				   json_tokener_error_parse_object_key_name, r->pos, where);
	start = r->pos;
	bg_scan_string(r, where, &escaped, &nul);
	if (nul)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("manifest key in %s contains a \\u0000 character", where)));
	*copied = escaped;
	if (!escaped)
	{
		*key = r->buf + start + 1;
		*len = r->pos - start - 2;
	}
	else
	{
		json_object *k = decoded_string(r, start, r->pos);

		*len = json_object_get_string_len(k);
		*key = pnstrdup(json_object_get_string(k), *len);
		json_object_put(k);
	}
}

/* Read an object key; the result is palloc'd. */
char *
bg_reader_key(ManifestReader *r, const char *where)
{
	const char *key;
	size_t		len;
	bool		copied;

	bg_reader_drop_current(r);
	bg_reader_skip_ws(r);
	if (r->pos >= r->len || r->buf[r->pos] != '"')
		bg_reader_syntax_error(r, "a quoted key", where);
	scan_key(r, where, &key, &len, &copied);
	return copied ? (char *) key : pnstrdup(key, len);
}

/* v made a member of parent: named key, or appended to an array, or its slot-th item */
static void
attach(json_object *parent, const char *key, unsigned flags, json_object *v, int slot)
{
	if (slot >= 0)
	{
		if (json_object_array_put_idx(parent, slot, v) != 0)
		{
			json_object_put(v);
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
	}
	else if (json_object_is_type(parent, json_type_array))
		json_object_array_add(parent, v);
	else
		json_object_object_add_ex(parent, key, v, flags);
}

/*
 * A kept value, made a member of parent (named key, unless parent is an array; its
 * slot-th item when slot >= 0): built here as json-c would build it -- strings decoded,
 * containers filled after they are attached, so that an error anywhere leaves nothing
 * unowned -- with json-c itself parsing only numbers, whose conversions are its own.
 */
static void
keep_into(ManifestReader *r, const char *where, json_object *parent, const char *key,
		  unsigned flags, int depth, const char *inside, int slot)
{
	json_object *v;

	bg_reader_skip_ws(r);
	if (r->pos >= r->len)
		bg_scan_error(r, json_tokener_error_parse_eof, r->pos, where);
	switch (r->buf[r->pos])
	{
		case '"':
			{
				size_t		start = r->pos;
				bool		escaped = false;
				bool		nul = false;

				bg_scan_string(r, where, &escaped, &nul);
				/* the caller checks its fields for \u0000; what lies inside them, here (inside: the field) */
				if (nul && inside)
					ereport(ERROR,
							(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
							 errmsg("manifest %s: field \"%s\" contains a \\u0000 character",
									where, inside)));
				if (escaped)
					v = decoded_string(r, start, r->pos);
				else
					v = json_object_new_string_len(r->buf + start + 1, (int) (r->pos - start - 2));
				if (v == NULL)
					ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
				attach(parent, key, flags, v, slot);
				return;
			}
		case '{':
		case '[':
			{
				bool		object = r->buf[r->pos] == '{';
				char		close = object ? '}' : ']';

				if (depth >= BG_JSON_MAX_DEPTH)
					bg_scan_error(r, json_tokener_error_depth, r->pos, where);
				v = object ? json_object_new_object() : json_object_new_array();
				if (v == NULL)
					ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
				attach(parent, key, flags, v, slot);
				r->pos++;
				if (bg_reader_accept(r, close))
					return;
				for (;;)
				{
					if (object)
					{
						const char *k;
						size_t		len;
						bool		copied;
						char	   *name;

						scan_key(r, where, &k, &len, &copied);
						if (!bg_reader_accept(r, ':'))
							bg_scan_error(r, r->pos >= r->len ? json_tokener_error_parse_eof :
									   json_tokener_error_parse_object_key_sep, r->pos, where);
						name = copied ? (char *) k : pnstrdup(k, len);
						keep_into(r, where, v, name, 0, depth + 1, inside ? inside : key, -1);
						pfree(name);
					}
					else
						keep_into(r, where, v, NULL, 0, depth + 1, inside ? inside : key, -1);
					bg_reader_skip_ws(r);
					if (r->pos >= r->len)
						bg_scan_error(r, json_tokener_error_parse_eof, r->pos, where);
					if (r->buf[r->pos] == ',')
						r->pos++;
					else if (r->buf[r->pos] == close)
					{
						r->pos++;
						return;
					}
					else
						bg_scan_error(r, object ? json_tokener_error_parse_object_value_sep :
								   json_tokener_error_parse_array, r->pos, where);
				}
			}
		case 't':
		case 'f':
			{
				bool		b = r->buf[r->pos] == 't';

				bg_scan_literal(r, b ? "true" : "false", json_tokener_error_parse_boolean, where);
				attach(parent, key, flags, json_object_new_boolean(b), slot);
				return;
			}
		case 'n':
			bg_scan_literal(r, "null", json_tokener_error_parse_null, where);
			attach(parent, key, flags, NULL, slot);
			return;
		default:
			{
				/*
				 * A number: JSON's grammar first (json-c takes 1., -01, NaN and
				 * Infinity), then json-c's value; bg_scan_number refuses the rest.
				 */
				size_t		start = r->pos;
				char		c = r->buf[r->pos];

				if (c != '-' && (c < '0' || c > '9'))
					bg_scan_error(r, json_tokener_error_parse_unexpected, r->pos, where);
				bg_scan_number(r, where);
				r->pos = start;
				attach(parent, key, flags, bg_parse_json_c(r, where), slot);
				return;
			}
	}
}

/* ------------------------------------------------------------------------
 * Pruned objects
 * ------------------------------------------------------------------------
 */
/* by length, then bytes: a lookup compares lengths before it reads a byte */
static int
prune_key_cmp(const void *a, const void *b)
{
	const PruneKey *x = a;
	const PruneKey *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->key, y->key, x->len);
}

static PruneLookup *
prune_lookup(BgPrune *prune)
{
	PruneLookup *lk;
	int			n = 0;
	int			k = 0;

	if (prune->lookup)
		return prune->lookup;
	for (const char *const *s = prune->keep; s && *s; s++)
		n++;
	for (const char *const *s = prune->spans; s && *s; s++)
		n++;
	for (const char *const *s = prune->descend; s && *s; s++)
		n++;
	lk = MemoryContextAllocZero(TopMemoryContext, offsetof(PruneLookup, keys) + sizeof(PruneKey) * Max(n, 1));
	for (int i = 0; prune->keep && prune->keep[i]; i++)
		lk->keys[k++] = (PruneKey) {prune->keep[i], strlen(prune->keep[i]), KEY_KEEP, i};
	lk->n_keep = k;
	for (int i = 0; prune->spans && prune->spans[i]; i++)
		lk->keys[k++] = (PruneKey) {prune->spans[i], strlen(prune->spans[i]), KEY_SPAN, i};
	for (const char *const *s = prune->spans; s && *s; s++)
		lk->n_spans++;
	for (int i = 0; prune->descend && prune->descend[i]; i++)
		lk->keys[k++] = (PruneKey) {prune->descend[i], strlen(prune->descend[i]), KEY_DESCEND, i};
	lk->n = k;
	qsort(lk->keys, k, sizeof(PruneKey), prune_key_cmp);
	prune->lookup = lk;
	return lk;
}

/* the entry for key (len bytes, not terminated), or NULL */
static const PruneKey *
prune_find(PruneLookup *lk, const char *key, size_t len)
{
	int			lo = 0;
	int			hi = lk->n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		const PruneKey *k = &lk->keys[mid];
		int			c = k->len != len ? (k->len < len ? -1 : 1) : memcmp(k->key, key, len);

		if (c == 0)
			return k;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* prune_find for the key at place (0 for an object's first key) */
static inline const PruneKey *
prune_find_at(PruneLookup *lk, int place, const char *key, size_t len)
{
	PruneMemo  *m = place < MEMO_PLACES ? &lk->memo[place] : NULL;
	const PruneKey *k;

	if (m && m->len == len && memcmp(m->text, key, len) == 0)
		return m->found;
	k = prune_find(lk, key, len);
	if (m && len > 0 && len <= MEMO_KEY_LEN)
	{
		m->len = (uint8) len;
		memcpy(m->text, key, len);
		m->found = k;
	}
	return k;
}

static json_object *
new_object(void)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return o;
}

/*
 * An entry's digest (bg_reader_pruned_slots, bg_reader_entry_digest): every value the
 * prune names -- kept, spanned or descended into -- as the document has it, with which
 * key it was, in the document's order. What intake reads of an entry is a function of
 * those bytes alone, so that two entries of one digest read alike; everything else
 * (created_at, refs, docs, meta, ...) is left out, as intake leaves it. 0 is "unknown".
 */
static inline uint64
digest_add(uint64 h, const PruneKey *k, const char *b, size_t start, size_t end)
{
	return bg_digest_add(h, ((uint32) k->kind << 8) | (uint32) k->index, b + start, end - start);
}

/*
 * Where the value from start ends, before r->pos: json-c steps over the whitespace after
 * what it parses (numbers, a descended value that is no object), the scanner does not,
 * and an entry's digest must be of the value's bytes alone (bg_reader_entry_digest).
 */
static inline size_t
value_end(ManifestReader *r, size_t start)
{
	size_t		end = r->pos;

	while (end > start && (r->buf[end - 1] == ' ' || r->buf[end - 1] == '\n' ||
						   r->buf[end - 1] == '\r' || r->buf[end - 1] == '\t'))
		end--;
	return end;
}

/* An object member's key and the ":" after it (scan_key says what *key is). */
static void
member_key(ManifestReader *r, const char *where, const char **key, size_t *len, bool *copied)
{
	scan_key(r, where, key, len, copied);
	if (!bg_reader_accept(r, ':'))
		bg_scan_error(r, r->pos >= r->len ? json_tokener_error_parse_eof :
				   json_tokener_error_parse_object_key_sep, r->pos, where);
}

/* After an object member: true if "}" closed the object, false after a ",". */
static bool
member_ends_object(ManifestReader *r, const char *where)
{
	bg_reader_skip_ws(r);
	if (r->pos >= r->len)
		bg_scan_error(r, json_tokener_error_parse_eof, r->pos, where);
	if (r->buf[r->pos] == ',')
	{
		r->pos++;
		return false;
	}
	if (r->buf[r->pos] != '}')
		bg_scan_error(r, json_tokener_error_parse_object_value_sep, r->pos, where);
	r->pos++;
	return true;
}

/*
 * Read the value at r->pos by prune into a new member of o, named key (o's slot-th item
 * when slot >= 0).
 */
static void
read_member(ManifestReader *r, const char *where, BgPrune *prune, json_object *o,
			const char *key, bool constant_key, int depth, bool *nul, int slot)
{
	unsigned	flags = constant_key ? JSON_C_OBJECT_ADD_CONSTANT_KEY : 0;

	if (bg_reader_at(r, '{'))
	{
		json_object *child = new_object();

		/* attached first: an error inside frees it with the whole tree */
		attach(o, key, flags, child, slot);
		read_pruned_into(r, where, prune, NULL, child, false, depth + 1, nul, NULL);
	}
	else
		attach(o, key, flags, bg_parse_json_c(r, where), slot);
}

/*
 * Read the object at r->pos (its "{" next) into o, keeping what prune says; with slots, o
 * is an array and each kept value its item by its place in prune->keep, then those of
 * prune->descend (bg_reader_pruned_slots).
 */
static void
read_pruned_into(ManifestReader *r, const char *where, BgPrune *prune, BgSpan *spans,
				 json_object *o, bool slots, int depth, bool *nul, uint64 *digest)
{
	PruneLookup *lk = prune_lookup(prune);

	if (depth > BG_JSON_MAX_DEPTH)
		bg_scan_error(r, json_tokener_error_depth, r->pos, where);
	bg_reader_accept(r, '{');
	if (bg_reader_accept(r, '}'))
		return;
	for (int place = 0;; place++)
	{
		const char *key;
		size_t		len;
		bool		copied;
		const PruneKey *k;

		member_key(r, where, &key, &len, &copied);
		k = prune_find_at(lk, place, key, len);
		if (k && k->kind == KEY_KEEP)
		{
			size_t		start;

			bg_reader_skip_ws(r);
			start = r->pos;
			keep_into(r, where, o, k->key, JSON_C_OBJECT_ADD_CONSTANT_KEY, depth, NULL,
					  slots ? k->index : -1);
			if (digest)
				*digest = digest_add(*digest, k, r->buf, start, value_end(r, start));
		}
		else if (k && k->kind == KEY_SPAN)
		{
			BgSpan		s = {0, 0, false};

			bg_reader_skip_ws(r);
			s.start = r->pos;
			bg_scan_value(r, where, depth, &s.has_nul);
			s.end = r->pos;
			if (spans)
				spans[k->index] = s;
			if (digest)
				*digest = digest_add(*digest, k, r->buf, s.start, s.end);
			*nul |= s.has_nul;
		}
		else if (k && k->kind == KEY_DESCEND)
		{
			BgSpan		s = {0, 0, false};

			bg_reader_skip_ws(r);
			s.start = r->pos;
			read_member(r, where, (BgPrune *) prune->descend_as[k->index], o, k->key, true,
						depth, &s.has_nul, slots ? lk->n_keep + k->index : -1);
			s.end = r->pos;
			if (spans)
				spans[lk->n_spans + k->index] = s;
			if (digest)
				*digest = digest_add(*digest, k, r->buf, s.start, value_end(r, s.start));
			*nul |= s.has_nul;
		}
		else if (prune->each)
		{
			char	   *name = copied ? (char *) key : pnstrdup(key, len);

			Assert(!slots);
			read_member(r, where, (BgPrune *) prune->each, o, name, false, depth, nul, -1);
			if (!copied)
				pfree(name);	/* a copied key is freed below */
		}
		else
			bg_scan_value(r, where, depth, nul);
		if (copied)
			pfree((char *) key);
		if (member_ends_object(r, where))
			return;
	}
}

/*
 * The next value as r->current, an object pruned by prune: spans gets where the values
 * of prune->spans and prune->descend lie (end 0 when absent). A value that is not an
 * object is parsed whole.
 */
json_object *
bg_reader_pruned(ManifestReader *r, const char *where, BgPrune *prune, BgSpan *spans)
{
	PruneLookup *lk = prune_lookup(prune);
	int			n_spans = 0;
	bool		nul = false;

	for (int i = 0; i < lk->n; i++)
		if (lk->keys[i].kind != KEY_KEEP)
			n_spans++;
	if (spans)
		memset(spans, 0, sizeof(BgSpan) * n_spans);
	if (!bg_reader_at(r, '{'))
		return bg_reader_value(r, where);
	bg_reader_drop_current(r);
	r->current = new_object();
	read_pruned_into(r, where, prune, spans, r->current, false, 1, &nul, NULL);
	return r->current;
}

/*
 * The next value pruned by prune as bg_reader_pruned reads it, but its kept values not
 * gathered in an object of their own: kept[i] is that of prune->keep[i], then those of
 * prune->descend follow, NULL when absent or null (an object's own table, built and
 * searched for every entry, costs more than most of what is kept). They belong to
 * r->current. False, with kept untouched, if the value is not an object: then it is
 * parsed whole, as r->current.
 */
bool
bg_reader_pruned_slots(ManifestReader *r, const char *where, BgPrune *prune, BgSpan *spans,
					   json_object **kept, uint64 *digest)
{
	PruneLookup *lk = prune_lookup(prune);
	int			n_spans = lk->n - lk->n_keep;
	int			n_slots = lk->n_keep + (lk->n - lk->n_keep - lk->n_spans);
	bool		nul = false;

	if (spans)
		memset(spans, 0, sizeof(BgSpan) * n_spans);
	if (!bg_reader_at(r, '{'))
	{
		(void) bg_reader_value(r, where);
		return false;
	}
	bg_reader_drop_current(r);
	r->current = json_object_new_array_ext(n_slots);
	if (r->current == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	*digest = 0;
	read_pruned_into(r, where, prune, spans, r->current, true, 1, &nul, digest);
	*digest = bg_digest_finish(*digest);
	for (int i = 0; i < n_slots; i++)
		kept[i] = json_object_array_get_idx(r->current, i);
	return true;
}

/*
 * The digest bg_reader_pruned_slots gives the object at r->pos, with everything in it
 * checked as it checks it but nothing kept, and r->pos after it; *nul is set if any
 * value prune names holds a \u0000. 0 if the value is not an object (r->pos unmoved).
 */
uint64
bg_reader_entry_digest(ManifestReader *r, const char *where, BgPrune *prune, bool *nul)
{
	PruneLookup *lk = prune_lookup(prune);
	uint64		digest = 0;

	if (!bg_reader_at(r, '{'))
		return 0;
	bg_reader_drop_current(r);
	r->pos++;
	if (bg_reader_accept(r, '}'))
		return bg_digest_finish(digest);
	for (int place = 0;; place++)
	{
		const char *key;
		size_t		len;
		bool		copied;
		const PruneKey *k;
		size_t		start;
		bool		value_nul = false;

		member_key(r, where, &key, &len, &copied);
		k = prune_find_at(lk, place, key, len);
		bg_reader_skip_ws(r);
		start = r->pos;
		bg_scan_value(r, where, 1, &value_nul);
		if (k)
		{
			digest = digest_add(digest, k, r->buf, start, r->pos);
			*nul |= value_nul;
		}
		if (copied)
			pfree((char *) key);
		if (member_ends_object(r, where))
			return bg_digest_finish(digest);
	}
}

/*
 * The next value as r->current: an array whose objects are pruned by prune (the spans
 * of their members are not kept). A value that is not an array is parsed whole.
 */
json_object *
bg_reader_pruned_array(ManifestReader *r, const char *where, BgPrune *prune)
{
	json_object *a;
	bool		nul = false;

	if (!bg_reader_at(r, '['))
		return bg_reader_value(r, where);
	bg_reader_drop_current(r);
	a = json_object_new_array();
	if (a == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	r->current = a;
	r->pos++;
	if (bg_reader_accept(r, ']'))
		return a;
	for (;;)
	{
		if (bg_reader_at(r, '{'))
		{
			json_object *child = new_object();

			json_object_array_add(a, child);
			read_pruned_into(r, where, prune, NULL, child, false, 2, &nul, NULL);
		}
		else
			json_object_array_add(a, bg_parse_json_c(r, where));
		bg_reader_skip_ws(r);
		if (r->pos >= r->len)
			bg_scan_error(r, json_tokener_error_parse_eof, r->pos, where);
		if (r->buf[r->pos] == ',')
			r->pos++;
		else if (r->buf[r->pos] == ']')
		{
			r->pos++;
			return a;
		}
		else
			bg_scan_error(r, json_tokener_error_parse_array, r->pos, where);
	}
}

/* The text of a value as the document has it; NULL if absent. */
char *
bg_span_text(ManifestReader *r, const BgSpan *span)
{
	if (span->end == 0)
		return NULL;
	return bg_json_keep(r->buf + span->start, span->end - span->start);
}

/* The node's compiled code, decoded from the manifest's text if it was left there. */
char *
bg_node_compiled_code(const BgNode *node)
{
	BgSpan		span = {0, node->doc_compiled_code.len, false};
	StringInfoData buf;

	if (node->compiled_code != NULL || node->doc_compiled_code.at == NULL)
		return node->compiled_code;
	initStringInfo(&buf);
	bg_span_decode(node->doc_compiled_code.at, &span, &buf);
	return buf.data;
}
