/*
 * manifest.h
 *		The compact state kept for a dbt manifest (manifest.c), and manifest intake,
 *		which reduces a manifest.json to it (intake.c).
 *
 * A manifest.json is never stored whole. Intake reduces every node to a BgNode: the
 * fields that dbt's state comparison looks at, reduced to canonical strings or digests,
 * plus what a deployment needs to build and test the node. The same struct is read back
 * from bg.node (state_manifest.c), so that a new manifest can be compared with the live
 * one (selection.c) without the old document.
 */
#ifndef BLUEGREEN_MANIFEST_H
#define BLUEGREEN_MANIFEST_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

/* dbt manifest schema versions this release reads (dbt 1.5 to 1.11). */
#define BG_MANIFEST_MIN_VERSION 9
#define BG_MANIFEST_MAX_VERSION 12

struct BgModelConfig;

/* A text left in the manifest's text (bg_manifest_parse_to_store): not NUL-terminated. */
typedef struct BgDocText
{
	const char *at;				/* NULL: none */
	Size		len;
} BgDocText;

/* unique_id -> node or macro, and the node's position (manifest.c) */
typedef struct BgIdIndex BgIdIndex;

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

	/* what a deployment needs, as JSON text in dbt's own order */
	char	   *config_json;	/* rendered config */
	char	   *columns_json;	/* name -> {data_type, constraints, description} */
	char	   *constraints_json;	/* model-level constraints */
	char	   *test_metadata_json;
	char	   *attached_node;
	char	   *compiled_code;
	char	   *original_file_path;

	/*
	 * bg_manifest_parse_to_store: the texts above left in the manifest's text, and
	 * stored from there (the JSON texts as the document has them; the compiled code as its
	 * JSON string, quotes included, decoded as it is stored: bg_node_compiled_code)
	 */
	BgDocText	doc_config;
	BgDocText	doc_columns;
	BgDocText	doc_constraints;
	BgDocText	doc_test_metadata;
	BgDocText	doc_compiled_code;

	/* config.c: the JSON above parsed once, when first asked for */
	struct BgModelConfig *config;

	/*
	 * The digest of the manifest entry it was read from (bg_reader_entry_digest), 0 if
	 * unknown: a plan takes an entry of the same digest as the live node it was, rather
	 * than reading it again.
	 */
	uint64		entry_digest;
} BgNode;

typedef struct BgMacro
{
	char	   *unique_id;
	char	   *sql_digest;
	int			n_depends_macros;
	char	  **depends_macros;
} BgMacro;

/*
 * A fixture of a dbt unit test: one of its "given" inputs, or what it expects. dbt has
 * already turned csv rows and fixture files into rows when it wrote the manifest, so
 * rows are a JSON array of objects (column -> value), or, for format sql, one query.
 */
typedef struct BgUnitTestFixture
{
	char	   *input;			/* given: "ref('orders')", "source('raw', 'x')", "this" */
	bool		is_sql;			/* format sql: sql holds the rows as a query */
	char	   *sql;
	char	   *rows_json;		/* otherwise: the rows, a JSON array of objects */
} BgUnitTestFixture;

typedef struct BgUnitTest
{
	BgNode	   *node;			/* its identity, as a step of a deployment shows it (a
								 * node of the manifest's, though not in its index) */
	char	   *model;			/* unique_id of the model it tests */
	char	   *model_name;		/* and its name, as the test names it */
	int			n_given;
	BgUnitTestFixture *given;
	BgUnitTestFixture expect;
	char	   *overrides;		/* the non-empty parts of "overrides", or NULL */
} BgUnitTest;

typedef struct BgManifest
{
	MemoryContext cxt;			/* everything below lives here */
	MemoryContext node_cxt;		/* the BgNodes (bg_manifest_new_node), in cxt */
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

	/*
	 * dbt unit tests (the manifest's "unit_tests"): enabled ones, each with the model it
	 * tests; a deployment runs those of the models it builds (unit_test.c). Read only by
	 * bg_manifest_parse; not stored.
	 */
	List	   *unit_tests;		/* of BgUnitTest * */

	/*
	 * bg_manifest_check_graph: for each enabled node, the places in nodes of its
	 * depends_on.nodes, in their order (NULL for disabled ones)
	 */
	int		  **depends_at;

	BgIdIndex  *node_index;		/* enabled nodes and sources */
	BgIdIndex  *disabled_index;
	BgIdIndex  *macro_index;
} BgManifest;

/* manifest.c: the container */
extern BgManifest *bg_manifest_create(void);
extern BgNode *bg_manifest_new_node(BgManifest *m);
extern void bg_manifest_add_node(BgManifest *m, BgNode *node);
extern void bg_manifest_add_macro(BgManifest *m, BgMacro *macro);
extern BgNode *bg_manifest_node(BgManifest *m, const char *unique_id);
extern int	bg_manifest_node_position(BgManifest *m, const char *unique_id);
extern int	bg_manifest_macro_position(BgManifest *m, const char *unique_id);
extern BgNode *bg_manifest_previous_node(BgManifest *m, const char *unique_id);
extern BgMacro *bg_manifest_macro(BgManifest *m, const char *unique_id);
extern bool bg_manifest_is_disabled(BgManifest *m, const char *unique_id);
extern void bg_manifest_check_graph(BgManifest *m);

/* manifest.c: what a node is */
extern bool bg_node_is(const BgNode *node, const char *resource_type);
extern bool bg_node_has_relation(const BgNode *node);
extern char *bg_node_label(const BgNode *node);
extern const char *bg_node_code(const BgNode *node);

/* manifest.c: the manifest argument of a SQL call */
extern const char *bg_text_arg_manifest(Datum arg, bool is_jsonb, Size *len);

/* intake.c */
extern BgManifest *bg_manifest_parse(const char *json, Size len);
extern BgManifest *bg_manifest_parse_for_plan(const char *json, Size len, BgManifest *live);
extern BgManifest *bg_manifest_parse_to_store(const char *json, Size len);

/* intake_prune.c: compiled code left in the manifest's text (bg_manifest_parse_to_store) */
extern char *bg_node_compiled_code(const BgNode *node);

#endif							/* BLUEGREEN_MANIFEST_H */
