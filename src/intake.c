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
 * a deployment needs: compiled code, rendered config, columns and constraints, tests
 * (intake_node.c). A plan takes the entries that are as live had them from live instead.
 *
 * Bad input never gets further than intake: every error names the node and the field.
 */
#include "postgres.h"

#include "jsonc.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "intake_json.h"
#include "intake_node.h"
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


static void read_document(ManifestReader *r);
static void read_entries(ManifestReader *r, EntryKind kind, const char *section);
static BgNode *unchanged_live_node(ManifestReader *r, const char *where, const char *key,
								   EntryKind kind);
static bool entry_digest_checked(ManifestReader *r, const char *where, uint64 *digest,
								 bool *nul);
static BgMacro *macro_from_json(json_object *o, const char *key);
static void read_metadata(ManifestReader *r, json_object *o);

/* ------------------------------------------------------------------------
 * What intake keeps of each entry (intake_scan.h)
 * ------------------------------------------------------------------------
 */

static const char *const macro_kept[] = {"unique_id", "macro_sql", "depends_on", NULL};
static BgPrune macro_prune = {.keep = macro_kept};

/* of the metadata, what intake records; the rest is checked and passed over */
static const char *const metadata_kept[] = {"dbt_schema_version", "dbt_version", "project_name",
"adapter_type", "invocation_id", "generated_at", NULL};
static BgPrune metadata_prune = {.keep = metadata_kept};

/* of a unit test, what it tests, with what, whether it is enabled */
static const char *const unit_test_kept[] = {"unique_id", "name", "package_name", "model", "depends_on",
"given", "expect", "overrides", NULL};
static const BgPrune *const unit_test_descend_as[] = {&bg_config_prune};
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

	memset(&r, 0, sizeof(r));
	r.plan_reuse = live;
	/* live's nodes matter only where live enforces a contract */
	if (live)
	{
		bool		contracts = false;

		for (int i = 0; i < live->n_nodes && !contracts; i++)
			contracts = live->nodes[i]->contract_enforced;
		if (!contracts)
			live = NULL;
	}

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
	if (r.plan_reuse)
		elog(DEBUG1, "bluegreen: %d of %d nodes and sources of the manifest are the live ones, unchanged",
			 r.n_reused, r.manifest->n_nodes);
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

/*
 * The entry's digest (bg_reader_entry_digest) into *digest; false if the scanner refuses
 * the entry. Such an entry is then read again in full, which refuses it too, and with the
 * message a read without live gives: bg_node_from_entry's checks come first where the
 * reading meets them (a \u0000 in a kept value), and json-c has its own words for what
 * it parses (a config that is no object). Only the scanner's refusals are taken back
 * (it touches nothing but memory); anything else -- out of memory, a cancel -- goes on.
 */
static bool
entry_digest_checked(ManifestReader *r, const char *where, uint64 *digest, bool *nul)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool refused = false;

	PG_TRY();
	{
		*digest = bg_reader_entry_digest(r, where, &bg_node_prune, nul);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		if (e->sqlerrcode != ERRCODE_INVALID_TEXT_REPRESENTATION &&
			e->sqlerrcode != ERRCODE_UNTRANSLATABLE_CHARACTER)
			PG_RE_THROW();
		FreeErrorData(e);
		FlushErrorState();
		refused = true;
	}
	PG_END_TRY();
	return !refused;
}

/*
 * For a plan: the live node that the entry at r->pos was read as, when the entry is the
 * same as it was (bg_reader_entry_digest) -- checked, with r->pos after it, but not read
 * again; otherwise NULL, with r->pos unmoved. A node is a function of its entry's digest
 * and of the section it is listed in, so this is the node bg_node_from_entry would make,
 * without the texts a plan does not keep (bg_manifest_parse_for_plan). Most entries of a
 * new manifest are unchanged, and reading one costs several times checking it.
 */
static BgNode *
unchanged_live_node(ManifestReader *r, const char *where, const char *key, EntryKind kind)
{
	size_t		start;
	BgNode	   *was = bg_manifest_node(r->plan_reuse, key);
	BgNode	   *n;
	bool		nul = false;
	uint64		digest;

	if (was == NULL || was->entry_digest == 0 || !was->listed || was->disabled ||
		(strcmp(was->resource_type, "source") == 0) != (kind == ENTRY_SOURCE))
		return NULL;
	bg_reader_skip_ws(r);
	start = r->pos;
	if (!entry_digest_checked(r, where, &digest, &nul) || digest != was->entry_digest || nul)
	{
		r->pos = start;
		return NULL;
	}
	n = bg_manifest_new_node(r->manifest);
	*n = *was;
	n->config = NULL;
	/* as bg_manifest_parse_for_plan leaves them (bg_node_from_entry) */
	n->config_json = NULL;
	n->constraints_json = NULL;
	n->test_metadata_json = NULL;
	n->compiled_code = NULL;
	if (!n->contract_enforced)
		n->columns_json = NULL;
	return n;
}

static void
read_entries(ManifestReader *r, EntryKind kind, const char *section)
{
	char	   *where = psprintf("\"%s\"", section);
	StringInfoData entry_where_buf;
	int			prefix_len;

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
	/* "<section> entry \"<key>\"", made in place for each entry: only errors read it */
	initStringInfo(&entry_where_buf);
	appendStringInfo(&entry_where_buf, "%s entry \"", section);
	prefix_len = entry_where_buf.len;
	do
	{
		char	   *key = bg_reader_key(r, where);
		char	   *entry_where;
		json_object *o;
		BgSpan		spans[N_NODE_SPANS];
		json_object *kept[N_NODE_KEPT];
		bool		object = true;
		uint64		digest = 0;

		/* every message names the node: keep that readable */
		if (strlen(key) > BG_MAX_UNIQUE_ID)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("manifest %s key \"%s\" is %zu bytes long; bluegreen accepts unique_ids of at most %d bytes",
							section, bg_shorten(key), strlen(key), BG_MAX_UNIQUE_ID)));
		entry_where_buf.len = prefix_len;
		appendStringInfoString(&entry_where_buf, key);
		appendStringInfoChar(&entry_where_buf, '"');
		entry_where = entry_where_buf.data;

		bg_reader_expect(r, ':', "\":\"", entry_where);
		if (kind == ENTRY_DISABLED)
			o = bg_reader_pruned_array(r, entry_where, &bg_node_prune);
		else if (kind == ENTRY_NODE || kind == ENTRY_SOURCE)
		{
			BgNode	   *same = r->plan_reuse ? unchanged_live_node(r, entry_where, key, kind) : NULL;

			if (same)
			{
				r->n_reused++;
				bg_manifest_add_node(r->manifest, same);
				pfree(key);
				continue;
			}
			object = bg_reader_pruned_slots(r, entry_where, &bg_node_prune, spans, kept, &digest);
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
				bg_node_kept_of(v, kept);
				bg_manifest_add_node(r->manifest,
									 bg_node_from_entry(r, kept, NULL, key, is_source, true, false));
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
				BgNode	   *n;

				if (config && json_object_is_type(config, json_type_object) &&
					json_object_object_get_ex(config, "enabled", &enabled) &&
					json_object_is_type(enabled, json_type_boolean) &&
					!json_object_get_boolean(enabled))
					disabled = true;
				n = bg_node_from_entry(r, kept, spans, key, kind == ENTRY_SOURCE, disabled, true);

				n->entry_digest = digest;
				bg_manifest_add_node(r->manifest, n);
			}
		}
		bg_reader_drop_current(r);
		pfree(key);
	} while (bg_reader_accept(r, ','));
	bg_reader_expect(r, '}', "\",\" or \"}\"", where);
	pfree(entry_where_buf.data);
	pfree(where);
}

/* ------------------------------------------------------------------------
 * Nodes, sources, macros, metadata
 * ------------------------------------------------------------------------
 */


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
