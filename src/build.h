/*
 * build.h
 *		Building one model into its shadow schema (build.c, with incremental.c,
 *		contract.c and hooks.c).
 */
#ifndef BLUEGREEN_BUILD_H
#define BLUEGREEN_BUILD_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/hsearch.h"

#include "manifest.h"

/* What a deployment knows while it builds: where references go. */
typedef struct BgBuildContext
{
	HTAB	   *redirects;		/* live "schema"."name" -> shadow name, for rebuilt models */
	const char *database;		/* current database: three-part names must name it */
	bool		full_refresh;	/* rebuild every incremental model in full */
	List	   *live_schemas;	/* Oids of the project's live schemas: hooks leave them be */
	List	   *shadow_schemas; /* char *: the shadow schemas this deployment builds in */
	List	   *read_by_matview;	/* char *: unique_ids of models that a selected
									 * materialized view reads (incremental.c) */
	bool		publish_all;	/* a FOR ALL TABLES publication: shadow tables are
								 * built unlogged, so that none is published */
} BgBuildContext;

typedef struct BgBuildResult
{
	int64		rows;			/* rows written (a full build) or added by the increment */
	int64		carried_rows;	/* incremental: rows copied from live first */
	const char *how;			/* "table", "view", "incremental (delete+insert)", ... */
	char		relkind;
	bool		in_place;		/* an increment promote applies to the live table */
} BgBuildResult;


/* build.c */
extern void bg_build_model(BgBuildContext *ctx, BgNode *n, bool live_exists,
						   const char *shadow_schema, int step, BgBuildResult *res);

/* incremental.c */
extern bool bg_incremental_in_full(BgBuildContext *ctx, BgNode *n, bool live_exists);
extern void bg_build_incremental(const char *what, BgBuildContext *ctx, BgNode *n,
								 const char *select_sql, const char *shadow_schema, int step,
								 BgBuildResult *res);
extern bool bg_in_place_possible(BgBuildContext *ctx, BgNode *n);
extern void bg_in_place_side_tables(BgBuildContext *ctx, const char *live, const char *rows,
									const char *del);
extern void bg_in_place_view(const char *view, const char *live, List *dest, const char *rows,
							 const char *del);
extern void bg_check_unique_keys(const char *what, Oid relid, const char *live, const char *rows,
								 const char *del);
extern int64 bg_copy_live_incremental(BgBuildContext *ctx, BgNode *n, bool live_exists,
									  const char *shadow_schema);

/* published.c */
extern bool bg_build_as_changes(const char *what, BgBuildContext *ctx, BgNode *n,
								const char *shadow_schema, int step, BgBuildResult *res);

/* contract.c */
extern char *bg_contract_table_sql(const char *what, BgNode *n, const char *target,
								   bool unlogged);
extern char *bg_contract_column_list(const char *what, BgNode *n);
extern void bg_check_contract(const char *what, const char *select_sql, BgNode *n);

/* hooks.c */
typedef struct BgBuilderState BgBuilderState;

extern void bg_run_hooks(BgBuildContext *ctx, const char *what, List *hooks,
						 const char *schema, const char *name, const char *database);
extern BgBuilderState *bg_builder_state(BgBuildContext *ctx, const char *schema,
										const char *name, int step);
extern void bg_builder_unchanged(BgBuildContext *ctx, const char *what, const char *by,
								 BgBuilderState *before, const char *schema,
								 const char *name, int step);

#endif							/* BLUEGREEN_BUILD_H */
