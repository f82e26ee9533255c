/*
 * intake.c
 *		Manifest intake: a dbt manifest.json reduced to a compact BgManifest.
 *
 * Manifests of large projects run to hundreds of megabytes, and a json-c tree of a whole
 * document takes several times its size. So the document is read entry by entry, and
 * each entry key by key (intake_scan.c): json-c parses only the values a node keeps, the
 * rest is checked by a strict scanner and passed over, and the texts bluegreen stores as
 * they are (config, columns, constraints, test metadata) are taken from the document.
 * Each entry's tree is reduced to a BgNode and freed before the next one is read, so
 * memory stays proportional to the compact state, not to the document, and a malformed
 * document is rejected wherever the fault is.
 *
 * What a node keeps is what dbt's state comparison (selector_methods.py,
 * contracts/graph/nodes.py) looks at, reduced to canonical strings and digests, plus what
 * a deployment needs: compiled code, rendered config, columns and constraints, tests.
 *
 * Bad input never gets further than this file: every error names the node and the field.
 */
#include "postgres.h"

#include "jsonc.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "intake_json.h"
#include "intake_scan.h"
#include "manifest.h"
#include "util.h"

#define BG_MAX_UNIQUE_ID 1024

typedef enum EntryKind
{
	ENTRY_NODE,
	ENTRY_SOURCE,
	ENTRY_MACRO,
	ENTRY_DISABLED,
	ENTRY_UNIT_TEST
} EntryKind;

/* Config keys that dbt's config comparison skips (CompareBehavior.Exclude). */
static const char *const config_compare_excluded[] = {
	"alias", "schema", "database", "tags", "group", NULL
};

/* The only config keys dbt compares for tests (TestConfig.same_contents). */
static const char *const test_config_compared[] = {
	"severity", "where", "limit", "fail_calc", "warn_if", "error_if", "store_failures",
	"store_failures_as", NULL
};

static void read_document(ManifestReader *r);
static void read_entries(ManifestReader *r, EntryKind kind, const char *section);
static BgNode *node_from_json(ManifestReader *r, json_object *const *kept, const BgSpan *spans,
							  const char *key, bool is_source, bool disabled, bool listed);
static BgMacro *macro_from_json(json_object *o, const char *key);
static void read_metadata(ManifestReader *r, json_object *o);

/* ------------------------------------------------------------------------
 * What intake keeps of each entry (intake_scan.h)
 * ------------------------------------------------------------------------
 */
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
static const char *const node_kept[] = {
	[NK_UNIQUE_ID] = "unique_id", [NK_RESOURCE_TYPE] = "resource_type",
	[NK_PACKAGE_NAME] = "package_name", [NK_NAME] = "name",
	[NK_ORIGINAL_FILE_PATH] = "original_file_path", [NK_DATABASE] = "database",
	[NK_SCHEMA] = "schema", [NK_ALIAS] = "alias", [NK_IDENTIFIER] = "identifier",
	[NK_UNRENDERED_CONFIG] = "unrendered_config", [NK_FQN] = "fqn", [NK_QUOTING] = "quoting",
	[NK_FRESHNESS] = "freshness", [NK_LOADED_AT_FIELD] = "loaded_at_field",
	[NK_EXTERNAL] = "external", [NK_CHECKSUM] = "checksum",
	[NK_LATEST_VERSION] = "latest_version", [NK_ACCESS] = "access",
	[NK_DEPRECATION_DATE] = "deprecation_date", [NK_VERSION] = "version",
	[NK_DEPENDS_ON] = "depends_on", [NK_CONTRACT] = "contract",
	[NK_ATTACHED_NODE] = "attached_node", [NK_DESCRIPTION] = "description",
	[NK_CONFIG] = NULL
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
static const char *const node_spans[] = {"test_metadata", "constraints", "raw_code", "raw_sql",
"compiled_code", "compiled_sql", NULL};
static const char *const node_descend[] = {[NK_CONFIG - NK_CONFIG] = "config",
[NK_COLUMNS - NK_CONFIG] = "columns", NULL};

static const char *const config_kept[] = {"materialized", "enabled", "persist_docs", NULL};
static BgPrune config_prune = {.keep = config_kept};

static const char *const column_kept[] = {"description", "data_type", NULL};
static BgPrune column_prune = {.keep = column_kept};
static BgPrune columns_prune = {.each = &column_prune};

static const BgPrune *const node_descend_as[] = {&config_prune, &columns_prune};
static BgPrune node_prune = {.keep = node_kept, .spans = node_spans, .descend = node_descend,
.descend_as = node_descend_as};

static const char *const macro_kept[] = {"unique_id", "macro_sql", "depends_on", NULL};
static BgPrune macro_prune = {.keep = macro_kept};

/* of the metadata, what intake records; the rest is checked and passed over */
static const char *const metadata_kept[] = {"dbt_schema_version", "dbt_version", "project_name",
"adapter_type", "invocation_id", "generated_at", NULL};
static BgPrune metadata_prune = {.keep = metadata_kept};

/* of a unit test, what it tests, with what, whether it is enabled */
static const char *const unit_test_kept[] = {"unique_id", "name", "package_name", "model", "depends_on",
"given", "expect", "overrides", NULL};
static const BgPrune *const unit_test_descend_as[] = {&config_prune};
static const char *const unit_test_descend[] = {"config", NULL};
static BgPrune unit_test_prune = {.keep = unit_test_kept, .descend = unit_test_descend,
.descend_as = unit_test_descend_as};

static BgManifest *manifest_parse(const char *json, Size len, bool plan_only, bool in_document,
								  BgManifest *live);

BgManifest *
bg_manifest_parse(const char *json, Size len)
{
	return manifest_parse(json, len, false, false, NULL);
}

/*
 * A manifest read only to be stored, while its text is at hand (json must outlive the
 * result): checked exactly as bg_manifest_parse checks it, but the texts stored as the
 * document has them (config, columns, constraints, test metadata) and the compiled code
 * are left in json (BgNode.doc_*), not copied: state_manifest.c and state_compact.c store
 * them from there, the code decoded a batch at a time (bg_node_compiled_code). Nothing
 * but storing may read those fields of its nodes.
 */
BgManifest *
bg_manifest_parse_to_store(const char *json, Size len)
{
	return manifest_parse(json, len, false, true, NULL);
}

/*
 * A manifest read only to be planned: checked exactly as bg_manifest_parse checks it, but
 * without the texts a plan never reads (compiled code, config, constraints, test metadata,
 * descriptions), which are most of its memory. Columns are kept where a contract is
 * enforced, here or in live (NULL if unknown), whose contract the plan compares with.
 */
BgManifest *
bg_manifest_parse_for_plan(const char *json, Size len, BgManifest *live)
{
	return manifest_parse(json, len, true, false, live);
}

static BgManifest *
manifest_parse(const char *json, Size len, bool plan_only, bool in_document, BgManifest *live)
{
	ManifestReader r;
	MemoryContext oldcxt;

	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("bluegreen needs a database with UTF8 encoding"),
				 errdetail("dbt manifests are UTF-8; this database is %s.",
						   GetDatabaseEncodingName())));

	/* live's nodes matter only where live enforces a contract */
	if (live)
	{
		bool		contracts = false;

		for (int i = 0; i < live->n_nodes && !contracts; i++)
			contracts = live->nodes[i]->contract_enforced;
		if (!contracts)
			live = NULL;
	}

	memset(&r, 0, sizeof(r));
	r.plan_only = plan_only;
	r.in_document = in_document;
	r.plan_live = live;
	r.manifest = bg_manifest_create();
	r.manifest->source_bytes = len;

	oldcxt = MemoryContextSwitchTo(r.manifest->cxt);
	bg_reader_open(&r, json, len);
	bg_json_keep_begin(r.manifest->cxt);
	PG_TRY();
	{
		read_document(&r);
	}
	PG_FINALLY();
	{
		bg_json_keep_end();
		bg_reader_close(&r);
	}
	PG_END_TRY();

	if (!r.saw_metadata)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest has no \"metadata\" object"),
				 errhint("Pass the target/manifest.json that dbt writes.")));
	if (!r.saw_nodes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest has no \"nodes\" object"),
				 errhint("Pass the target/manifest.json that dbt writes.")));

	bg_manifest_check_graph(r.manifest);
	MemoryContextSwitchTo(oldcxt);
	return r.manifest;
}

static void
read_document(ManifestReader *r)
{
	static const char *const sections[] = {"metadata", "nodes", "sources", "macros", "disabled",
	"unit_tests", NULL};
	uint32		seen = 0;

	bg_reader_skip_ws(r);
	if (r->pos == r->len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("manifest is empty")));
	bg_reader_expect(r, '{', "\"{\"", "at the start of the manifest");
	if (bg_reader_accept(r, '}'))
		return;
	do
	{
		char	   *key = bg_reader_key(r, "the manifest's top level");

		/* read twice, the first would count here and the last in jsonb (and in dbt's json) */
		for (int i = 0; sections[i]; i++)
			if (strcmp(key, sections[i]) == 0)
			{
				if (seen & (1 << i))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("manifest has the top-level key \"%s\" twice", key)));
				seen |= 1 << i;
			}
		bg_reader_expect(r, ':', "\":\"", "after a top-level key");
		if (strcmp(key, "metadata") == 0)
		{
			json_object *o = bg_reader_pruned(r, "\"metadata\"", &metadata_prune, NULL);

			read_metadata(r, o);
			bg_reader_drop_current(r);
		}
		else if (strcmp(key, "nodes") == 0)
		{
			read_entries(r, ENTRY_NODE, "nodes");
			r->saw_nodes = true;
		}
		else if (strcmp(key, "sources") == 0)
			read_entries(r, ENTRY_SOURCE, "sources");
		else if (strcmp(key, "macros") == 0)
			read_entries(r, ENTRY_MACRO, "macros");
		else if (strcmp(key, "disabled") == 0)
			read_entries(r, ENTRY_DISABLED, "disabled");
		else if (strcmp(key, "unit_tests") == 0)
			read_entries(r, ENTRY_UNIT_TEST, "unit_tests");
		else
		{
			/* docs, exposures, parent_map and the rest: validated, not kept */
			char	   *where = psprintf("\"%s\"", key);

			bg_reader_skip(r, where);
			pfree(where);
		}
		pfree(key);
	} while (bg_reader_accept(r, ','));
	bg_reader_expect(r, '}', "\",\" or \"}\"", "between top-level keys");
	bg_reader_skip_ws(r);
	if (r->pos != r->len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("manifest is not valid JSON: unexpected text after the top-level object"),
				 errdetail("Byte %zu of %zu follows the closing brace.", r->pos, r->len)));
}

static void
read_entries(ManifestReader *r, EntryKind kind, const char *section)
{
	char	   *where = psprintf("\"%s\"", section);

	bg_reader_skip_ws(r);
	if (r->pos < r->len && r->buf[r->pos] != '{')
	{
		if (kind == ENTRY_DISABLED && r->len - r->pos >= 4 &&
			strncmp(r->buf + r->pos, "null", 4) == 0)
		{
			bg_reader_skip(r, where);
			return;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest field \"%s\" must be an object", section)));
	}
	bg_reader_expect(r, '{', "\"{\"", where);
	if (bg_reader_accept(r, '}'))
		return;
	do
	{
		char	   *key = bg_reader_key(r, where);
		char	   *entry_where;
		json_object *o;
		BgSpan		spans[N_NODE_SPANS];
		json_object *kept[N_NODE_KEPT];
		bool		object = true;

		/* every message names the node: keep that readable */
		if (strlen(key) > BG_MAX_UNIQUE_ID)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("manifest %s key \"%s\" is %zu bytes long; bluegreen accepts unique_ids of at most %d bytes",
							section, bg_shorten(key), strlen(key), BG_MAX_UNIQUE_ID)));
		entry_where = psprintf("%s entry \"%s\"", section, key);

		bg_reader_expect(r, ':', "\":\"", entry_where);
		if (kind == ENTRY_DISABLED)
			o = bg_reader_pruned_array(r, entry_where, &node_prune);
		else if (kind == ENTRY_NODE || kind == ENTRY_SOURCE)
		{
			object = bg_reader_pruned_slots(r, entry_where, &node_prune, spans, kept);
			o = r->current;
		}
		else
			o = bg_reader_pruned(r, entry_where,
								 kind == ENTRY_MACRO ? &macro_prune : &unit_test_prune, NULL);

		if (kind == ENTRY_DISABLED)
		{
			/* disabled: unique_id -> [variants of the node]; the first is what dbt uses */
			if (o == NULL || !json_object_is_type(o, json_type_array) ||
				json_object_array_length(o) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("manifest disabled entry \"%s\" must be a non-empty array of nodes",
								key)));
			for (size_t i = 0; i < json_object_array_length(o); i++)
			{
				json_object *v = json_object_array_get_idx(o, i);
				bool		is_source = false;
				json_object *rt;

				if (v == NULL || !json_object_is_type(v, json_type_object))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("manifest disabled entry \"%s\" must be a non-empty array of nodes",
									key)));
				if (json_object_object_get_ex(v, "resource_type", &rt) &&
					json_object_is_type(rt, json_type_string) &&
					strcmp(json_object_get_string(rt), "source") == 0)
					is_source = true;
				for (int k = 0; k < N_NODE_KEPT; k++)
					kept[k] = bg_json_get(v, k < NK_CONFIG ? node_kept[k] :
										  node_descend[k - NK_CONFIG]);
				bg_manifest_add_node(r->manifest,
									 node_from_json(r, kept, NULL, key, is_source, true, false));
			}
		}
		else
		{
			const char *what = kind == ENTRY_MACRO ? "macro" :
				kind == ENTRY_SOURCE ? "source" : kind == ENTRY_UNIT_TEST ? "unit test" : "node";

			if (!object || (kind != ENTRY_NODE && kind != ENTRY_SOURCE &&
							(o == NULL || !json_object_is_type(o, json_type_object))))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("manifest %s \"%s\" must be a JSON object", what, key)));
			if (kind == ENTRY_MACRO)
				bg_manifest_add_macro(r->manifest, macro_from_json(o, key));
			else if (kind == ENTRY_UNIT_TEST)
				bg_unit_test_from_json(r->manifest, o, key);
			else
			{
				/*
				 * dbt leaves the tests of a disabled model in "nodes" with
				 * config.enabled false; dbt ls treats them as absent, and so do we.
				 */
				json_object *config = kept[NK_CONFIG];
				json_object *enabled;
				bool		disabled = false;

				if (config && json_object_is_type(config, json_type_object) &&
					json_object_object_get_ex(config, "enabled", &enabled) &&
					json_object_is_type(enabled, json_type_boolean) &&
					!json_object_get_boolean(enabled))
					disabled = true;
				bg_manifest_add_node(r->manifest,
									 node_from_json(r, kept, spans, key,
													kind == ENTRY_SOURCE, disabled, true));
			}
		}
		bg_reader_drop_current(r);
		pfree(entry_where);
		pfree(key);
	} while (bg_reader_accept(r, ','));
	bg_reader_expect(r, '}', "\",\" or \"}\"", where);
	pfree(where);
}

/* ------------------------------------------------------------------------
 * Nodes, sources, macros, metadata
 * ------------------------------------------------------------------------
 */

/*
 * The text of a value bluegreen stores as the document has it (v its pruned tree, already
 * checked): NULL when absent or null. A \u0000 in what was passed over is refused here,
 * as bg_json_check_values refuses one in what was kept.
 */
static char *
stored_text(ManifestReader *r, const BgSpan *span, json_object *v, const char *what,
			const char *id, const char *field, bool plan_reads, BgDocText *doc)
{
	if (v == NULL || span->end == 0)
		return NULL;
	if (span->has_nul)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("manifest %s \"%s\": field \"%s\" contains a \\u0000 character",
						what, id, field)));
	if (r->in_document)
	{
		doc->at = r->buf + span->start;
		doc->len = span->end - span->start;
		return NULL;
	}
	return r->plan_only && !plan_reads ? NULL : bg_span_text(r, span);
}

/* The same for a value intake only stores: null, or a value opening with open. */
static char *
stored_span(ManifestReader *r, const BgSpan *span, char open, const char *what,
			const char *id, const char *field, const char *expected, BgDocText *doc)
{
	if (span->end == 0 || r->buf[span->start] == 'n')
		return NULL;
	if (r->buf[span->start] != open)
		bg_json_field_error(what, id, field, expected);
	if (span->has_nul)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("manifest %s \"%s\": field \"%s\" contains a \\u0000 character",
						what, id, field)));
	if (r->in_document)
	{
		doc->at = r->buf + span->start;
		doc->len = span->end - span->start;
		return NULL;
	}
	return r->plan_only ? NULL : bg_span_text(r, span);
}

/* A node's kept string k, which it must have */
static char *
req_string(json_object *const *kept, int k, const char *what, const char *id)
{
	char	   *s = bg_json_value_string(kept[k], what, id, node_kept[k]);

	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest %s \"%s\": field \"%s\" is missing", what, id, node_kept[k])));
	return s;
}

/*
 * The code of a node, a string taken from the document: the span of field main, or of
 * older, its former name, when main is absent or null; NULL when neither is given.
 */
static const BgSpan *
code_span(ManifestReader *r, const BgSpan *spans, int main, int older, const char *what,
		  const char *id, const char *field)
{
	const BgSpan *s = &spans[main];

	if (s->end == 0 || r->buf[s->start] == 'n')
		s = &spans[older];
	if (s->end == 0 || r->buf[s->start] == 'n')
		return NULL;
	if (r->buf[s->start] != '"')
		bg_json_field_error(what, id, field, "a string");
	return s;
}

static BgNode *
node_from_json(ManifestReader *r, json_object *const *kept, const BgSpan *spans, const char *key,
			   bool is_source, bool disabled, bool listed)
{
	const char *what = is_source ? "source" : "node";
	BgNode	   *n = bg_manifest_new_node(r->manifest);
	json_object *config;
	json_object *unrendered;
	json_object *depends_on;
	json_object *contract;
	json_object *columns;
	json_object *v;
	static const char *const relation_keys[] = {"database", "schema", "alias", NULL};

	n->unique_id = req_string(kept, NK_UNIQUE_ID, what, key);
	if (strcmp(n->unique_id, key) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest %s \"%s\": field \"unique_id\" is \"%s\", not the key it is listed under",
						what, key, bg_shorten(n->unique_id))));
	n->disabled = disabled;
	n->listed = listed;
	n->resource_type = req_string(kept, NK_RESOURCE_TYPE, what, key);
	if (is_source ? strcmp(n->resource_type, "source") != 0 :
		!(strcmp(n->resource_type, "model") == 0 ||
		  strcmp(n->resource_type, "seed") == 0 ||
		  strcmp(n->resource_type, "snapshot") == 0 ||
		  strcmp(n->resource_type, "test") == 0 ||
		  strcmp(n->resource_type, "analysis") == 0 ||
		  strcmp(n->resource_type, "operation") == 0 ||
		  strcmp(n->resource_type, "sql_operation") == 0 ||
		  (disabled && (strcmp(n->resource_type, "source") == 0 ||
						strcmp(n->resource_type, "unit_test") == 0 ||
						strcmp(n->resource_type, "exposure") == 0 ||
						strcmp(n->resource_type, "metric") == 0 ||
						strcmp(n->resource_type, "semantic_model") == 0 ||
						strcmp(n->resource_type, "saved_query") == 0))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest %s \"%s\": field \"resource_type\" has the unknown value \"%s\"",
						what, key, bg_shorten(n->resource_type))));
	n->package_name = req_string(kept, NK_PACKAGE_NAME, what, key);
	n->name = req_string(kept, NK_NAME, what, key);
	n->original_file_path = bg_json_value_string(kept[NK_ORIGINAL_FILE_PATH], what, key,
												 "original_file_path");

	if (disabled && !listed)
		return n;				/* only its identity matters: "was disabled" */

	n->database = bg_json_value_string(kept[NK_DATABASE], what, key, "database");
	n->schema = req_string(kept, NK_SCHEMA, what, key);
	n->alias = is_source ? req_string(kept, NK_IDENTIFIER, what, key)
		: bg_json_value_string(kept[NK_ALIAS], what, key, "alias");
	if (n->alias == NULL)
		n->alias = bg_json_keep(n->name, strlen(n->name));

	config = bg_json_value_object(kept[NK_CONFIG], what, key, "config");
	unrendered = bg_json_value_object(kept[NK_UNRENDERED_CONFIG], what, key, "unrendered_config");
	bg_json_check_values(config, what, key, "config");
	bg_json_check_values(unrendered, what, key, "unrendered_config");
	n->config_json = stored_text(r, &spans[SPAN_CONFIG], config, what, key, "config", false,
								 &n->doc_config);
	if (strcmp(n->resource_type, "test") == 0)
		n->config_canon = bg_json_canon_subset(unrendered, test_config_compared);
	else
	{
		StringInfoData buf;

		initStringInfo(&buf);
		bg_json_canon_append(&buf, unrendered, is_source ? NULL : (const char **) config_compare_excluded);
		n->config_canon = bg_string_finish(&buf);
	}
	if (!is_source)
	{
		n->materialized = bg_json_opt_string(config, "materialized", what, key, "config.materialized");
		if (n->materialized == NULL)
			n->materialized = strcmp(n->resource_type, "model") == 0 ? bg_json_keep("view", 4) :
				bg_json_keep(n->resource_type, strlen(n->resource_type));
	}

	n->fqn_canon = bg_json_canon(kept[NK_FQN]);
	if (is_source)
	{
		json_object *relation[] = {kept[NK_DATABASE], kept[NK_SCHEMA], kept[NK_IDENTIFIER]};
		json_object *source[] = {kept[NK_QUOTING], kept[NK_FRESHNESS], kept[NK_LOADED_AT_FIELD],
		kept[NK_EXTERNAL]};

		n->relation_canon = bg_json_canon_values(relation, lengthof(relation));
		n->source_canon = bg_json_canon_values(source, lengthof(source));
	}
	else
	{
		json_object *persist = bg_json_opt_object(config, "persist_docs", what, key,
										  "config.persist_docs");
		const BgSpan *code;

		n->relation_canon = bg_json_canon_fields(unrendered, relation_keys);

		/* seeds are compared by file checksum, everything else by raw code */
		if (strcmp(n->resource_type, "seed") == 0)
			n->body_digest = bg_json_canon(kept[NK_CHECKSUM]);
		else
		{
			/* manifests before v7 named it raw_sql */
			const BgSpan *raw = code_span(r, spans, SPAN_RAW_CODE, SPAN_RAW_SQL, what, key,
										  "raw_code");

			resetStringInfo(&r->scratch);
			if (raw)
				bg_span_decode(r->buf, raw, &r->scratch);
			n->body_digest = bg_json_keep_md5(r->scratch.data, r->scratch.len);
		}

		n->persist_relation_docs = bg_json_truthy(bg_json_get(persist, "relation"));
		n->persist_column_docs = bg_json_truthy(bg_json_get(persist, "columns"));

		if (strcmp(n->resource_type, "model") == 0)
		{
			json_object *ref[] = {kept[NK_LATEST_VERSION], kept[NK_ACCESS],
			kept[NK_DEPRECATION_DATE]};

			n->ref_canon = bg_json_canon_values(ref, lengthof(ref));
		}

		v = kept[NK_VERSION];
		if (v != NULL && !json_object_is_type(v, json_type_null))
			n->version = bg_json_canon(v);

		depends_on = bg_json_value_object(kept[NK_DEPENDS_ON], what, key, "depends_on");
		n->depends_nodes = bg_json_string_array(depends_on, "nodes", what, key, "depends_on.nodes",
										&n->n_depends_nodes);
		n->depends_macros = bg_json_string_array(depends_on, "macros", what, key, "depends_on.macros",
										 &n->n_depends_macros);

		contract = bg_json_value_object(kept[NK_CONTRACT], what, key, "contract");
		n->contract_enforced = bg_json_opt_bool(contract, "enforced", what, key, "contract.enforced");
		n->contract_checksum = bg_json_opt_string(contract, "checksum", what, key, "contract.checksum");

		code = code_span(r, spans, SPAN_COMPILED_CODE, SPAN_COMPILED_SQL, what, key,
						 "compiled_code");
		if (code && code->has_nul)
			ereport(ERROR,
					(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
					 errmsg("manifest %s \"%s\": field \"compiled_code\" contains a \\u0000 character",
							what, key)));
		if (code && r->in_document)
		{
			n->doc_compiled_code.at = r->buf + code->start;
			n->doc_compiled_code.len = code->end - code->start;
		}
		else if (code && !r->plan_only)
		{
			resetStringInfo(&r->scratch);
			bg_span_decode(r->buf, code, &r->scratch);
			n->compiled_code = pnstrdup(r->scratch.data, r->scratch.len);
		}

		n->test_metadata_json = stored_span(r, &spans[SPAN_TEST_METADATA], '{', what, key,
											"test_metadata", "an object", &n->doc_test_metadata);
		n->generic_test = spans[SPAN_TEST_METADATA].end != 0 &&
			r->buf[spans[SPAN_TEST_METADATA].start] != 'n';
		n->attached_node = bg_json_value_string(kept[NK_ATTACHED_NODE], what, key, "attached_node");
		n->constraints_json = stored_span(r, &spans[SPAN_CONSTRAINTS], '[', what, key,
										  "constraints", "an array", &n->doc_constraints);
	}

	/* descriptions: dbt compares them only where they are persisted */
	v = kept[NK_DESCRIPTION];
	if (v != NULL && !json_object_is_type(v, json_type_null) &&
		!json_object_is_type(v, json_type_string))
		bg_json_field_error(what, key, "description", "a string");
	n->description_digest = bg_json_keep_md5(v ? json_object_get_string(v) : "",
								   v ? json_object_get_string_len(v) : 0);
	if (n->persist_relation_docs && v != NULL && json_object_is_type(v, json_type_string))
		n->description = bg_json_copy_string(v, what, key, "description");

	columns = bg_json_value_object(kept[NK_COLUMNS], what, key, "columns");
	if (columns != NULL)
	{
		StringInfoData docs;
		int			ncol = json_object_object_length(columns);
		const char **names = palloc(sizeof(char *) * Max(ncol, 1));
		int			k = 0;
		BgNode	   *was;

		json_object_object_foreach(columns, cname, cval)
		{
			char	   *path = psprintf("columns.%s", cname);

			if (cval == NULL || !json_object_is_type(cval, json_type_object))
				bg_json_field_error(what, key, path, "an object");
			v = bg_json_get(cval, "description");
			if (v != NULL && !json_object_is_type(v, json_type_string))
				bg_json_field_error(what, key, psprintf("%s.description", path), "a string");
			v = bg_json_get(cval, "data_type");
			if (v != NULL && !json_object_is_type(v, json_type_null) &&
				!json_object_is_type(v, json_type_string))
				bg_json_field_error(what, key, psprintf("%s.data_type", path), "a string");
			names[k++] = cname;
			pfree(path);
		}
		qsort(names, k, sizeof(char *), bg_cmp_cstring);
		initStringInfo(&docs);
		appendStringInfoChar(&docs, '{');
		for (int i = 0; i < k; i++)
		{
			if (i > 0)
				appendStringInfoChar(&docs, ',');
			escape_json(&docs, names[i]);
			appendStringInfoChar(&docs, ':');
			bg_json_canon_append(&docs, bg_json_get(bg_json_get(columns, names[i]), "description"), NULL);
		}
		appendStringInfoChar(&docs, '}');
		n->column_docs_digest = bg_json_keep_md5(docs.data, docs.len);
		pfree(docs.data);
		pfree(names);
		bg_json_check_values(columns, what, key, "columns");
		/* a plan compares the columns of contracts enforced before or now */
		was = r->plan_live ? bg_manifest_node(r->plan_live, n->unique_id) : NULL;
		n->columns_json = stored_text(r, &spans[SPAN_COLUMNS], columns, what, key, "columns",
									  n->contract_enforced || (was && was->contract_enforced),
									  &n->doc_columns);
	}
	else
		n->column_docs_digest = bg_json_keep_md5("{}", 2);

	if (bg_node_has_relation(n) || is_source)
	{
		bg_check_identifier(n->schema, key, "schema");
		bg_check_identifier(n->alias, key, is_source ? "identifier" : "alias");
		if (n->database)
			bg_check_identifier(n->database, key, "database");
	}
	return n;
}

static BgMacro *
macro_from_json(json_object *o, const char *key)
{
	BgMacro    *mac = palloc0(sizeof(BgMacro));
	json_object *sql;
	json_object *depends_on;

	mac->unique_id = bg_json_req_string(o, "unique_id", "macro", key);
	if (strcmp(mac->unique_id, key) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest macro \"%s\": field \"unique_id\" is \"%s\", not the key it is listed under",
						key, mac->unique_id)));
	sql = bg_json_get(o, "macro_sql");
	if (sql == NULL || !json_object_is_type(sql, json_type_string))
		bg_json_field_error("macro", key, "macro_sql", "a string");
	mac->sql_digest = bg_md5(json_object_get_string(sql), json_object_get_string_len(sql));
	depends_on = bg_json_opt_object(o, "depends_on", "macro", key, NULL);
	mac->depends_macros = bg_json_string_array(depends_on, "macros", "macro", key, "depends_on.macros",
									   &mac->n_depends_macros);
	return mac;
}

static void
read_metadata(ManifestReader *r, json_object *o)
{
	BgManifest *m = r->manifest;
	char	   *schema_url;
	const char *v;
	int			version = 0;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest field \"metadata\" must be an object")));
	schema_url = bg_json_opt_string(o, "dbt_schema_version", "field", "metadata", "metadata.dbt_schema_version");
	if (schema_url == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest field \"metadata.dbt_schema_version\" is missing"),
				 errhint("Pass the target/manifest.json that dbt writes.")));

	/* https://schemas.getdbt.com/dbt/manifest/v12.json */
	v = strstr(schema_url, "/manifest/v");
	if (v == NULL || sscanf(v, "/manifest/v%d.json", &version) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest field \"metadata.dbt_schema_version\" is \"%s\", which is not a dbt manifest schema",
						bg_shorten(schema_url))));
	if (version < BG_MANIFEST_MIN_VERSION || version > BG_MANIFEST_MAX_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("dbt manifest schema v%d is not supported", version),
				 errdetail("bluegreen reads manifest schemas v%d to v%d (dbt 1.5 to 1.11).",
						   BG_MANIFEST_MIN_VERSION, BG_MANIFEST_MAX_VERSION)));
	m->schema_version = version;
	m->dbt_version = bg_json_opt_string(o, "dbt_version", "field", "metadata", "metadata.dbt_version");
	m->project_name = bg_json_opt_string(o, "project_name", "field", "metadata", "metadata.project_name");
	m->adapter_type = bg_json_opt_string(o, "adapter_type", "field", "metadata", "metadata.adapter_type");
	m->invocation_id = bg_json_opt_string(o, "invocation_id", "field", "metadata", "metadata.invocation_id");
	m->generated_at = bg_json_opt_string(o, "generated_at", "field", "metadata", "metadata.generated_at");
	r->saw_metadata = true;
}
