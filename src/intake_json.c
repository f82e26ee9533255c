/*
 * intake_json.c
 *		Reading manifest values with json-c for intake: typed field access whose errors
 *		name the node and the field, the canonical JSON that dbt's comparisons reduce
 *		to, and the checks on names and values that intake makes at the door.
 */
#include "postgres.h"

#include "jsonc.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "utils/json.h"

#include "intake_json.h"
#include "util.h"

/* ------------------------------------------------------------------------
 * The strings intake keeps
 *
 * While a manifest is read (bg_json_keep_begin to bg_json_keep_end), the strings its
 * nodes keep are packed end to end in large blocks of the manifest's context rather than
 * given a chunk each, which AllocSet rounds up to a power of two: ten thousand nodes keep
 * some twenty short strings each, and none of them is ever freed alone.
 * ------------------------------------------------------------------------
 */
#define KEEP_BLOCK (64 * 1024)

static MemoryContext keep_cxt = NULL;
static char *keep_next = NULL;
static size_t keep_free = 0;

void
bg_json_keep_begin(MemoryContext cxt)
{
	keep_cxt = cxt;
	keep_next = NULL;
	keep_free = 0;
}

void
bg_json_keep_end(void)
{
	keep_cxt = NULL;
	keep_next = NULL;
	keep_free = 0;
}

/* A kept copy of the len bytes at s (which hold no NUL), NUL-terminated. */
char *
bg_json_keep(const char *s, size_t len)
{
	char	   *p;

	if (keep_cxt == NULL || len >= KEEP_BLOCK / 16)
		return pnstrdup(s, len);
	if (len + 1 > keep_free)
	{
		keep_next = MemoryContextAlloc(keep_cxt, KEEP_BLOCK);
		keep_free = KEEP_BLOCK;
	}
	p = keep_next;
	memcpy(p, s, len);
	p[len] = '\0';
	keep_next += len + 1;
	keep_free -= len + 1;
	return p;
}

/* bg_md5, kept; that of the empty string and of {} (a third of all) computed once */
char *
bg_json_keep_md5(const char *data, Size len)
{
	static char empty_md5[33];
	static char braces_md5[33];
	char	   *cached = len == 0 ? empty_md5 :
		len == 2 && data[0] == '{' && data[1] == '}' ? braces_md5 : NULL;
	char	   *hex;
	char	   *kept;

	if (cached && cached[0])
		return bg_json_keep(cached, 32);
	hex = bg_md5(data, len);
	if (cached)
		strlcpy(cached, hex, 33);
	kept = bg_json_keep(hex, strlen(hex));
	if (kept != hex)
		pfree(hex);
	return kept;
}

/* ------------------------------------------------------------------------
 * Typed field access, with errors that name the node and the field
 * ------------------------------------------------------------------------
 */
pg_attribute_noreturn() void
bg_json_field_error(const char *what, const char *id, const char *field, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("manifest %s \"%s\": field \"%s\" must be %s", what, id, field, expected)));
}

json_object *
bg_json_get(json_object *o, const char *field)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, field, &v))
		return NULL;
	return v;
}

char *
bg_json_copy_string(json_object *v, const char *what, const char *id, const char *field)
{
	const char *s = json_object_get_string(v);
	int			len = json_object_get_string_len(v);

	if (memchr(s, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("manifest %s \"%s\": field \"%s\" contains a \\u0000 character",
						what, id, field)));
	return bg_json_keep(s, len);
}

/* v, a field's value (NULL: absent or null), as a kept string, or NULL */
char *
bg_json_value_string(json_object *v, const char *what, const char *id, const char *field)
{
	if (v == NULL)
		return NULL;
	if (!json_object_is_type(v, json_type_string))
		bg_json_field_error(what, id, field, "a string");
	return bg_json_copy_string(v, what, id, field);
}

/* v, a field's value, checked to be an object (or NULL) */
json_object *
bg_json_value_object(json_object *v, const char *what, const char *id, const char *field)
{
	if (v != NULL && !json_object_is_type(v, json_type_object))
		bg_json_field_error(what, id, field, "an object");
	return v;
}

char *
bg_json_opt_string(json_object *o, const char *field, const char *what, const char *id,
		   const char *path)
{
	return bg_json_value_string(bg_json_get(o, field), what, id, path ? path : field);
}

char *
bg_json_req_string(json_object *o, const char *field, const char *what, const char *id)
{
	char	   *s = bg_json_opt_string(o, field, what, id, NULL);

	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest %s \"%s\": field \"%s\" is missing", what, id, field)));
	return s;
}

json_object *
bg_json_opt_object(json_object *o, const char *field, const char *what, const char *id,
		   const char *path)
{
	return bg_json_value_object(bg_json_get(o, field), what, id, path ? path : field);
}

bool
bg_json_opt_bool(json_object *o, const char *field, const char *what, const char *id,
		 const char *path)
{
	json_object *v = bg_json_get(o, field);

	if (v == NULL)
		return false;
	if (!json_object_is_type(v, json_type_boolean))
		bg_json_field_error(what, id, path, "true or false");
	return json_object_get_boolean(v);
}

char **
bg_json_string_array(json_object *o, const char *field, const char *what, const char *id,
			 const char *path, int *n)
{
	json_object *v = bg_json_get(o, field);
	char	  **items;
	size_t		len;

	*n = 0;
	if (v == NULL)
		return NULL;
	if (!json_object_is_type(v, json_type_array))
		bg_json_field_error(what, id, path, "an array of strings");
	len = json_object_array_length(v);
	items = palloc(sizeof(char *) * Max(len, 1));
	for (size_t i = 0; i < len; i++)
	{
		json_object *e = json_object_array_get_idx(v, i);

		if (e == NULL || !json_object_is_type(e, json_type_string))
			bg_json_field_error(what, id, path, "an array of strings");
		items[i] = bg_json_copy_string(e, what, id, path);
	}
	*n = (int) len;
	return items;
}

/* Python's truth value of a JSON value, as dbt's bool(...) sees it. */
bool
bg_json_truthy(json_object *v)
{
	if (v == NULL)
		return false;
	switch (json_object_get_type(v))
	{
		case json_type_null:
			return false;
		case json_type_boolean:
			return json_object_get_boolean(v);
		case json_type_int:
			return json_object_get_int64(v) != 0;
		case json_type_double:
			return json_object_get_double(v) != 0.0;
		case json_type_string:
			return json_object_get_string_len(v) > 0;
		case json_type_array:
			return json_object_array_length(v) > 0;
		case json_type_object:
			return json_object_object_length(v) > 0;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Canonical JSON: equal strings exactly when Python's == says the values are equal
 * (object keys sorted, integral numbers written as integers).
 * ------------------------------------------------------------------------
 */
int
bg_cmp_cstring(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

void
bg_json_canon_append(StringInfo buf, json_object *v, const char **skip_keys)
{
	switch (v == NULL ? json_type_null : json_object_get_type(v))
	{
		case json_type_null:
			appendStringInfoString(buf, "null");
			break;
		case json_type_boolean:
			appendStringInfoString(buf, json_object_get_boolean(v) ? "true" : "false");
			break;
		case json_type_int:
			appendStringInfo(buf, INT64_FORMAT, json_object_get_int64(v));
			break;
		case json_type_double:
			{
				double		d = json_object_get_double(v);

				if (isfinite(d) && d == floor(d) && fabs(d) < 1e15)
					appendStringInfo(buf, "%.0f", d);
				else
					appendStringInfo(buf, "%.17g", d);
				break;
			}
		case json_type_string:
			escape_json(buf, json_object_get_string(v));
			break;
		case json_type_array:
			appendStringInfoChar(buf, '[');
			for (size_t i = 0; i < json_object_array_length(v); i++)
			{
				if (i > 0)
					appendStringInfoChar(buf, ',');
				bg_json_canon_append(buf, json_object_array_get_idx(v, i), NULL);
			}
			appendStringInfoChar(buf, ']');
			break;
		case json_type_object:
			{
				int			n = json_object_object_length(v);
				const char **keys = palloc(sizeof(char *) * Max(n, 1));
				int			k = 0;
				bool		first = true;

				json_object_object_foreach(v, key, val)
				{
					(void) val;
					keys[k++] = key;
				}
				qsort(keys, k, sizeof(char *), bg_cmp_cstring);
				appendStringInfoChar(buf, '{');
				for (int i = 0; i < k; i++)
				{
					bool		skipped = false;

					for (const char **s = skip_keys; s && *s; s++)
						if (strcmp(*s, keys[i]) == 0)
							skipped = true;
					if (skipped)
						continue;
					if (!first)
						appendStringInfoChar(buf, ',');
					first = false;
					escape_json(buf, keys[i]);
					appendStringInfoChar(buf, ':');
					bg_json_canon_append(buf, bg_json_get(v, keys[i]), NULL);
				}
				appendStringInfoChar(buf, '}');
				pfree(keys);
				break;
			}
	}
}

/*
 * The text built in buf, in an allocation of its own size: a StringInfo starts at 1 KB,
 * and a node keeps several short canonical strings, tens of thousands of nodes at once.
 */
char *
bg_string_finish(StringInfo buf)
{
	char	   *s = bg_json_keep(buf->data, buf->len);

	pfree(buf->data);
	return s;
}

char *
bg_json_canon(json_object *v)
{
	StringInfoData buf;

	initStringInfo(&buf);
	bg_json_canon_append(&buf, v, NULL);
	return bg_string_finish(&buf);
}

/* canonical JSON array of the given fields of o, missing ones as null */
char *
bg_json_canon_fields(json_object *o, const char *const *fields)
{
	json_object *values[8];
	int			n = 0;

	for (; fields[n]; n++)
	{
		Assert(n < lengthof(values));
		values[n] = bg_json_get(o, fields[n]);
	}
	return bg_json_canon_values(values, n);
}

/* canonical JSON array of n values (NULL as null) */
char *
bg_json_canon_values(json_object *const *values, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		bg_json_canon_append(&buf, values[i], NULL);
	}
	appendStringInfoChar(&buf, ']');
	return bg_string_finish(&buf);
}

/* canonical JSON object of those of the given keys that o has */
char *
bg_json_canon_subset(json_object *o, const char *const *keys)
{
	StringInfoData buf;
	const char **sorted;
	int			n = 0;
	bool		first = true;

	for (; keys[n]; n++)
		;
	sorted = palloc(sizeof(char *) * (n + 1));
	memcpy(sorted, keys, sizeof(char *) * n);
	qsort(sorted, n, sizeof(char *), bg_cmp_cstring);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < n; i++)
	{
		json_object *v;

		if (o == NULL || !json_object_object_get_ex(o, sorted[i], &v))
			continue;
		if (!first)
			appendStringInfoChar(&buf, ',');
		first = false;
		escape_json(&buf, sorted[i]);
		appendStringInfoChar(&buf, ':');
		bg_json_canon_append(&buf, v, NULL);
	}
	appendStringInfoChar(&buf, '}');
	pfree(sorted);
	return bg_string_finish(&buf);
}

/*
 * Values json-c accepts that PostgreSQL's json types refuse: NaN and the infinities, and
 * \u0000 in strings or keys. Refused here, naming the node and the field, rather than
 * failing later in jsonb input without either.
 */
void
bg_json_check_values(json_object *v, const char *what, const char *id, const char *field)
{
	switch (v == NULL ? json_type_null : json_object_get_type(v))
	{
		case json_type_double:
			if (!isfinite(json_object_get_double(v)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("manifest %s \"%s\": field \"%s\" contains NaN or Infinity, which JSON does not allow",
								what, id, field)));
			break;
		case json_type_string:
			if (memchr(json_object_get_string(v), '\0', json_object_get_string_len(v)) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
						 errmsg("manifest %s \"%s\": field \"%s\" contains a \\u0000 character",
								what, id, field)));
			break;
		case json_type_array:
			for (size_t i = 0; i < json_object_array_length(v); i++)
				bg_json_check_values(json_object_array_get_idx(v, i), what, id, field);
			break;
		case json_type_object:
			{
				struct lh_entry *e;

				for (e = json_object_get_object(v)->head; e != NULL; e = e->next)
				{
					/* json-c keeps keys NUL-terminated: a \u0000 shortens the key */
					bg_json_check_values((json_object *) lh_entry_v(e), what, id, field);
				}
				break;
			}
		default:
			break;
	}
}

char *
bg_json_plain(json_object *v)
{
	if (v == NULL)
		return NULL;
	return pstrdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
												  JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ------------------------------------------------------------------------
 * Identifiers
 * ------------------------------------------------------------------------
 */

/*
 * Schema and relation names become quoted identifiers in generated SQL. They are quoted
 * everywhere, but names that only an attack or an accident produce -- quotes, semicolons,
 * control characters -- are refused at the door, as are names PostgreSQL would truncate.
 */
/* A manifest value fit to quote in a message: at most 64 bytes, cut at a character. */
const char *
bg_shorten(const char *s)
{
	size_t		len = strlen(s);

	if (len <= 64)
		return s;
	return psprintf("%.*s...", pg_mbcliplen(s, (int) Min(len, 1024), 61), s);
}

void
bg_check_identifier(const char *name, const char *id, const char *field)
{
	size_t		len = strlen(name);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("manifest node \"%s\": field \"%s\" is empty", id, field)));
	if (len > BG_MAX_IDENTIFIER)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("manifest node \"%s\": field \"%s\" is %zu bytes long; PostgreSQL identifiers have at most %d",
						id, field, len, BG_MAX_IDENTIFIER),
				 errdetail("PostgreSQL would silently truncate \"%s\".", bg_shorten(name))));
	for (const char *p = name; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '"' || c == ';' || c == '\\' || c < 0x20 || c == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("manifest node \"%s\": field \"%s\" contains the character %s, which bluegreen does not accept in a name",
							id, field,
							c == '"' ? "'\"'" : c == ';' ? "';'" : c == '\\' ? "'\\'" :
							"U+00xx (a control character)")));
	}
}
