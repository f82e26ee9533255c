/*
 * deploy_check.c
 *		What a deployment will do, everything that can be checked before it does
 *		anything (bad input stops here, with nothing changed), and after the build, the
 *		verdict on each relation it would replace or remove.
 *
 * The steps: builds first, in dependency order; then tests; then seeds and snapshots
 * carried from live and relations removed at promote. The checks: each model's code
 * parses as one SELECT and its references can be redirected; bluegreen can build its
 * materialization; a new model takes no name outside the project; an incremental model
 * built in full was compiled for a full build; the shadow schema is bluegreen's; what
 * the code reads live exists. The verdicts are verdict.c's rules, recorded per step.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "bluegreen.h"
#include "catalog.h"
#include "config.h"
#include "deploy.h"
#include "diff.h"
#include "privilege.h"
#include "progress.h"
#include "redirect.h"
#include "scope.h"
#include "util.h"
#include "verdict.h"

static bool
has_relation_to_build(BgNode *n)
{
	return bg_node_has_relation(n) && bg_node_is(n, "model");
}

/*
 * The unit tests a deployment runs, by the model they test: every enabled one of the
 * models it builds, when bluegreen.unit_tests is run and bluegreen builds (dbt build
 * runs them in a deployment dbt builds).
 */
static HTAB *
unit_tests_by_model(Deployment *d)
{
	HTAB	   *index;
	ListCell   *lc;

	if (d->external || d->next == NULL || d->next->unit_tests == NIL ||
		bg_unit_tests != BG_UNIT_TESTS_RUN)
		return NULL;
	index = bg_string_index("bluegreen unit tests", CurrentMemoryContext, 64);
	foreach(lc, d->next->unit_tests)
	{
		BgUnitTest *ut = lfirst(lc);

		bg_index_set(index, ut->model,
					 lappend((List *) bg_index_lookup(index, ut->model), ut));
	}
	return index;
}

/* the unit tests of a model the deployment builds, as steps right before its build */
static void
add_unit_test_steps(Deployment *d, HTAB *unit_tests, BgNode *model, int *n)
{
	ListCell   *lc;

	if (unit_tests == NULL)
		return;
	foreach(lc, (List *) bg_index_lookup(unit_tests, model->unique_id))
	{
		BgUnitTest *ut = lfirst(lc);
		BgStep	   *s = &d->steps[*n];

		s->number = ++(*n);
		s->kind = BG_STEP_TEST;
		s->node = ut->node;
		s->unit_test = ut;
		s->status = "pending";
		d->n_test++;
		d->n_unit_test++;
	}
}

void
bg_deploy_collect_steps(Deployment *d)
{
	BgPlan	   *plan = d->plan;
	int			n = 0;
	HTAB	   *unit_tests = unit_tests_by_model(d);

	/*
	 * Each item makes at most two steps (a model that moves builds and removes), and each
	 * unit test one.
	 */
	d->steps = palloc0(sizeof(BgStep) * (2 * plan->n_items + 1 +
										 (d->next ? list_length(d->next->unit_tests) : 0)));
	/*
	 * Builds first, in dependency order, each model's unit tests right before it (after
	 * the inputs they take their columns from, as dbt build runs them); then tests; then
	 * carried and removed nodes.
	 */
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < plan->n_items; i++)
		{
			BgPlanItem *item = &plan->items[i];
			BgStep	   *s;
			BgStepKind	kind;
			BgNode	   *node = item->node;
			char	   *reason = NULL;
			char	   *moved_to;
			BgNode	   *gone = bg_plan_item_removes(plan, item, &reason, &moved_to);

			if (pass == 0 && item->action == BG_ACTION_BUILD && has_relation_to_build(node))
				kind = BG_STEP_BUILD;
			else if (pass == 1 && item->action == BG_ACTION_TEST)
				kind = BG_STEP_TEST;
			else if (pass == 2 && item->action == BG_ACTION_CARRY)
				kind = BG_STEP_CARRY;
			else if (pass == 2 && gone != NULL)
			{
				/* its live relation goes at promote, kept for rollback (selection.c) */
				kind = BG_STEP_REMOVE;
				node = gone;
			}
			else if (pass == 0 && item->action == BG_ACTION_BUILD && bg_node_is(node, "model"))
			{
				/* an ephemeral model: nothing to build, but its unit tests run */
				add_unit_test_steps(d, unit_tests, node, &n);
				continue;
			}
			else
				continue;
			if (kind == BG_STEP_BUILD)
				add_unit_test_steps(d, unit_tests, node, &n);
			s = &d->steps[n];
			s->number = ++n;
			s->kind = kind;
			s->node = node;
			s->old = item->old;
			s->status = "pending";
			if (kind == BG_STEP_REMOVE)
				s->message = reason;
			if (kind == BG_STEP_BUILD)
			{
				d->n_build++;
				s->shadow_schema = bg_shadow_schema_name(s->node->schema);
			}
			if (kind == BG_STEP_TEST)
				d->n_test++;
			if (kind == BG_STEP_BUILD || kind == BG_STEP_REMOVE)
				s->live_exists = bg_relation_exists(s->node->schema, s->node->alias,
													&s->live_oid, &s->live_relkind);
		}
	d->n_steps = n;
}

/* The schemas the project's relations live in, as they exist: hooks must leave them be. */
List *
bg_deploy_live_schemas(Deployment *d)
{
	BgManifest *manifests[2] = {d->live, d->next};
	List	   *out = NIL;

	for (int k = 0; k < 2; k++)
		for (int i = 0; manifests[k] && i < manifests[k]->n_nodes; i++)
		{
			BgNode	   *n = manifests[k]->nodes[i];
			Oid			nsp;

			if (!bg_node_has_relation(n))
				continue;
			nsp = get_namespace_oid(n->schema, true);
			if (OidIsValid(nsp))
				out = list_append_unique_oid(out, nsp);
		}
	return out;
}

/* ------------------------------------------------------------------------
 * Checks made before anything changes
 * ------------------------------------------------------------------------
 */
static bool
is_relation_of(BgNode *o, BgNode *n)
{
	return o != NULL && bg_node_has_relation(o) && strcmp(o->schema, n->schema) == 0 &&
		strcmp(o->alias, n->alias) == 0;
}

/*
 * Models and tests bluegreen is to run must come with dbt's compiled code. A new
 * manifest without it is the wrong file (dbt parse's); a live manifest without it, which
 * a refresh re-runs, was registered from a manifest that has none: dbt parse's, or dbt's
 * graph through the dbt package, which compiles nothing (bg_create_project, a deployment
 * dbt built). Then the way out depends on how the caller reaches bluegreen.
 */
static void
check_compiled(Deployment *d)
{
	BgNode	   *first = NULL;
	int			missing = 0;
	int			total = 0;

	if (d->external)
		return;					/* dbt builds and tests */
	for (int i = 0; i < d->n_steps; i++)
		if ((d->steps[i].kind == BG_STEP_BUILD || d->steps[i].kind == BG_STEP_TEST) &&
			d->steps[i].unit_test == NULL)	/* a unit test runs its model's code */
		{
			total++;
			if (d->steps[i].node->compiled_code == NULL && missing++ == 0)
				first = d->steps[i].node;
		}
	if (missing == 0)
		return;
	if (!d->refresh)
		(void) bg_node_code(first);	/* raises: the manifest of dbt parse */
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("project \"%s\" cannot be refreshed: its live manifest has no compiled code for %d of the %d models and tests a refresh runs, %s among them",
					d->project->name, missing, total, bg_node_label(first)),
			 errdetail("A refresh re-runs the code dbt compiled for the live version. This live manifest came without it: from dbt parse, or from dbt's graph through the dbt package (bg_create_project, a deployment dbt built), which compiles nothing."),
			 bg_hints_for_dbt() ?
			 errhint("Let dbt rebuild it into shadow instead: %s, then dbt run-operation bg_promote. (The on-run-end hook registers a project with its compiled code when dbt first builds it live.)",
					 bg_dbt_deployment(true)) :
			 errhint("Hand bluegreen the code: CALL bg.deploy(manifest) with the target/manifest.json of dbt compile of the live version (it selects nothing), then CALL bg.promote().")));
}

/*
 * The dbt unit tests of the models this deployment builds, when bluegreen.unit_tests is
 * not run: refuse says so before anything is built, skip says which go unrun.
 */
static void
check_unit_tests_not_run(Deployment *d)
{
	StringInfoData list;
	int			count = 0;
	ListCell   *lc;

	if (d->external || d->next == NULL || d->next->unit_tests == NIL ||
		bg_unit_tests == BG_UNIT_TESTS_RUN)
		return;
	initStringInfo(&list);
	foreach(lc, d->next->unit_tests)
	{
		BgUnitTest *ut = lfirst(lc);

		for (int i = 0; i < d->plan->n_items; i++)
			if (d->plan->items[i].action == BG_ACTION_BUILD &&
				strcmp(d->plan->items[i].node->unique_id, ut->model) == 0)
			{
				if (count < 5)
					appendStringInfo(&list, "%s%s (of %s)", count ? ", " : "",
									 ut->node->unique_id, ut->model);
				count++;
				break;
			}
	}
	if (count == 0)
		return;
	if (count > 5)
		appendStringInfo(&list, " and %d more", count - 5);
	if (bg_unit_tests == BG_UNIT_TESTS_SKIP)
		ereport(NOTICE,
				(errmsg("%d dbt unit test%s of the models this deployment builds %s not run: %s",
						count, count == 1 ? "" : "s", count == 1 ? "is" : "are", list.data),
				 errdetail("bluegreen.unit_tests is skip.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this deployment builds models that dbt unit tests test: %s", list.data),
				 errdetail("bluegreen.unit_tests is refuse: no model that a unit test tests is built."),
				 errhint("SET bluegreen.unit_tests = 'run' to run them before their models, as dbt build does; or let dbt build the deployment, unit tests included (%s).",
						 bg_call_hint("deploy_begin", NULL, NULL))));
}

void
bg_deploy_check(Deployment *d)
{
	const char *database = get_database_name(MyDatabaseId);
	Oid			owner = bg_owner_role();

	check_compiled(d);
	check_unit_tests_not_run(d);

	for (int i = 0; i < d->n_steps; i++)
	{
		BgStep	   *s = &d->steps[i];
		BgNode	   *n = s->node;
		char	   *what = bg_node_label(n);

		/* what promote would move out must be bluegreen's to move */
		if (s->kind == BG_STEP_REMOVE)
			bg_scope_check(what, n->schema, n->alias);
		if (s->kind != BG_STEP_BUILD && s->kind != BG_STEP_TEST)
			continue;
		if (d->external && s->kind == BG_STEP_TEST)
			continue;			/* dbt runs the tests */
		if (s->unit_test)
		{
			/* what cannot be run from the manifest is refused here, before any build */
			bg_check_unit_test(d->next, s->unit_test);
			continue;
		}
		if (!d->external && n->database && strcmp(n->database, database) != 0 && bg_node_has_relation(n))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is compiled for database \"%s\", but this is database \"%s\"",
							what, n->database, database),
					 errhint("Compile with a dbt target whose dbname is this database.")));
		/* the code: one SELECT, references redirected (raises on anything else) */
		if (!d->external)
			(void) bg_redirect_select(what, bg_node_code(n), d->ctx.redirects, database, NULL);

		if (s->kind == BG_STEP_BUILD)
		{
			const char *m = n->materialized;
			BgModelConfig *c = bg_node_config(n);

			if (!d->external)
				bg_check_buildable(n);
			(void) bg_diff_bound(n);

			/* a new relation must not take the name of something outside the project */
			if (s->live_exists && !is_relation_of(s->old, n))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_TABLE),
						 errmsg("%s would be built as %s, which already exists and is not part of project \"%s\"",
								what, bg_qualified_name(n->schema, n->alias), d->project->name),
						 errhint("Rename the model (alias) or move the existing object.")));
			if (s->live_exists && s->live_relkind != RELKIND_RELATION &&
				s->live_relkind != RELKIND_VIEW && s->live_relkind != RELKIND_MATVIEW &&
				s->live_relkind != RELKIND_PARTITIONED_TABLE)
				ereport(ERROR,
						(errcode(ERRCODE_WRONG_OBJECT_TYPE),
						 errmsg("%s: live relation %s is not a table, view or materialized view",
								what, bg_qualified_name(n->schema, n->alias))));
			if (strcmp(m, "incremental") == 0 && s->live_exists &&
				s->live_relkind != RELKIND_RELATION &&
				!bg_incremental_in_full(&d->ctx, n, s->live_exists))
				ereport(ERROR,
						(errcode(ERRCODE_WRONG_OBJECT_TYPE),
						 errmsg("%s is incremental, but live %s is not a table to start from",
								what, bg_qualified_name(n->schema, n->alias)),
						 errhint("Deploy with %s to build it in full.",
								 bg_hints_for_dbt() ? "--args '{full_refresh: true}'" : "full_refresh => true")));

			/*
			 * Built in full, an incremental model needs its full query: code that reads
			 * {{ this }} was compiled for an incremental run (is_incremental() true), and
			 * would read the relation it is creating.
			 */
			if (!d->external && strcmp(m, "incremental") == 0 &&
				bg_incremental_in_full(&d->ctx, n, s->live_exists))
			{
				HTAB	   *self = bg_redirect_map_create(CurrentMemoryContext);
				int			reads_itself = 0;

				bg_redirect_map_add(self, n->schema, n->alias, n->alias);
				(void) bg_redirect_select(what, bg_node_code(n), self, database, &reads_itself);
				hash_destroy(self);
				if (reads_itself > 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("%s is built in full (%s), but its compiled code reads %s, its own relation: it was compiled for an incremental run",
									what,
									!s->live_exists ? "it has no live table" :
									c->full_refresh ? "full_refresh: true in its config" :
									"full_refresh => true",
									bg_qualified_name(n->schema, n->alias)),
							 !s->live_exists ?
							 errhint("Compile against the database where it is to be built: dbt compiles a new incremental model to its full query.") :
							 bg_hints_for_dbt() ?
							 errhint("A refresh runs the code dbt compiled for the live version, and here that is the incremental branch: let dbt build the full refresh, dbt run-operation bg_deploy_begin --args '{refresh: true, full_refresh: true}', then %s --full-refresh, then dbt run-operation bg_deploy_finish.",
									 bg_dbt_shadow_build(true)) :
							 errhint("Give the manifest of dbt compile --full-refresh for a full refresh.")));
			}

			/* the live schema and relation: inside the managed scope */
			bg_scope_check(what, n->schema, n->alias);

			/* the shadow schema: bluegreen's, or absent */
			{
				Oid			nsp = get_namespace_oid(s->shadow_schema, true);

				if (OidIsValid(nsp) && !has_privs_of_role(owner, bg_namespace_owner(nsp)))
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("shadow schema \"%s\" of %s exists and is not owned by the owner role \"%s\"",
									s->shadow_schema, what, BG_OWNER_ROLE),
							 errhint("Drop or rename it: bluegreen builds there.")));
			}
		}

		/* what the code reads live must be there */
		for (int k = 0; k < n->n_depends_nodes; k++)
		{
			BgNode	   *up = bg_manifest_node(d->next, n->depends_nodes[k]);
			bool		rebuilt = false;

			if (up == NULL ||
				(!bg_node_has_relation(up) && strcmp(up->resource_type, "source") != 0))
				continue;
			for (int j = 0; j < d->n_steps; j++)
				if (d->steps[j].kind == BG_STEP_BUILD && d->steps[j].node == up)
					rebuilt = true;
			if (rebuilt || bg_relation_exists(up->schema, up->alias, NULL, NULL))
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("%s reads %s %s (%s), which does not exist", what, up->resource_type,
							up->unique_id, bg_qualified_name(up->schema, up->alias)),
					 errhint(strcmp(up->resource_type, "source") == 0 ?
							 "Load the source table first, or fix its schema and identifier in the dbt sources." :
							 "It is not part of this deployment: build it live first (dbt seed, dbt snapshot) or deploy a manifest that selects it.")));
		}
	}
}

/* ------------------------------------------------------------------------
 * After the build: the verdict on every relation replaced or removed
 * ------------------------------------------------------------------------
 */
/*
 * The relation a removal step's model moves to, when the deployment builds the same
 * model under another name (a move: the old relation removed, the new one added), or
 * NULL.
 */
static char *
moved_to(Deployment *d, BgStep *removal)
{
	for (int i = 0; i < d->n_steps; i++)
		if (d->steps[i].kind == BG_STEP_BUILD &&
			strcmp(d->steps[i].node->unique_id, removal->node->unique_id) == 0)
			return bg_qualified_name(d->steps[i].node->schema, d->steps[i].node->alias);
	return NULL;
}

/*
 * Judge every relation the deployment would replace or remove against its live version
 * (verdict.c), record the verdicts, and list them, one line each, in "breaks" or in
 * "compatible". Returns whether anything breaks.
 */
bool
bg_deploy_verdicts(Deployment *d, StringInfo breaks, StringInfo compatible)
{
	List	   *managed = NIL;
	bool		breaking = false;
	BgUserSwitch sw;

	for (int i = 0; i < d->n_steps; i++)
		if ((d->steps[i].kind == BG_STEP_BUILD || d->steps[i].kind == BG_STEP_REMOVE) &&
			d->steps[i].live_exists)
			managed = lappend_oid(managed, d->steps[i].live_oid);
	/* as the extension owner, search_path pinned: type and object names come out alike */
	bg_become_extension_owner(&sw);
	for (int i = 0; i < d->n_steps; i++)
	{
		BgStep	   *s = &d->steps[i];
		char	   *summary = NULL;
		Oid			shadow;

		if (!s->live_exists)
			continue;
		if (s->kind == BG_STEP_BUILD && s->in_place)
			/* the live table stays, columns and all: only rows change */
			s->compatibility = bg_verdict_in_place();
		else if (s->kind == BG_STEP_BUILD &&
			bg_relation_exists(s->shadow_schema, s->node->alias, &shadow, NULL))
			s->compatibility = bg_verdict_replace(s->live_oid, shadow, managed, &s->breaking,
												  &summary);
		else if (s->kind == BG_STEP_REMOVE)
		{
			s->compatibility = bg_verdict_remove(s->live_oid, s->message, moved_to(d, s),
												 managed, &s->breaking, &summary);
			bg_report_step(s, d->n_steps);
		}
		else
			continue;
		s->diff = bg_diff_step(d->next, s);
		if (s->diff)
		{
			BgStepDiff	sd = {s->node->unique_id, bg_qualified_name(s->node->schema, s->node->alias), s->diff};

			ereport(NOTICE, (errmsg("diff of %s", bg_diff_line(&sd))));
		}
		if (s->breaking)
			breaking = true;
		if (summary)
			appendStringInfo(s->breaking ? breaks : compatible, "\n  %s: %s",
							 bg_qualified_name(s->node->schema, s->node->alias), summary);
		bg_step_update(d->deployment_id, s, GetCurrentTimestamp());
	}
	bg_restore_user(&sw);
	return breaking;
}

/*
 * The detail of a deployment's summary: its breaking changes, then its compatible ones,
 * each with what changes and why (NULL when nothing changes).
 */
char *
bg_deploy_verdict_detail(StringInfo breaks, StringInfo compatible)
{
	if (breaks->len == 0 && compatible->len == 0)
		return NULL;
	return psprintf("%s%s%s%s%s", breaks->len ? "Breaking:" : "", breaks->data,
					breaks->len && compatible->len ? "\n" : "",
					compatible->len ? "Compatible:" : "", compatible->data);
}
