/*
 * bluegreen.h
 *		Shared declarations: the compact state kept for a dbt manifest, and the
 *		entry points each part of the extension offers the others.
 *
 * A manifest.json is never stored whole. Intake (manifest.c) reduces every node to a
 * BgNode: the fields that dbt's state comparison looks at, reduced to canonical strings
 * or digests, plus what a deployment needs to build and test the node. The same struct
 * is read back from the bg.node table (manifest_store.c) so that a new manifest can be
 * compared with the live one (selection.c) without the old document.
 */
#ifndef BLUEGREEN_H
#define BLUEGREEN_H

#include "postgres.h"
#include "utils/hsearch.h"

/* Longest PostgreSQL identifier, in bytes. */
#define BG_MAX_IDENTIFIER (NAMEDATALEN - 1)

/* dbt manifest schema versions this release reads (dbt 1.5 to 1.11). */
#define BG_MANIFEST_MIN_VERSION 9
#define BG_MANIFEST_MAX_VERSION 12

typedef struct BgNode
{
	char	   *unique_id;
	char	   *resource_type;	/* model, seed, snapshot, test, analysis, operation,
								 * sql_operation, source */
	char	   *package_name;
	char	   *name;
	char	   *version;		/* versioned models: canonical JSON of "version" */
	bool		disabled;		/* listed under "disabled", or config.enabled false */
	bool		listed;			/* listed under "nodes" (dbt finds it as previous state) */
	bool		generic_test;	/* a test with test_metadata */

	/* the relation dbt builds (or reads, for sources), as rendered */
	char	   *database;
	char	   *schema;
	char	   *alias;			/* alias for nodes, identifier for sources */
	char	   *materialized;

	/* what dbt's state comparison looks at, reduced */
	char	   *body_digest;	/* md5 of raw_code; seeds: their file checksum */
	char	   *config_canon;	/* unrendered_config without the keys dbt ignores */
	char	   *relation_canon; /* unrendered database/schema/alias (sources: rendered) */
	char	   *fqn_canon;
	char	   *ref_canon;		/* models: latest_version, access, deprecation_date */
	char	   *source_canon;	/* sources: quoting, freshness, loaded_at_field, external */
	bool		persist_relation_docs;
	bool		persist_column_docs;
	char	   *description_digest;
	char	   *description;	/* kept only where persist_docs.relation asks for it */
	char	   *column_docs_digest;
	bool		contract_enforced;
	char	   *contract_checksum;

	int			n_depends_nodes;
	char	  **depends_nodes;
	int			n_depends_macros;
	char	  **depends_macros;

	/* what a deployment needs */
	char	   *config_json;	/* rendered config */
	char	   *columns_json;	/* name -> {data_type, constraints, description} */
	char	   *constraints_json;	/* model-level constraints */
	char	   *test_metadata_json;
	char	   *attached_node;
	char	   *compiled_code;
	char	   *original_file_path;
} BgNode;

typedef struct BgMacro
{
	char	   *unique_id;
	char	   *sql_digest;
	int			n_depends_macros;
	char	  **depends_macros;
} BgMacro;

/* A uniquely keyed string lookup, for nodes and macros by unique_id. */
typedef struct BgIndexEntry
{
	const char *key;
	void	   *value;
} BgIndexEntry;

typedef struct BgManifest
{
	MemoryContext cxt;			/* everything below lives here */
	int			schema_version;
	char	   *dbt_version;
	char	   *project_name;
	char	   *adapter_type;
	char	   *invocation_id;
	char	   *generated_at;
	Size		source_bytes;

	int			n_nodes;		/* enabled nodes and sources, then disabled ones */
	int			max_nodes;
	BgNode	  **nodes;
	int			n_macros;
	int			max_macros;
	BgMacro   **macros;

	HTAB	   *node_index;		/* enabled nodes and sources */
	HTAB	   *disabled_index;
	HTAB	   *macro_index;
} BgManifest;

/* manifest.c: intake */
extern HTAB *bg_string_index(const char *name, MemoryContext cxt, long size);
extern BgManifest *bg_manifest_parse(const char *json, Size len);
extern BgNode *bg_manifest_node(BgManifest *m, const char *unique_id);
extern BgNode *bg_manifest_previous_node(BgManifest *m, const char *unique_id);
extern BgMacro *bg_manifest_macro(BgManifest *m, const char *unique_id);
extern bool bg_manifest_is_disabled(BgManifest *m, const char *unique_id);
extern BgManifest *bg_manifest_create(void);
extern void bg_manifest_add_node(BgManifest *m, BgNode *node);
extern void bg_manifest_add_macro(BgManifest *m, BgMacro *macro);
extern bool bg_node_has_relation(const BgNode *node);
extern const char *bg_text_arg_manifest(Datum arg, bool is_jsonb, Size *len);

/* manifest_store.c: the bg.manifest / bg.node / bg.macro tables */
extern int64 bg_manifest_store(BgManifest *m, int64 project_id);
extern BgManifest *bg_manifest_load(int64 manifest_id, bool with_code);

/* project.c: projects */
typedef struct BgProject
{
	int64		project_id;
	char	   *name;
	int64		live_manifest_id;
} BgProject;
extern BgProject *bg_project_lookup(const char *name, bool missing_ok);

/* deploy.c: one deployment or promote of a project at a time */
extern void bg_lock_project(BgProject *project, const char *operation);
extern void bg_unlock_project(BgProject *project);

/* promote.c */
extern Datum bg_switch_deployment(const char *project_name, bool rollback, bool dry_run,
								  bool force, bool nonatomic);

/* selection.c: what state:modified+ selects, and what to do with each node */
typedef enum BgAction
{
	BG_ACTION_SKIP,
	BG_ACTION_BUILD,
	BG_ACTION_CARRY,
	BG_ACTION_TEST,
	BG_ACTION_REMOVE,
	BG_ACTION_NONE
} BgAction;

/* state selector bits, in dbt's names */
#define BG_SEL_NEW					(1 << 0)
#define BG_SEL_MODIFIED				(1 << 1)
#define BG_SEL_BODY					(1 << 2)
#define BG_SEL_CONFIGS				(1 << 3)
#define BG_SEL_RELATION				(1 << 4)
#define BG_SEL_PERSISTED_DESCRIPTIONS (1 << 5)
#define BG_SEL_CONTRACT				(1 << 6)
#define BG_SEL_MACROS				(1 << 7)
#define BG_SEL_COUNT				8

typedef struct BgPlanItem
{
	BgNode	   *node;			/* the new node, or the removed old one */
	BgNode	   *old;			/* the live node, if any */
	bool		selected;		/* in state:modified+ */
	bool		removed;
	int			selectors;		/* BG_SEL_* bits */
	BgAction	action;
	char	   *compatibility;
	char	   *compatibility_detail;
} BgPlanItem;

typedef struct BgPlan
{
	BgManifest *live;
	BgManifest *next;
	int			n_items;
	BgPlanItem *items;			/* new nodes in dependency order, then removed */
	int			n_selected;
} BgPlan;

extern BgPlan *bg_plan_compute(BgManifest *live, BgManifest *next);
extern const char *bg_action_name(BgAction action);
extern const char *bg_selector_name(int bit);
extern char *bg_side_schema_name(const char *live_schema, const char *suffix);
extern char *bg_shadow_schema_name(const char *live_schema);
extern char *bg_previous_schema_name(const char *live_schema, int64 deployment_id);

/* spi_util.c */
extern void bg_spi_exec(const char *sql, int expected, int nargs, Oid *argtypes,
						Datum *values, const char *nulls);
extern ErrorData *bg_in_subxact(void (*fn) (void *arg), void *arg);
extern ErrorData *bg_spi_exec_subxact(const char *sql);
extern Datum bg_text_array(char **items, int n);
extern char *bg_qualified_name(const char *schema, const char *name);
extern Oid	bg_namespace_owner(Oid nsp);

/* small helpers */
extern char *bg_md5(const char *data, Size len);

#endif							/* BLUEGREEN_H */
