/*
 * build.h
 *		Building models into shadow schemas and auditing them (build.c, audit.c).
 */
#ifndef BLUEGREEN_BUILD_H
#define BLUEGREEN_BUILD_H

#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

#include "bluegreen.h"

/* The part of a node's rendered config that building and testing it reads. */
typedef struct BgModelConfig
{
	char	   *incremental_strategy;
	List	   *unique_key;		/* char *: columns (or one expression, as dbt allows) */
	bool		unique_key_is_list;
	char	   *on_schema_change;
	bool		full_refresh;	/* config full_refresh: true */
	List	   *indexes;		/* BgIndexSpec * */
	List	   *grants;			/* BgGrant * */
	List	   *pre_hooks;		/* char * */
	List	   *post_hooks;		/* char * */
	List	   *incremental_predicates;	/* char * */
	List	   *merge_update_columns;	/* char *, NIL when not set */
	List	   *merge_exclude_columns;
	/* tests */
	char	   *severity;		/* "error" or "warn" */
	char	   *fail_calc;
	char	   *warn_if;
	char	   *error_if;
	int64		limit;			/* -1: none */
} BgModelConfig;

typedef struct BgIndexSpec
{
	List	   *columns;		/* char * */
	bool		unique;
	char	   *type;			/* access method, or NULL */
} BgIndexSpec;

typedef struct BgGrant
{
	char	   *privilege;
	List	   *grantees;		/* char * */
} BgGrant;

/* What a deployment knows while it builds: where references go. */
typedef struct BgBuildContext
{
	HTAB	   *redirects;		/* live "schema"."name" -> shadow name, for rebuilt models */
	const char *database;		/* current database: three-part names must name it */
	bool		full_refresh;	/* rebuild every incremental model in full */
	List	   *live_schemas;	/* Oids of the project's live schemas: hooks leave them be */
} BgBuildContext;

typedef struct BgBuildResult
{
	int64		rows;			/* rows written (a full build) or added by the increment */
	int64		carried_rows;	/* incremental: rows copied from live first */
	const char *how;			/* "table", "view", "incremental (delete+insert)", ... */
	char		relkind;
} BgBuildResult;

typedef struct BgTestResult
{
	int64		failures;
	bool		should_warn;
	bool		should_error;
	const char *status;			/* "pass", "warn", "fail" */
	const char *severity;
} BgTestResult;

/* build.c */
extern BgModelConfig *bg_model_config(BgNode *n);
extern bool bg_relation_exists(const char *schema, const char *name, Oid *relid, char *relkind);
extern void bg_build_model(BgBuildContext *ctx, BgNode *n, bool live_exists,
						   const char *shadow_schema, int step, BgBuildResult *res);
extern char *bg_node_label(BgNode *n);
extern bool bg_incremental_in_full(BgBuildContext *ctx, BgNode *n, bool live_exists);
extern int64 bg_copy_live_incremental(BgBuildContext *ctx, BgNode *n, bool live_exists,
									  const char *shadow_schema);

/* audit.c */
extern SPITupleTable *bg_dependent_views(Oid relid, uint64 *n);
extern SPITupleTable *bg_dependent_foreign_keys(Oid relid, uint64 *n);
extern SPITupleTable *bg_dependent_publications(Oid relid, uint64 *n);
extern void bg_run_test(BgBuildContext *ctx, BgNode *test, BgTestResult *res);
extern char *bg_compare_relations(Oid live, Oid shadow, Oid *managed, int n_managed,
								  bool *breaking, char **summary);
extern char *bg_removed_relation_report(Oid live, Oid *managed, int n_managed,
										bool *breaking, char **summary);

#endif							/* BLUEGREEN_BUILD_H */
