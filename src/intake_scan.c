/*
 * intake_scan.c
 *		Reading a manifest document by position: the reader, values parsed by json-c at
 *		a position, and the strict scanner that checks what intake passes over.
 *
 * A manifest of 10,000 models is some 50 MB, and most of it -- refs, docs, paths, each
 * column's meta and tags, the parent and child maps -- is never looked at. Parsing all of
 * it into json-c trees costs more than everything else intake and plan do together, so
 * objects are read key by key (intake_prune.c; BgPrune says which keys matter): values intake keeps
 * are parsed by json-c, strings without escapes taken from the document directly, and
 * everything else passed over by a strict scanner that accepts exactly what JSON
 * (RFC 8259) allows, so that a malformed document is still refused wherever the fault is.
 * Its errors use json-c's words for each fault. Text reaches intake already valid UTF-8
 * in a UTF8 database; in a SQL_ASCII one the whole document is verified first.
 */
#include "postgres.h"

#include "jsonc.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "mb/pg_wchar.h"
#include "port/pg_bitutils.h"
#include "utils/memutils.h"

#include "intake_scan.h"


/* ------------------------------------------------------------------------
 * Opening, errors, whitespace and single characters
 * ------------------------------------------------------------------------
 */
void
bg_reader_open(ManifestReader *r, const char *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->current = NULL;
	initStringInfo(&r->scratch);
	if (GetDatabaseEncoding() != PG_UTF8)
	{
		int			valid = pg_encoding_verifymbstr(PG_UTF8, buf, (int) Min(len, PG_INT32_MAX));

		if ((size_t) valid < len)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("manifest is not valid JSON: invalid utf-8 string"),
					 errdetail("The error is near byte %d of %zu.", valid, len)));
	}
	r->tok = json_tokener_new_ex(BG_JSON_MAX_DEPTH);
	if (r->tok == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	json_tokener_set_flags(r->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
}

void
bg_reader_close(ManifestReader *r)
{
	bg_reader_drop_current(r);
	if (r->scratch.data)
		pfree(r->scratch.data);
	r->scratch.data = NULL;
	if (r->tok)
		json_tokener_free(r->tok);
	r->tok = NULL;
}

pg_attribute_noreturn() void
bg_scan_error(ManifestReader *r, enum json_tokener_error e, size_t at, const char *where)
{
	if (at >= r->len || e == json_tokener_error_parse_eof)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("manifest is not valid JSON: the document ends inside %s", where),
				 errdetail("The document is %zu bytes long; it looks truncated.", r->len)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("manifest is not valid JSON: %s in %s", json_tokener_error_desc(e), where),
			 errdetail("The error is near byte %zu of %zu.", at, r->len)));
}

pg_attribute_noreturn() void
bg_reader_syntax_error(ManifestReader *r, const char *expected, const char *where)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("manifest is not valid JSON: expected %s %s", expected, where),
			 errdetail("The document ends or has something else at byte %zu of %zu.",
					   r->pos, r->len)));
}

void
bg_reader_expect(ManifestReader *r, char c, const char *expected, const char *where)
{
	if (!bg_reader_accept(r, c))
		bg_reader_syntax_error(r, expected, where);
}

void
bg_reader_drop_current(ManifestReader *r)
{
	if (r->current)
	{
		json_object_put(r->current);
		r->current = NULL;
	}
}

/* ------------------------------------------------------------------------
 * Values parsed by json-c
 * ------------------------------------------------------------------------
 */

/* Parse the next value with json-c and step over it; NULL for JSON null. */
json_object *
bg_parse_json_c(ManifestReader *r, const char *where)
{
	enum json_tokener_error jerr;
	json_object *obj;

	bg_reader_skip_ws(r);
	if (r->pos >= r->len)
		bg_reader_syntax_error(r, "a value", where);
	json_tokener_reset(r->tok);
	obj = json_tokener_parse_ex(r->tok, r->buf + r->pos, (int) Min(r->len - r->pos, PG_INT32_MAX));
	jerr = json_tokener_get_error(r->tok);
	if (jerr != json_tokener_success)
	{
		size_t		at = r->pos + json_tokener_get_parse_end(r->tok);

		if (obj)
			json_object_put(obj);
		bg_scan_error(r, jerr == json_tokener_continue ? json_tokener_error_parse_eof : jerr, at, where);
	}
	r->pos += json_tokener_get_parse_end(r->tok);
	return obj;
}

/* The next value, whole, as r->current (freed with the next one or on any error). */
json_object *
bg_reader_value(ManifestReader *r, const char *where)
{
	bg_reader_drop_current(r);
	r->current = bg_parse_json_c(r, where);
	return r->current;
}

/* ------------------------------------------------------------------------
 * The scanner: values checked and passed over
 * ------------------------------------------------------------------------
 */

/*
 * Whether a byte of w is '"' (0x22), '\\' (0x5c) or below 0x20: the bit tricks of
 * "determine if a word has a byte equal to / less than n", for each.
 */
#define ONES UINT64CONST(0x0101010101010101)
#define HIGHS UINT64CONST(0x8080808080808080)
#define HAS_ZERO_BYTE(x) (((x) - ONES) & ~(x) & HIGHS)
#define HAS_BYTE_BELOW(x, n) (((x) - ONES * (n)) & ~(x) & HIGHS)
#define SPECIAL_BYTE(w) (HAS_ZERO_BYTE((w) ^ (ONES * 0x22)) | HAS_ZERO_BYTE((w) ^ (ONES * 0x5c)) | \
						 HAS_BYTE_BELOW((w), 0x20))

/*
 * Step over the string at r->pos; say whether it has escapes, and a \u0000 among them.
 * Most strings of a manifest are short, so the first special byte found ends the search
 * at once, whichever of the loops found it.
 */
void
bg_scan_string(ManifestReader *r, const char *where, bool *escaped, bool *nul)
{
	const char *b = r->buf;
	size_t		n = r->len;
	size_t		p = r->pos + 1;

	for (;;)
	{
		unsigned char c;

#ifdef __SSE2__
		/* sixteen bytes at a time, to the first '"', '\\' or control character */
		while (p + 16 <= n)
		{
			__m128i		v = _mm_loadu_si128((const __m128i *) (b + p));
			__m128i		special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
															_mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
											   _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)),
															  _mm_set1_epi8(0x1f)));
			int			mask = _mm_movemask_epi8(special);

			if (mask != 0)
			{
				p += pg_rightmost_one_pos32((uint32) mask);
				goto found;
			}
			p += 16;
		}
#endif
		/* eight bytes at a time while none of them is '"', '\\' or a control character */
		while (p + sizeof(uint64) <= n)
		{
			uint64		w;

			memcpy(&w, b + p, sizeof(w));
			if (SPECIAL_BYTE(w))
				break;
			p += sizeof(w);
		}
		while (p < n)
		{
			c = (unsigned char) b[p];
			if (c == '"' || c == '\\' || c < 0x20)
				break;
			p++;
		}
		if (p >= n)
			bg_scan_error(r, json_tokener_error_parse_eof, p, where);
#ifdef __SSE2__
found:
#endif
		c = (unsigned char) b[p];
		if (c == '"')
		{
			r->pos = p + 1;
			return;
		}
		if (c < 0x20)
			bg_scan_error(r, json_tokener_error_parse_string, p, where);
		*escaped = true;
		if (p + 1 >= n)
			bg_scan_error(r, json_tokener_error_parse_eof, p + 1, where);
		switch (b[p + 1])
		{
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				p += 2;
				break;
			case 'u':
				if (p + 6 > n)
					bg_scan_error(r, json_tokener_error_parse_eof, n, where);
				for (int i = 2; i < 6; i++)
					if (!isxdigit((unsigned char) b[p + i]))
						bg_scan_error(r, json_tokener_error_parse_string, p + i, where);
				if (memcmp(b + p + 2, "0000", 4) == 0)
					*nul = true;
				p += 6;
				break;
			default:
				bg_scan_error(r, json_tokener_error_parse_string, p + 1, where);
		}
	}
}

void
bg_scan_literal(ManifestReader *r, const char *word, enum json_tokener_error e, const char *where)
{
	size_t		len = strlen(word);

	if (r->len - r->pos >= len && memcmp(r->buf + r->pos, word, len) == 0)
	{
		r->pos += len;
		return;
	}
	/* where it goes wrong */
	for (size_t i = 0; i < len; i++)
		if (r->pos + i >= r->len)
			bg_scan_error(r, json_tokener_error_parse_eof, r->len, where);
		else if (r->buf[r->pos + i] != word[i])
			bg_scan_error(r, e, r->pos + i, where);
	r->pos += len;
}

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
void
bg_scan_number(ManifestReader *r, const char *where)
{
	const char *b = r->buf;
	size_t		n = r->len;
	size_t		p = r->pos;

	if (b[p] == '-')
		p++;
	if (p < n && b[p] == '0')
	{
		p++;
		if (p < n && IS_DIGIT(b[p]))
			bg_scan_error(r, json_tokener_error_parse_number, p, where);
	}
	else if (p < n && IS_DIGIT(b[p]))
		while (p < n && IS_DIGIT(b[p]))
			p++;
	else
		bg_scan_error(r, json_tokener_error_parse_number, p, where);
	if (p < n && b[p] == '.')
	{
		p++;
		if (!(p < n && IS_DIGIT(b[p])))
			bg_scan_error(r, json_tokener_error_parse_number, p, where);
		while (p < n && IS_DIGIT(b[p]))
			p++;
	}
	if (p < n && (b[p] == 'e' || b[p] == 'E'))
	{
		p++;
		if (p < n && (b[p] == '+' || b[p] == '-'))
			p++;
		if (!(p < n && IS_DIGIT(b[p])))
			bg_scan_error(r, json_tokener_error_parse_number, p, where);
		while (p < n && IS_DIGIT(b[p]))
			p++;
	}
	r->pos = p;
}

/*
 * Check the value at r->pos and step over it; *nul is set if it holds a \u0000. depth is
 * how deep it lies already. Iterative: the nesting is bounded, but not by the C stack.
 */
void
bg_scan_value(ManifestReader *r, const char *where, int depth, bool *nul)
{
	char		stack[BG_JSON_MAX_DEPTH];
	int			sp = 0;
	const char *b = r->buf;
	bool		escaped;

value:
	bg_reader_skip_ws(r);
	if (r->pos >= r->len)
		bg_scan_error(r, json_tokener_error_parse_eof, r->pos, where);
	switch (b[r->pos])
	{
		case '{':
		case '[':
			if (depth + sp >= BG_JSON_MAX_DEPTH)
				bg_scan_error(r, json_tokener_error_depth, r->pos, where);
			stack[sp++] = b[r->pos++];
			if (bg_reader_accept(r, stack[sp - 1] == '{' ? '}' : ']'))
			{
				sp--;
				goto after;
			}
			if (stack[sp - 1] == '{')
				goto key;
			goto value;
		case '"':
			bg_scan_string(r, where, &escaped, nul);
			goto after;
		case 't':
			bg_scan_literal(r, "true", json_tokener_error_parse_boolean, where);
			goto after;
		case 'f':
			bg_scan_literal(r, "false", json_tokener_error_parse_boolean, where);
			goto after;
		case 'n':
			bg_scan_literal(r, "null", json_tokener_error_parse_null, where);
			goto after;
		case '-':
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
		case '8':
		case '9':
			bg_scan_number(r, where);
			goto after;
		default:
			bg_scan_error(r, json_tokener_error_parse_unexpected, r->pos, where);
	}

key:
	bg_reader_skip_ws(r);
	if (r->pos >= r->len)
		bg_scan_error(r, json_tokener_error_parse_eof, r->pos, where);
	if (b[r->pos] != '"')
		bg_scan_error(r, json_tokener_error_parse_object_key_name, r->pos, where);
	bg_scan_string(r, where, &escaped, nul);
	if (!bg_reader_accept(r, ':'))
		bg_scan_error(r, r->pos >= r->len ? json_tokener_error_parse_eof :
				   json_tokener_error_parse_object_key_sep, r->pos, where);
	goto value;

after:
	if (sp == 0)
		return;
	bg_reader_skip_ws(r);
	if (r->pos >= r->len)
		bg_scan_error(r, json_tokener_error_parse_eof, r->pos, where);
	if (b[r->pos] == ',')
	{
		r->pos++;
		if (stack[sp - 1] == '{')
			goto key;
		goto value;
	}
	if (b[r->pos] == (stack[sp - 1] == '{' ? '}' : ']'))
	{
		r->pos++;
		sp--;
		goto after;
	}
	bg_scan_error(r, stack[sp - 1] == '{' ? json_tokener_error_parse_object_value_sep :
			   json_tokener_error_parse_array, r->pos, where);
}

/* ------------------------------------------------------------------------
 * Digests of values as the document has them (intake_prune.c's entry digests)
 * ------------------------------------------------------------------------
 */
#define DIGEST_P1 UINT64CONST(0x9E3779B185EBCA87)
#define DIGEST_P2 UINT64CONST(0xC2B2AE3D27D4EB4F)
#define DIGEST_P3 UINT64CONST(0x165667B19E3779F9)
#define DIGEST_P4 UINT64CONST(0x85EBCA77C2B2AE63)
#define ROTL64(x, r) (((x) << (r)) | ((x) >> (64 - (r))))

/* xxHash64's round: one word into one accumulator */
static inline uint64
digest_round(uint64 acc, uint64 w)
{
	acc += w * DIGEST_P2;
	return ROTL64(acc, 31) * DIGEST_P1;
}

/* one word into the digest: xxHash64's step for each 8 bytes after its stripes */
static inline uint64
digest_word(uint64 h, uint64 w)
{
	h ^= digest_round(0, w);
	return ROTL64(h, 27) * DIGEST_P1 + DIGEST_P4;
}

/*
 * A value (n bytes at p) and a tag (which key it was), into the digest: a 64-bit hash,
 * as the position of a byte, the length and the tag all count. Not a cryptographic
 * one; a collision can only make a plan show an entry changed by its author as unchanged
 * (the deployment reads every entry itself).
 */
uint64
bg_digest_add(uint64 h, uint32 tag, const char *p, size_t n)
{
	uint64		w = 0;

	h = digest_word(h, ((uint64) n << 16) ^ (uint64) tag);
	if (n >= 32)
	{
		/* stripes of 32 bytes in four independent accumulators, as xxHash64 hashes */
		uint64		v[4] = {h + DIGEST_P1 + DIGEST_P2, h + DIGEST_P2, h, h - DIGEST_P1};
		uint64		s[4];

		for (; n >= 32; p += 32, n -= 32)
		{
			memcpy(s, p, sizeof(s));
			for (int i = 0; i < 4; i++)
				v[i] = digest_round(v[i], s[i]);
		}
		h = ROTL64(v[0], 1) + ROTL64(v[1], 7) + ROTL64(v[2], 12) + ROTL64(v[3], 18);
		for (int i = 0; i < 4; i++)
			h = (h ^ digest_round(0, v[i])) * DIGEST_P1 + DIGEST_P4;
	}
	for (; n >= sizeof(uint64); p += sizeof(uint64), n -= sizeof(uint64))
	{
		memcpy(&w, p, sizeof(w));
		h = digest_word(h, w);
	}
	if (n > 0)
	{
		w = 0;
		memcpy(&w, p, n);
		h = digest_word(h, w);
	}
	return h;
}

/* The digest's last mixing (xxHash64's avalanche); never 0, which says "unknown". */
uint64
bg_digest_finish(uint64 h)
{
	h ^= h >> 33;
	h *= DIGEST_P2;
	h ^= h >> 29;
	h *= DIGEST_P3;
	h ^= h >> 32;
	return h == 0 ? 1 : h;
}

/* Check the next value and step over it. */
void
bg_reader_skip(ManifestReader *r, const char *where)
{
	bool		nul = false;

	bg_reader_drop_current(r);
	bg_scan_value(r, where, 0, &nul);
}
