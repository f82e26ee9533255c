/*
 * intake_node.h
 *		A node or source of a manifest made from what intake keeps of its entry
 *		(intake_node.c). Include jsonc.h first.
 */
#ifndef BLUEGREEN_INTAKE_NODE_H
#define BLUEGREEN_INTAKE_NODE_H

#include "postgres.h"

#include "intake_scan.h"
#include "manifest.h"

/* a node's kept values, by their place (bg_reader_pruned_slots): node_kept, then node_descend */
enum
{
	NK_UNIQUE_ID, NK_RESOURCE_TYPE, NK_PACKAGE_NAME, NK_NAME, NK_ORIGINAL_FILE_PATH,
	NK_DATABASE, NK_SCHEMA, NK_ALIAS, NK_IDENTIFIER, NK_UNRENDERED_CONFIG, NK_FQN,
	NK_QUOTING, NK_FRESHNESS, NK_LOADED_AT_FIELD, NK_EXTERNAL, NK_CHECKSUM,
	NK_LATEST_VERSION, NK_ACCESS, NK_DEPRECATION_DATE, NK_VERSION, NK_DEPENDS_ON,
	NK_CONTRACT, NK_ATTACHED_NODE, NK_DESCRIPTION,
	NK_CONFIG, NK_COLUMNS,
	N_NODE_KEPT
};
/*
 * kept as the document has them (the code too: hashed or decoded from the document, never
 * a json-c string of its own); in this order in a node's spans
 */
enum
{
	SPAN_TEST_METADATA,
	SPAN_CONSTRAINTS,
	SPAN_RAW_CODE,
	SPAN_RAW_SQL,
	SPAN_COMPILED_CODE,
	SPAN_COMPILED_SQL,
	SPAN_CONFIG,
	SPAN_COLUMNS,
	N_NODE_SPANS
};
/* what intake keeps of a node's entry, and of a config (a unit test's too) */
extern BgPrune bg_node_prune;
extern BgPrune bg_config_prune;

extern BgNode *bg_node_from_entry(ManifestReader *r, json_object *const *kept,
								  const BgSpan *spans, const char *key, bool is_source,
								  bool disabled, bool listed);
extern void bg_node_kept_of(json_object *entry, json_object **kept);

#endif							/* BLUEGREEN_INTAKE_NODE_H */
