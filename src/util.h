/*
 * util.h
 *		Small helpers every part of bluegreen uses: names, string lookups, digests,
 *		procedure arguments, hints and the formatting of progress lines (util.c).
 */
#ifndef BLUEGREEN_UTIL_H
#define BLUEGREEN_UTIL_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

/* The roles of src/sql/00_schema.sql: the owner of production, and who runs manifest SQL. */
#define BG_OWNER_ROLE "bluegreen"
#define BG_BUILDER_ROLE "bluegreen_builder"

/* Longest PostgreSQL identifier, in bytes. */
#define BG_MAX_IDENTIFIER (NAMEDATALEN - 1)

/* A uniquely keyed string lookup (nodes and macros by unique_id, SQL text, names). */
typedef struct BgIndexEntry
{
	const char *key;
	void	   *value;
} BgIndexEntry;

extern HTAB *bg_string_index(const char *name, MemoryContext cxt, long size);
extern void *bg_index_lookup(HTAB *index, const char *key);
extern void bg_index_set(HTAB *index, const char *key, void *value);

extern char *bg_md5(const char *data, Size len);

/* names */
extern char *bg_qualified_name(const char *schema, const char *name);
extern char *bg_side_schema_name(const char *live_schema, const char *suffix);
extern bool bg_is_side_schema_name(const char *name);
extern char *bg_shadow_schema_name(const char *live_schema);
extern char *bg_previous_schema_name(const char *live_schema, int64 deployment_id);
extern char *bg_rollback_schema_name(const char *live_schema, int64 deployment_id);

/* procedure arguments */
extern char *bg_arg_text(FunctionCallInfo fcinfo, int n);
extern bool bg_arg_bool(FunctionCallInfo fcinfo, int n);
extern bool bg_call_is_nonatomic(FunctionCallInfo fcinfo);

/* hints: the next call, in the caller's interface (bluegreen.interface) */
extern bool bg_hints_for_dbt(void);
extern char *bg_call_hint(const char *procedure, const char *sql_args, const char *dbt_args);
extern char *bg_dbt_shadow_build(bool refresh);
extern char *bg_dbt_deployment(bool refresh);
extern char *bg_with_dbt(void);

/* progress lines */
extern char *bg_thousands(int64 v);
extern double bg_seconds_since(TimestampTz start);
extern char *bg_timing(double seconds);
extern char *bg_plural(int n, const char *singular, const char *plural);
extern const char *bg_printable(const char *s);

#endif							/* BLUEGREEN_UTIL_H */
