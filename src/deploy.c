/*
 * deploy.c
 *		bg.deploy, bg.deploy_begin and bg.deploy_finish: the one file that drives several
 *		stages. It plans (selection.c), builds in shadow (build.c), audits (audit.c),
 *		records every step (state.c), and with promote => true switches (promote.c).
 *
 * A deployment of project P to manifest M:
 *	1. plan M against P's live manifest (selection.c), exactly dbt's state:modified+;
 *	   with no manifest, every model of the live manifest (a scheduled refresh);
 *	2. check everything that can be checked before building (each model's code parses as
 *	   one SELECT, its sources and unbuilt upstream models exist live, no new model would
 *	   take the name of an object outside the project, and so on): bad input stops here,
 *	   with nothing changed;
 *	3. record the deployment and its steps; drop what an earlier unpromoted deployment
 *	   left in shadow;
 *	4. build each selected model into the shadow of its live schema, in dependency order,
 *	   as the owner role, each in a subtransaction of its own (build.c);
 *	5. run the selected tests against the shadow build (audit.c);
 *	6. judge every relation that would be replaced or removed against its live version
 *	   (deploy_check.c, by verdict.c's rules).
 *
 * Production is never written: models are created in shadow schemas only, and the model
 * code is checked to be a plain SELECT. A failure at any model or error-severity test
 * marks the deployment failed with the node and the error; what was built stays in
 * shadow for inspection until bg.abandon or the next deploy drops it.
 *
 * Transactions. Called with CALL outside a transaction block, deploy commits after
 * recording the deployment and after every step, so progress is visible from other
 * sessions (bg.deployment_steps) and the record of a failure survives the ERROR that
 * reports it. Inside a transaction block it cannot commit, and everything, history
 * included, is one transaction.
 *
 * Only one deployment (or promote) of a project runs at a time: the project lock
 * (state.c) is taken without waiting; a second caller fails at once, naming the
 * backend that holds it.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "bluegreen.h"
#include "build.h"
#include "catalog.h"
#include "cleanup.h"
#include "config.h"
#include "deploy.h"
#include "diff.h"
#include "privilege.h"
#include "progress.h"
#include "promote.h"
#include "redirect.h"
#include "search_path.h"
#include "selection.h"
#include "spi.h"
#include "state.h"
#include "util.h"
#include "verdict.h"

PG_FUNCTION_INFO_V1(bg_deploy_text);
PG_FUNCTION_INFO_V1(bg_deploy_jsonb);
PG_FUNCTION_INFO_V1(bg_deploy_begin_text);
PG_FUNCTION_INFO_V1(bg_deploy_begin_jsonb);
PG_FUNCTION_INFO_V1(bg_deploy_finish);

/* After recording something, with CALL outside a transaction block: commit it. */
static void
maybe_commit(Deployment *d)
{
	if (d->nonatomic)
		SPI_commit();
}

/* ------------------------------------------------------------------------
 * Shadow schemas
 * ------------------------------------------------------------------------
 */

/*
 * Create the shadow schemas the deployment builds into, owned by the owner role, with
 * USAGE and CREATE for the builder (and nothing for anyone else: the builder does not
 * own the schema, so it cannot change who may use it). Made as the extension owner (it
 * switches itself): the owner role is not given CREATE on the database (with it,
 * manifest code could CREATE EXTENSION of trusted extensions).
 */
static void
ensure_shadow_schemas(Deployment *d)
{
	BgUserSwitch sw;

	bg_become_extension_owner(&sw);
	for (int i = 0; i < d->n_steps; i++)
	{
		BgStep	   *s = &d->steps[i];
		const char *schema;
		ListCell   *lc;
		bool		seen = false;

		if (s->kind != BG_STEP_BUILD)
			continue;
		schema = quote_identifier(s->shadow_schema);
		foreach(lc, d->shadow_schemas)
			if (strcmp(lfirst(lc), s->shadow_schema) == 0)
				seen = true;
		if (seen)
			continue;
		d->shadow_schemas = lappend(d->shadow_schemas, s->shadow_schema);
		if (!OidIsValid(get_namespace_oid(s->shadow_schema, true)))
		{
			bg_spi_exec(psprintf("CREATE SCHEMA %s AUTHORIZATION %s", schema,
								 quote_identifier(BG_OWNER_ROLE)),
						SPI_OK_UTILITY, 0, NULL, NULL, NULL);
			bg_spi_exec(psprintf("COMMENT ON SCHEMA %s IS %s", schema,
								 quote_literal_cstr(psprintf("bluegreen: deployments of schema %s are built here",
															 s->node->schema))),
						SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		}
		bg_spi_exec(psprintf("GRANT USAGE, CREATE ON SCHEMA %s TO %s", schema,
							 quote_identifier(BG_BUILDER_ROLE)),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	}
	bg_restore_user(&sw);
}

/*
 * The models that a materialized view this deployment builds reads, directly or through
 * ephemeral models: an increment of theirs is not kept in place (incremental.c), since
 * the materialized view's definition would keep reading the shadow view.
 */
static List *
read_by_matview(Deployment *d)
{
	List	   *out = NIL;
	List	   *todo = NIL;

	for (int i = 0; i < d->n_steps; i++)
		if (d->steps[i].kind == BG_STEP_BUILD &&
			strcmp(d->steps[i].node->materialized, "materialized_view") == 0)
			todo = lappend(todo, d->steps[i].node);
	while (todo != NIL)
	{
		BgNode	   *n = linitial(todo);

		todo = list_delete_first(todo);
		for (int k = 0; k < n->n_depends_nodes; k++)
		{
			BgNode	   *up = bg_manifest_node(d->next, n->depends_nodes[k]);

			if (up == NULL)
				continue;
			if (strcmp(up->materialized ? up->materialized : "", "ephemeral") == 0)
				todo = lappend(todo, up);
			else
				out = lappend(out, up->unique_id);
		}
	}
	return out;
}

/* The relations the deployment built in shadow (ephemeral models have none). */
static List *
built_relations(Deployment *d)
{
	List	   *relids = NIL;

	for (int i = 0; i < d->n_steps; i++)
	{
		BgStep	   *s = &d->steps[i];
		Oid			relid;

		if (s->kind != BG_STEP_BUILD || strcmp(s->status, "ok") != 0)
			continue;
		if (bg_relation_exists(s->shadow_schema, s->node->alias, &relid, NULL))
			relids = lappend_oid(relids, relid);
		/* an increment kept in place: the tables promote will read, too */
		for (int k = 0; s->in_place && k < 2; k++)
			if (bg_relation_exists(s->shadow_schema,
								   psprintf(k == 0 ? BG_IN_PLACE_ROWS : BG_IN_PLACE_DELETE, s->number),
								   &relid, NULL))
				relids = lappend_oid(relids, relid);
	}
	return relids;
}

/* ------------------------------------------------------------------------
 * Running one step in a subtransaction, as the builder
 * ------------------------------------------------------------------------
 */
typedef struct StepContextArg
{
	BgStep	   *step;
} StepContextArg;

static void
step_error_context(void *arg)
{
	BgStep	   *s = ((StepContextArg *) arg)->step;

	if (s->kind == BG_STEP_TEST)
		errcontext("running %s %s", s->unit_test ? "unit test" : "test",
				   bg_printable(s->node->unique_id));
	else
		errcontext("building %s %s as %s", bg_printable(s->node->unique_id),
				   bg_qualified_name(s->node->schema, s->node->alias),
				   bg_qualified_name(s->shadow_schema, s->node->alias));
}

typedef struct StepCall
{
	Deployment *d;
	BgStep	   *s;
	MemoryContext keep;			/* for what outlives the step */
} StepCall;

/* The step itself, as the builder: run_step calls it in a subtransaction. */
static void
step_body(void *arg)
{
	Deployment *d = ((StepCall *) arg)->d;
	BgStep	   *s = ((StepCall *) arg)->s;
	MemoryContext keep = ((StepCall *) arg)->keep;
	BgUserSwitch sw;

	/*
	 * The step has an SPI connection of its own, so that what it allocates (a hook's
	 * before-and-after snapshots of what the builder owns, hooks.c) goes when it ends:
	 * SPI returns to its connection's memory after every statement, and a deployment
	 * of 10,000 models would otherwise keep every step's to the end. What outlives the
	 * step is copied to the caller's memory.
	 */
	SPI_connect();
	bg_become_builder(&sw);
	if (s->kind == BG_STEP_BUILD && d->external)
		s->rows = bg_copy_live_incremental(&d->ctx, s->node, s->live_exists, s->shadow_schema);
	else if (s->kind == BG_STEP_BUILD)
	{
		BgBuildResult res;

		bg_build_model(&d->ctx, s->node, s->live_exists, s->shadow_schema, s->number, &res);
		s->rows = res.rows;
		s->relkind = res.relkind;
		s->in_place = res.in_place;
		s->message = MemoryContextStrdup(keep, res.in_place ?
										 psprintf("%s: %s row%s to insert, %s to replace", res.how,
												  bg_thousands(res.rows), res.rows == 1 ? "" : "s",
												  bg_thousands(res.carried_rows)) :
										 strncmp(res.how, "incremental (in full)", 21) != 0 &&
										 strncmp(res.how, "incremental", 11) == 0 ?
										 psprintf("%s: %s row%s from live, %s from the increment", res.how,
												  bg_thousands(res.carried_rows), res.carried_rows == 1 ? "" : "s",
												  bg_thousands(res.rows)) : res.how);
	}
	else
	{
		BgTestResult res;

		if (s->unit_test)
			bg_run_unit_test(&d->ctx, d->next, s->unit_test, &res);
		else
			bg_run_test(&d->ctx, s->node, &res);
		s->failures = res.failures;
		s->status = res.status;
		s->severity = res.severity;
		if (res.message)
			s->message = MemoryContextStrdup(keep, res.message);
	}
	bg_restore_user(&sw);
	SPI_finish();
}

/* Returns NULL on success, or the error (copied) on failure. */
static ErrorData *
run_step(Deployment *d, BgStep *s)
{
	ErrorData  *edata;
	ErrorContextCallback callback;
	StepContextArg arg = {s};
	StepCall	call = {d, s, CurrentMemoryContext};
	int			guc_level;

	/*
	 * Settings the manifest's SQL changes (a hook's SET, set_config() in code) end
	 * with the step, as PostgreSQL ends those of index expressions: they must not
	 * reach the steps after it, or the caller's session.
	 */
	guc_level = NewGUCNestLevel();

	callback.callback = step_error_context;
	callback.arg = &arg;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	bg_step_timer_start();
	edata = bg_in_subxact(step_body, &call);
	if (bg_step_timer_stop() && edata && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		edata->message = psprintf("%s ran longer than bluegreen.statement_timeout (%d ms), and was cancelled",
								  bg_node_label(s->node), bg_statement_timeout_ms);
		edata->hint = pstrdup("A superuser may raise bluegreen.statement_timeout for it.");
	}
	if (edata)
	{
		/* a function or type the code names may live where the path does not reach */
		bg_hint_search_path(edata);
	}
	if (edata)
	{
		/* the step names the node: "model model.x.y: " need not open its message too */
		char	   *label = psprintf("%s: ", bg_node_label(s->node));

		if (strncmp(edata->message, label, strlen(label)) == 0)
			edata->message = pstrdup(edata->message + strlen(label));
	}
	error_context_stack = callback.previous;
	AtEOXact_GUC(false, guc_level);
	return edata;
}

/* What to do with a built deployment: look at the switch and make it, or force it. */
static char *
built_hint(bool breaking)
{
	if (breaking)
		return psprintf("%s to switch it live anyway, or %s.",
						bg_call_hint("promote", "force => true", "force: true"),
						bg_call_hint("abandon", NULL, NULL));
	return psprintf("%s to see the switch, %s to make it.",
					bg_call_hint("promote", "dry_run => true", "dry_run: true"),
					bg_call_hint("promote", NULL, NULL));
}

/* ------------------------------------------------------------------------
 * The refresh plan: every model of the live manifest, every test
 * ------------------------------------------------------------------------
 */
static BgPlan *
refresh_plan(BgManifest *live)
{
	BgPlan	   *plan = bg_plan_compute(live, live);

	plan->n_selected = 0;
	for (int i = 0; i < plan->n_items; i++)
	{
		BgPlanItem *item = &plan->items[i];

		if (item->removed)
			continue;
		if (strcmp(item->node->resource_type, "model") == 0)
			item->action = BG_ACTION_BUILD;
		else if (strcmp(item->node->resource_type, "test") == 0)
			item->action = BG_ACTION_TEST;
		else
			continue;
		item->selected = true;
		plan->n_selected++;
	}
	return plan;
}

/* ------------------------------------------------------------------------
 * Deployments that dbt builds: bg.deploy_begin, then dbt, then bg.deploy_finish
 *
 * For what bluegreen cannot build from a manifest (custom materializations,
 * snapshots, Python models, Jinja-heavy hooks), dbt itself builds into the shadow
 * schemas: bluegreen plans and records the deployment and prepares the shadow (an
 * incremental model starts as a copy of its live table, so dbt's is_incremental() sees
 * the latest live data); dbt builds the selected models there (the package's
 * generate_schema_name puts them in shadow, --defer reads the rest live) and runs their
 * tests; bg.deploy_finish checks that every selected model is in shadow, compares with
 * live and marks the deployment built, ready for bg.promote.
 * ------------------------------------------------------------------------
 */
static void
begin_external(Deployment *d)
{
	StringInfoData models;

	initStringInfo(&models);
	for (int i = 0; i < d->n_steps; i++)
	{
		BgStep	   *s = &d->steps[i];
		ErrorData  *error;

		if (s->kind != BG_STEP_BUILD)
			continue;
		appendStringInfo(&models, "%s%s", models.len ? " " : "", bg_printable(s->node->name));
		error = run_step(d, s);
		if (error)
			ereport(ERROR,
					(errcode(error->sqlerrcode),
					 errmsg("deployment " INT64_FORMAT ": could not copy live %s into shadow: %s",
							d->deployment_id, bg_qualified_name(s->node->schema, s->node->alias),
							error->message)));
		if (s->rows >= 0)
			ereport(NOTICE,
					(errmsg("%s starts from its live table (%s rows copied to %s); dbt applies its increment there",
							bg_printable(s->node->unique_id), bg_thousands(s->rows),
							bg_qualified_name(s->shadow_schema, s->node->alias))));
	}
	ereport(NOTICE,
			(errmsg("deployment " INT64_FORMAT " of project \"%s\" is ready for dbt: %d model%s to build into shadow",
					d->deployment_id, d->project->name, d->n_build, d->n_build == 1 ? "" : "s"),
			 errdetail_internal("Models: %s", models.len ? models.data : "none"),
			 errhint("%s, then %s.", bg_dbt_shadow_build(d->refresh),
					 bg_call_hint("deploy_finish", NULL, NULL))));
}

/* ------------------------------------------------------------------------
 * bg.deploy
 * ------------------------------------------------------------------------
 */
static void
deploy(FunctionCallInfo fcinfo, bool is_jsonb, bool external)
{
	Deployment *d = palloc0(sizeof(Deployment));
	TimestampTz started = GetCurrentTimestamp();
	const char *database = get_database_name(MyDatabaseId);
	bool		promote;
	volatile bool breaking_built = false;

	d->nonatomic = bg_call_is_nonatomic(fcinfo);
	d->caller = GetUserNameFromId(GetUserId(), false);
	d->full_refresh = PG_NARGS() > 2 && !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	promote = PG_NARGS() > 3 && !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
	if (!PG_ARGISNULL(0))
	{
		Size		len;
		const char *json = bg_text_arg_manifest(PG_GETARG_DATUM(0), is_jsonb, &len);

		d->next = bg_manifest_parse(json, len);
	}
	d->refresh = d->next == NULL;
	d->external = external;

	SPI_connect_ext(d->nonatomic ? SPI_OPT_NONATOMIC : 0);
	d->project = bg_project_lookup(bg_arg_text(fcinfo, 1), false);
	bg_lock_project(d->project, "deploy");

	PG_TRY();
	{
		BgDeploymentTotals t = {0};
		BgStep	   *failed = NULL;
		ErrorData  *error = NULL;
		StringInfoData breaks;
		StringInfoData compatible;
		char	   *detail;

		d->live = bg_manifest_load(d->project->live_manifest_id,
									d->refresh ? BG_LOAD_CODE : BG_LOAD_TEXTS);
		if (d->refresh)
		{
			d->next = d->live;
			d->plan = refresh_plan(d->live);
		}
		else
		{
			bg_check_unclaimed(d->project->project_id, d->next);
			d->plan = bg_plan_compute(d->live, d->next);
		}

		bg_deploy_collect_steps(d);
		d->ctx.redirects = bg_redirect_map_create(CurrentMemoryContext);
		d->ctx.database = database;
		d->ctx.full_refresh = d->full_refresh;
		d->ctx.live_schemas = bg_deploy_live_schemas(d);
		d->ctx.read_by_matview = read_by_matview(d);
		d->ctx.publish_all = bg_all_tables_published();
		if (d->external && d->ctx.publish_all)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("a deployment dbt builds cannot keep its shadow tables out of a FOR ALL TABLES publication"),
					 errdetail("dbt creates them logged, so the publication would send their rows to subscribers that have no such tables, and their replication would stop."),
					 errhint("%s", bg_hints_for_dbt() ?
							 "Let bluegreen build it, which builds shadow tables unlogged under FOR ALL TABLES: dbt run-operation bg_deploy for the live version; for a new one, dbt compile, then bg.deploy(manifest) from psql with its target/manifest.json." :
							 "CALL bg.deploy(manifest): bluegreen builds shadow tables unlogged under FOR ALL TABLES.")));
		for (int i = 0; i < d->n_steps; i++)
			if (d->steps[i].kind == BG_STEP_BUILD)
				bg_redirect_map_add(d->ctx.redirects, d->steps[i].node->schema,
									d->steps[i].node->alias,
									bg_qualified_name(d->steps[i].shadow_schema,
													  d->steps[i].node->alias));
		bg_deploy_check(d);

		/* record, clear the way, commit: from here on the deployment is in the history */
		{
			int			dropped = bg_drop_unpromoted(d->project, "abandoned",
													 "replaced by a newer deployment before promote",
													 d->nonatomic);

			if (dropped > 0)
				ereport(NOTICE,
						(errmsg("dropped %d shadow relation%s of an earlier deployment that was not promoted",
								dropped, dropped == 1 ? "" : "s")));
		}
		d->manifest_id = d->refresh ? d->project->live_manifest_id :
			bg_manifest_store(d->next, d->project->project_id);
		d->deployment_id = bg_deployment_insert(d->project, d->manifest_id,
												d->external ? "dbt" : d->refresh ? "refresh" : "deploy",
												d->full_refresh, d->caller, d->steps, d->n_steps);
		ensure_shadow_schemas(d);
		d->ctx.shadow_schemas = d->shadow_schemas;
		ereport(NOTICE,
				(errmsg("deployment " INT64_FORMAT " of project \"%s\": %s%d model%s to build, %d test%s to run%s%s",
						d->deployment_id, d->project->name,
						d->refresh ? "refresh of the live project, " : "",
						d->n_build, d->n_build == 1 ? "" : "s", d->n_test,
						d->n_test == 1 ? "" : "s",
						d->n_unit_test ? psprintf(" (%d of them unit tests)", d->n_unit_test) : "",
						d->external ? ", by dbt" : "")));
		maybe_commit(d);

		if (d->external)
		{
			begin_external(d);
			goto done;
		}

		/* build, then test */
		for (int i = 0; i < d->n_steps && error == NULL; i++)
		{
			BgStep	   *s = &d->steps[i];
			TimestampTz t0 = GetCurrentTimestamp();

			if (s->kind == BG_STEP_BUILD || s->kind == BG_STEP_TEST)
			{
				error = run_step(d, s);
				s->seconds = bg_seconds_since(t0);
				if (error)
				{
					s->status = "error";
					s->message = pstrdup(error->message);
					failed = s;
				}
				else if (s->kind == BG_STEP_BUILD)
				{
					s->status = "ok";
					t.built++;
				}
				else if (strcmp(s->status, "pass") == 0)
					t.passed++;
				else if (strcmp(s->status, "warn") == 0)
					t.warned++;
				else
				{
					t.failed_tests++;
					if (failed == NULL)
						failed = s;
				}
			}
			else
				s->status = s->kind == BG_STEP_CARRY ? "skipped" : "pending";
			if (s->kind != BG_STEP_REMOVE)
			{
				bg_report_step(s, d->n_steps);
				bg_step_update(d->deployment_id, s, t0);
				maybe_commit(d);
			}
		}

		/* compatibility of every relation that would be replaced or removed */
		initStringInfo(&breaks);
		initStringInfo(&compatible);
		if (error == NULL && failed == NULL)
			t.breaking = bg_deploy_verdicts(d, &breaks, &compatible);
		else
			bg_deployment_skip_pending(d->deployment_id, NULL,
									   psprintf("not run: the deployment failed at %s",
												bg_printable(failed->node->unique_id)));

		bg_deployment_finish(d->deployment_id, failed ? "failed" : "built",
							 failed ? failed->node->unique_id : NULL,
							 error ? error->message :
							 failed ? psprintf("test %s failed (%s failing row%s)", failed->node->name,
											   bg_thousands(failed->failures),
											   failed->failures == 1 ? "" : "s") : NULL,
							 &t);
		maybe_commit(d);
		if (failed == NULL)
			(void) bg_switch_hand_over(built_relations(d), d->nonatomic);

		if (failed)
		{
			ereport(NOTICE,
					(errmsg("deployment " INT64_FORMAT " failed%s: %d model%s built, %d test%s passed, %d warned, %d failed; production is untouched",
							d->deployment_id, bg_timing(bg_seconds_since(started)), t.built, t.built == 1 ? "" : "s",
							t.passed, t.passed == 1 ? "" : "s", t.warned, t.failed_tests),
					 errdetail("What was built stays in shadow for inspection until %s or the next deploy.",
							   bg_call_hint("abandon", NULL, NULL))));
			if (error)
				ereport(ERROR,
						(errcode(error->sqlerrcode),
						 errmsg("deployment " INT64_FORMAT " failed at %s %s: %s", d->deployment_id,
								failed->node->resource_type, bg_printable(failed->node->unique_id),
								error->message),
						 error->detail ? errdetail_internal("%s", error->detail) : 0,
						 error->hint ? errhint("%s", error->hint) : 0,
						 error->internalquery ? internalerrquery(error->internalquery) : 0,
						 error->internalpos > 0 ? internalerrposition(error->internalpos) : 0,
						 error->context ? errcontext("%s", error->context) : 0));
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("deployment " INT64_FORMAT " failed: %d error-severity test%s failed, first %s with %s failing row%s",
							d->deployment_id, t.failed_tests, t.failed_tests == 1 ? "" : "s",
							bg_printable(failed->node->unique_id), bg_thousands(failed->failures),
							failed->failures == 1 ? "" : "s"),
					 failed->unit_test && failed->message ?
					 errdetail("Unit test %s: %s.", bg_printable(failed->node->unique_id),
							   failed->message) : 0,
					 errhint("%s", bg_hints_for_dbt() ? "dbt run-operation bg_status lists every test result." :
							 "Query bg.deployment_steps for every test result.")));
		}
		breaking_built = t.breaking;
		detail = bg_deploy_verdict_detail(&breaks, &compatible);
		ereport(NOTICE,
				(errmsg("deployment " INT64_FORMAT " built%s: %d model%s, %d test%s passed, %d warned, 0 failed; %s",
						d->deployment_id, bg_timing(bg_seconds_since(started)), t.built, t.built == 1 ? "" : "s",
						t.passed, t.passed == 1 ? "" : "s", t.warned,
						t.breaking ? "BREAKING changes (see below)" : "compatible with live"),
				 detail ? errdetail_internal("%s", detail) : 0,
				 promote ? 0 : errhint("%s", built_hint(t.breaking))));
	}
done:
		;
	PG_FINALLY();
	{
		bg_unlock_project(d->project);
	}
	PG_END_TRY();

	/* deploy(promote => true): switch it live when it built, passed and breaks nothing */
	if (promote && breaking_built)
		ereport(WARNING,
				(errmsg("deployment " INT64_FORMAT " is not promoted: it has breaking changes",
						d->deployment_id),
				 errhint("Look at it, then %s or %s.", bg_call_hint("promote", "force => true", "force: true"),
						 bg_call_hint("abandon", NULL, NULL))));
	else if (promote)
		(void) bg_switch_deployment(d->project->name, false, false, false, d->nonatomic);
	SPI_finish();
}

Datum
bg_deploy_text(PG_FUNCTION_ARGS)
{
	deploy(fcinfo, false, false);
	PG_RETURN_VOID();
}

Datum
bg_deploy_jsonb(PG_FUNCTION_ARGS)
{
	deploy(fcinfo, true, false);
	PG_RETURN_VOID();
}

Datum
bg_deploy_begin_text(PG_FUNCTION_ARGS)
{
	deploy(fcinfo, false, true);
	PG_RETURN_VOID();
}

Datum
bg_deploy_begin_jsonb(PG_FUNCTION_ARGS)
{
	deploy(fcinfo, true, true);
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * bg.deploy_finish
 * ------------------------------------------------------------------------
 */
typedef struct RowCount
{
	Oid			relid;
	int64		rows;
} RowCount;

static void
count_rows(void *arg)
{
	RowCount   *rc = (RowCount *) arg;

	rc->rows = bg_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM %s", bg_relation_name(rc->relid)));
}

/*
 * The rows of a table or materialized view dbt built in shadow, counted as the caller
 * (who ran dbt, and may read what dbt built: a superuser would read it past its row
 * security); -1 where the caller may not read it, and for a view, which has none.
 */
static int64
shadow_rows(Oid relid, char relkind)
{
	RowCount	rc = {relid, -1};

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_MATVIEW)
		return -1;
	if (bg_in_subxact(count_rows, &rc) != NULL)
		return -1;
	return rc.rows;
}

Datum
bg_deploy_finish(PG_FUNCTION_ARGS)
{
	Deployment *d = palloc0(sizeof(Deployment));
	volatile int missing = 0;
	volatile int built = 0;
	volatile bool breaking = false;
	StringInfoData breaks;
	StringInfoData compatible;
	StringInfoData absent;
	char	   *detail;

	initStringInfo(&breaks);
	initStringInfo(&compatible);
	initStringInfo(&absent);
	d->external = true;
	SPI_connect();
	d->project = bg_project_lookup(bg_arg_text(fcinfo, 0), false);
	bg_lock_project(d->project, "finish a deployment of");
	PG_TRY();
	{
		BgDeploymentRow *row = bg_deployment_latest(d->project, NULL);
		BgDeploymentTotals t = {0};

		if (row == NULL || strcmp(row->kind, "dbt") != 0 || strcmp(row->status, "building") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("project \"%s\" has no deployment waiting for dbt", d->project->name),
					 errhint("%s first, then let dbt build.",
							 bg_hints_for_dbt() ? "dbt run-operation bg_deploy_begin" :
							 "CALL bg.deploy_begin(manifest)")));
		d->deployment_id = row->id;
		/* every step, so that each is numbered "n of" all of them */
		d->steps = bg_deployment_steps(d->deployment_id, false, &d->n_steps);
		for (int i = 0; i < d->n_steps; i++)
		{
			BgStep	   *s = &d->steps[i];

			s->live_exists = (s->kind == BG_STEP_BUILD || s->kind == BG_STEP_REMOVE) &&
				s->live_exists && bg_relation_exists(s->node->schema, s->node->alias, NULL, NULL);
		}
		for (int i = 0; i < d->n_steps; i++)
		{
			BgStep	   *s = &d->steps[i];
			Oid			relid;

			if (s->kind != BG_STEP_BUILD)
				continue;
			if (bg_relation_exists(s->shadow_schema, s->node->alias, &relid, &s->relkind))
			{
				s->status = "ok";
				s->message = pstrdup("built by dbt");
				s->rows = shadow_rows(relid, s->relkind);
				t.built++;
			}
			else
			{
				s->status = "error";
				s->message = psprintf("dbt did not build it into %s",
									  bg_qualified_name(s->shadow_schema, s->node->alias));
				appendStringInfo(&absent, "\n  %s", bg_printable(s->node->unique_id));
				missing++;
			}
			bg_step_update(d->deployment_id, s, GetCurrentTimestamp());
		}
		/* incomplete: the error below undoes this call; dbt may still be building */
		if (missing == 0)
		{
			breaking = t.breaking = bg_deploy_verdicts(d, &breaks, &compatible);
			/* dbt ran the tests: their results are dbt's (run_results.json), not ours */
			bg_deployment_skip_pending(d->deployment_id, "test",
									   "run by dbt, whose result bluegreen does not record");
			bg_deployment_skip_pending(d->deployment_id, "carry",
									   "carried from live: bluegreen promotes models only");
			bg_deployment_finish(d->deployment_id, "built", NULL, NULL, &t);
		}
		built = t.built;
	}
	PG_FINALLY();
	{
		bg_unlock_project(d->project);
	}
	PG_END_TRY();
	SPI_finish();
	if (missing)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deployment " INT64_FORMAT " is not complete: %d selected model%s not in shadow",
						d->deployment_id, missing, missing == 1 ? " is" : "s are"),
				 errdetail_internal("Missing:%s", absent.data),
				 errhint("Let dbt build them (--vars '{bluegreen_shadow: true}'), then %s again; or %s.",
						 bg_call_hint("deploy_finish", NULL, NULL), bg_call_hint("abandon", NULL, NULL))));
	detail = bg_deploy_verdict_detail(&breaks, &compatible);
	ereport(NOTICE,
			(errmsg("deployment " INT64_FORMAT " built by dbt: %d model%s in shadow; %s",
					d->deployment_id, built, built == 1 ? "" : "s",
					breaking ? "BREAKING changes (see below)" : "compatible with live"),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("%s", built_hint(breaking))));
	PG_RETURN_VOID();
}
