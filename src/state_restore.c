/*
 * state_restore.c
 *		bluegreen's state in a database restored from a dump, or moved to another
 *		cluster: the relations its steps name found again.
 *
 * A deployment's steps name the relations they act on by OID (bg.deployment_step:
 * live_oid, promoted_oid), so that rollback and cleanup act on exactly what promote
 * moved, and nothing someone put in its place. pg_restore creates every relation anew,
 * with new OIDs, and a new cluster counts transaction ids afresh (bg.deployment's
 * built_horizon). Each project records the database it lives in (the cluster's system
 * identifier and the database's OID); the first operation that locks the project in
 * another one finds each step's relations again by the names bluegreen gave them — the
 * live name, the previous schema promote moved the replaced one to, the rollback schema
 * a rollback moved the promoted one to — and says so. Rows an increment kept in place
 * are named by ctid and xmin, which a restore changes too (and another cluster may give
 * a restored row the xmin recorded for another): such a step's relations are left
 * unfound, so that its promote or rollback refuses, as for a table replaced since, and
 * it is deployed again.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "privilege.h"
#include "spi.h"
#include "state.h"
#include "util.h"

/* Which database this is: the cluster's system identifier and the database's OID. */
#define DATABASE_IDENTITY_SQL \
	"(SELECT s.system_identifier::pg_catalog.text OPERATOR(pg_catalog.||) '/'" \
	" OPERATOR(pg_catalog.||) d.oid::pg_catalog.text" \
	"   FROM pg_catalog.pg_control_system() AS s, pg_catalog.pg_database AS d" \
	"  WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"

/* Record that project_id lives in this database (a new project, or one found again). */
void
bg_project_mark_database(int64 project_id)
{
	Datum		arg = Int64GetDatum(project_id);
	Oid			type = INT8OID;
	BgUserSwitch sw;

	bg_become_extension_owner(&sw);
	bg_spi_exec("UPDATE bg.project SET database_identity = " DATABASE_IDENTITY_SQL
				" WHERE project_id OPERATOR(pg_catalog.=) $1",
				SPI_OK_UPDATE, 1, &type, &arg, NULL);
	bg_restore_user(&sw);
}

/* pg_catalog.to_regclass of schema.name, quoted, as an oid Datum (NULL when gone). */
static void
find(const char *schema, const char *name, Datum *value, char *null)
{
	bool		isnull;

	if (schema == NULL || name == NULL)
	{
		*null = 'n';
		return;
	}
	bg_spi_exec(psprintf("SELECT pg_catalog.to_regclass(%s)::pg_catalog.oid",
						 quote_literal_cstr(quote_qualified_identifier(schema, name))),
				SPI_OK_SELECT, 0, NULL, NULL, NULL);
	*value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*null = isnull ? 'n' : ' ';
}

/*
 * When project_id was recorded in another database than this one, find its steps'
 * relations again by name. Called with the project locked.
 */
void
bg_project_relink_if_restored(int64 project_id, const char *project_name)
{
	Datum		arg = Int64GetDatum(project_id);
	Oid			type = INT8OID;
	BgUserSwitch sw;
	SPITupleTable *tt;
	uint64		n;
	bool		isnull;
	Datum		unrecorded;

	bg_become_extension_owner(&sw);
	bg_spi_exec("SELECT database_identity IS NULL, database_identity IS DISTINCT FROM " DATABASE_IDENTITY_SQL
				"  FROM bg.project WHERE project_id OPERATOR(pg_catalog.=) $1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	if (SPI_processed != 1 ||
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
	{
		bg_restore_user(&sw);
		return;
	}
	/* a project from before databases were recorded (0.1.0) is taken to be here */
	unrecorded = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!DatumGetBool(unrecorded))
	{
		bg_spi_exec("SELECT s.deployment_id, s.step, d.status, s.in_place, s.live_schema, s.live_name,"
					"  s.previous_schema, s.live_oid IS NOT NULL, s.promoted_oid IS NOT NULL"
					"  FROM bg.deployment_step AS s JOIN bg.deployment AS d USING (deployment_id)"
					" WHERE d.project_id OPERATOR(pg_catalog.=) $1 AND s.live_name IS NOT NULL",
					SPI_OK_SELECT, 1, &type, &arg, NULL);
		tt = SPI_tuptable;
		n = SPI_processed;
		for (uint64 i = 0; i < n; i++)
		{
			HeapTuple	tup = tt->vals[i];
			int64		deployment = DatumGetInt64(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
			int32		step = DatumGetInt32(SPI_getbinval(tup, tt->tupdesc, 2, &isnull));
			char	   *status = SPI_getvalue(tup, tt->tupdesc, 3);
			bool		in_place = DatumGetBool(SPI_getbinval(tup, tt->tupdesc, 4, &isnull));
			char	   *schema = SPI_getvalue(tup, tt->tupdesc, 5);
			char	   *name = SPI_getvalue(tup, tt->tupdesc, 6);
			char	   *previous = SPI_getvalue(tup, tt->tupdesc, 7);
			bool		had_live = DatumGetBool(SPI_getbinval(tup, tt->tupdesc, 8, &isnull));
			bool		had_promoted = DatumGetBool(SPI_getbinval(tup, tt->tupdesc, 9, &isnull));
			Datum		v[4] = {Int64GetDatum(deployment), Int32GetDatum(step), 0, 0};
			Oid			t[4] = {INT8OID, INT4OID, OIDOID, OIDOID};
			char		nulls[4] = "  nn";

			/*
			 * The relation a step was built against (live_oid): live still, unless
			 * promote moved it to the previous schema (and rollback did not bring it
			 * back). What promote put live (promoted_oid): live still, unless a
			 * rollback moved it to the rollback schema. An increment kept in place
			 * is one table, live, for both.
			 */
			if (in_place)
				;				/* rows by ctid: left unfound, promote and rollback refuse */
			else
			{
				if (had_live)
					find(previous == NULL || strcmp(status, "rolled_back") == 0 ? schema : previous,
						 name, &v[2], &nulls[2]);
				if (had_promoted)
					find(strcmp(status, "rolled_back") == 0 ? bg_rollback_schema_name(schema, deployment) : schema,
						 name, &v[3], &nulls[3]);
			}
			bg_spi_exec("UPDATE bg.deployment_step SET live_oid = $3, promoted_oid = $4"
						" WHERE deployment_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2",
						SPI_OK_UPDATE, 4, t, v, nulls);
		}
		/* this cluster's transaction ids: a built deployment's data is all here now */
		bg_spi_exec("UPDATE bg.deployment SET built_horizon = pg_catalog.pg_current_xact_id()"
					" WHERE project_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'built'",
					SPI_OK_UPDATE, 1, &type, &arg, NULL);
		ereport(NOTICE,
				(errmsg("project \"%s\" was recorded in another database (a dump restored, or another cluster): its deployments' relations are found again by name",
						project_name),
				 errdetail("Increments kept in place name rows by ctid, which a restore changes: their deployments no longer promote or roll back; deploy again.")));
	}
	bg_restore_user(&sw);
	bg_project_mark_database(project_id);
}
