/*
 * config.h
 *		A node's config, columns and constraints parsed once into a struct, and what
 *		bluegreen can build from it (config.c).
 */
#ifndef BLUEGREEN_CONFIG_H
#define BLUEGREEN_CONFIG_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "manifest.h"

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

/* A contract constraint, on a column or on the model. */
typedef struct BgConstraint
{
	char	   *type;			/* not_null, unique, primary_key, check, foreign_key, custom */
	char	   *name;
	char	   *expression;
	List	   *columns;		/* char *: model-level constraints */
	char	   *to;				/* foreign_key: the referenced relation, as dbt rendered it */
	List	   *to_columns;		/* char * */
} BgConstraint;

/* A documented column, in the order dbt lists it. */
typedef struct BgModelColumn
{
	char	   *name;
	char	   *data_type;		/* NULL when not given */
	bool		quote;			/* quote: true; else dbt writes the name into SQL as it is */
	char	   *description;
	List	   *constraints;	/* BgConstraint * */
} BgModelColumn;

/* The part of a node's rendered config, columns and constraints that building and
 * testing it read. */
typedef struct BgModelConfig
{
	char	   *incremental_strategy;
	List	   *unique_key;		/* char *: columns (or one expression, as dbt allows) */
	bool		unique_key_is_list;
	char	   *on_schema_change;
	bool		full_refresh_set;	/* config full_refresh given, true or false */
	bool		full_refresh;
	bool		unlogged;
	char	   *sql_header;		/* refused: bluegreen runs a model's code alone */
	List	   *indexes;		/* BgIndexSpec * */
	List	   *grants;			/* BgGrant * */
	List	   *pre_hooks;		/* char * */
	List	   *post_hooks;		/* char * */
	List	   *incremental_predicates;	/* char * */
	List	   *merge_update_columns;	/* char *, NIL when not set */
	List	   *merge_exclude_columns;
	bool		contract_alias_types;	/* contract.alias_types (default true) */
	List	   *columns;		/* BgModelColumn *, dbt's order */
	List	   *constraints;	/* BgConstraint *: model-level */
	/* tests */
	char	   *severity;		/* "error" or "warn" */
	char	   *fail_calc;
	char	   *warn_if;
	char	   *error_if;
	int64		limit;			/* -1: none */
} BgModelConfig;

extern BgModelConfig *bg_node_config(BgNode *n);

/* what bluegreen builds from a manifest */
extern bool bg_builds_materialization(const char *materialized);
extern void bg_check_buildable(BgNode *n);
extern const char *bg_incremental_strategy(BgNode *n);

#endif							/* BLUEGREEN_CONFIG_H */
