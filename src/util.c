/*
 * util.c
 *		Small helpers every part of bluegreen uses: string lookups keyed by name,
 *		digests, the names of the schemas beside a live one, procedure arguments, the
 *		calls hints name, and the numbers and durations of progress lines.
 *
 * Nothing here reads a catalog or runs SQL.
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "bluegreen.h"
#include "util.h"

/* ------------------------------------------------------------------------
 * String lookups
 * ------------------------------------------------------------------------
 */
static uint32
key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static int
key_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* A hash table of BgIndexEntry keyed by the C string the entry points to. */
HTAB *
bg_string_index(const char *name, MemoryContext cxt, long size)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(BgIndexEntry);
	ctl.hash = key_hash;
	ctl.match = key_match;
	ctl.hcxt = cxt;
	return hash_create(name, size, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

void *
bg_index_lookup(HTAB *index, const char *key)
{
	BgIndexEntry *e = hash_search(index, &key, HASH_FIND, NULL);

	return e ? e->value : NULL;
}

/* Enter key -> value; key must live as long as the index. */
void
bg_index_set(HTAB *index, const char *key, void *value)
{
	BgIndexEntry *e = hash_search(index, &key, HASH_ENTER, NULL);

	e->key = key;
	e->value = value;
}

/*
 * The md5 of data, in hex. Intake takes two of every node (tens of thousands per
 * manifest), and pg_md5_hash sets up OpenSSL's digest afresh each time, which costs more
 * than hashing a model's code: so the digest is fetched once per backend and its context
 * reused. The same MD5 as pg_md5_hash's, so stored digests compare across versions.
 */
char *
bg_md5(const char *data, Size len)
{
	static EVP_MD *md5 = NULL;
	static EVP_MD_CTX *ctx = NULL;
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int sumlen = 0;
	char	   *hex = palloc(33);
	static const char digits[] = "0123456789abcdef";

	if (md5 == NULL)
		md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	if (ctx == NULL)
		ctx = EVP_MD_CTX_new();
	if (md5 == NULL || ctx == NULL ||
		EVP_DigestInit_ex(ctx, md5, NULL) != 1 ||
		EVP_DigestUpdate(ctx, data, len) != 1 ||
		EVP_DigestFinal_ex(ctx, sum, &sumlen) != 1 || sumlen != 16)
		elog(ERROR, "could not compute MD5 digest");
	for (int i = 0; i < 16; i++)
	{
		hex[2 * i] = digits[sum[i] >> 4];
		hex[2 * i + 1] = digits[sum[i] & 15];
	}
	hex[32] = '\0';
	return hex;
}

/* ------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------
 */

/* schema.name, each part quoted as needed */
char *
bg_qualified_name(const char *schema, const char *name)
{
	return quote_qualified_identifier(schema, name);
}

/*
 * A schema beside live schema "live" named with "suffix". Names that would pass the
 * identifier limit keep a prefix and gain a digest of the full name, so two long schema
 * names never share one.
 */
char *
bg_side_schema_name(const char *live, const char *suffix)
{
	size_t		len = strlen(live);

	if (len + strlen(suffix) <= BG_MAX_IDENTIFIER)
		return psprintf("%s%s", live, suffix);
	else
	{
		char	   *digest = bg_md5(live, len);
		int			keep = BG_MAX_IDENTIFIER - (int) strlen(suffix) - 9;

		/* cut at a character boundary */
		keep = pg_mbcliplen(live, (int) len, keep);
		return psprintf("%.*s_%.8s%s", keep, live, digest, suffix);
	}
}

/* The schema a deployment builds into, beside live schema "live". */
char *
bg_shadow_schema_name(const char *live)
{
	return bg_side_schema_name(live, "__bg_shadow");
}

/*
 * Whether name is one bg_side_schema_name gives (ends in __bg_shadow, __bg_p<n> or
 * __bg_r<n>): bluegreen makes those schemas itself, and no one hands one over.
 */
bool
bg_is_side_schema_name(const char *name)
{
	const char *at = NULL;
	const char *p = name;

	while ((p = strstr(p, "__bg_")) != NULL)
		at = p++;
	if (at == NULL)
		return false;
	at += 5;
	if (strcmp(at, "shadow") == 0)
		return true;
	if ((at[0] != 'p' && at[0] != 'r') || at[1] == '\0')
		return false;
	for (at++; *at; at++)
		if (*at < '0' || *at > '9')
			return false;
	return true;
}

/* Where promote of deployment "id" keeps the relations it replaced, for rollback. */
char *
bg_previous_schema_name(const char *live, int64 id)
{
	return bg_side_schema_name(live, psprintf("__bg_p" INT64_FORMAT, id));
}

/* Where rollback of deployment "id" puts what that promote had put live. */
char *
bg_rollback_schema_name(const char *live, int64 id)
{
	return bg_side_schema_name(live, psprintf("__bg_r" INT64_FORMAT, id));
}

/* ------------------------------------------------------------------------
 * Procedure arguments
 * ------------------------------------------------------------------------
 */
char *
bg_arg_text(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

bool
bg_arg_bool(FunctionCallInfo fcinfo, int n)
{
	return PG_NARGS() > n && !PG_ARGISNULL(n) && PG_GETARG_BOOL(n);
}

/* CALL outside a transaction block: the procedure may commit. */
bool
bg_call_is_nonatomic(FunctionCallInfo fcinfo)
{
	return fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
}

/* ------------------------------------------------------------------------
 * Hints: what to do next, in the form the caller can do it
 *
 * A hint names the call that helps. From psql that is a CALL; a user of the dbt
 * package cannot CALL a procedure from dbt, nor hand bluegreen a manifest file, so for
 * a session that says it is the package (bluegreen.interface = dbt, which the package
 * sets for its calls) a hint names the package's macro instead: bg_<procedure>, whose
 * arguments are the procedure's, given as YAML in --args.
 * ------------------------------------------------------------------------
 */
bool
bg_hints_for_dbt(void)
{
	return bg_interface == BG_INTERFACE_DBT;
}

/*
 * "CALL bg.promote(force => true)", or "dbt run-operation bg_promote --args '{force:
 * true}'": sql_args as the procedure takes them, dbt_args as the macro's YAML (NULL:
 * none).
 */
char *
bg_call_hint(const char *procedure, const char *sql_args, const char *dbt_args)
{
	if (!bg_hints_for_dbt())
		return psprintf("CALL bg.%s(%s)", procedure, sql_args ? sql_args : "");
	if (dbt_args)
		return psprintf("dbt run-operation bg_%s --args '{%s}'", procedure, dbt_args);
	return psprintf("dbt run-operation bg_%s", procedure);
}

/*
 * The dbt command that builds a deployment into the shadow schemas, between
 * bg.deploy_begin and bg.deploy_finish: what state:modified+ selects, with everything
 * else read live (--defer); or, for a refresh, every model and test, seeds and snapshots
 * still read live.
 */
char *
bg_dbt_shadow_build(bool refresh)
{
	return psprintf("dbt build %s --defer --state <live artifacts> --vars '{bluegreen_shadow: true}'",
					refresh ? "--resource-type model test" : "--select state:modified+");
}

/* The three dbt commands of a deployment dbt builds (see bg_dbt_shadow_build). */
char *
bg_dbt_deployment(bool refresh)
{
	return psprintf("dbt run-operation bg_deploy_begin%s, then %s, then dbt run-operation bg_deploy_finish",
					refresh ? " --args '{refresh: true}'" : "", bg_dbt_shadow_build(refresh));
}

/*
 * How to have dbt build what bluegreen cannot, ending "build it with dbt": from psql,
 * see the README; from dbt, where bluegreen builds only to re-run the live project
 * (bg_deploy), the refresh that dbt builds.
 */
char *
bg_with_dbt(void)
{
	return bg_hints_for_dbt() ? psprintf(": %s", bg_dbt_deployment(true)) : " (see the README)";
}

/* ------------------------------------------------------------------------
 * Progress lines
 * ------------------------------------------------------------------------
 */

/* 1234567 -> "1,234,567" */
char *
bg_thousands(int64 v)
{
	char	   *digits = psprintf(INT64_FORMAT, v < 0 ? -v : v);
	int			len = strlen(digits);
	StringInfoData buf;

	initStringInfo(&buf);
	if (v < 0)
		appendStringInfoChar(&buf, '-');
	for (int i = 0; i < len; i++)
	{
		if (i > 0 && (len - i) % 3 == 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, digits[i]);
	}
	return buf.data;
}

double
bg_seconds_since(TimestampTz start)
{
	return (double) (GetCurrentTimestamp() - start) / 1000000.0;
}

/* " in 0.12s", or nothing when bluegreen.show_timing is off */
char *
bg_timing(double seconds)
{
	return bg_show_timing ? psprintf(" in %.2fs", seconds) : "";
}

/* "1 model", "3 models" */
char *
bg_plural(int n, const char *singular, const char *plural)
{
	return psprintf("%d %s", n, n == 1 ? singular : plural);
}

/*
 * s fit for one line of output: control characters (a newline in a node's name could
 * forge a progress line) written as \n, \t, \r or \x1b; s itself when it has none.
 */
const char *
bg_printable(const char *s)
{
	StringInfoData buf;

	if (s == NULL)
		return NULL;
	for (const char *p = s;; p++)
	{
		if (*p == '\0')
			return s;
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			break;
	}
	initStringInfo(&buf);
	for (const char *p = s; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '\n')
			appendStringInfoString(&buf, "\\n");
		else if (c == '\t')
			appendStringInfoString(&buf, "\\t");
		else if (c == '\r')
			appendStringInfoString(&buf, "\\r");
		else if (c < 0x20 || c == 0x7f)
			appendStringInfo(&buf, "\\x%02x", c);
		else
			appendStringInfoChar(&buf, (char) c);
	}
	return buf.data;
}
