/*
 * state.c
 *		bluegreen's own tables: projects, the project lock, deployments and their steps
 *		(manifests are state_manifest.c's). The only code that reads or writes them.
 *
 * Deployers may call bluegreen's procedures but may not write bluegreen's tables,
 * or they could forge history or the live state. So every function here switches to
 * the extension owner for exactly its own statements, with search_path pinned
 * (privilege.c), and back; callers need no privilege of their own. Results are copied
 * into the caller's memory before the switch back.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/xid8.h"

#include "privilege.h"
#include "spi.h"
#include "state.h"
#include "util.h"

static const char *const step_kind_names[] = {"build", "test", "carry", "remove"};

/* SPI value helpers for the row being read */
static int64
get_int64(HeapTuple tup, TupleDesc desc, int col, int64 if_null)
{
	bool		isnull;
	Datum		v = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? if_null : DatumGetInt64(v);
}

static Datum
text_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* ------------------------------------------------------------------------
 * Projects
 * ------------------------------------------------------------------------
 */

/* The project named, or the only one when name is NULL; missing_ok: NULL when none is. */
BgProject *
bg_project_lookup(const char *name, bool missing_ok)
{
	BgProject  *p = NULL;
	BgUserSwitch sw;
	Datum		value;
	Oid			type = TEXTOID;

	bg_become_extension_owner(&sw);
	if (name != NULL)
	{
		value = CStringGetTextDatum(name);
		bg_spi_exec("SELECT project_id, name, live_manifest_id FROM bg.project"
					" WHERE name OPERATOR(pg_catalog.=) $1",
					SPI_OK_SELECT, 1, &type, &value, NULL);
		if (SPI_processed == 0 && !missing_ok)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("bluegreen project \"%s\" does not exist", name),
					 errhint("Register it with %s.", bg_hints_for_dbt() ? "dbt run-operation bg_create_project" :
							 "CALL bg.create_project(manifest)")));
	}
	else
	{
		bg_spi_exec("SELECT project_id, name, live_manifest_id FROM bg.project ORDER BY name",
					SPI_OK_SELECT, 0, NULL, NULL, NULL);
		if (SPI_processed != 1 && missing_ok)
			SPI_processed = 0;
		else if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no bluegreen project exists"),
					 errhint("Register one with %s.", bg_hints_for_dbt() ? "dbt run-operation bg_create_project" :
							 "CALL bg.create_project(manifest)")));
		if (SPI_processed > 1)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
					 errmsg("%d bluegreen projects exist; say which one", (int) SPI_processed),
					 errhint("Pass the project argument (see the bg.projects view).")));
	}
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		p = palloc0(sizeof(BgProject));
		p->project_id = get_int64(tup, desc, 1, 0);
		p->name = SPI_getvalue(tup, desc, 2);
		p->live_manifest_id = get_int64(tup, desc, 3, 0);
	}
	bg_restore_user(&sw);
	return p;
}

/* A new project whose live baseline is manifest m. */
BgProject *
bg_project_create(const char *name, BgManifest *baseline)
{
	BgProject  *p = palloc0(sizeof(BgProject));
	BgUserSwitch sw;
	Datum		value = CStringGetTextDatum(name);
	Oid			type = TEXTOID;

	if (bg_project_lookup(name, true) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("bluegreen project \"%s\" already exists", name),
				 bg_hints_for_dbt() ?
				 errhint("Deploy a new version with %s.", bg_dbt_deployment(false)) :
				 errhint("Deploy a new manifest with CALL bg.deploy(manifest).")));
	bg_check_unclaimed(0, baseline);
	bg_become_extension_owner(&sw);
	bg_spi_exec("INSERT INTO bg.project (name, created_by) VALUES ($1, SESSION_USER)"
				" RETURNING project_id",
				SPI_OK_INSERT_RETURNING, 1, &type, &value, NULL);
	p->project_id = get_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, 0);
	p->name = pstrdup(name);
	bg_restore_user(&sw);

	p->live_manifest_id = bg_manifest_store(baseline, p->project_id);
	bg_project_mark_database(p->project_id);

	bg_become_extension_owner(&sw);
	{
		Datum		values[2] = {Int64GetDatum(p->live_manifest_id), Int64GetDatum(p->project_id)};
		Oid			types[2] = {INT8OID, INT8OID};

		bg_spi_exec("UPDATE bg.project SET live_manifest_id = $1"
					" WHERE project_id OPERATOR(pg_catalog.=) $2",
					SPI_OK_UPDATE, 2, types, values, NULL);
	}
	bg_restore_user(&sw);
	return p;
}

/*
 * ERROR if another project's live manifest has a node with a relation of these: a
 * relation belongs to one project, which alone may rebuild, replace or remove it.
 * project_id is the caller's project (0 for one being registered).
 */
void
bg_check_unclaimed(int64 project_id, BgManifest *m)
{
	char	  **schemas = palloc(sizeof(char *) * Max(m->n_nodes, 1));
	char	  **names = palloc(sizeof(char *) * Max(m->n_nodes, 1));
	int			k = 0;
	Datum		args[3];
	Oid			types[3] = {INT8OID, TEXTARRAYOID, TEXTARRAYOID};
	BgUserSwitch sw;

	for (int i = 0; i < m->n_nodes; i++)
		if (bg_node_has_relation(m->nodes[i]))
		{
			schemas[k] = m->nodes[i]->schema;
			names[k++] = m->nodes[i]->alias;
		}
	args[0] = Int64GetDatum(project_id);
	args[1] = bg_text_array(schemas, k);
	args[2] = bg_text_array(names, k);
	bg_become_extension_owner(&sw);
	bg_spi_exec("SELECT p.name, n.unique_id, pg_catalog.format('%I.%I', n.schema_name, n.alias)"
				"  FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[])) AS r (s, a)"
				"  JOIN bg.node AS n ON n.schema_name OPERATOR(pg_catalog.=) r.s AND n.alias OPERATOR(pg_catalog.=) r.a"
				"  JOIN bg.project AS p ON p.live_manifest_id OPERATOR(pg_catalog.=) n.manifest_id"
				" WHERE p.project_id OPERATOR(pg_catalog.<>) $1 AND NOT n.disabled"
				"   AND n.resource_type OPERATOR(pg_catalog.=) ANY ('{model,seed,snapshot}')"
				" ORDER BY 1, 2 LIMIT 1",
				SPI_OK_SELECT, 3, types, args, NULL);
	if (SPI_processed > 0)
	{
		char	   *other = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *node = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		char	   *rel = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("relation %s belongs to project \"%s\" (%s)", rel, other, bg_printable(node)),
				 errdetail("A relation is one project's: only that project rebuilds, replaces or removes it."),
				 errhint("Rename the model (alias) or remove it from the other project first.")));
	}
	bg_restore_user(&sw);
}

/* ------------------------------------------------------------------------
 * The project lock
 *
 * A session-level lock on the project, taken without waiting: a second caller fails at
 * once, naming the backend that holds it. It frees itself when the backend exits. It
 * is an object lock on (bg.project, project_id), not an advisory lock: no SQL function
 * takes or releases object locks, so neither a role with pg_advisory_lock nor manifest
 * SQL (pg_advisory_unlock_all) can take it, block it, or let a second deployment run
 * beside the first; only bluegreen's procedures do, here.
 * ------------------------------------------------------------------------
 */
static void
project_locktag(LOCKTAG *tag, int64 project_id)
{
	Oid			project_table = get_relname_relid("project", get_namespace_oid("bg", false));

	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, project_table, (uint32) project_id, 0);
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
		Datum		args[2] = {ObjectIdGetDatum(tag.locktag_field2), Int64GetDatum((int64) tag.locktag_field3)};
		Oid			types[2] = {OIDOID, INT8OID};
		char	   *holder = "another session";
		BgUserSwitch sw;

		/* search_path pinned: the caller's path must not resolve the casts below */
		bg_become_extension_owner(&sw);
		bg_spi_exec("SELECT pg_catalog.string_agg(l.pid::text, ', ') FROM pg_catalog.pg_locks AS l"
					" WHERE l.locktype OPERATOR(pg_catalog.=) 'object' AND l.granted"
					"   AND l.classid OPERATOR(pg_catalog.=) $1"
					"   AND l.objid::bigint OPERATOR(pg_catalog.=) $2"
					"   AND l.objsubid OPERATOR(pg_catalog.=) 0"
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
				 errhint("Wait for it to finish; see %s.",
						 bg_hints_for_dbt() ? "dbt run-operation bg_status" : "bg.deployments")));
	}
	/* a project restored from a dump finds its relations again (state_restore.c) */
	bg_project_relink_if_restored(project->project_id, project->name);
}

void
bg_unlock_project(BgProject *project)
{
	LOCKTAG		tag;

	project_locktag(&tag, project->project_id);
	LockRelease(&tag, ExclusiveLock, true);
}

/* ------------------------------------------------------------------------
 * Deployments and their steps
 * ------------------------------------------------------------------------
 */

/* Record a new deployment, status building, with its steps pending; returns its id. */
int64
bg_deployment_insert(BgProject *project, int64 manifest_id, const char *kind,
					 bool full_refresh, const char *caller, BgStep *steps, int n_steps)
{
	Datum		values[6];
	Oid			types[6] = {INT8OID, INT8OID, INT8OID, TEXTOID, BOOLOID, TEXTOID};
	int64		deployment_id;
	BgUserSwitch sw;

	values[0] = Int64GetDatum(project->project_id);
	values[1] = Int64GetDatum(manifest_id);
	values[2] = Int64GetDatum(project->live_manifest_id);
	values[3] = CStringGetTextDatum(kind);
	values[4] = BoolGetDatum(full_refresh);
	values[5] = CStringGetTextDatum(caller);
	bg_become_extension_owner(&sw);
	bg_spi_exec("INSERT INTO bg.deployment (project_id, manifest_id, base_manifest_id, kind,"
				"  full_refresh, status, started_by)"
				" VALUES ($1, $2, $3, $4, $5, 'building', $6) RETURNING deployment_id",
				SPI_OK_INSERT_RETURNING, 6, types, values, NULL);
	deployment_id = get_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, 0);

	for (int i = 0; i < n_steps; i++)
	{
		BgStep	   *s = &steps[i];
		Datum		v[11];
		Oid			t[11] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, OIDOID, TEXTOID};
		char		nulls[11] = "           ";
		bool		rel = s->kind == BG_STEP_BUILD || s->kind == BG_STEP_REMOVE ||
			(s->kind == BG_STEP_CARRY && bg_node_has_relation(s->node));

		v[0] = Int64GetDatum(deployment_id);
		v[1] = Int32GetDatum(s->number);
		v[2] = CStringGetTextDatum(s->node->unique_id);
		v[3] = CStringGetTextDatum(s->node->resource_type);
		v[4] = CStringGetTextDatum(step_kind_names[s->kind]);
		v[5] = text_or_null(bg_node_is(s->node, "test") ? NULL : s->node->materialized, &nulls[5]);
		v[6] = text_or_null(rel ? s->node->schema : NULL, &nulls[6]);
		v[7] = text_or_null(rel ? s->node->alias : NULL, &nulls[7]);
		v[8] = text_or_null(s->shadow_schema, &nulls[8]);
		/* the live relation as it was when built: promote refuses if it changed since */
		v[9] = ObjectIdGetDatum(s->live_oid);
		if (!s->live_exists)
			nulls[9] = 'n';
		/* what a removal is for ("the model is removed"), from the start */
		v[10] = text_or_null(s->message, &nulls[10]);
		bg_spi_exec("INSERT INTO bg.deployment_step (deployment_id, step, unique_id, resource_type,"
					"  action, materialization, live_schema, live_name, shadow_schema, live_oid,"
					"  message, status)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending')",
					SPI_OK_INSERT, 11, t, v, nulls);
	}
	bg_restore_user(&sw);
	return deployment_id;
}

/* Record how a step went. */
void
bg_step_update(int64 deployment_id, BgStep *s, TimestampTz started)
{
	Datum		v[14];
	Oid			t[14] = {INT8OID, INT4OID, TEXTOID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID,
	FLOAT8OID, TEXTOID, TEXTOID, BOOLOID, CHAROID, BOOLOID, TEXTOID};
	char		nulls[14] = "              ";
	BgUserSwitch sw;

	v[0] = Int64GetDatum(deployment_id);
	v[1] = Int32GetDatum(s->number);
	v[2] = CStringGetTextDatum(s->status);
	v[3] = Int64GetDatum(s->rows);
	/* rows: of a table or materialized view built (negative: not known); a view has none */
	if (s->kind != BG_STEP_BUILD || strcmp(s->status, "ok") != 0 || s->relkind == RELKIND_VIEW ||
		s->rows < 0)
		nulls[3] = 'n';
	v[4] = Int64GetDatum(s->failures);
	if (s->kind != BG_STEP_TEST)
		nulls[4] = 'n';
	v[5] = text_or_null(s->severity, &nulls[5]);
	v[6] = TimestampTzGetDatum(started);
	v[7] = Float8GetDatum(s->seconds);
	v[8] = text_or_null(s->message, &nulls[8]);
	v[9] = text_or_null(s->compatibility, &nulls[9]);
	v[10] = BoolGetDatum(s->breaking);
	if (s->compatibility == NULL)
		nulls[10] = 'n';
	v[11] = CharGetDatum(s->relkind);
	if (s->relkind == 0)
		nulls[11] = 'n';
	v[12] = BoolGetDatum(s->in_place);
	v[13] = text_or_null(s->diff, &nulls[13]);
	bg_become_extension_owner(&sw);
	bg_spi_exec("UPDATE bg.deployment_step SET status = $3, rows_affected = $4, failures = $5,"
				"  severity = $6, started_at = $7,"
				"  duration = pg_catalog.make_interval(secs => $8), message = $9,"
				"  compatibility = $10::jsonb, breaking = $11, relkind = $12, in_place = $13,"
				"  diff = $14::jsonb"
				" WHERE deployment_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2",
				SPI_OK_UPDATE, 14, t, v, nulls);
	bg_restore_user(&sw);
}

/*
 * Steps of a deployment still pending that will not run (of one action, or all with
 * action NULL): skipped, and why. Every step ends in a final status.
 */
void
bg_deployment_skip_pending(int64 deployment_id, const char *action, const char *why)
{
	Datum		v[3] = {Int64GetDatum(deployment_id), (Datum) 0, CStringGetTextDatum(why)};
	Oid			t[3] = {INT8OID, TEXTOID, TEXTOID};
	char		nulls[3] = "   ";
	BgUserSwitch sw;

	if (action)
		v[1] = CStringGetTextDatum(action);
	else
		nulls[1] = 'n';
	bg_become_extension_owner(&sw);
	bg_spi_exec("UPDATE bg.deployment_step SET status = 'skipped',"
				"  message = pg_catalog.concat_ws('; ', message, $3)"
				" WHERE deployment_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'pending'"
				"   AND ($2 IS NULL OR action OPERATOR(pg_catalog.=) $2)",
				SPI_OK_UPDATE, 3, t, v, nulls);
	bg_restore_user(&sw);
}

/* Record how a deployment's build ended: built, or failed (at failed_node). */
void
bg_deployment_finish(int64 deployment_id, const char *status, const char *failed_node,
					 const char *error, BgDeploymentTotals *totals)
{
	Datum		v[10];
	Oid			t[10] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID,
	BOOLOID, BOOLOID};
	char		nulls[10] = "          ";
	BgUserSwitch sw;

	v[0] = Int64GetDatum(deployment_id);
	v[1] = CStringGetTextDatum(status);
	v[2] = text_or_null(failed_node, &nulls[2]);
	v[3] = text_or_null(error, &nulls[3]);
	v[4] = Int32GetDatum(totals->built);
	v[5] = Int32GetDatum(totals->passed);
	v[6] = Int32GetDatum(totals->warned);
	v[7] = Int32GetDatum(totals->failed_tests);
	v[8] = BoolGetDatum(totals->breaking);
	if (strcmp(status, "failed") == 0)
		nulls[8] = 'n';			/* not compared with live: unknown */
	v[9] = BoolGetDatum(strcmp(status, "built") == 0);
	bg_become_extension_owner(&sw);
	bg_spi_exec("UPDATE bg.deployment SET status = $2, failed_node = $3, error = $4,"
				"  models_built = $5, tests_passed = $6, tests_warned = $7, tests_failed = $8,"
				"  breaking = $9,"
				"  built_at = CASE WHEN $10 THEN pg_catalog.clock_timestamp() END,"
				"  built_horizon = CASE WHEN $10 THEN pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()) END,"
				"  finished_at = CASE WHEN NOT $10 THEN pg_catalog.clock_timestamp() END"
				" WHERE deployment_id OPERATOR(pg_catalog.=) $1",
				SPI_OK_UPDATE, 10, t, v, nulls);
	bg_restore_user(&sw);
}

/* The project's latest deployment, or its latest one in that status; NULL if none. */
BgDeploymentRow *
bg_deployment_latest(BgProject *project, const char *status)
{
	Datum		args[2] = {Int64GetDatum(project->project_id), (Datum) 0};
	Oid			types[2] = {INT8OID, TEXTOID};
	BgDeploymentRow *d = NULL;
	BgUserSwitch sw;

	if (status)
		args[1] = CStringGetTextDatum(status);
	bg_become_extension_owner(&sw);
	bg_spi_exec(status ?
				"SELECT deployment_id, kind, status, manifest_id, base_manifest_id, failed_node,"
				"  error, previous_dropped_at IS NOT NULL, built_horizon FROM bg.deployment"
				" WHERE project_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) $2"
				" ORDER BY deployment_id DESC LIMIT 1" :
				"SELECT deployment_id, kind, status, manifest_id, base_manifest_id, failed_node,"
				"  error, previous_dropped_at IS NOT NULL, built_horizon FROM bg.deployment"
				" WHERE project_id OPERATOR(pg_catalog.=) $1"
				" ORDER BY deployment_id DESC LIMIT 1",
				SPI_OK_SELECT, status ? 2 : 1, types, args, NULL);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		v;

		d = palloc0(sizeof(BgDeploymentRow));
		d->id = get_int64(tup, desc, 1, 0);
		d->kind = SPI_getvalue(tup, desc, 2);
		d->status = SPI_getvalue(tup, desc, 3);
		d->manifest_id = get_int64(tup, desc, 4, 0);
		d->base_manifest_id = get_int64(tup, desc, 5, 0);
		d->failed_node = SPI_getvalue(tup, desc, 6);
		d->error = SPI_getvalue(tup, desc, 7);
		d->previous_dropped = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
		v = SPI_getbinval(tup, desc, 9, &isnull);
		d->built_horizon = isnull ? InvalidTransactionId :
			XidFromFullTransactionId(DatumGetFullTransactionId(v));
	}
	bg_restore_user(&sw);
	return d;
}

/*
 * The recorded steps of a deployment, in order, each with a node that has only its
 * identity and relation (unique_id, resource_type, schema, alias, materialization), and
 * its message (a removal's reason). With relations_only, just the models built or
 * removed, which is what promote and bg.deploy_finish act on.
 */
BgStep *
bg_deployment_steps(int64 deployment_id, bool relations_only, int *n)
{
	Datum		arg = Int64GetDatum(deployment_id);
	Oid			type = INT8OID;
	BgStep	   *steps;
	BgUserSwitch sw;

	bg_become_extension_owner(&sw);
	bg_spi_exec(relations_only ?
				"SELECT step, unique_id, resource_type, action, materialization, live_schema,"
				"  live_name, shadow_schema, live_oid, previous_schema, status, relkind, promoted_oid,"
				"  in_place, message FROM bg.deployment_step WHERE deployment_id OPERATOR(pg_catalog.=) $1"
				"   AND action OPERATOR(pg_catalog.=) ANY ('{build,remove}') ORDER BY step" :
				"SELECT step, unique_id, resource_type, action, materialization, live_schema,"
				"  live_name, shadow_schema, live_oid, previous_schema, status, relkind, promoted_oid,"
				"  in_place, message FROM bg.deployment_step WHERE deployment_id OPERATOR(pg_catalog.=) $1"
				" ORDER BY step",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	*n = (int) SPI_processed;
	steps = palloc0(sizeof(BgStep) * (*n + 1));
	for (int i = 0; i < *n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		BgStep	   *s = &steps[i];
		BgNode	   *node = palloc0(sizeof(BgNode));
		char	   *action = SPI_getvalue(tup, desc, 4);
		char	   *relkind = SPI_getvalue(tup, desc, 12);
		bool		isnull;
		Datum		v;

		s->number = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		node->unique_id = SPI_getvalue(tup, desc, 2);
		node->resource_type = SPI_getvalue(tup, desc, 3);
		for (int k = 0; k < lengthof(step_kind_names); k++)
			if (strcmp(action, step_kind_names[k]) == 0)
				s->kind = (BgStepKind) k;
		node->materialized = SPI_getvalue(tup, desc, 5);
		if (node->materialized == NULL)
			node->materialized = "";
		node->schema = SPI_getvalue(tup, desc, 6);
		node->alias = SPI_getvalue(tup, desc, 7);
		s->shadow_schema = SPI_getvalue(tup, desc, 8);
		v = SPI_getbinval(tup, desc, 9, &isnull);
		s->live_oid = isnull ? InvalidOid : DatumGetObjectId(v);
		s->live_exists = OidIsValid(s->live_oid);
		s->previous_schema = SPI_getvalue(tup, desc, 10);
		s->status = SPI_getvalue(tup, desc, 11);
		s->relkind = relkind ? relkind[0] : 0;
		v = SPI_getbinval(tup, desc, 13, &isnull);
		s->promoted_oid = isnull ? InvalidOid : DatumGetObjectId(v);
		s->in_place = DatumGetBool(SPI_getbinval(tup, desc, 14, &isnull));
		s->message = SPI_getvalue(tup, desc, 15);
		s->node = node;
	}
	bg_restore_user(&sw);
	return steps;
}

/*
 * The diffs recorded for a deployment's steps (BgStepDiff), in step order; with diff
 * NULL, the steps that replace a table or materialized view and have none.
 */
List *
bg_deployment_step_diffs(int64 deployment_id)
{
	Datum		arg = Int64GetDatum(deployment_id);
	Oid			type = INT8OID;
	List	   *out = NIL;
	BgUserSwitch sw;

	bg_become_extension_owner(&sw);
	bg_spi_exec("SELECT s.unique_id, pg_catalog.quote_ident(s.live_schema) OPERATOR(pg_catalog.||) '.'"
				"  OPERATOR(pg_catalog.||) pg_catalog.quote_ident(s.live_name), s.diff::pg_catalog.text"
				"  FROM bg.deployment_step AS s"
				" WHERE s.deployment_id OPERATOR(pg_catalog.=) $1"
				"   AND (s.diff IS NOT NULL OR (s.action OPERATOR(pg_catalog.=) 'build'"
				"        AND s.relkind OPERATOR(pg_catalog.<>) 'v'"
				"        AND EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) s.live_oid"
				"                     AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,m,p}'))))"
				" ORDER BY s.step",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		BgStepDiff *sd = palloc(sizeof(BgStepDiff));

		sd->unique_id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		sd->relation = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		sd->diff = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		out = lappend(out, sd);
	}
	bg_restore_user(&sw);
	return out;
}

/*
 * Record a promote (or rollback) that committed with the switch: the deployment's
 * status, what each step moved (moved: BgStep * with number, previous_schema where the
 * live relation went and promoted_oid, the relation put live), and the project's live
 * manifest.
 */
void
bg_deployment_switched(BgProject *project, int64 deployment_id, bool rollback,
					   int64 live_manifest_id, List *moved)
{
	Datum		args[3] = {Int64GetDatum(deployment_id), Int64GetDatum(project->project_id),
	Int64GetDatum(live_manifest_id)};
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	BgUserSwitch sw;
	ListCell   *lc;

	bg_become_extension_owner(&sw);
	foreach(lc, moved)
	{
		BgStep	   *s = lfirst(lc);
		char		nulls[4] = "    ";
		Datum		v[4] = {Int64GetDatum(deployment_id), Int32GetDatum(s->number),
		text_or_null(s->previous_schema, &nulls[2]), ObjectIdGetDatum(s->promoted_oid)};
		Oid			t[4] = {INT8OID, INT4OID, TEXTOID, OIDOID};

		if (!OidIsValid(s->promoted_oid))
			nulls[3] = 'n';
		bg_spi_exec("UPDATE bg.deployment_step SET previous_schema = COALESCE($3, previous_schema),"
					"  promoted_oid = COALESCE($4, promoted_oid)"
					" WHERE deployment_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2",
					SPI_OK_UPDATE, 4, t, v, nulls);
	}
	/*
	 * A removal is done when promote commits: ok where a relation moved out (and where
	 * to), skipped where none was live. Rollback undoes the promote, recorded as the
	 * deployment's status; its steps stay as they ended.
	 */
	if (!rollback)
		bg_spi_exec("UPDATE bg.deployment_step SET"
					"  status = CASE WHEN previous_schema IS NULL THEN 'skipped' ELSE 'ok' END,"
					"  message = pg_catalog.concat_ws('; ', message, CASE WHEN previous_schema IS NULL"
					"    THEN 'nothing live to remove'"
					"    ELSE pg_catalog.format('moved to %I at promote, kept for rollback', previous_schema) END)"
					" WHERE deployment_id OPERATOR(pg_catalog.=) $1 AND action OPERATOR(pg_catalog.=) 'remove'"
					"   AND status OPERATOR(pg_catalog.=) 'pending'",
					SPI_OK_UPDATE, 1, types, args, NULL);
	bg_spi_exec(rollback ?
				"UPDATE bg.deployment SET status = 'rolled_back', rolled_back_at = pg_catalog.clock_timestamp()"
				" WHERE deployment_id OPERATOR(pg_catalog.=) $1" :
				"UPDATE bg.deployment SET status = 'promoted', promoted_at = pg_catalog.clock_timestamp(),"
				"  finished_at = pg_catalog.clock_timestamp()"
				" WHERE deployment_id OPERATOR(pg_catalog.=) $1",
				SPI_OK_UPDATE, 1, types, args, NULL);
	bg_spi_exec("UPDATE bg.project SET live_manifest_id = $3 WHERE project_id OPERATOR(pg_catalog.=) $2",
				SPI_OK_UPDATE, 3, types, args, NULL);
	project->live_manifest_id = live_manifest_id;
	bg_restore_user(&sw);
}

/* ------------------------------------------------------------------------
 * Shadow relations of deployments that were not promoted
 * ------------------------------------------------------------------------
 */

/*
 * The shadow relations that deployments of the project left and nobody promoted (their
 * built models), last built first, so views go before the tables they read. First, a
 * deployment still "building" whose lock the caller now holds has lost its backend (it
 * is marked failed); one that dbt builds (bg.deploy_begin) is given up before its
 * bg.deploy_finish, for the caller's reason.
 */
List *
bg_unpromoted_shadow_relations(BgProject *project, const char *why)
{
	Datum		arg = Int64GetDatum(project->project_id);
	Oid			type = INT8OID;
	List	   *out = NIL;
	BgUserSwitch sw;

	bg_become_extension_owner(&sw);
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
	bg_spi_exec("SELECT s.shadow_schema, s.live_name, s.step, s.in_place FROM bg.deployment_step AS s"
				"  JOIN bg.deployment AS d USING (deployment_id)"
				" WHERE d.project_id OPERATOR(pg_catalog.=) $1"
				"   AND d.status OPERATOR(pg_catalog.=) ANY ('{built,failed,abandoned}')"
				"   AND s.action OPERATOR(pg_catalog.=) 'build'"
				"   AND (s.status OPERATOR(pg_catalog.=) 'ok' OR (d.kind OPERATOR(pg_catalog.=) 'dbt'"
				"        AND s.status OPERATOR(pg_catalog.=) ANY ('{pending,error}')))"
				" ORDER BY s.deployment_id DESC, s.step DESC",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		BgShadowRelation *r = palloc(sizeof(BgShadowRelation));

		bool		isnull;
		int			step = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));

		r->schema = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		r->name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		out = lappend(out, r);
		/* an increment kept in place: its view first, then what the view reads */
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull)))
		{
			BgShadowRelation *rows = palloc(sizeof(BgShadowRelation));
			BgShadowRelation *del = palloc(sizeof(BgShadowRelation));

			rows->schema = del->schema = r->schema;
			rows->name = psprintf(BG_IN_PLACE_ROWS, step);
			del->name = psprintf(BG_IN_PLACE_DELETE, step);
			out = lappend(lappend(out, rows), del);
		}
	}
	bg_restore_user(&sw);
	return out;
}

/*
 * The shadow relations listed by bg_unpromoted_shadow_relations are gone: a built
 * deployment becomes new_status for reason why, and the steps are marked so that a later
 * pass skips them.
 */
void
bg_unpromoted_dropped(BgProject *project, const char *new_status, const char *why)
{
	Datum		arg = Int64GetDatum(project->project_id);
	Oid			type = INT8OID;
	Datum		v[3] = {arg, CStringGetTextDatum(new_status), CStringGetTextDatum(why)};
	Oid			t[3] = {INT8OID, TEXTOID, TEXTOID};
	BgUserSwitch sw;

	bg_become_extension_owner(&sw);
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
	/* what such a deployment had still to do (a removal, a test dbt was to run) never will */
	bg_spi_exec("UPDATE bg.deployment_step AS s SET status = 'skipped',"
				"  message = pg_catalog.concat_ws('; ', s.message, CASE s.action"
				"    WHEN 'remove' THEN 'not removed: the deployment was not promoted'"
				"    ELSE 'not run: the deployment ended before it' END)"
				"  FROM bg.deployment AS d"
				" WHERE d.deployment_id OPERATOR(pg_catalog.=) s.deployment_id"
				"   AND d.project_id OPERATOR(pg_catalog.=) $1"
				"   AND d.status OPERATOR(pg_catalog.=) ANY ('{abandoned,failed}')"
				"   AND s.status OPERATOR(pg_catalog.=) 'pending'",
				SPI_OK_UPDATE, 1, &type, &arg, NULL);
	bg_restore_user(&sw);
}

/* ------------------------------------------------------------------------
 * Retention
 * ------------------------------------------------------------------------
 */

/*
 * Deployments whose side schemas are past retention (BgRetired *), oldest first:
 * promoted deployments after the newest "keep", or promoted longer ago than older_than;
 * and every rolled-back one (what it put live went out when it was rolled back, and
 * nothing can bring it back). Only promoted deployments count towards "keep": a
 * rolled-back one must not push the live deployment's previous relations out.
 */
List *
bg_deployments_past_retention(BgProject *project, int keep, Datum older_than,
							  bool older_than_null)
{
	Datum		args[3] = {Int64GetDatum(project->project_id), Int32GetDatum(keep), older_than};
	Oid			types[3] = {INT8OID, INT4OID, INTERVALOID};
	char		nulls[3] = "   ";
	List	   *out = NIL;
	BgUserSwitch sw;

	if (older_than_null)
		nulls[2] = 'n';
	bg_become_extension_owner(&sw);
	bg_spi_exec("SELECT d.deployment_id, d.status OPERATOR(pg_catalog.=) 'rolled_back',"
				"  pg_catalog.array_agg(DISTINCT s.live_schema) FILTER (WHERE s.live_schema IS NOT NULL)"
				"  FROM (SELECT deployment_id, status, promoted_at,"
				"               pg_catalog.row_number() OVER (PARTITION BY status ORDER BY deployment_id DESC) AS newest"
				"          FROM bg.deployment"
				"         WHERE project_id OPERATOR(pg_catalog.=) $1"
				"           AND status OPERATOR(pg_catalog.=) ANY ('{promoted,rolled_back}')"
				"           AND previous_dropped_at IS NULL) AS d"
				"  LEFT JOIN bg.deployment_step AS s USING (deployment_id)"
				" WHERE d.status OPERATOR(pg_catalog.=) 'rolled_back'"
				"    OR d.newest OPERATOR(pg_catalog.>) $2"
				"    OR d.promoted_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $3)"
				" GROUP BY d.deployment_id, d.status ORDER BY d.deployment_id",
				SPI_OK_SELECT, 3, types, args, nulls);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		BgRetired  *r = palloc0(sizeof(BgRetired));
		bool		isnull;
		bool		no_schemas;
		Datum		schemas = SPI_getbinval(tup, desc, 3, &no_schemas);

		r->deployment_id = get_int64(tup, desc, 1, 0);
		r->rolled_back = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		/* (NULL: a deployment that switched nothing, as a refresh with nothing to do) */
		if (!no_schemas)
		{
			Datum	   *elems;
			int			nelems;

			deconstruct_array(DatumGetArrayTypeP(schemas), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, NULL, &nelems);
			for (int k = 0; k < nelems; k++)
				r->live_schemas = lappend(r->live_schemas, TextDatumGetCString(elems[k]));
		}
		out = lappend(out, r);
	}
	bg_restore_user(&sw);
	return out;
}

/* bg.cleanup dropped every side relation of the deployment. */
void
bg_deployment_previous_dropped(int64 deployment_id)
{
	Datum		v = Int64GetDatum(deployment_id);
	Oid			t = INT8OID;
	BgUserSwitch sw;

	bg_become_extension_owner(&sw);
	bg_spi_exec("UPDATE bg.deployment SET previous_dropped_at = pg_catalog.clock_timestamp()"
				" WHERE deployment_id OPERATOR(pg_catalog.=) $1",
				SPI_OK_UPDATE, 1, &t, &v, NULL);
	bg_restore_user(&sw);
}
