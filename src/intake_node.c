/*
 * intake_node.c
 *		A node or source of a manifest, made from what intake keeps of its entry: the
 *		values dbt's state comparison looks at, reduced to canonical strings and digests,
 *		and what a deployment needs, taken from the document.
 *
 * intake.c walks the document and reads each entry by bg_node_prune (intake_prune.c);
 * this file says which of an entry's keys matter and what becomes of them. Every error
 * names the node and the field.
 */
#include "postgres.h"

#include "jsonc.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "intake_json.h"
#include "intake_node.h"
#include "intake_scan.h"
#include "manifest.h"
#include "util.h"

/* Config keys that dbt's config comparison skips (CompareBehavior.Exclude). */
static const char *const config_compare_excluded[] = {
	"alias", "schema", "database", "tags", "group", NULL
};

/* The only config keys dbt compares for tests (TestConfig.same_contents). */
static const char *const test_config_compared[] = {
	"severity", "where", "limit", "fail_calc", "warn_if", "error_if", "store_failures",
	"store_failures_as", NULL
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

static const char *const node_spans[] = {"test_metadata", "constraints", "raw_code", "raw_sql",
"compiled_code", "compiled_sql", NULL};
static const char *const node_descend[] = {[NK_CONFIG - NK_CONFIG] = "config",
[NK_COLUMNS - NK_CONFIG] = "columns", NULL};

static const char *const config_kept[] = {"materialized", "enabled", "persist_docs", NULL};
BgPrune		bg_config_prune = {.keep = config_kept};

static const char *const column_kept[] = {"description", "data_type", NULL};
static BgPrune column_prune = {.keep = column_kept};
static BgPrune columns_prune = {.each = &column_prune};

static const BgPrune *const node_descend_as[] = {&bg_config_prune, &columns_prune};
BgPrune		bg_node_prune = {.keep = node_kept, .spans = node_spans, .descend = node_descend,
.descend_as = node_descend_as};

/* An entry parsed whole (one of "disabled"'s variants): its kept values, as the slots have them. */
void
bg_node_kept_of(json_object *entry, json_object **kept)
{
	for (int k = 0; k < N_NODE_KEPT; k++)
		kept[k] = bg_json_get(entry, k < NK_CONFIG ? node_kept[k] : node_descend[k - NK_CONFIG]);
}

/*
 * The text of a value bluegreen stores as the document has it (checked by the scanner):
 * refused with a \u0000 in it, as bg_json_check_values refuses one in what was kept; left
 * in the document when storing from there (doc), else a copy, unless a plan does not
 * keep it (plan_keeps).
 */
static char *
document_text(ManifestReader *r, const BgSpan *span, const char *what, const char *id,
			  const char *field, bool plan_keeps, BgDocText *doc)
{
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
	return r->plan_only && !plan_keeps ? NULL : bg_span_text(r, span);
}

/* That of a value intake also read (v, its pruned tree): NULL when absent or null. */
static char *
stored_text(ManifestReader *r, const BgSpan *span, json_object *v, const char *what,
			const char *id, const char *field, bool plan_reads, BgDocText *doc)
{
	if (v == NULL || span->end == 0)
		return NULL;
	return document_text(r, span, what, id, field, plan_reads, doc);
}

/* That of a value intake only stores: null, or a value opening with open. */
static char *
stored_span(ManifestReader *r, const BgSpan *span, char open, const char *what,
			const char *id, const char *field, const char *expected, BgDocText *doc)
{
	if (span->end == 0 || r->buf[span->start] == 'n')
		return NULL;
	if (r->buf[span->start] != open)
		bg_json_field_error(what, id, field, expected);
	return document_text(r, span, what, id, field, false, doc);
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

BgNode *
bg_node_from_entry(ManifestReader *r, json_object *const *kept, const BgSpan *spans,
				   const char *key, bool is_source, bool disabled, bool listed)
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
