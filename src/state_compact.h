/*
 * state_compact.h
 *		The fields of a stored node (one list, read by the rows and the compact state
 *		alike), and a manifest's compact state (state_compact.c).
 */
#ifndef BLUEGREEN_STATE_COMPACT_H
#define BLUEGREEN_STATE_COMPACT_H

#include "manifest.h"

/*
 * The columns of bg.node, each with the BgNode field it holds: writing and reading both
 * go by this list, so a new field is one line in node_fields and one column in the table.
 */
typedef enum FieldKind
{
	FIELD_TEXT,
	FIELD_JSON,					/* JSON text, kept as json: verbatim, in dbt's key order */
	FIELD_TEXT_ARRAY,			/* char ** with its count */
	FIELD_BOOL
} FieldKind;

typedef struct NodeField
{
	const char *column;
	FieldKind	kind;
	size_t		offset;
	size_t		count_offset;	/* FIELD_TEXT_ARRAY: the int that counts the items */
	bool		code;			/* read only when the caller asks for compiled code */
	size_t		doc_offset;		/* 0, or the BgDocText the text may be left in instead */
} NodeField;

#define TEXT(c, f) {c, FIELD_TEXT, offsetof(BgNode, f), 0, false, 0}
#define JSON(c, f, d) {c, FIELD_JSON, offsetof(BgNode, f), 0, false, offsetof(BgNode, d)}
#define BOOL(c, f) {c, FIELD_BOOL, offsetof(BgNode, f), 0, false, 0}
#define ARRAY(c, f, n) {c, FIELD_TEXT_ARRAY, offsetof(BgNode, f), offsetof(BgNode, n), false, 0}

static const NodeField node_fields[] = {
	TEXT("unique_id", unique_id),
	TEXT("resource_type", resource_type),
	TEXT("package_name", package_name),
	TEXT("name", name),
	TEXT("version", version),
	BOOL("disabled", disabled),
	BOOL("listed", listed),
	BOOL("generic_test", generic_test),
	TEXT("database_name", database),
	TEXT("schema_name", schema),
	TEXT("alias", alias),
	TEXT("materialized", materialized),
	TEXT("body_digest", body_digest),
	TEXT("config_canon", config_canon),
	TEXT("relation_canon", relation_canon),
	TEXT("fqn_canon", fqn_canon),
	TEXT("ref_canon", ref_canon),
	TEXT("source_canon", source_canon),
	BOOL("persist_relation_docs", persist_relation_docs),
	BOOL("persist_column_docs", persist_column_docs),
	TEXT("description_digest", description_digest),
	TEXT("column_docs_digest", column_docs_digest),
	BOOL("contract_enforced", contract_enforced),
	TEXT("contract_checksum", contract_checksum),
	ARRAY("depends_on_nodes", depends_nodes, n_depends_nodes),
	ARRAY("depends_on_macros", depends_macros, n_depends_macros),
	JSON("config", config_json, doc_config),
	JSON("columns", columns_json, doc_columns),
	JSON("constraints", constraints_json, doc_constraints),
	JSON("test_metadata", test_metadata_json, doc_test_metadata),
	TEXT("attached_node", attached_node),
	{"compiled_code", FIELD_TEXT, offsetof(BgNode, compiled_code), 0, true,
	offsetof(BgNode, doc_compiled_code)},
	TEXT("original_file_path", original_file_path),
	TEXT("description", description),
};

#define N_NODE_FIELDS lengthof(node_fields)
#define FIELD(node, f) ((char *) (node) + (f)->offset)

extern const char *bg_node_field_text(const BgNode *node, const NodeField *f, Size *len);
extern void bg_state_store(BgManifest *m, int64 manifest_id);
extern bool bg_state_load(BgManifest *m, int64 manifest_id, bool texts);

#endif							/* BLUEGREEN_STATE_COMPACT_H */
