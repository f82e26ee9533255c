/*
 * promote.c
 *		bg.promote and bg.rollback: one atomic switch between what is live and what a
 *		deployment built (switch.c makes and runs its statements), recorded in state.
 *
 * Promote switches the project's latest deployment, if it is built, was built against
 * the manifest that is live now, and finds every live relation it was built against
 * where it was; a breaking one only with force. Rollback is the same switch backwards
 * for the latest promoted deployment: its replacements move out to <schema>__bg_r<D>,
 * the relations it replaced come back from <schema>__bg_p<D>, and the live manifest
 * becomes the one before.
 *
 * Everything runs as the extension owner, with search_path pinned to pg_catalog (so
 * captured view and constraint definitions come out schema-qualified), and every name is
 * quoted. Why a user switch in C rather than SECURITY DEFINER: promote commits before
 * validating re-added foreign keys, and a SECURITY DEFINER procedure cannot commit
 * (privilege.c).
 *
 * Dry run computes the same statements, prints each as a NOTICE, returns them as JSON,
 * and changes nothing, not even history.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "bluegreen.h"
#include "catalog.h"
#include "diff.h"
#include "privilege.h"
#include "promote.h"
#include "scope.h"
#include "spi.h"
#include "state.h"
#include "util.h"
#include "verdict.h"

PG_FUNCTION_INFO_V1(bg_promote);
PG_FUNCTION_INFO_V1(bg_rollback);

/* A refused promote: force it, or drop the deployment. */
static char *
force_hint(void)
{
	return psprintf("%s to promote it anyway, or %s.",
					bg_call_hint("promote", "force => true", "force: true"),
					bg_call_hint("abandon", NULL, NULL));
}

/*
 * How to deploy (again), in the caller's interface: from dbt, the live version again is
 * bg_deploy, and a new version is a deployment dbt builds.
 */
static char *
deploy_hint(const char *kind)
{
	if (!bg_hints_for_dbt())
		return "CALL bg.deploy(manifest)";
	if (kind && strcmp(kind, "refresh") == 0)
		return "run dbt run-operation bg_deploy";
	if (kind)
		return psprintf("deploy with %s", bg_dbt_deployment(false));
	return psprintf("Deploy first: %s (a new version), or dbt run-operation bg_deploy (the live one again)",
					bg_dbt_deployment(false));
}

/* ------------------------------------------------------------------------
 * Loading what to switch
 * ------------------------------------------------------------------------
 */
/* Whether anyone but the owner of one of relids may do more than read it. */
static bool
granted_beyond_reading(List *relids)
{
	Datum		arg = bg_oid_array(relids);
	Oid			type = OIDARRAYOID;

	/* the table's grants and its columns' */
	bg_spi_exec("SELECT FROM pg_catalog.pg_class AS c,"
				"  LATERAL (SELECT c.relacl AS acl UNION ALL SELECT t.attacl FROM pg_catalog.pg_attribute AS t"
				"            WHERE t.attrelid OPERATOR(pg_catalog.=) c.oid AND t.attacl IS NOT NULL) AS g,"
				"  LATERAL pg_catalog.aclexplode(g.acl) AS a"
				" WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1) AND a.grantee OPERATOR(pg_catalog.<>) c.relowner"
				"   AND (a.grantee OPERATOR(pg_catalog.=) 0 OR a.privilege_type OPERATOR(pg_catalog.<>) 'SELECT')"
				" LIMIT 1", SPI_OK_SELECT, 1, &type, &arg, NULL);
	return SPI_processed > 0;
}

/*
 * Whether the tables of an increment kept in place are still shaped as the deploy made
 * them: the rows to insert with the live table's columns (names, types, order: the
 * shadow view that the tests read takes them by position, promote's INSERT by name),
 * the rows to delete as (row_ctid tid, row_xmin xid), and no row security on either
 * (promote, a superuser, would read rows the tests did not see).
 */
static bool
side_tables_as_made(Oid live, Oid rows, Oid del)
{
	List	   *want = bg_relation_columns(live);
	List	   *have = bg_relation_columns(rows);
	List	   *keys = bg_relation_columns(del);
	Datum		arg = bg_oid_array(list_make2_oid(rows, del));
	Oid			type = OIDARRAYOID;

	if (!bg_same_columns(want, have) || list_length(keys) != 2 ||
		strcmp(((BgColumn *) linitial(keys))->name, "row_ctid") != 0 ||
		((BgColumn *) linitial(keys))->type != TIDOID ||
		strcmp(((BgColumn *) lsecond(keys))->name, "row_xmin") != 0 ||
		((BgColumn *) lsecond(keys))->type != XIDOID)
		return false;
	bg_spi_exec("SELECT FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) ANY ($1)"
				"   AND (relrowsecurity OR relforcerowsecurity)",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	return SPI_processed == 0;
}

/*
 * Whether an unlogged table of ctids lost its rows: a crash, or a standby promoted in
 * place of the primary, empties unlogged tables, marker row and all (incremental.c).
 */
static bool
emptied(Oid relid)
{
	if (get_rel_persistence(relid) != RELPERSISTENCE_UNLOGGED)
		return false;
	bg_spi_exec(psprintf("SELECT FROM %s WHERE row_ctid OPERATOR(pg_catalog.=) " BG_IN_PLACE_MARKER " LIMIT 1",
						 bg_relation_name(relid)),
				SPI_OK_SELECT, 0, NULL, NULL, NULL);
	return SPI_processed == 0;
}

/* A table of an increment kept in place, as promote or rollback needs it; or invalid. */
static Oid
apply_table(const char *schema, const char *format, int step)
{
	Oid			relid = InvalidOid;
	char		relkind = 0;

	if (!bg_relation_exists(schema, psprintf(format, step), &relid, &relkind) ||
		relkind != RELKIND_RELATION || bg_relation_owner(relid) != bg_owner_role())
		return InvalidOid;
	return relid;
}

/*
 * Step s, an increment kept in place, as a move of kind BG_MOVE_APPLY: the live table
 * still the one the deployment read (promote) or put its rows in (rollback), and the
 * tables apply.c reads where they should be, the owner role's. False, with the reason
 * in *changed, when not.
 */
static bool
load_apply(BgSwitch *sw, BgDeploymentRow *d, BgStep *s, BgMove *m, bool exists, Oid now,
		   List **changed)
{
	const char *live = bg_qualified_name(m->live_schema, m->name);
	char		relkind = 0;

	char	   *obstacle;

	m->kind = BG_MOVE_APPLY;
	m->apply_oid = now;
	if (!exists || now != (sw->rollback ? s->promoted_oid : s->live_oid))
	{
		*changed = lappend(*changed, psprintf("%s %s", live, !exists ? "was dropped" : "was replaced"));
		return false;
	}
	/* its rows are written as a superuser: nothing on it may run code (catalog.c) */
	if ((obstacle = bg_in_place_obstacle(now)) != NULL)
	{
		*changed = lappend(*changed, psprintf("%s cannot have rows written in place now: %s",
											  live, obstacle));
		return false;
	}
	if (!sw->rollback)
	{
		m->from_schema = s->shadow_schema;
		m->away_schema = bg_previous_schema_name(m->live_schema, d->id);
		m->rows_oid = apply_table(s->shadow_schema, BG_IN_PLACE_ROWS, s->number);
		m->delete_oid = apply_table(s->shadow_schema, BG_IN_PLACE_DELETE, s->number);
		if (!bg_relation_exists(s->shadow_schema, m->name, &m->view_oid, &relkind) ||
			relkind != RELKIND_VIEW || !OidIsValid(m->rows_oid) || !OidIsValid(m->delete_oid))
		{
			*changed = lappend(*changed, psprintf("the increment of %s in %s is missing, or not the owner role's tables as the deploy left them",
												  live, quote_identifier(s->shadow_schema)));
			return false;
		}
		/*
		 * promote reads them: plain tables, nothing on them that would run code, and
		 * nobody but their owner may have written them since the deploy ended
		 */
		if (bg_acting_as_owner(list_make2_oid(m->rows_oid, m->delete_oid), true) != NIL ||
			granted_beyond_reading(list_make2_oid(m->rows_oid, m->delete_oid)) ||
			!side_tables_as_made(now, m->rows_oid, m->delete_oid))
		{
			*changed = lappend(*changed, psprintf("the increment of %s in %s is not as the deploy made it (columns, row security, a rule, trigger or policy, or grants beyond reading)",
												  live, quote_identifier(s->shadow_schema)));
			return false;
		}
	}
	else
	{
		m->away_schema = s->previous_schema;
		m->rows_oid = apply_table(m->away_schema, BG_IN_PLACE_INSERTED, s->number);
		m->delete_oid = apply_table(m->away_schema, BG_IN_PLACE_DELETED, s->number);
		if (!OidIsValid(m->rows_oid) || !OidIsValid(m->delete_oid))
		{
			*changed = lappend(*changed, psprintf("what promote applied to %s is missing from %s, or not the owner role's tables as promote left them",
												  live, quote_identifier(m->away_schema)));
			return false;
		}
	}
	if (emptied(sw->rollback ? m->rows_oid : m->delete_oid))
	{
		*changed = lappend(*changed, psprintf("what %s is to apply to %s was lost: its unlogged tables were emptied by a crash or a failover since",
											  sw->rollback ? "rollback" : "promote", live));
		return false;
	}
	return true;
}

/*
 * The moves of deployment d: its built relations and removed ones. For promote, the
 * live relation must still be the one the deployment was built against.
 */
static void
load_moves(BgSwitch *sw, BgDeploymentRow *d, List **changed)
{
	int			n;
	BgStep	   *steps = bg_deployment_steps(d->id, true, &n);

	for (int i = 0; i < n; i++)
	{
		BgStep	   *s = &steps[i];
		BgMove	   *m;
		bool		is_remove = s->kind == BG_STEP_REMOVE;
		char	   *shadow = s->shadow_schema;
		Oid			recorded = s->live_oid;
		Oid			now = InvalidOid;
		bool		exists;

		if (!is_remove && strcmp(s->status, "ok") != 0)
			continue;			/* not built */
		m = palloc0(sizeof(BgMove));
		m->step = s->number;
		m->unique_id = s->node->unique_id;
		m->live_schema = s->node->schema;
		m->name = s->node->alias;
		m->reason = is_remove ? s->message : NULL;
		exists = bg_relation_exists(m->live_schema, m->name, &now, NULL);

		if (s->in_place && !is_remove)
		{
			if (!load_apply(sw, d, s, m, exists, now, changed))
				continue;
		}
		else if (!sw->rollback)
		{
			char	   *previous = bg_previous_schema_name(m->live_schema, d->id);

			if (OidIsValid(recorded) ? (!exists || now != recorded) : exists)
			{
				*changed = lappend(*changed,
								   psprintf("%s %s", bg_qualified_name(m->live_schema, m->name),
											!OidIsValid(recorded) ? "was created outside the project" :
											!exists ? "was dropped" : "was replaced"));
				continue;
			}
			m->away_schema = previous;
			if (is_remove)
			{
				if (!exists)
					continue;	/* nothing live to remove */
				m->kind = BG_MOVE_REMOVE;
				m->out_oid = now;
			}
			else
			{
				m->from_schema = shadow;
				if (!bg_relation_exists(shadow, m->name, &m->in_oid, NULL))
				{
					*changed = lappend(*changed,
									   psprintf("shadow relation %s is missing",
												bg_qualified_name(shadow, m->name)));
					continue;
				}
				m->kind = exists ? BG_MOVE_REPLACE : BG_MOVE_ADD;
				m->out_oid = exists ? now : InvalidOid;
			}
		}
		else
		{
			/* back: what promote put live goes out, what it replaced comes back */
			char	   *previous = s->previous_schema;
			Oid			back = InvalidOid;

			if (previous == NULL)
				previous = bg_previous_schema_name(m->live_schema, d->id);
			m->away_schema = bg_rollback_schema_name(m->live_schema, d->id);
			m->from_schema = previous;
			(void) bg_relation_exists(previous, m->name, &back, NULL);
			/* exactly what promote moved, both ways, by OID, and still the owner role's */
			if (OidIsValid(back) && (back != recorded || bg_relation_owner(back) != bg_owner_role()))
			{
				*changed = lappend(*changed,
								   psprintf("%s is not the relation promote moved there",
											bg_qualified_name(previous, m->name)));
				continue;
			}
			if (!is_remove && exists && OidIsValid(s->promoted_oid) && now != s->promoted_oid)
			{
				*changed = lappend(*changed,
								   psprintf("%s is not the relation promote put live",
											bg_qualified_name(m->live_schema, m->name)));
				continue;
			}
			if (is_remove)
			{
				if (!OidIsValid(back))
					continue;	/* it was not live when promoted */
				if (exists)
				{
					*changed = lappend(*changed,
									   psprintf("%s exists again, outside the project",
												bg_qualified_name(m->live_schema, m->name)));
					continue;
				}
				m->kind = BG_MOVE_ADD;
				m->in_oid = back;
			}
			else
			{
				if (!exists)
				{
					*changed = lappend(*changed,
									   psprintf("%s is no longer live",
												bg_qualified_name(m->live_schema, m->name)));
					continue;
				}
				m->out_oid = now;
				m->in_oid = back;
				m->kind = OidIsValid(back) ? BG_MOVE_REPLACE : BG_MOVE_REMOVE;
				if (OidIsValid(recorded) && !OidIsValid(back))
				{
					*changed = lappend(*changed,
									   psprintf("the previous %s is gone (cleaned up?)",
												bg_qualified_name(m->live_schema, m->name)));
					continue;
				}
			}
		}
		/* unchanged since, and still inside the managed scope */
		bg_scope_check(bg_node_label(s->node), m->live_schema, m->name);
		sw->moves = lappend(sw->moves, m);
	}
}

/* Whether the switch applies an increment in place (apply.c). */
static bool
has_apply(BgSwitch *sw)
{
	ListCell   *lc;

	foreach(lc, sw->moves)
		if (((BgMove *) lfirst(lc))->kind == BG_MOVE_APPLY)
			return true;
	return false;
}

/* The relation the model of removal m moves to (verdict.c), when the switch adds it. */
static char *
moved_to(BgSwitch *sw, BgMove *removal)
{
	ListCell   *lc;

	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (m != removal && OidIsValid(m->in_oid) && strcmp(m->unique_id, removal->unique_id) == 0)
			return bg_qualified_name(m->live_schema, m->name);
	}
	return NULL;
}

/*
 * The breaking changes of the deployment as they stand now, one line each: the same
 * verdict as the deploy's (verdict.c), on live as it is at promote.
 */
static List *
breaking_now(BgSwitch *sw)
{
	List	   *lines = NIL;
	List	   *managed = NIL;
	List	   *out = NIL;
	List	   *in = NIL;
	List	   *maybe;
	ListCell   *lc;

	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (OidIsValid(m->out_oid))
			managed = lappend_oid(managed, m->out_oid);
		if (m->kind == BG_MOVE_REPLACE)
		{
			out = lappend_oid(out, m->out_oid);
			in = lappend_oid(in, m->in_oid);
		}
	}
	maybe = bg_verdict_candidates(out, in, managed);
	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);
		bool		breaking = false;
		char	   *summary = NULL;

		if (m->kind == BG_MOVE_REPLACE && !list_member_oid(maybe, m->out_oid))
			continue;			/* compatible: nothing to compare */
		if (m->kind == BG_MOVE_REPLACE)
			(void) bg_verdict_replace(m->out_oid, m->in_oid, managed, &breaking, &summary);
		else if (m->kind == BG_MOVE_REMOVE)
			(void) bg_verdict_remove(m->out_oid, m->reason, moved_to(sw, m), managed,
									 &breaking, &summary);
		if (breaking)
			lines = lappend(lines, psprintf("%s: %s",
											bg_qualified_name(m->live_schema, m->name),
											summary ? summary : "breaking"));
	}
	return lines;
}

/* ------------------------------------------------------------------------
 * The procedures
 * ------------------------------------------------------------------------
 */
static Datum
plan_result(BgSwitch *sw, bool dry_run)
{
	StringInfoData buf;
	TupleDesc	desc;
	Datum		value;
	bool		isnull = false;
	List	   *phases[5] = {sw->prepare, sw->apply_rows_sql, sw->swap, sw->apply_sql, sw->after};
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"deployment_id\": " INT64_FORMAT ", \"action\": \"%s\", \"dry_run\": %s, \"statements\": [",
					 sw->deployment_id, sw->rollback ? "rollback" : "promote",
					 dry_run ? "true" : "false");
	for (int p = 0; p < 5; p++)
	{
		ListCell   *lc;

		foreach(lc, phases[p])
		{
			if (!first)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, lfirst(lc));
			first = false;
		}
	}
	appendStringInfoString(&buf, "]}");
	value = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));

	desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(desc, (AttrNumber) 1, "plan", JSONBOID, -1, 0);
	desc = BlessTupleDesc(desc);
	return HeapTupleGetDatum(heap_form_tuple(desc, &value, &isnull));
}

static void
print_statements(BgSwitch *sw)
{
	List	   *phases[5] = {sw->prepare, sw->apply_rows_sql, sw->swap, sw->apply_sql, sw->after};
	static const char *const labels[5] = {"", "", "", "", "-- after commit: "};

	for (int p = 0; p < 5; p++)
	{
		ListCell   *lc;

		foreach(lc, phases[p])
			ereport(NOTICE, (errmsg("%s%s;", labels[p], (char *) lfirst(lc))));
	}
}

typedef struct PlanCall
{
	BgSwitch	   *sw;
	bool		rollback;
	bool		force;
	int64		deployment_id;
} PlanCall;

/* plan_switch's work, in its subtransaction */
static void
plan_body(void *arg)
{
	PlanCall   *call = (PlanCall *) arg;
	int			level = NewGUCNestLevel();

	(void) set_config_option("lock_timeout", psprintf("%dms", bg_promote_deadline_ms),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (!call->rollback)
	{
		List	   *breaking = breaking_now(call->sw);

		if (breaking != NIL && !call->force)
		{
			StringInfoData detail;
			ListCell   *lc;

			initStringInfo(&detail);
			foreach(lc, breaking)
				appendStringInfo(&detail, "\n  %s", (char *) lfirst(lc));
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot promote deployment " INT64_FORMAT ": %d breaking change%s",
							call->deployment_id, list_length(breaking),
							list_length(breaking) == 1 ? "" : "s"),
					 errdetail_internal("%s", detail.data + 1),
					 errhint("%s", force_hint())));
		}
	}
	bg_switch_plan(call->sw, call->force);
	AtEOXact_GUC(true, level);
}

/*
 * What the switch will do, read from the catalogs and the relations themselves (their
 * columns, for the breaking check). Reading a relation waits for a session that holds it
 * exclusively, so this runs under lock_timeout = bluegreen.promote_deadline, in a
 * subtransaction: past the deadline it gives up with the same clear error as the swap.
 */
static void
plan_switch(BgSwitch *sw, bool rollback, bool force, int64 deployment_id)
{
	PlanCall	call = {sw, rollback, force, deployment_id};
	ErrorData  *e = bg_in_subxact(plan_body, &call);

	if (e == NULL)
		return;
	if (e->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		bg_switch_gave_up(sw, 0);
	ReThrowError(e);
}

/*
 * The diffs recorded when deployment_id was built: listed by a dry run, and held to
 * their bounds (bluegreen.max_changed_share, a model's meta): past one, promote refuses
 * unless forced.
 */
static void
hold_to_bounds(int64 deployment_id, bool dry_run, bool force)
{
	List	   *diffs = bg_deployment_step_diffs(deployment_id);
	char	   *over = bg_diff_over_bound(diffs);
	ListCell   *lc;

	if (dry_run)
		foreach(lc, diffs)
		{
			char	   *line = bg_diff_line(lfirst(lc));

			if (line)
				ereport(NOTICE, (errmsg("diff of %s", line)));
		}
	if (over && !force)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("cannot promote deployment " INT64_FORMAT ": %s", deployment_id, over),
				 bg_hints_for_dbt() ?
				 errdetail("dbt run-operation bg_promote --args '{dry_run: true}' shows what changes.") :
				 errdetail("SELECT * FROM bg.deployment_diffs WHERE deployment_id = " INT64_FORMAT " shows what changes.",
						   deployment_id),
				 errhint("%s", force_hint())));
	if (over)
		ereport(NOTICE, (errmsg("promoted past its bound by force: %s", over)));
}

/*
 * A rollback that replaces a published table (one a forced promote put live, or one
 * published since) sends its subscribers nothing of the rows it brings back: say so.
 * (Rollback has no force; refusing would leave the promoted version live for good.)
 */
static void
warn_published_swaps(BgSwitch *sw)
{
	List	   *out = NIL;
	List	   *published;
	ListCell   *lc;

	/* one catalog question for all: a rollback may switch thousands of relations */
	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (m->kind != BG_MOVE_APPLY && OidIsValid(m->out_oid))
			out = lappend_oid(out, m->out_oid);
	}
	published = bg_published_tables(out);
	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (m->kind != BG_MOVE_APPLY && OidIsValid(m->out_oid) && list_member_oid(published, m->out_oid))
			ereport(WARNING,
					(errmsg("rollback replaces published table %s: its subscribers receive nothing of the rows it brings back",
							bg_qualified_name(m->live_schema, m->name)),
					 errhint("Copy the table to each subscriber again after the rollback.")));
	}
}

/*
 * Promote (or roll back) the project's deployment; returns the plan record. Also called
 * by bg.deploy(promote => true).
 */
Datum
bg_switch_deployment(const char *project_name, bool rollback, bool dry_run_arg, bool force,
					 bool nonatomic)
{
	volatile bool dry_run = dry_run_arg;
	const char *verb = rollback ? "roll back" : "promote";
	BgUserSwitch us;
	BgProject  *project;
	BgSwitch	   *sw = palloc0(sizeof(BgSwitch));
	BgDeploymentRow *d;
	List	   *changed = NIL;
	TimestampTz started = GetCurrentTimestamp();
	volatile Datum result = (Datum) 0;
	MemoryContext caller = CurrentMemoryContext;	/* the plan record outlives SPI */

	sw->rollback = rollback;
	sw->caller = GetUserId();
	sw->deadline = TimestampTzPlusMilliseconds(started, bg_promote_deadline_ms);
	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	project = bg_project_lookup(project_name, false);
	bg_lock_project(project, rollback ? "roll back" : "promote");
	PG_TRY();
	{
		bg_become_extension_owner(&us);
		if (!rollback)
		{
			d = bg_deployment_latest(project, NULL);
			if (d == NULL || strcmp(d->status, "built") != 0)
			{
				if (d && strcmp(d->status, "failed") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("cannot promote: deployment " INT64_FORMAT " of project \"%s\" failed%s%s%s",
									d->id, project->name, d->failed_node ? " at " : "",
									d->failed_node ? d->failed_node : "",
									d->error ? psprintf(": %s", d->error) : ""),
							 errhint("Fix it and %s again; production is as it was.",
									 deploy_hint(d->kind))));
				if (d && strcmp(d->status, "promoted") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("cannot promote: deployment " INT64_FORMAT " of project \"%s\" is already live",
									d->id, project->name)));
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot promote: project \"%s\" has no built deployment", project->name),
						 errhint(bg_hints_for_dbt() ? "%s." : "%s first.", deploy_hint(NULL))));
			}
			if (d->base_manifest_id != project->live_manifest_id)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot promote deployment " INT64_FORMAT ": it was built against live manifest " INT64_FORMAT ", and live is manifest " INT64_FORMAT " now",
								d->id, d->base_manifest_id, project->live_manifest_id),
						 errhint("Deploy again.")));
			sw->manifest_id = d->manifest_id;
		}
		else
		{
			d = bg_deployment_latest(project, "promoted");
			if (d == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot roll back: project \"%s\" has no promoted deployment", project->name)));
			if (d->previous_dropped)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot roll back deployment " INT64_FORMAT ": bg.cleanup dropped the relations it replaced",
								d->id)));
			if (d->manifest_id != project->live_manifest_id)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot roll back deployment " INT64_FORMAT ": live is manifest " INT64_FORMAT ", not its manifest " INT64_FORMAT,
								d->id, project->live_manifest_id, d->manifest_id)));
			sw->manifest_id = d->base_manifest_id;
		}
		sw->deployment_id = d->id;

		load_moves(sw, d, &changed);
		if (changed != NIL)
		{
			StringInfoData detail;
			ListCell   *lc;

			initStringInfo(&detail);
			foreach(lc, changed)
				appendStringInfo(&detail, "\n  %s", (char *) lfirst(lc));
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot %s deployment " INT64_FORMAT ": live objects changed since it was %s",
							verb, d->id, rollback ? "promoted" : "built"),
					 errdetail_internal("%s", detail.data + 1),
					 errhint(rollback ? "Nothing was changed." : "Nothing was changed; deploy again.")));
		}
		if (!rollback)
			hold_to_bounds(d->id, dry_run, force);
		else
			warn_published_swaps(sw);
		plan_switch(sw, rollback, force, d->id);
		{
			ListCell   *lc;

			foreach(lc, sw->notes)
				ereport(NOTICE, (errmsg("%s", (char *) lfirst(lc))));
		}

		if (dry_run)
		{
			bg_restore_user(&us);
			ereport(NOTICE,
					(errmsg("dry run: %s deployment " INT64_FORMAT " of project \"%s\" would run %d statements; nothing is changed",
							verb, d->id, project->name,
							list_length(sw->prepare) + list_length(sw->apply_rows_sql) +
							list_length(sw->swap) + list_length(sw->apply_sql) +
							list_length(sw->after)),
					 errdetail("It would take about " INT64_FORMAT " locks in one transaction.",
							   bg_switch_locks_needed(sw))));
			print_statements(sw);
		}
		else
		{
			ListCell   *lc;
			List	   *previous = NIL;

			/*
			 * No snapshot may be older than the data it would find live. An increment
			 * applied in place is in the switch's own transaction: a snapshot taken
			 * before it would see the new versions of the other relations beside the
			 * increment unapplied, so then none of this database's sessions may be
			 * older than the switch itself. (A hot standby's are waited for up to the
			 * build: its feedback always lags the primary's present, and a standby
			 * reader in a REPEATABLE READ transaction across the switch may see that
			 * mix; README.)
			 */
			bg_switch_wait_for_snapshots(sw, has_apply(sw) ?
										 XidFromFullTransactionId(ReadNextFullTransactionId()) :
										 d->built_horizon, d->built_horizon);
			bg_switch_run(sw);
			foreach(lc, sw->moves)
			{
				BgMove	   *m = lfirst(lc);

				if (!rollback)
				{
					BgStep	   *s = palloc0(sizeof(BgStep));

					s->number = m->step;
					s->previous_schema = OidIsValid(m->out_oid) || m->kind == BG_MOVE_APPLY ?
						m->away_schema : NULL;
					s->promoted_oid = m->kind == BG_MOVE_APPLY ? m->apply_oid : m->in_oid;
					previous = lappend(previous, s);
				}
			}
			bg_deployment_switched(project, d->id, rollback, sw->manifest_id, previous);
			bg_restore_user(&us);
			ereport(NOTICE,
					(errmsg("%s deployment " INT64_FORMAT " of project \"%s\": %d relation%s switched%s",
							rollback ? "rolled back" : "promoted", d->id, project->name,
							list_length(sw->moves), list_length(sw->moves) == 1 ? "" : "s",
							bg_show_timing ? psprintf(" in %.3fs", bg_seconds_since(started)) : ""),
					 rollback ? errhint("What it replaced is live again.") :
					 errhint("%s switches back; %s drops what it replaced.",
							 bg_call_hint("rollback", NULL, NULL), bg_call_hint("cleanup", NULL, NULL))));
			if (sw->after != NIL && nonatomic)
			{
				/* foreign keys were added NOT VALID inside the switch; validate them now */
				SPI_commit();
				bg_become_extension_owner(&us);
				foreach(lc, sw->after)
				{
					ErrorData  *e = bg_spi_exec_subxact(lfirst(lc));

					if (e)
						ereport(WARNING,
								(errmsg("%s: %s", (char *) lfirst(lc), e->message),
								 errdetail("The constraint stays NOT VALID; the switch itself is done.")));
				}
				bg_restore_user(&us);
			}
			else if (sw->after != NIL)
				ereport(NOTICE,
						(errmsg("%d foreign key%s re-added NOT VALID; run the VALIDATE statements of the plan outside a transaction block",
								list_length(sw->after), list_length(sw->after) == 1 ? "" : "s")));
		}
		{
			MemoryContext spi = MemoryContextSwitchTo(caller);

			result = plan_result(sw, dry_run);
			MemoryContextSwitchTo(spi);
		}
	}
	PG_FINALLY();
	{
		bg_unlock_project(project);
	}
	PG_END_TRY();
	SPI_finish();
	return result;
}

Datum
bg_promote(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(bg_switch_deployment(bg_arg_text(fcinfo, 1), false, bg_arg_bool(fcinfo, 0),
										 bg_arg_bool(fcinfo, 2), bg_call_is_nonatomic(fcinfo)));
}

Datum
bg_rollback(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(bg_switch_deployment(bg_arg_text(fcinfo, 0), true, bg_arg_bool(fcinfo, 1),
										 false, bg_call_is_nonatomic(fcinfo)));
}
