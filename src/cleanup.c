/*
 * cleanup.c
 *		Dropping what deployments leave beside production: the shadow relations of a
 *		deployment nobody promoted (bg.abandon, and every new deployment first), and the
 *		previous relations of promotes past retention (bg.cleanup).
 *
 * Drops run as the extension owner, never with CASCADE: whatever outside bluegreen
 * still reads a relation keeps it, and the caller is told. bg.cleanup is best effort:
 * each drop has a subtransaction of its own, and what cannot be dropped is reported and
 * kept for the next call.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "nodes/value.h"
#include "storage/lock.h"
#include "utils/builtins.h"

#include "catalog.h"
#include "cleanup.h"
#include "privilege.h"
#include "spi.h"
#include "state.h"
#include "util.h"

PG_FUNCTION_INFO_V1(bg_abandon);
PG_FUNCTION_INFO_V1(bg_cleanup);



/*
 * Drop one relation in a subtransaction of its own; on failure return the error
 * message, and go on with the rest (cleanup is best effort).
 */
static char *
try_drop(const char *sql)
{
	ErrorData  *e = bg_spi_exec_subxact(sql);

	if (e == NULL)
		return NULL;
	return e->detail ? psprintf("%s (%s)", e->message, e->detail) : e->message;
}

/* A relation promote or rollback moved into a side schema, which cleanup may drop. */
typedef struct Moved
{
	Oid			relid;			/* InvalidOid: not recorded (0.1.0), found by name */
	char	   *schema;			/* the side schema it was moved to */
	char	   *name;
} Moved;

/*
 * What deployment r moved into its side schemas: for a promote, the live relations it
 * replaced or removed (now in <schema>__bg_p<D>); for a promote rolled back, what it had
 * put live (now in <schema>__bg_r<D>). Only those, by OID, and only while they are still
 * there and the owner role's: whatever else someone put in a side schema stays.
 */
static List *
moved_relations(BgRetired *r)
{
	int			n;
	BgStep	   *steps = bg_deployment_steps(r->deployment_id, true, &n);
	List	   *out = NIL;

	for (int i = 0; i < n; i++)
	{
		BgStep	   *s = &steps[i];
		Moved	   *m;

		if (r->rolled_back ? !(s->kind == BG_STEP_BUILD && strcmp(s->status, "ok") == 0) :
			s->previous_schema == NULL)
			continue;
		m = palloc0(sizeof(Moved));
		m->name = s->node->alias;
		if (r->rolled_back)
		{
			m->schema = bg_rollback_schema_name(s->node->schema, r->deployment_id);
			m->relid = s->promoted_oid;
		}
		else
		{
			m->schema = s->previous_schema;
			m->relid = s->live_oid;
		}
		out = lappend(out, m);
		/* an increment applied in place: the live table stayed; what promote kept */
		if (s->in_place && !r->rolled_back)
		{
			Moved	   *deleted = palloc0(sizeof(Moved));
			Moved	   *inserted = palloc0(sizeof(Moved));

			deleted->schema = inserted->schema = s->previous_schema;
			deleted->name = psprintf(BG_IN_PLACE_DELETED, s->number);
			inserted->name = psprintf(BG_IN_PLACE_INSERTED, s->number);
			out = lappend(lappend(out, deleted), inserted);
		}
	}
	return out;
}

/* Where relation m is now, if it is still in its side schema and the owner role's. */
static bool
still_there(Moved *m, Oid *relid, char *relkind)
{
	Oid			found;

	if (!bg_relation_exists(m->schema, m->name, &found, relkind))
		return false;
	if (OidIsValid(m->relid) && found != m->relid)
		return false;
	if (bg_relation_owner(found) != bg_owner_role())
		return false;
	*relid = found;
	return true;
}

/*
 * Drop the relations deployment r moved aside, then each side schema that this leaves
 * empty. Relations read one another, across these schemas too (a view of staging reads
 * a table of analytics, a view reads a view): each pass drops what it can, views first,
 * and the next pass tries the rest again, until one drops nothing; only what is left
 * then is reported. A side schema that holds anything else is kept, and said so.
 * Returns the number of failures.
 */
static int
drop_moved(BgRetired *r, int *dropped, StringInfo failures, BgUserSwitch *us, bool nonatomic)
{
	List	   *moved = moved_relations(r);
	List	   *schemas = NIL;
	List	   *stuck = NIL;	/* String: side schemas still holding a relation */
	StringInfoData left;
	int			failed = 0;
	ListCell   *lc;

	foreach(lc, r->live_schemas)
	{
		schemas = lappend(schemas, bg_previous_schema_name(lfirst(lc), r->deployment_id));
		if (r->rolled_back)
			schemas = lappend(schemas, bg_rollback_schema_name(lfirst(lc), r->deployment_id));
	}
	initStringInfo(&left);
	for (;;)
	{
		int			dropped_now = 0;

		failed = 0;
		stuck = NIL;
		resetStringInfo(&left);
		for (int views_first = 1; views_first >= 0; views_first--)
			foreach(lc, moved)
			{
				Moved	   *m = lfirst(lc);
				Oid			relid;
				char		kind;
				char	   *failure;

				if (!still_there(m, &relid, &kind) ||
					(kind == RELKIND_VIEW || kind == RELKIND_MATVIEW) != (views_first == 1))
					continue;
				failure = try_drop(psprintf("DROP %s %s", bg_relkind_keyword(kind),
											bg_qualified_name(m->schema, m->name)));
				if (failure)
				{
					failed++;
					stuck = lappend(stuck, makeString(m->schema));
					appendStringInfo(&left, "\n  %s: %s", bg_qualified_name(m->schema, m->name),
									 failure);
				}
				else
				{
					(*dropped)++;
					dropped_now++;
					if (nonatomic && *dropped % BG_LOCK_BATCH == 0)
					{
						/* a batch: commit, so that the locks do not pile up */
						bg_restore_user(us);
						SPI_commit();
						bg_become_extension_owner(us);
					}
				}
			}
		if (failed == 0 || dropped_now == 0)
			break;
	}
	appendStringInfoString(failures, left.data);
	foreach(lc, schemas)
	{
		const char *schema = lfirst(lc);
		Oid			nsp = get_namespace_oid(schema, true);
		char	   *failure;

		if (!OidIsValid(nsp) || bg_namespace_owner(nsp) != bg_owner_role() ||
			list_member(stuck, makeString((char *) schema)))
			continue;
		failure = try_drop(psprintf("DROP SCHEMA %s", quote_identifier(schema)));
		if (failure)
		{
			failed++;
			appendStringInfo(failures, "\n  schema %s: %s", quote_identifier(schema), failure);
		}
	}
	return failed;
}

/*
 * Drop the shadow relations that deployments of the project left and nobody promoted,
 * and mark them (new_status, why). No CASCADE: an object outside bluegreen that reads a
 * shadow relation stops the drop with an error. Returns how many were dropped. The
 * caller holds the project lock (a session lock, which the batch commits keep). An
 * interrupted run leaves the deployments marked as they were; the next one drops the
 * rest.
 */
int
bg_drop_unpromoted(BgProject *project, const char *new_status, const char *why,
				   bool nonatomic)
{
	List	   *relations = bg_unpromoted_shadow_relations(project, why);
	List	   *drops = NIL;
	List	   *relids = NIL;
	int			dropped = 0;
	BgUserSwitch sw;
	ListCell   *lc;

	foreach(lc, relations)
	{
		BgShadowRelation *r = lfirst(lc);
		char		relkind;
		Oid			relid;

		if (!bg_relation_exists(r->schema, r->name, &relid, &relkind))
			continue;
		drops = lappend(drops, psprintf("DROP %s %s", bg_relkind_keyword(relkind),
										quote_qualified_identifier(r->schema, r->name)));
		relids = lappend_oid(relids, relid);
	}
	/* a relation's types are locked too when it is dropped */
	if (!nonatomic)
		bg_check_lock_table(bg_relation_locks(relids, true) + 2 * (int64) list_length(relids) +
							BG_CATALOG_LOCKS,
							psprintf("dropping the %d shadow relations of project \"%s\"",
									 list_length(relids), project->name),
							"CALL it outside a transaction block: it then drops in batches, committing each.");
	bg_become_extension_owner(&sw);
	foreach(lc, drops)
	{
		bg_spi_exec(lfirst(lc), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		if (++dropped % BG_LOCK_BATCH == 0 && nonatomic && lnext(drops, lc) != NULL)
		{
			bg_restore_user(&sw);
			SPI_commit();
			bg_become_extension_owner(&sw);
		}
	}
	bg_restore_user(&sw);
	bg_unpromoted_dropped(project, new_status, why);
	return dropped;
}

/* ------------------------------------------------------------------------
 * bg.abandon
 * ------------------------------------------------------------------------
 */
Datum
bg_abandon(PG_FUNCTION_ARGS)
{
	BgProject  *project;
	volatile int dropped = 0;

	bool		nonatomic = bg_call_is_nonatomic(fcinfo);

	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	project = bg_project_lookup(bg_arg_text(fcinfo, 0), false);
	bg_lock_project(project, "abandon a deployment of");
	PG_TRY();
	{
		dropped = bg_drop_unpromoted(project, "abandoned", "abandoned by bg.abandon", nonatomic);
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
 * bg.cleanup
 * ------------------------------------------------------------------------
 */
Datum
bg_cleanup(PG_FUNCTION_ARGS)
{
	char	   *project_name = bg_arg_text(fcinfo, 0);
	int			keep = PG_ARGISNULL(1) ? 1 : PG_GETARG_INT32(1);
	BgUserSwitch us;
	BgProject  *project;
	volatile int dropped = 0;
	volatile int failed = 0;
	volatile int deployments = 0;
	bool		nonatomic = bg_call_is_nonatomic(fcinfo);
	StringInfoData failures;

	if (keep < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep must be 0 or more, not %d", keep)));
	initStringInfo(&failures);
	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	project = bg_project_lookup(project_name, false);
	bg_lock_project(project, "clean up");
	PG_TRY();
	{
		List	   *retired = bg_deployments_past_retention(project, keep,
															PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2),
															PG_ARGISNULL(2));
		ListCell   *lc;

		foreach(lc, retired)
		{
			BgRetired  *r = lfirst(lc);
			int			before = failed;

			bg_become_extension_owner(&us);
			failed += drop_moved(r, (int *) &dropped, &failures, &us, nonatomic);
			bg_restore_user(&us);
			if (failed == before)
			{
				bg_deployment_previous_dropped(r->deployment_id);
				deployments++;
			}
		}
	}
	PG_FINALLY();
	{
		bg_unlock_project(project);
	}
	PG_END_TRY();
	SPI_finish();
	if (failed > 0)
		ereport(WARNING,
				(errmsg("project \"%s\": %d previous relation%s or schema%s could not be dropped",
						project->name, failed, failed == 1 ? "" : "s", failed == 1 ? "" : "s"),
				 errdetail_internal("%s", failures.data + 1),
				 errhint("They are kept; drop what reads them, then %s again.",
						 bg_call_hint("cleanup", NULL, NULL))));
	ereport(NOTICE,
			(errmsg("project \"%s\": dropped %d previous relation%s of %d deployment%s%s",
					project->name, dropped, dropped == 1 ? "" : "s", deployments,
					deployments == 1 ? "" : "s",
					failed ? psprintf("; %d could not be dropped", failed) : "")));
	PG_RETURN_VOID();
}
