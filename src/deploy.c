/*
 * deploy.c
 *		bg.deploy and bg.abandon: plan, build in shadow, audit, and record every step.
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
 *	6. compare every relation that would be replaced with its live version (audit.c).
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
 * Only one deployment (or promote) of a project runs at a time: a session-level
 * advisory lock on the project, taken without waiting; a second caller fails at once,
 * naming the backend that holds it.
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

#include "bluegreen.h"
#include "build.h"
#include "privilege.h"
#include "redirect.h"

PG_FUNCTION_INFO_V1(bg_deploy_text);
PG_FUNCTION_INFO_V1(bg_deploy_jsonb);
PG_FUNCTION_INFO_V1(bg_abandon);
PG_FUNCTION_INFO_V1(bg_deploy_begin_text);
PG_FUNCTION_INFO_V1(bg_deploy_begin_jsonb);
PG_FUNCTION_INFO_V1(bg_deploy_finish);

/* advisory lock key space: ('b' 'g' 'd' 'p', project_id), visible in pg_locks */
#define BG_LOCK_CLASS 0x62676470

/* ------------------------------------------------------------------------
 * One operation per project at a time
 * ------------------------------------------------------------------------
 */
static void
project_locktag(LOCKTAG *tag, int64 project_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, BG_LOCK_CLASS, (uint32) project_id, 2);
}

void
bg_lock_project(BgProject *project, const char *operation)
{
	LOCKTAG		tag;
	LockAcquireResult r;

	project_locktag(&tag, project->project_id);
	r = LockAcquire(&tag, ExclusiveLock, true, true);
	if (r == LOCKACQUIRE_ALREADY_HELD || r == LOCKACQUIRE_ALREADY_CLEAR)
	{
		LockRelease(&tag, ExclusiveLock, true);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("this session is already running a deployment of project \"%s\"",
						project->name)));
	}
	if (r == LOCKACQUIRE_NOT_AVAIL)
	{
		Datum		args[2] = {Int32GetDatum(BG_LOCK_CLASS), Int32GetDatum((int32) project->project_id)};
		Oid			types[2] = {INT4OID, INT4OID};
		char	   *holder = "another session";
		BgUserSwitch sw;

		/* search_path pinned: the caller's path must not resolve the casts below */
		bg_become_extension_owner(&sw);
		bg_spi_exec("SELECT pg_catalog.string_agg(l.pid::text, ', ') FROM pg_catalog.pg_locks AS l"
					" WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted"
					"   AND l.classid::integer OPERATOR(pg_catalog.=) $1"
					"   AND l.objid::integer OPERATOR(pg_catalog.=) $2"
					"   AND l.objsubid OPERATOR(pg_catalog.=) 2"
					"   AND l.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database"
					"        WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())",
					SPI_OK_SELECT, 2, types, args, NULL);
		if (SPI_processed == 1 && SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))
			holder = psprintf("backend %s",
							  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		bg_restore_user(&sw);
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("cannot %s project \"%s\": %s is deploying or promoting it",
						operation, project->name, holder),
				 errhint("Wait for it to finish; see bg.deployments.")));
	}
}

void
bg_unlock_project(BgProject *project)
{
	LOCKTAG		tag;

	project_locktag(&tag, project->project_id);
	LockRelease(&tag, ExclusiveLock, true);
}

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------
 */
static bool
call_is_nonatomic(FunctionCallInfo fcinfo)
{
	return fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
}

/* 1234567 -> "1,234,567" */
static char *
thousands(int64 v)
{
	char	   *digits = psprintf(INT64_FORMAT, v < 0 ? -v : v);
	int			len = strlen(digits);
	StringInfoData buf;

	initStringInfo(&buf);
	if (v < 0)
		appendStringInfoChar(&buf, '-');
	for (int i = 0; i < len; i++)
	{
		if (i > 0 && (len - i) % 3 == 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, digits[i]);
	}
	return buf.data;
}

static double
seconds_since(TimestampTz start)
{
	return (double) (GetCurrentTimestamp() - start) / 1000000.0;
}

/* " in 0.12s", or nothing when bluegreen.show_timing is off */
static char *
timing(double seconds)
{
	return bg_show_timing ? psprintf(" in %.2fs", seconds) : "";
}

static char *
optional_text(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* ------------------------------------------------------------------------
 * Steps
 * ------------------------------------------------------------------------
 */
typedef enum StepKind
{
	STEP_BUILD,
	STEP_TEST,
	STEP_CARRY,
	STEP_REMOVE
} StepKind;

static const char *const step_kind_names[] = {"build", "test", "carry", "remove"};

typedef struct Step
{
	int			number;			/* 1-based */
	StepKind	kind;
	BgNode	   *node;
	BgNode	   *old;
	char	   *shadow_schema;	/* builds */
	bool		live_exists;
	Oid			live_oid;
	char		live_relkind;
	/* outcome */
	const char *status;
	int64		rows;
	int64		failures;
	const char *severity;
	double		seconds;
	char	   *message;
	char	   *compatibility;
	bool		breaking;
	char		relkind;
} Step;

typedef struct Deployment
{
	BgProject  *project;
	BgManifest *live;
	BgManifest *next;
	BgPlan	   *plan;
	bool		refresh;
	bool		external;		/* dbt builds it: bg.deploy_begin / bg.deploy_finish */
	bool		full_refresh;
	bool		nonatomic;
	char	   *caller;
	int64		deployment_id;
	int64		manifest_id;
	int			n_steps;
	Step	   *steps;
	int			n_build;
	int			n_test;
	BgBuildContext ctx;
	List	   *shadow_schemas; /* char *, distinct */
} Deployment;

static bool
has_relation_to_build(BgNode *n)
{
	return bg_node_has_relation(n) && strcmp(n->resource_type, "model") == 0;
}

static void
collect_steps(Deployment *d)
{
	BgPlan	   *plan = d->plan;
	int			n = 0;

	d->steps = palloc0(sizeof(Step) * (plan->n_items + 1));
	/* builds first, in dependency order; then tests; then carried and removed nodes */
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < plan->n_items; i++)
		{
			BgPlanItem *item = &plan->items[i];
			Step	   *s;
			StepKind	kind;

			if (item->action == BG_ACTION_BUILD && has_relation_to_build(item->node))
				kind = STEP_BUILD;
			else if (item->action == BG_ACTION_TEST)
				kind = STEP_TEST;
			else if (item->action == BG_ACTION_CARRY)
				kind = STEP_CARRY;
			else if (item->action == BG_ACTION_REMOVE && bg_node_has_relation(item->node))
				kind = STEP_REMOVE;
			else if (item->action == BG_ACTION_BUILD && item->old != NULL &&
					 bg_node_has_relation(item->old))
				kind = STEP_REMOVE; /* a model that became ephemeral: its relation goes */
			else
				continue;
			if (pass == 0 ? kind != STEP_BUILD :
				pass == 1 ? kind != STEP_TEST :
				(kind == STEP_BUILD || kind == STEP_TEST))
				continue;
			s = &d->steps[n];
			s->number = ++n;
			s->kind = kind;
			s->node = kind == STEP_REMOVE && item->old ? item->old : item->node;
			s->old = item->old;
			s->status = "pending";
			if (kind == STEP_BUILD)
			{
				d->n_build++;
				s->shadow_schema = bg_shadow_schema_name(s->node->schema);
			}
			if (kind == STEP_TEST)
				d->n_test++;
			if (kind == STEP_BUILD || kind == STEP_REMOVE)
				s->live_exists = bg_relation_exists(s->node->schema, s->node->alias,
													&s->live_oid, &s->live_relkind);
		}
	d->n_steps = n;
}

/* The schemas the project's relations live in, as they exist: hooks must leave them be. */
static List *
live_schemas(Deployment *d)
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

static void
precheck(Deployment *d)
{
	const char *database = get_database_name(MyDatabaseId);
	Oid			owner = bg_owner_role();

	for (int i = 0; i < d->n_steps; i++)
	{
		Step	   *s = &d->steps[i];
		BgNode	   *n = s->node;
		char	   *what = bg_node_label(n);

		if (s->kind != STEP_BUILD && s->kind != STEP_TEST)
			continue;
		if (d->external && s->kind == STEP_TEST)
			continue;			/* dbt runs the tests */
		if (!d->external && n->database && strcmp(n->database, database) != 0 && bg_node_has_relation(n))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is compiled for database \"%s\", but this is database \"%s\"",
							what, n->database, database),
					 errhint("Compile with a dbt target whose dbname is this database.")));
		if (!d->external && n->compiled_code == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has no compiled code", what),
					 errhint("Give bluegreen the manifest of dbt compile (or dbt build), not of dbt parse.")));

		/* the code: one SELECT, references redirected (raises on anything else) */
		if (!d->external)
			(void) bg_redirect_select(what, n->compiled_code, d->ctx.redirects, database, NULL);

		if (s->kind == STEP_BUILD)
		{
			const char *m = n->materialized;
			BgModelConfig *c = bg_model_config(n);

			if (!d->external && strcmp(m, "view") != 0 && strcmp(m, "table") != 0 &&
				strcmp(m, "incremental") != 0 && strcmp(m, "materialized_view") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("%s: materialization \"%s\" is not one bluegreen builds", what, m),
						 errhint("bluegreen builds view, table, incremental, materialized_view and ephemeral models; build others with dbt (see the README).")));
			if (!d->external && strcmp(m, "incremental") == 0 && c->incremental_strategy &&
				strcmp(c->incremental_strategy, "append") != 0 &&
				strcmp(c->incremental_strategy, "delete+insert") != 0 &&
				strcmp(c->incremental_strategy, "merge") != 0 &&
				strcmp(c->incremental_strategy, "default") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("%s: incremental_strategy \"%s\" is not one bluegreen builds", what,
								c->incremental_strategy),
						 errhint("bluegreen builds append, delete+insert and merge; build this model with dbt (see the README).")));

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
						 errhint("Deploy with full_refresh => true to build it in full.")));

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
				(void) bg_redirect_select(what, n->compiled_code, self, database, &reads_itself);
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
							 errhint("%s", s->live_exists ?
									 "Give the manifest of dbt compile --full-refresh for a full refresh." :
									 "Compile against the database where it is to be built: dbt compiles a new incremental model to its full query.")));
			}

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
				if (d->steps[j].kind == STEP_BUILD && d->steps[j].node == up)
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
 * Recording (as the extension owner)
 * ------------------------------------------------------------------------
 */
static void
record_deployment(Deployment *d)
{
	Datum		values[6];
	Oid			types[6] = {INT8OID, INT8OID, INT8OID, TEXTOID, BOOLOID, TEXTOID};
	bool		isnull;

	values[0] = Int64GetDatum(d->project->project_id);
	values[1] = Int64GetDatum(d->manifest_id);
	values[2] = Int64GetDatum(d->project->live_manifest_id);
	values[3] = CStringGetTextDatum(d->external ? "dbt" : d->refresh ? "refresh" : "deploy");
	values[4] = BoolGetDatum(d->full_refresh);
	values[5] = CStringGetTextDatum(d->caller);
	bg_spi_exec("INSERT INTO bg.deployment (project_id, manifest_id, base_manifest_id, kind,"
				"  full_refresh, status, started_by)"
				" VALUES ($1, $2, $3, $4, $5, 'building', $6) RETURNING deployment_id",
				SPI_OK_INSERT_RETURNING, 6, types, values, NULL);
	d->deployment_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												   1, &isnull));

	for (int i = 0; i < d->n_steps; i++)
	{
		Step	   *s = &d->steps[i];
		Datum		v[10];
		Oid			t[10] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, OIDOID};
		char		nulls[10] = "          ";
		bool		rel = s->kind == STEP_BUILD || s->kind == STEP_REMOVE ||
			(s->kind == STEP_CARRY && bg_node_has_relation(s->node));

		v[0] = Int64GetDatum(d->deployment_id);
		v[1] = Int32GetDatum(s->number);
		v[2] = CStringGetTextDatum(s->node->unique_id);
		v[3] = CStringGetTextDatum(s->node->resource_type);
		v[4] = CStringGetTextDatum(step_kind_names[s->kind]);
		if (s->node->materialized && strcmp(s->node->resource_type, "test") != 0)
			v[5] = CStringGetTextDatum(s->node->materialized);
		else
			nulls[5] = 'n';
		if (rel)
		{
			v[6] = CStringGetTextDatum(s->node->schema);
			v[7] = CStringGetTextDatum(s->node->alias);
		}
		else
			nulls[6] = nulls[7] = 'n';
		if (s->shadow_schema)
			v[8] = CStringGetTextDatum(s->shadow_schema);
		else
			nulls[8] = 'n';
		/* the live relation as it was when built: promote refuses if it changed since */
		v[9] = ObjectIdGetDatum(s->live_oid);
		if (!s->live_exists)
			nulls[9] = 'n';
		bg_spi_exec("INSERT INTO bg.deployment_step (deployment_id, step, unique_id, resource_type,"
					"  action, materialization, live_schema, live_name, shadow_schema, live_oid,"
					"  status)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')",
					SPI_OK_INSERT, 10, t, v, nulls);
	}
}

static void
record_step(Deployment *d, Step *s, TimestampTz started)
{
	Datum		v[12];
	Oid			t[12] = {INT8OID, INT4OID, TEXTOID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID,
	FLOAT8OID, TEXTOID, TEXTOID, BOOLOID, CHAROID};
	char		nulls[12] = "            ";

	v[0] = Int64GetDatum(d->deployment_id);
	v[1] = Int32GetDatum(s->number);
	v[2] = CStringGetTextDatum(s->status);
	v[3] = Int64GetDatum(s->rows);
	/* rows: of a table or materialized view built; a view has none */
	if (s->kind != STEP_BUILD || strcmp(s->status, "ok") != 0 || s->relkind == RELKIND_VIEW)
		nulls[3] = 'n';
	v[4] = Int64GetDatum(s->failures);
	if (s->kind != STEP_TEST)
		nulls[4] = 'n';
	if (s->severity)
		v[5] = CStringGetTextDatum(s->severity);
	else
		nulls[5] = 'n';
	v[6] = TimestampTzGetDatum(started);
	v[7] = Float8GetDatum(s->seconds);
	if (s->message)
		v[8] = CStringGetTextDatum(s->message);
	else
		nulls[8] = 'n';
	if (s->compatibility)
		v[9] = CStringGetTextDatum(s->compatibility);
	else
		nulls[9] = 'n';
	v[10] = BoolGetDatum(s->breaking);
	if (s->compatibility == NULL)
		nulls[10] = 'n';
	v[11] = CharGetDatum(s->relkind);
	if (s->relkind == 0)
		nulls[11] = 'n';
	bg_spi_exec("UPDATE bg.deployment_step SET status = $3, rows_affected = $4, failures = $5,"
				"  severity = $6, started_at = $7,"
				"  duration = pg_catalog.make_interval(secs => $8), message = $9,"
				"  compatibility = $10::jsonb, breaking = $11, relkind = $12"
				" WHERE deployment_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2",
				SPI_OK_UPDATE, 12, t, v, nulls);
}

static void
finish_deployment(Deployment *d, const char *status, Step *failed, const char *error,
				  int passed, int warned, int failed_tests, int built, bool breaking)
{
	Datum		v[10];
	Oid			t[10] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID,
	BOOLOID, BOOLOID};
	char		nulls[10] = "          ";

	v[0] = Int64GetDatum(d->deployment_id);
	v[1] = CStringGetTextDatum(status);
	if (failed)
		v[2] = CStringGetTextDatum(failed->node->unique_id);
	else
		nulls[2] = 'n';
	if (error)
		v[3] = CStringGetTextDatum(error);
	else
		nulls[3] = 'n';
	v[4] = Int32GetDatum(built);
	v[5] = Int32GetDatum(passed);
	v[6] = Int32GetDatum(warned);
	v[7] = Int32GetDatum(failed_tests);
	v[8] = BoolGetDatum(breaking);
	if (strcmp(status, "failed") == 0)
		nulls[8] = 'n';			/* not compared with live: unknown */
	v[9] = BoolGetDatum(strcmp(status, "built") == 0);
	bg_spi_exec("UPDATE bg.deployment SET status = $2, failed_node = $3, error = $4,"
				"  models_built = $5, tests_passed = $6, tests_warned = $7, tests_failed = $8,"
				"  breaking = $9,"
				"  built_at = CASE WHEN $10 THEN pg_catalog.clock_timestamp() END,"
				"  finished_at = CASE WHEN NOT $10 THEN pg_catalog.clock_timestamp() END"
				" WHERE deployment_id OPERATOR(pg_catalog.=) $1",
				SPI_OK_UPDATE, 10, t, v, nulls);
}

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
 * Create the shadow schemas the deployment builds into, owned by the owner role. Made
 * by the extension owner: the owner role is not given CREATE on the database (with
 * it, manifest code could CREATE EXTENSION of trusted extensions).
 */
static void
ensure_shadow_schemas(Deployment *d)
{
	for (int i = 0; i < d->n_steps; i++)
	{
		Step	   *s = &d->steps[i];
		ListCell   *lc;
		bool		seen = false;

		if (s->kind != STEP_BUILD)
			continue;
		foreach(lc, d->shadow_schemas)
			if (strcmp(lfirst(lc), s->shadow_schema) == 0)
				seen = true;
		if (seen)
			continue;
		d->shadow_schemas = lappend(d->shadow_schemas, s->shadow_schema);
		if (!OidIsValid(get_namespace_oid(s->shadow_schema, true)))
		{
			bg_spi_exec(psprintf("CREATE SCHEMA %s AUTHORIZATION %s",
								 quote_identifier(s->shadow_schema),
								 quote_identifier(BG_OWNER_ROLE)),
						SPI_OK_UTILITY, 0, NULL, NULL, NULL);
			bg_spi_exec(psprintf("COMMENT ON SCHEMA %s IS %s", quote_identifier(s->shadow_schema),
								 quote_literal_cstr(psprintf("bluegreen: deployments of schema %s are built here",
															 s->node->schema))),
						SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		}
	}
}

/*
 * Drop the shadow relations an unpromoted deployment left (its built models), last
 * built first so views go before the tables they read; and mark it. No CASCADE: an
 * object outside bluegreen that reads a shadow relation stops the drop with an error.
 */
static int
drop_unpromoted(int64 project_id, const char *new_status, const char *why)
{
	Datum		arg = Int64GetDatum(project_id);
	Oid			type = INT8OID;
	uint64		n;
	SPITupleTable *tt;
	int			dropped = 0;

	/*
	 * A deployment still "building" whose lock we now hold has lost its backend; one
	 * that dbt builds (bg.deploy_begin) is given up before its bg.deploy_finish, for
	 * the caller's reason.
	 */
	{
		Datum		v[2] = {arg, CStringGetTextDatum(why)};
		Oid			t[2] = {INT8OID, TEXTOID};

		bg_spi_exec("UPDATE bg.deployment SET finished_at = pg_catalog.clock_timestamp(),"
					"  status = CASE WHEN kind OPERATOR(pg_catalog.=) 'dbt' THEN 'abandoned' ELSE 'failed' END,"
					"  error = COALESCE(error, CASE WHEN kind OPERATOR(pg_catalog.=) 'dbt' THEN $2"
					"    ELSE 'the backend building it exited before it finished' END)"
					" WHERE project_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'building'",
					SPI_OK_UPDATE, 2, t, v, NULL);
	}
	bg_spi_exec("SELECT s.shadow_schema, s.live_name, s.relkind FROM bg.deployment_step AS s"
				"  JOIN bg.deployment AS d USING (deployment_id)"
				" WHERE d.project_id OPERATOR(pg_catalog.=) $1"
				"   AND d.status OPERATOR(pg_catalog.=) ANY ('{built,failed,abandoned}')"
				"   AND s.action OPERATOR(pg_catalog.=) 'build'"
				"   AND (s.status OPERATOR(pg_catalog.=) 'ok' OR (d.kind OPERATOR(pg_catalog.=) 'dbt'"
				"        AND s.status OPERATOR(pg_catalog.=) ANY ('{pending,error}')))"
				" ORDER BY s.deployment_id DESC, s.step DESC",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	n = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *schema = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		char	   *name = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		char		relkind;
		Oid			relid;

		if (!bg_relation_exists(schema, name, &relid, &relkind))
			continue;
		bg_spi_exec(psprintf("DROP %s %s",
							 relkind == RELKIND_VIEW ? "VIEW" :
							 relkind == RELKIND_MATVIEW ? "MATERIALIZED VIEW" : "TABLE",
							 quote_qualified_identifier(schema, name)),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		dropped++;
	}
	{
		Datum		v[3] = {arg, CStringGetTextDatum(new_status), CStringGetTextDatum(why)};
		Oid			t[3] = {INT8OID, TEXTOID, TEXTOID};

		bg_spi_exec("UPDATE bg.deployment SET status = CASE WHEN status OPERATOR(pg_catalog.=) 'built'"
					"    THEN $2 ELSE status END,"
					"  error = CASE WHEN status OPERATOR(pg_catalog.=) 'built' THEN $3 ELSE error END,"
					"  finished_at = COALESCE(finished_at, pg_catalog.clock_timestamp())"
					" WHERE project_id OPERATOR(pg_catalog.=) $1"
					"   AND (status OPERATOR(pg_catalog.=) 'built'"
					"        OR (status OPERATOR(pg_catalog.=) 'failed'"
					"            AND EXISTS (SELECT FROM bg.deployment_step AS s"
					"                WHERE s.deployment_id OPERATOR(pg_catalog.=) bg.deployment.deployment_id"
					"                  AND s.action OPERATOR(pg_catalog.=) 'build'"
					"                  AND s.status OPERATOR(pg_catalog.=) 'ok')))",
					SPI_OK_UPDATE, 3, t, v, NULL);
		/* shadow relations are gone: mark their steps so a later pass skips them */
		bg_spi_exec("UPDATE bg.deployment_step AS s SET status = 'skipped',"
					"  message = pg_catalog.concat_ws('; ', s.message, 'shadow relation dropped')"
					"  FROM bg.deployment AS d"
					" WHERE d.deployment_id OPERATOR(pg_catalog.=) s.deployment_id"
					"   AND d.project_id OPERATOR(pg_catalog.=) $1"
					"   AND d.status OPERATOR(pg_catalog.=) ANY ('{abandoned,failed}')"
					"   AND s.action OPERATOR(pg_catalog.=) 'build'"
					"   AND (s.status OPERATOR(pg_catalog.=) 'ok' OR (d.kind OPERATOR(pg_catalog.=) 'dbt'"
					"        AND s.status OPERATOR(pg_catalog.=) ANY ('{pending,error}')))",
					SPI_OK_UPDATE, 1, &type, &arg, NULL);
	}
	return dropped;
}

/* ------------------------------------------------------------------------
 * Running one step in a subtransaction, as the owner role
 * ------------------------------------------------------------------------
 */
typedef struct StepContextArg
{
	Step	   *step;
} StepContextArg;

static void
step_error_context(void *arg)
{
	Step	   *s = ((StepContextArg *) arg)->step;

	if (s->kind == STEP_TEST)
		errcontext("running test %s", s->node->unique_id);
	else
		errcontext("building %s %s as %s", s->node->unique_id,
				   bg_qualified_name(s->node->schema, s->node->alias),
				   bg_qualified_name(s->shadow_schema, s->node->alias));
}

typedef struct StepCall
{
	Deployment *d;
	Step	   *s;
} StepCall;

/* The step itself, as the owner role: run_step calls it in a subtransaction. */
static void
step_body(void *arg)
{
	Deployment *d = ((StepCall *) arg)->d;
	Step	   *s = ((StepCall *) arg)->s;
	BgUserSwitch sw;

	bg_become_owner_role(&sw);
	if (s->kind == STEP_BUILD && d->external)
		s->rows = bg_copy_live_incremental(&d->ctx, s->node, s->live_exists, s->shadow_schema);
	else if (s->kind == STEP_BUILD)
	{
		BgBuildResult res;

		bg_build_model(&d->ctx, s->node, s->live_exists, s->shadow_schema, s->number, &res);
		s->rows = res.rows;
		s->relkind = res.relkind;
		s->message = strncmp(res.how, "incremental (in full)", 21) != 0 &&
			strncmp(res.how, "incremental", 11) == 0 ?
			psprintf("%s: %s row%s from live, %s from the increment", res.how,
					 thousands(res.carried_rows), res.carried_rows == 1 ? "" : "s",
					 thousands(res.rows)) : pstrdup(res.how);
	}
	else
	{
		BgTestResult res;

		bg_run_test(&d->ctx, s->node, &res);
		s->failures = res.failures;
		s->status = res.status;
		s->severity = res.severity;
	}
	bg_restore_user(&sw);
}

/* Returns NULL on success, or the error (copied) on failure. */
static ErrorData *
run_step(Deployment *d, Step *s)
{
	ErrorData  *edata;
	ErrorContextCallback callback;
	StepContextArg arg = {s};
	StepCall	call = {d, s};
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

	edata = bg_in_subxact(step_body, &call);
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

/* ------------------------------------------------------------------------
 * Progress lines
 * ------------------------------------------------------------------------
 */
static const char *
kind_word(BgNode *n, char relkind)
{
	if (relkind == RELKIND_VIEW || strcmp(n->materialized, "view") == 0)
		return "view";
	if (strcmp(n->materialized, "materialized_view") == 0)
		return "materialized view";
	if (strcmp(n->materialized, "incremental") == 0)
		return "incremental";
	return "table";
}

static void
report_step(Deployment *d, Step *s, int total)
{
	char	   *rel = bg_qualified_name(s->node->schema, s->node->alias);

	switch (s->kind)
	{
		case STEP_BUILD:
			if (strcmp(s->status, "ok") != 0)
				ereport(NOTICE,
						(errmsg("%d of %d ERROR building %s %s%s", s->number, total,
								kind_word(s->node, s->relkind), rel, timing(s->seconds))));
			else if (s->relkind == RELKIND_VIEW)
				ereport(NOTICE,
						(errmsg("%d of %d OK created view %s%s", s->number, total, rel,
								timing(s->seconds))));
			else if (strchr(s->message, ':'))	/* an increment on live data */
				ereport(NOTICE,
						(errmsg("%d of %d OK built %s %s (%s)%s", s->number, total,
								pnstrdup(s->message, strchr(s->message, ':') - s->message), rel,
								strchr(s->message, ':') + 2, timing(s->seconds))));
			else
				ereport(NOTICE,
						(errmsg("%d of %d OK built %s %s (%s row%s)%s", s->number, total,
								s->message, rel, thousands(s->rows), s->rows == 1 ? "" : "s",
								timing(s->seconds))));
			break;
		case STEP_TEST:
			if (strcmp(s->status, "pass") == 0)
				ereport(NOTICE,
						(errmsg("%d of %d PASS %s%s", s->number, total, s->node->name,
								timing(s->seconds))));
			else if (strcmp(s->status, "warn") == 0 || strcmp(s->status, "fail") == 0)
				ereport(NOTICE,
						(errmsg("%d of %d %s %s %s%s", s->number, total,
								strcmp(s->status, "warn") == 0 ? "WARN" : "FAIL",
								thousands(s->failures), s->node->name, timing(s->seconds))));
			else
				ereport(NOTICE,
						(errmsg("%d of %d ERROR %s%s", s->number, total, s->node->name,
								timing(s->seconds))));
			break;
		case STEP_CARRY:
			ereport(NOTICE,
					(errmsg("%d of %d SKIP %s %s: carried from live (bluegreen cannot build its data from a manifest; run dbt %s)",
							s->number, total, s->node->resource_type, rel,
							s->node->resource_type)));
			break;
		case STEP_REMOVE:
			ereport(NOTICE,
					(errmsg("%d of %d REMOVE %s at promote (%s)", s->number, total, rel,
							s->compatibility && s->breaking ? "breaking" : "kept for rollback")));
			break;
	}
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

/*
 * Compare every relation the deployment would replace or remove with its live version
 * (audit.c), record the verdicts, and list the breaking ones in "breaks".
 */
static bool
compare_with_live(Deployment *d, StringInfo breaks)
{
	BgUserSwitch sw;
	Oid		   *managed = palloc(sizeof(Oid) * (d->n_steps + 1));
	int			n_managed = 0;
	bool		breaking = false;

	for (int i = 0; i < d->n_steps; i++)
		if ((d->steps[i].kind == STEP_BUILD || d->steps[i].kind == STEP_REMOVE) &&
			d->steps[i].live_exists)
			managed[n_managed++] = d->steps[i].live_oid;
	bg_become_extension_owner(&sw);
	for (int i = 0; i < d->n_steps; i++)
	{
		Step	   *s = &d->steps[i];
		char	   *summary = NULL;
		Oid			shadow;

		if (!s->live_exists)
			continue;
		if (s->kind == STEP_BUILD &&
			bg_relation_exists(s->shadow_schema, s->node->alias, &shadow, NULL))
			s->compatibility = bg_compare_relations(s->live_oid, shadow, managed,
													n_managed, &s->breaking, &summary);
		else if (s->kind == STEP_REMOVE)
		{
			s->compatibility = bg_removed_relation_report(s->live_oid, managed, n_managed,
														  &s->breaking, &summary);
			report_step(d, s, d->n_steps);
		}
		else
			continue;
		if (s->breaking)
		{
			breaking = true;
			appendStringInfo(breaks, "\n  %s: %s",
							 bg_qualified_name(s->node->schema, s->node->alias),
							 summary ? summary : "breaking");
		}
		record_step(d, s, GetCurrentTimestamp());
	}
	bg_restore_user(&sw);
	return breaking;
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
		Step	   *s = &d->steps[i];
		ErrorData  *error;

		if (s->kind != STEP_BUILD)
			continue;
		appendStringInfo(&models, "%s%s", models.len ? " " : "", s->node->name);
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
							s->node->unique_id, thousands(s->rows),
							bg_qualified_name(s->shadow_schema, s->node->alias))));
	}
	ereport(NOTICE,
			(errmsg("deployment " INT64_FORMAT " of project \"%s\" is ready for dbt: %d model%s to build into shadow",
					d->deployment_id, d->project->name, d->n_build, d->n_build == 1 ? "" : "s"),
			 errdetail_internal("Models: %s", models.len ? models.data : "none"),
			 errhint("dbt build --select state:modified+ --defer --state <live artifacts> --vars '{bluegreen_shadow: true}', then CALL bg.deploy_finish().")));
}

/* ------------------------------------------------------------------------
 * bg.deploy
 * ------------------------------------------------------------------------
 */
static void
deploy(FunctionCallInfo fcinfo, bool is_jsonb, bool external)
{
	Deployment *d = palloc0(sizeof(Deployment));
	BgUserSwitch sw;
	TimestampTz started = GetCurrentTimestamp();
	const char *database = get_database_name(MyDatabaseId);
	bool		promote;
	volatile bool breaking_built = false;

	d->nonatomic = call_is_nonatomic(fcinfo);
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
	bg_become_extension_owner(&sw);
	d->project = bg_project_lookup(optional_text(fcinfo, 1), false);
	bg_restore_user(&sw);
	bg_lock_project(d->project, "deploy");

	PG_TRY();
	{
		int			passed = 0,
					warned = 0,
					failed_tests = 0,
					built = 0;
		Step	   *failed = NULL;
		ErrorData  *error = NULL;
		bool		breaking = false;
		StringInfoData breaks;

		bg_become_extension_owner(&sw);
		d->live = bg_manifest_load(d->project->live_manifest_id, d->refresh);
		bg_restore_user(&sw);
		if (d->refresh)
		{
			d->next = d->live;
			d->plan = refresh_plan(d->live);
		}
		else
			d->plan = bg_plan_compute(d->live, d->next);

		collect_steps(d);
		d->ctx.redirects = bg_redirect_map_create(CurrentMemoryContext);
		d->ctx.database = database;
		d->ctx.full_refresh = d->full_refresh;
		d->ctx.live_schemas = live_schemas(d);
		for (int i = 0; i < d->n_steps; i++)
			if (d->steps[i].kind == STEP_BUILD)
				bg_redirect_map_add(d->ctx.redirects, d->steps[i].node->schema,
									d->steps[i].node->alias,
									bg_qualified_name(d->steps[i].shadow_schema,
													  d->steps[i].node->alias));
		precheck(d);

		/* record, clear the way, commit: from here on the deployment is in the history */
		bg_become_extension_owner(&sw);
		{
			int			dropped = drop_unpromoted(d->project->project_id, "abandoned",
												  "replaced by a newer deployment before promote");

			if (dropped > 0)
				ereport(NOTICE,
						(errmsg("dropped %d shadow relation%s of an earlier deployment that was not promoted",
								dropped, dropped == 1 ? "" : "s")));
		}
		d->manifest_id = d->refresh ? d->project->live_manifest_id :
			bg_manifest_store(d->next, d->project->project_id);
		record_deployment(d);
		ensure_shadow_schemas(d);
		bg_restore_user(&sw);
		ereport(NOTICE,
				(errmsg("deployment " INT64_FORMAT " of project \"%s\": %s%d model%s to build, %d test%s to run%s",
						d->deployment_id, d->project->name,
						d->refresh ? "refresh of the live project, " : "",
						d->n_build, d->n_build == 1 ? "" : "s", d->n_test,
						d->n_test == 1 ? "" : "s", d->external ? ", by dbt" : "")));
		maybe_commit(d);

		if (d->external)
		{
			begin_external(d);
			goto done;
		}

		/* build, then test */
		for (int i = 0; i < d->n_steps && error == NULL; i++)
		{
			Step	   *s = &d->steps[i];
			TimestampTz t0 = GetCurrentTimestamp();

			if (s->kind == STEP_BUILD || s->kind == STEP_TEST)
			{
				error = run_step(d, s);
				s->seconds = seconds_since(t0);
				if (error)
				{
					s->status = "error";
					s->message = pstrdup(error->message);
					failed = s;
				}
				else if (s->kind == STEP_BUILD)
				{
					s->status = "ok";
					built++;
				}
				else if (strcmp(s->status, "pass") == 0)
					passed++;
				else if (strcmp(s->status, "warn") == 0)
					warned++;
				else
				{
					failed_tests++;
					if (failed == NULL)
						failed = s;
				}
			}
			else
				s->status = s->kind == STEP_CARRY ? "skipped" : "pending";
			if (s->kind != STEP_REMOVE)
			{
				report_step(d, s, d->n_steps);
				bg_become_extension_owner(&sw);
				record_step(d, s, t0);
				bg_restore_user(&sw);
				maybe_commit(d);
			}
		}

		/* compatibility of every relation that would be replaced or removed */
		initStringInfo(&breaks);
		if (error == NULL && failed == NULL)
			breaking = compare_with_live(d, &breaks);

		bg_become_extension_owner(&sw);
		finish_deployment(d, failed ? "failed" : "built", failed,
						  error ? error->message :
						  failed ? psprintf("test %s failed (%s failing row%s)", failed->node->name,
											thousands(failed->failures),
											failed->failures == 1 ? "" : "s") : NULL,
						  passed, warned, failed_tests, built, breaking);
		bg_restore_user(&sw);
		maybe_commit(d);

		if (failed)
		{
			ereport(NOTICE,
					(errmsg("deployment " INT64_FORMAT " failed%s: %d model%s built, %d test%s passed, %d warned, %d failed; production is untouched",
							d->deployment_id, timing(seconds_since(started)), built, built == 1 ? "" : "s",
							passed, passed == 1 ? "" : "s", warned, failed_tests),
					 errdetail("What was built stays in shadow for inspection until CALL bg.abandon() or the next deploy.")));
			if (error)
				ereport(ERROR,
						(errcode(error->sqlerrcode),
						 errmsg("deployment " INT64_FORMAT " failed at %s %s: %s", d->deployment_id,
								failed->node->resource_type, failed->node->unique_id,
								error->message),
						 error->detail ? errdetail_internal("%s", error->detail) : 0,
						 error->hint ? errhint("%s", error->hint) : 0,
						 error->internalquery ? internalerrquery(error->internalquery) : 0,
						 error->internalpos > 0 ? internalerrposition(error->internalpos) : 0,
						 error->context ? errcontext("%s", error->context) : 0));
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("deployment " INT64_FORMAT " failed: %d error-severity test%s failed, first %s with %s failing row%s",
							d->deployment_id, failed_tests, failed_tests == 1 ? "" : "s",
							failed->node->unique_id, thousands(failed->failures),
							failed->failures == 1 ? "" : "s"),
					 errhint("Query bg.deployment_steps for every test result.")));
		}
		breaking_built = breaking;
		ereport(NOTICE,
				(errmsg("deployment " INT64_FORMAT " built%s: %d model%s, %d test%s passed, %d warned, 0 failed; %s",
						d->deployment_id, timing(seconds_since(started)), built, built == 1 ? "" : "s",
						passed, passed == 1 ? "" : "s", warned,
						breaking ? "BREAKING changes (see below)" : "compatible with live"),
				 breaking ? errdetail_internal("Breaking:%s", breaks.data) : 0,
				 promote ? 0 : errhint("%s", breaking ?
									   "CALL bg.promote(force => true) to switch it live anyway, or CALL bg.abandon()." :
									   "CALL bg.promote(dry_run => true) to see the switch, CALL bg.promote() to make it.")));
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
				 errhint("Look at it, then CALL bg.promote(force => true) or CALL bg.abandon().")));
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
 * bg.abandon
 * ------------------------------------------------------------------------
 */
Datum
bg_abandon(PG_FUNCTION_ARGS)
{
	BgUserSwitch sw;
	BgProject  *project;
	volatile int dropped = 0;

	SPI_connect();
	bg_become_extension_owner(&sw);
	project = bg_project_lookup(optional_text(fcinfo, 0), false);
	bg_restore_user(&sw);
	bg_lock_project(project, "abandon a deployment of");
	PG_TRY();
	{
		bg_become_extension_owner(&sw);
		dropped = drop_unpromoted(project->project_id, "abandoned", "abandoned by bg.abandon");
		bg_restore_user(&sw);
	}
	PG_FINALLY();
	{
		bg_unlock_project(project);
	}
	PG_END_TRY();
	SPI_finish();
	ereport(NOTICE,
			(errmsg("project \"%s\": %d shadow relation%s dropped; production is untouched",
					project->name, dropped, dropped == 1 ? "" : "s")));
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * bg.deploy_finish
 * ------------------------------------------------------------------------
 */
Datum
bg_deploy_finish(PG_FUNCTION_ARGS)
{
	Deployment *d = palloc0(sizeof(Deployment));
	BgUserSwitch sw;
	volatile int missing = 0;
	volatile bool breaking = false;
	StringInfoData breaks;
	StringInfoData absent;

	initStringInfo(&breaks);
	initStringInfo(&absent);
	d->external = true;
	SPI_connect();
	bg_become_extension_owner(&sw);
	d->project = bg_project_lookup(optional_text(fcinfo, 0), false);
	bg_restore_user(&sw);
	bg_lock_project(d->project, "finish a deployment of");
	PG_TRY();
	{
		Datum		arg = Int64GetDatum(d->project->project_id);
		Oid			type = INT8OID;
		SPITupleTable *tt;
		bool		isnull;
		int			built = 0;

		bg_become_extension_owner(&sw);
		bg_spi_exec("SELECT deployment_id, kind, status FROM bg.deployment"
					" WHERE project_id OPERATOR(pg_catalog.=) $1 ORDER BY deployment_id DESC LIMIT 1",
					SPI_OK_SELECT, 1, &type, &arg, NULL);
		if (SPI_processed == 0 ||
			strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "dbt") != 0 ||
			strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3), "building") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("project \"%s\" has no deployment waiting for dbt", d->project->name),
					 errhint("CALL bg.deploy_begin(manifest) first, then let dbt build.")));
		d->deployment_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));

		arg = Int64GetDatum(d->deployment_id);
		bg_spi_exec("SELECT step, unique_id, resource_type, action, live_schema, live_name,"
					"  shadow_schema, live_oid FROM bg.deployment_step"
					" WHERE deployment_id OPERATOR(pg_catalog.=) $1"
					"   AND action OPERATOR(pg_catalog.=) ANY ('{build,remove}') ORDER BY step",
					SPI_OK_SELECT, 1, &type, &arg, NULL);
		tt = SPI_tuptable;
		d->n_steps = (int) SPI_processed;
		d->steps = palloc0(sizeof(Step) * (d->n_steps + 1));
		for (int i = 0; i < d->n_steps; i++)
		{
			Step	   *s = &d->steps[i];
			BgNode	   *n = palloc0(sizeof(BgNode));
			Datum		v;

			s->number = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			n->unique_id = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			n->resource_type = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
			n->materialized = "";
			s->kind = strcmp(SPI_getvalue(tt->vals[i], tt->tupdesc, 4), "build") == 0 ?
				STEP_BUILD : STEP_REMOVE;
			n->schema = SPI_getvalue(tt->vals[i], tt->tupdesc, 5);
			n->alias = SPI_getvalue(tt->vals[i], tt->tupdesc, 6);
			s->shadow_schema = SPI_getvalue(tt->vals[i], tt->tupdesc, 7);
			v = SPI_getbinval(tt->vals[i], tt->tupdesc, 8, &isnull);
			s->live_oid = isnull ? InvalidOid : DatumGetObjectId(v);
			s->live_exists = OidIsValid(s->live_oid) &&
				bg_relation_exists(n->schema, n->alias, NULL, NULL);
			s->node = n;
		}
		for (int i = 0; i < d->n_steps; i++)
		{
			Step	   *s = &d->steps[i];
			Oid			relid;

			if (s->kind != STEP_BUILD)
				continue;
			if (bg_relation_exists(s->shadow_schema, s->node->alias, &relid, &s->relkind))
			{
				s->status = "ok";
				s->message = pstrdup("built by dbt");
				built++;
			}
			else
			{
				s->status = "error";
				s->message = psprintf("dbt did not build it into %s",
									  bg_qualified_name(s->shadow_schema, s->node->alias));
				appendStringInfo(&absent, "\n  %s", s->node->unique_id);
				missing++;
			}
			record_step(d, s, GetCurrentTimestamp());
		}
		bg_restore_user(&sw);
		/* incomplete: the error below undoes this call; dbt may still be building */
		if (missing == 0)
		{
			breaking = compare_with_live(d, &breaks);
			bg_become_extension_owner(&sw);
			finish_deployment(d, "built", NULL, NULL, 0, 0, 0, built, breaking);
			bg_restore_user(&sw);
		}
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
				 errhint("Let dbt build them (--vars '{bluegreen_shadow: true}'), then CALL bg.deploy_finish() again; or CALL bg.abandon().")));
	ereport(NOTICE,
			(errmsg("deployment " INT64_FORMAT " built by dbt: %d model%s in shadow; %s",
					d->deployment_id, d->n_steps, d->n_steps == 1 ? "" : "s",
					breaking ? "BREAKING changes (see below)" : "compatible with live"),
			 breaking ? errdetail_internal("Breaking:%s", breaks.data) : 0,
			 errhint("%s", breaking ?
					 "CALL bg.promote(force => true) to switch it live anyway, or CALL bg.abandon()." :
					 "CALL bg.promote(dry_run => true) to see the switch, CALL bg.promote() to make it.")));
	PG_RETURN_VOID();
}
