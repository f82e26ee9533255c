/*
 * project.c
 *		bg.create_project and bg.plan: register a live baseline, and compare a new
 *		manifest with it.
 *
 * Both parse the manifest as the caller (parsing touches nothing); bluegreen's tables
 * are read and written by state.c, which switches to the extension owner itself. The
 * plan's compatibility verdicts read the catalogs as the extension owner, with
 * search_path pinned, as deploy and promote read them (verdict.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "config.h"
#include "manifest.h"
#include "privilege.h"
#include "scope.h"
#include "selection.h"
#include "spi.h"
#include "state.h"
#include "util.h"
#include "verdict.h"

PG_FUNCTION_INFO_V1(bg_create_project_text);
PG_FUNCTION_INFO_V1(bg_create_project_jsonb);
PG_FUNCTION_INFO_V1(bg_plan_text);
PG_FUNCTION_INFO_V1(bg_plan_jsonb);

/* "12 models, 3 seeds, 20 tests, 4 sources" */
static char *
describe_nodes(BgManifest *m)
{
	static const char *const kinds[] = {"model", "seed", "snapshot", "test", "source",
	"analysis", NULL};
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; kinds[k]; k++)
	{
		int			count = 0;

		for (int i = 0; i < m->n_nodes; i++)
			if (!m->nodes[i]->disabled && strcmp(m->nodes[i]->resource_type, kinds[k]) == 0)
				count++;
		if (count > 0)
			appendStringInfo(&buf, "%s%d %s", buf.len ? ", " : "", count,
							 count == 1 ? kinds[k] :
							 strcmp(kinds[k], "analysis") == 0 ? "analyses" :
							 psprintf("%ss", kinds[k]));
	}
	if (buf.len == 0)
		appendStringInfoString(&buf, "no nodes");
	return buf.data;
}

static void
create_project(FunctionCallInfo fcinfo, bool is_jsonb)
{
	Size		len;
	const char *json;
	BgManifest *m;
	char	   *name;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("manifest must not be null")));
	json = bg_text_arg_manifest(PG_GETARG_DATUM(0), is_jsonb, &len);
	/* stored within this call, while json is at hand: the code is decoded as it is stored */
	m = bg_manifest_parse_to_store(json, len);

	name = bg_arg_text(fcinfo, 1);
	if (name == NULL)
		name = m->project_name;
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest has no metadata.project_name"),
				 errhint("Pass the project name: CALL bg.create_project(manifest, name => 'my_project').")));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("project name must not be empty")));

	SPI_connect();
	/* the baseline's models must live in the managed scope; the builder reads them */
	for (int i = 0; i < m->n_nodes; i++)
		if (bg_node_has_relation(m->nodes[i]) && bg_node_is(m->nodes[i], "model"))
			bg_scope_check(bg_node_label(m->nodes[i]), m->nodes[i]->schema, m->nodes[i]->alias);
	(void) bg_project_create(name, m);
	for (int i = 0; i < m->n_nodes; i++)
		if (bg_node_has_relation(m->nodes[i]))
			bg_scope_grant_reads(m->nodes[i]->schema, m->nodes[i]->alias);
	SPI_finish();

	ereport(NOTICE,
			(errmsg("project \"%s\" registered: %s, %d macros (dbt %s, manifest v%d); no relation was touched",
					name, describe_nodes(m), m->n_macros,
					m->dbt_version ? m->dbt_version : "unknown", m->schema_version)));
}

Datum
bg_create_project_text(PG_FUNCTION_ARGS)
{
	create_project(fcinfo, false);
	PG_RETURN_VOID();
}

Datum
bg_create_project_jsonb(PG_FUNCTION_ARGS)
{
	create_project(fcinfo, true);
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * bg.plan
 * ------------------------------------------------------------------------
 */
#define PLAN_COLUMNS 10

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = s == NULL;
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static Datum
reasons_array(BgPlanItem *item)
{
	char	   *items[BG_SEL_COUNT + 1];
	int			n = 0;

	if (item->selectors & BG_SEL_NEW)
		items[n++] = "new";
	else
	{
		for (int b = BG_SEL_BODY; b < (1 << BG_SEL_COUNT); b <<= 1)
			if (item->selectors & b)
				items[n++] = (char *) bg_selector_name(b);
		if (n == 0 && (item->selectors & BG_SEL_MODIFIED))
			items[n++] = "modified";
		if (n == 0 && item->selected)
			items[n++] = "downstream";
	}
	return bg_text_array(items, n);
}

static void
emit_plan(ReturnSetInfo *rsinfo, BgPlan *plan)
{
	/* each row's values freed once the tuplestore has its copy */
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "bluegreen plan row",
												  ALLOCSET_SMALL_SIZES);

	for (int i = 0; i < plan->n_items; i++)
	{
		BgPlanItem *item = &plan->items[i];
		BgNode	   *n = item->node;
		Datum		values[PLAN_COLUMNS];
		bool		nulls[PLAN_COLUMNS];
		char	   *selectors[BG_SEL_COUNT];
		int			n_selectors = 0;
		bool		relation = bg_node_has_relation(n) || bg_node_is(n, "source");
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(n->unique_id);
		values[1] = CStringGetTextDatum(n->resource_type);
		values[2] = BoolGetDatum(item->selected);
		values[3] = CStringGetTextDatum(bg_action_name(item->action));
		if (item->removed)
		{
			char	   *why = bg_manifest_is_disabled(plan->next, n->unique_id) ? "disabled" : "removed";

			values[4] = bg_text_array(&why, 1);
		}
		else
			values[4] = reasons_array(item);
		values[5] = text_or_null(bg_node_is(n, "source") ? NULL : n->materialized,
								 &nulls[5]);
		values[6] = text_or_null(relation ? bg_qualified_name(n->schema, n->alias) : NULL,
								 &nulls[6]);
		values[7] = text_or_null(item->action == BG_ACTION_BUILD && bg_node_has_relation(n) ?
								 bg_qualified_name(bg_shadow_schema_name(n->schema), n->alias) :
								 NULL, &nulls[7]);
		values[8] = text_or_null(item->compatibility, &nulls[8]);
		for (int b = 0; b < BG_SEL_COUNT; b++)
			if (item->selectors & (1 << b))
				selectors[n_selectors++] = (char *) bg_selector_name(1 << b);
		values[9] = bg_text_array(selectors, n_selectors);
		MemoryContextSwitchTo(old);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextReset(row_cxt);
	}
	MemoryContextDelete(row_cxt);
}

/* ------------------------------------------------------------------------
 * bg.plan's compatibility column: what can be known before anything is built
 * ------------------------------------------------------------------------
 */
typedef struct ContractTypes
{
	List	   *columns;		/* BgModelColumn *: the contract's */
	List	   *resolved;		/* BgColumn *: their types */
} ContractTypes;

/*
 * The contract's data types as the build resolves them: as the builder, under
 * bluegreen.model_search_path (a type's typmod input function is its owner's code).
 * In bg_in_subxact: a type that does not resolve leaves the verdict to the build.
 */
static void
resolve_contract_types(void *arg)
{
	ContractTypes *ct = (ContractTypes *) arg;
	BgUserSwitch sw;
	ListCell   *lc;
	int			attnum = 0;

	bg_become_builder(&sw);
	foreach(lc, ct->columns)
	{
		BgModelColumn *mc = lfirst(lc);
		BgColumn   *c = palloc0(sizeof(BgColumn));

		c->attnum = ++attnum;
		c->name = mc->name;
		typenameTypeIdAndMod(NULL, typeStringToTypeName(mc->data_type), &c->type, &c->typmod);
		c->type_name = format_type_with_typemod(c->type, c->typmod);
		ct->resolved = lappend(ct->resolved, c);
	}
	bg_restore_user(&sw);
}

/*
 * What model n's enforced contract already says against its live relation: the
 * column-level changes certain to be breaking once built (verdict.c's rules), or NULL,
 * when the build must tell. A table is created with exactly the contract's columns and
 * types; a view's code must give the contract's columns and types, with typmods of its
 * own.
 */
static char *
contract_verdict(BgNode *n, Oid live)
{
	bool		table = strcmp(n->materialized, "table") == 0;
	BgModelConfig *c;
	ContractTypes ct = {NIL, NIL};
	StringInfoData line;
	bool		breaking = false;
	ListCell   *lc;

	if (!n->contract_enforced || !(table || strcmp(n->materialized, "view") == 0))
		return NULL;
	c = bg_node_config(n);
	if (c->columns == NIL)
		return NULL;
	foreach(lc, c->columns)
		if (((BgModelColumn *) lfirst(lc))->data_type == NULL)
			return NULL;
	ct.columns = c->columns;
	if (bg_in_subxact(resolve_contract_types, &ct) != NULL)
		return NULL;
	initStringInfo(&line);
	bg_verdict_columns(bg_relation_columns(live), ct.resolved, table, &line, &breaking);
	if (!breaking)
		return NULL;
	return psprintf("breaking (by the enforced contract): %s", line.data);
}

/*
 * Every item's compatibility: "new"; for a relation removed or moved away, "compatible:
 * ..." or "breaking: ..." against live as it is now, exactly as the deploy and promote
 * judge it (bg_verdict_remove); for a relation replaced, "breaking: ..." when the enforced
 * contract already says so, else "after build": only the built relation can tell. NULL
 * for nodes without a relation.
 */
static void
plan_verdicts(BgPlan *plan)
{
	List	   *managed = NIL;

	/* what the deployment would replace or remove: what reads those is not outside */
	for (int i = 0; i < plan->n_items; i++)
	{
		BgPlanItem *item = &plan->items[i];
		BgNode	   *n = item->node;
		char	   *reason;
		char	   *moved_to;
		BgNode	   *gone = bg_plan_item_removes(plan, item, &reason, &moved_to);
		Oid			relid;

		if (item->action == BG_ACTION_BUILD && bg_node_has_relation(n) &&
			bg_relation_exists(n->schema, n->alias, &relid, NULL))
			managed = lappend_oid(managed, relid);
		if (gone && bg_relation_exists(gone->schema, gone->alias, &relid, NULL))
			managed = lappend_oid(managed, relid);
	}

	for (int i = 0; i < plan->n_items; i++)
	{
		BgPlanItem *item = &plan->items[i];
		BgNode	   *n = item->node;
		char	   *reason;
		char	   *moved_to;
		BgNode	   *gone = bg_plan_item_removes(plan, item, &reason, &moved_to);
		Oid			relid;

		if (gone)
		{
			bool		breaking;
			char	   *summary;

			if (!bg_relation_exists(gone->schema, gone->alias, &relid, NULL))
				item->compatibility = moved_to ? pstrdup("new") :
					psprintf("compatible: nothing to drop (%s is not live)",
							 bg_qualified_name(gone->schema, gone->alias));
			else
			{
				(void) bg_verdict_remove(relid, reason, moved_to, managed, &breaking, &summary);
				item->compatibility = psprintf("%s: %s %s", breaking ? "breaking" : "compatible",
											   bg_qualified_name(gone->schema, gone->alias),
											   summary);
			}
			continue;
		}
		if (item->action != BG_ACTION_BUILD || !bg_node_has_relation(n))
			continue;
		if (item->old == NULL || !bg_node_has_relation(item->old) ||
			!bg_relation_exists(n->schema, n->alias, &relid, NULL))
			item->compatibility = pstrdup("new");
		else
		{
			item->compatibility = contract_verdict(n, relid);
			if (item->compatibility == NULL)
				item->compatibility = pstrdup("after build");
		}
	}
}

static void
plan(FunctionCallInfo fcinfo, bool is_jsonb)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Size		len;
	const char *json;
	BgManifest *next;
	BgManifest *live;
	BgProject  *project;
	BgPlan	   *plan;
	BgUserSwitch sw;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("manifest must not be null")));
	InitMaterializedSRF(fcinfo, 0);
	json = bg_text_arg_manifest(PG_GETARG_DATUM(0), is_jsonb, &len);

	/*
	 * The live side first, read from its stored state: the new manifest then keeps only
	 * what the plan compares. Without the project, the manifest's own faults are still
	 * reported before the project's.
	 */
	SPI_connect();
	project = bg_project_lookup(bg_arg_text(fcinfo, 1), true);
	live = project ? bg_manifest_load(project->live_manifest_id, BG_LOAD_COMPARED) : NULL;
	next = bg_manifest_parse_for_plan(json, len, live);
	if (project == NULL)
		project = bg_project_lookup(bg_arg_text(fcinfo, 1), false);

	bg_check_unclaimed(project->project_id, next);
	plan = bg_plan_compute(live, next);
	/*
	 * What the plan would build or remove must be bluegreen's to act on: the old
	 * relation of a model that moves or becomes ephemeral too, as deploy checks it.
	 */
	for (int i = 0; i < plan->n_items; i++)
	{
		BgPlanItem *item = &plan->items[i];
		char	   *reason;
		char	   *moved_to;
		BgNode	   *gone = bg_plan_item_removes(plan, item, &reason, &moved_to);

		if ((item->action == BG_ACTION_BUILD || item->action == BG_ACTION_REMOVE) &&
			bg_node_has_relation(item->node))
			bg_scope_check(bg_node_label(item->node), item->node->schema, item->node->alias);
		if (gone && gone != item->node)
			bg_scope_check(bg_node_label(gone), gone->schema, gone->alias);
	}
	/* the verdicts, as deploy and promote will judge them (verdict.c) */
	bg_become_extension_owner(&sw);
	plan_verdicts(plan);
	bg_restore_user(&sw);
	emit_plan(rsinfo, plan);
	SPI_finish();
}

Datum
bg_plan_text(PG_FUNCTION_ARGS)
{
	plan(fcinfo, false);
	return (Datum) 0;
}

Datum
bg_plan_jsonb(PG_FUNCTION_ARGS)
{
	plan(fcinfo, true);
	return (Datum) 0;
}
