/*
 * switch.c
 *		The statements of one switch between live and a deployment's relations, and
 *		running them under short lock timeouts that readers never wait long behind.
 *
 * The switch, for a deployment D, in one transaction (promote.c drives it):
 *	- prepare (touches no live relation): create the previous schema of each live schema
 *	  (<schema>__bg_p<D>); hand each incoming relation to the owner role; carry grants,
 *	  comments and row-level security from each relation being replaced to its
 *	  replacement in shadow;
 *	- swap, under a short lock_timeout: each replaced relation moves from the live schema
 *	  to the previous one (ALTER ... SET SCHEMA), its replacement from shadow to live;
 *	  removed models move to previous, new ones from shadow to live; objects outside the
 *	  project that read a replaced relation are pointed at its replacement: views with
 *	  CREATE OR REPLACE VIEW (their definition read before the moves, names qualified),
 *	  foreign keys dropped and added again NOT VALID (validated after the commit),
 *	  publications given the new table.
 * Readers see the old relations until the commit and the new ones after it: a reader
 * queued behind the switch looks the name up again when it gets its lock (PostgreSQL
 * does so after any invalidation), so it reads the new relation, never a missing one.
 *
 * Locks. Moving a relation takes an ACCESS EXCLUSIVE lock on it, which queues behind
 * every running reader and makes every new reader queue behind it. So the swap runs in a
 * subtransaction with lock_timeout = bluegreen.lock_timeout: if a lock is not granted in
 * time, the subtransaction rolls back (releasing every lock it took, so queued readers go
 * on), and the switch tries again, until bluegreen.promote_deadline; then it gives up,
 * having changed nothing, and names the sessions that held the locks.
 *
 * Every relation leaving live is locked, however it leaves: a reader that has read one
 * of them holds its lock to the end of its transaction, so the switch waits for it, and
 * a reader that comes after finds every name switched; that is what keeps a transaction
 * from seeing the old version of one model and the new version of the next. The
 * relations coming in need no lock for that: nobody can reach them by a live name before
 * the commit. So where a live schema is switched by renaming schemas (schema_swap.c),
 * they take none at all, which halves the locks of a large switch, on the primary and on
 * every hot standby that replays them.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "bluegreen.h"
#include "catalog.h"
#include "privilege.h"
#include "promote.h"
#include "scope.h"
#include "spi.h"
#include "util.h"
#include "verdict.h"

static void
add_schema(BgSwitch *sw, const char *schema)
{
	ListCell   *lc;

	foreach(lc, sw->schemas)
		if (strcmp(lfirst(lc), schema) == 0)
			return;
	sw->schemas = lappend(sw->schemas, pstrdup(schema));
}

/* ------------------------------------------------------------------------
 * Objects outside the switch that read a relation leaving live
 * ------------------------------------------------------------------------
 */
/*
 * Why reader "reader" (of kind "kind") cannot be pointed at the relations that take the
 * names of those it reads, one line each, or NIL: for each relation of the switch it
 * reads, the verdict's rule (bg_reader_cannot_follow), as the compatibility report
 * applied it.
 */
static List *
reader_refusals(BgSwitch *sw, Oid reader, char kind)
{
	Datum		arg = ObjectIdGetDatum(reader);
	Oid			type = OIDOID;
	List	   *reads = NIL;
	List	   *why = NIL;
	ListCell   *lc;

	bg_spi_exec("SELECT DISTINCT d.refobjid FROM pg_catalog.pg_depend AS d"
				"  JOIN pg_catalog.pg_rewrite AS r ON r.oid OPERATOR(pg_catalog.=) d.objid"
				" WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
				"   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"   AND r.ev_class OPERATOR(pg_catalog.=) $1 AND d.refobjid OPERATOR(pg_catalog.<>) $1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	reads = bg_spi_oids();
	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);
		char	   *cannot;

		if (!OidIsValid(m->out_oid) || !list_member_oid(reads, m->out_oid))
			continue;
		cannot = bg_reader_cannot_follow(reader, kind, m->out_oid,
										 m->kind == BG_MOVE_REMOVE ? InvalidOid : m->in_oid);
		if (cannot)
			why = lappend(why, psprintf("%s %s %s", bg_relkind_name(kind),
										bg_relation_name(reader), cannot));
	}
	return why;
}

/*
 * Point what reads "out" (leaving live) at "in" (taking its name): views by
 * CREATE OR REPLACE VIEW with their definition as it reads now (names qualified, since
 * search_path is pg_catalog), foreign keys dropped and added NOT VALID, publications.
 * Materialized views cannot be re-pointed without being dropped: refused.
 */
static void
repoint_dependents(BgSwitch *sw, BgMove *m, List *switched, List **refused)
{
	uint64		n;
	SPITupleTable *tt;
	ListCell   *lc;

	/* definitions are read below, only for the views that are re-pointed */
	tt = bg_dependent_views(m->out_oid, &n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			dep = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		char		kind = DatumGetChar(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		char	   *options = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);
		char	   *def;
		List	   *why;

		if (list_member_oid(switched, dep))
			continue;			/* moves with the switch */
		/* a view that reads several relations of the switch: once, for all of them */
		if (list_member_oid(sw->views, dep))
			continue;
		sw->views = lappend_oid(sw->views, dep);
		/*
		 * A materialized view or a rule cannot follow, nor a view that would not
		 * compile against the new relations: each stays where it is.
		 */
		why = reader_refusals(sw, dep, kind);
		if (why != NIL)
		{
			*refused = list_concat(*refused, why);
			continue;
		}
		def = TextDatumGetCString(DirectFunctionCall2(pg_get_viewdef_ext, ObjectIdGetDatum(dep),
													  BoolGetDatum(false)));
		sw->locked = lappend_oid(sw->locked, dep);
		/* pg_get_viewdef ends the query with a semicolon */
		if (def && strlen(def) > 0 && def[strlen(def) - 1] == ';')
			def[strlen(def) - 1] = '\0';
		sw->swap = lappend(sw->swap,
						   psprintf("CREATE OR REPLACE VIEW %s%s%s%s AS %s", bg_relation_name(dep),
									options && options[0] ? " WITH (" : "",
									options && options[0] ? options : "",
									options && options[0] ? ")" : "", def));
	}

	/* other sessions' temporary views: theirs to change; they keep reading the old one */
	foreach(lc, bg_other_sessions_temp_views(m->out_oid))
		sw->notes = lappend(sw->notes,
							psprintf("temporary view %s of another session reads %s; it keeps reading that relation, in %s, until it is dropped or the session ends",
									 (char *) lfirst(lc), bg_relation_name(m->out_oid),
									 quote_identifier(m->away_schema)));

	tt = bg_dependent_foreign_keys(m->out_oid, &n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			dep = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		char	   *conname = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		char	   *def = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);
		Oid			conoid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
		char	   *cannot;

		if (list_member_oid(switched, dep))
			continue;
		cannot = bg_foreign_key_cannot_follow(conoid, SPI_getvalue(tt->vals[i], tt->tupdesc, 6),
											  m->out_oid,
											  m->kind == BG_MOVE_REMOVE ? InvalidOid : m->in_oid);
		if (cannot)
		{
			*refused = lappend(*refused, psprintf("foreign key %s on %s %s", quote_identifier(conname),
												  bg_relation_name(dep), cannot));
			continue;
		}
		sw->locked = lappend_oid(sw->locked, dep);
		sw->swap = lappend(sw->swap, psprintf("ALTER TABLE %s DROP CONSTRAINT %s", bg_relation_name(dep),
											  quote_identifier(conname)));
		sw->swap = lappend(sw->swap, psprintf("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID",
											  bg_relation_name(dep), quote_identifier(conname), def));
		sw->after = lappend(sw->after, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s",
												bg_relation_name(dep), quote_identifier(conname)));
	}

	tt = bg_dependent_publications(m->out_oid, &n);
	for (uint64 i = 0; i < n; i++)
	{
		const char *pub = quote_identifier(SPI_getvalue(tt->vals[i], tt->tupdesc, 1));

		if (m->kind == BG_MOVE_REPLACE && get_rel_relkind(m->in_oid) == RELKIND_RELATION)
		{
			sw->swap = lappend(sw->swap, psprintf("ALTER PUBLICATION %s DROP TABLE %s", pub,
												  quote_qualified_identifier(m->away_schema, m->name)));
			sw->swap = lappend(sw->swap, psprintf("ALTER PUBLICATION %s ADD TABLE %s", pub,
												  quote_qualified_identifier(m->live_schema, m->name)));
		}
		else
			*refused = lappend(*refused, psprintf(m->kind == BG_MOVE_REMOVE ?
												  "publication %s holds %s, which is removed" :
												  "publication %s holds %s, whose replacement is not a table",
												  pub, bg_relation_name(m->out_oid)));
	}
}

/* ------------------------------------------------------------------------
 * Building the switch
 * ------------------------------------------------------------------------
 */
void
bg_switch_plan(BgSwitch *sw, bool force)
{
	List	   *reads = NIL;	/* String: live schemas that receive a relation */
	List	   *switched = NIL;
	List	   *refused = NIL;
	List	   *carried = NIL;
	ListCell   *lc;

	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (OidIsValid(m->out_oid))
			switched = lappend_oid(switched, m->out_oid);
	}

	/* nothing that comes live may act as the owner role for whoever writes it */
	if (!sw->rollback)
	{
		List	   *incoming = NIL;
		List	   *acting;

		foreach(lc, sw->moves)
			if (OidIsValid(((BgMove *) lfirst(lc))->in_oid))
				incoming = lappend_oid(incoming, ((BgMove *) lfirst(lc))->in_oid);
		acting = bg_acting_as_owner(incoming, true);
		if (acting != NIL)
		{
			StringInfoData detail;

			initStringInfo(&detail);
			foreach(lc, acting)
				appendStringInfo(&detail, "\n  %s", (char *) lfirst(lc));
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot promote deployment " INT64_FORMAT ": %d object%s would act as the owner role once live",
							sw->deployment_id, list_length(acting), list_length(acting) == 1 ? "" : "s"),
					 errdetail_internal("%s", detail.data + 1),
					 errhint("A rule's actions, a trigger, a write through a view, and index, statistics, default and check expressions run with the owner's privileges; drop them in shadow or build without them.")));
		}
	}

	if (!sw->rollback)
	{
		List	   *replaced = NIL;

		foreach(lc, sw->moves)
			if (((BgMove *) lfirst(lc))->kind == BG_MOVE_REPLACE)
				replaced = lappend_oid(replaced, ((BgMove *) lfirst(lc))->out_oid);
		carried = bg_with_something_to_carry(replaced);
	}

	/* the live schemas switched by renaming (schema_swap.c) */
	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);
		BgSchemaSwap *swap;

		if (bg_schema_swap_of(sw, m->live_schema) == NULL && !list_member(reads, makeString(m->live_schema)))
		{
			reads = lappend(reads, makeString(m->live_schema));
			if ((swap = bg_schema_swap_plan(sw, m->live_schema)) != NULL)
				sw->swaps = lappend(sw->swaps, swap);
		}
	}
	reads = NIL;

	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);
		bool		renamed = bg_schema_swap_of(sw, m->live_schema) != NULL;

		/*
		 * What the builder (or dbt) built in shadow is theirs: every live relation is the
		 * owner role's, and nobody else's, whoever owned what it replaces. Ownership
		 * changes in the catalog only. The builder then reads it as it reads everything
		 * live, for the next deployment.
		 */
		if (OidIsValid(m->in_oid))
		{
			const char *keyword = bg_relkind_keyword(get_rel_relkind(m->in_oid));
			char	   *name = bg_relation_name(m->in_oid);

			if (bg_relation_owner(m->in_oid) != bg_owner_role())
				sw->prepare = lappend(sw->prepare,
									  psprintf("ALTER %s %s OWNER TO %s", keyword, name,
											   quote_identifier(BG_OWNER_ROLE)));
			if (pg_class_aclcheck(m->in_oid, bg_builder_role(), ACL_SELECT) != ACLCHECK_OK)
				sw->prepare = lappend(sw->prepare,
									  psprintf("GRANT SELECT ON %s TO %s", name,
											   quote_identifier(BG_BUILDER_ROLE)));
		}
		if (m->kind == BG_MOVE_REPLACE && !sw->rollback && list_member_oid(carried, m->out_oid))
			bg_carry_over(sw, m);
		if (renamed)
			continue;			/* its schemas are renamed, not created */
		if (OidIsValid(m->out_oid) || (m->kind == BG_MOVE_APPLY && !sw->rollback))
			add_schema(sw, m->away_schema);
		/* the first model of a live schema: create the schema, as dbt would */
		if (OidIsValid(m->in_oid) && !OidIsValid(get_namespace_oid(m->live_schema, true)))
			add_schema(sw, m->live_schema);
		if (OidIsValid(m->in_oid) && !list_member(reads, makeString(m->live_schema)))
			reads = lappend(reads, makeString(m->live_schema));
	}
	foreach(lc, sw->schemas)
	{
		const char *schema = lfirst(lc);
		Oid			nsp = get_namespace_oid(schema, true);

		/*
		 * A schema of that name made by someone else would receive the relations that
		 * leave live, and its owner could drop them: refuse it.
		 */
		if (OidIsValid(nsp) && !has_privs_of_role(bg_owner_role(), bg_namespace_owner(nsp)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot %s deployment " INT64_FORMAT ": schema \"%s\" exists and is not owned by the owner role \"%s\"",
							sw->rollback ? "roll back" : "promote", sw->deployment_id, schema,
							BG_OWNER_ROLE),
					 errhint("Drop or rename it: bluegreen keeps replaced relations there.")));
		sw->prepare = lappend(sw->prepare,
							  psprintf("CREATE SCHEMA IF NOT EXISTS %s AUTHORIZATION %s",
									   quote_identifier(schema), quote_identifier(BG_OWNER_ROLE)));
	}
	/* the builder reads every live schema, as it reads every live relation */
	foreach(lc, reads)
		sw->prepare = lappend(sw->prepare,
							  psprintf("GRANT USAGE ON SCHEMA %s TO %s", quote_identifier(strVal(lfirst(lc))),
									   quote_identifier(BG_BUILDER_ROLE)));

	/* increments applied in place, after the moves (apply.c) */
	bg_apply_plan(sw, &refused);

	/*
	 * Every relation leaving live is locked, moved by statement or by a schema rename:
	 * the locks are what keeps readers from seeing both versions.
	 */
	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (OidIsValid(m->out_oid))
			sw->locked = lappend_oid(sw->locked, m->out_oid);
	}
	foreach(lc, sw->swaps)
		bg_schema_swap_statements(sw, lfirst(lc));
	/* out first, so that each name is free when its replacement comes in */
	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (!OidIsValid(m->out_oid) || bg_schema_swap_of(sw, m->live_schema) != NULL)
			continue;
		sw->swap = lappend(sw->swap,
						   psprintf("ALTER %s %s SET SCHEMA %s",
									bg_relkind_keyword(get_rel_relkind(m->out_oid)),
									quote_qualified_identifier(m->live_schema, m->name),
									quote_identifier(m->away_schema)));
	}
	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (!OidIsValid(m->in_oid) || bg_schema_swap_of(sw, m->live_schema) != NULL)
			continue;
		sw->swap = lappend(sw->swap,
						   psprintf("ALTER %s %s SET SCHEMA %s",
									bg_relkind_keyword(get_rel_relkind(m->in_oid)),
									quote_qualified_identifier(m->from_schema, m->name),
									quote_identifier(m->live_schema)));
	}
	/* what reads or lists a relation leaving live, asked only where there is any */
	{
		List	   *with_dependents = bg_relations_with_dependents(switched, NIL);

		foreach(lc, sw->moves)
		{
			BgMove	   *m = lfirst(lc);

			if (OidIsValid(m->out_oid) && list_member_oid(with_dependents, m->out_oid))
				repoint_dependents(sw, m, switched, &refused);
		}
	}
	if (refused != NIL)
	{
		StringInfoData detail;

		initStringInfo(&detail);
		foreach(lc, refused)
			appendStringInfo(&detail, "\n  %s", (char *) lfirst(lc));
		if (force)
			ereport(WARNING,
					(errmsg("promoting deployment " INT64_FORMAT " anyway (force): %d object%s outside the project cannot be pointed at the new relations",
							sw->deployment_id, list_length(refused), list_length(refused) == 1 ? "" : "s"),
					 errdetail_internal("%s", detail.data + 1),
					 errhint("They keep reading the relations they read now, which move to the previous schemas; bg.cleanup cannot drop those until they are changed.")));
		else
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot %s deployment " INT64_FORMAT ": %d object%s outside the project cannot be pointed at the new relations",
							sw->rollback ? "roll back" : "promote", sw->deployment_id,
							list_length(refused), list_length(refused) == 1 ? "" : "s"),
					 errdetail_internal("%s", detail.data + 1),
					 errhint("Drop or change them first; bluegreen never drops objects it does not manage.")));
	}
}

/* ------------------------------------------------------------------------
 * Running it
 * ------------------------------------------------------------------------
 */
static void
run_all(List *statements)
{
	ListCell   *lc;

	foreach(lc, statements)
		bg_spi_exec(lfirst(lc), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
}

/*
 * One try at the swap, in bg_in_subxact's subtransaction: take the locks, run the
 * statements. A lock not granted in time, or found busy, is an error that rolls the
 * try back, releasing every lock it took.
 */
typedef struct SwapTry
{
	BgSwitch   *sw;
	bool		in_order;
	Oid			first;			/* wait for this one alone, first */
	Oid			busy;			/* out: found busy (not in order) */
	Oid			waiting;		/* out: the lock last waited for */
} SwapTry;

static void
swap_try(void *arg)
{
	SwapTry    *t = (SwapTry *) arg;
	int			level = NewGUCNestLevel();
	ListCell   *lc;

	/*
	 * Every wait, for the listed relations and for what else the statements lock.
	 * Below half of deadlock_timeout, so that a reader caught in a cycle with an
	 * in-order try never runs the deadlock check (which would fail the reader): the
	 * try gives up first.
	 */
	(void) set_config_option("lock_timeout",
							 psprintf("%dms", Min(bg_lock_timeout_ms, Max(DeadlockTimeout / 2, 1))),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	/* the increments applied in place first: no lock a reader waits for is held yet */
	bg_apply_run(t->sw, true);
	if (!t->in_order && OidIsValid(t->first))
	{
		/* wait for the busy one alone: nothing else is held yet */
		t->waiting = t->first;
		LockRelationOid(t->first, AccessExclusiveLock);
	}
	foreach(lc, t->sw->locked)
	{
		Oid			relid = lfirst_oid(lc);

		if (t->in_order)
		{
			t->waiting = relid;
			LockRelationOid(relid, AccessExclusiveLock);
		}
		else if (relid != t->first && !ConditionalLockRelationOid(relid, AccessExclusiveLock))
		{
			t->busy = relid;
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("relation %u is busy", relid)));
		}
	}
	bg_schema_swap_lock(t->sw);
	run_all(t->sw->swap);
	bg_apply_run(t->sw, false);
	AtEOXact_GUC(true, level);
}

/*
 * Give up at the deadline, having changed nothing, naming who holds the locks; attempts
 * is 0 when planning the switch waited too long.
 */
void
bg_switch_gave_up(BgSwitch *sw, int attempts)
{
	List	   *relids = attempts > 0 ? sw->locked : NIL;
	ListCell   *lc;

	/* before any try (while planning): the live relations the switch reads */
	if (attempts == 0)
		foreach(lc, sw->moves)
			if (OidIsValid(((BgMove *) lfirst(lc))->out_oid))
				relids = lappend_oid(relids, ((BgMove *) lfirst(lc))->out_oid);
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not %s deployment " INT64_FORMAT ": live relations stayed locked by other sessions for bluegreen.promote_deadline (%d ms); nothing was changed",
					sw->rollback ? "roll back" : "promote", sw->deployment_id,
					bg_promote_deadline_ms),
			 attempts > 0 ?
			 errdetail_internal("%d attempts, each waiting at most bluegreen.lock_timeout (%d ms). Holding locks:\n%s",
								attempts, bg_lock_timeout_ms, bg_lock_holders(relids, sw->caller)) :
			 errdetail_internal("Holding locks:\n%s", bg_lock_holders(relids, sw->caller)),
			 errhint("Try again when they are done, or end them; raise bluegreen.promote_deadline to wait longer.")));
}

/*
 * About how many locks the switch takes, all in one transaction: the live
 * relations it moves and those that read them (sw->locked), and the relations it brings
 * in, which it also hands to the owner role.
 */
int64
bg_switch_locks_needed(BgSwitch *sw)
{
	List	   *incoming = NIL;
	ListCell   *lc;

	/* moved in by statement; a schema rename locks none of them */
	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (OidIsValid(m->in_oid) && bg_schema_swap_of(sw, m->live_schema) == NULL)
			incoming = lappend_oid(incoming, m->in_oid);
	}
	return bg_relation_locks(sw->locked, false) + bg_relation_locks(incoming, true) +
		bg_apply_locks(sw) + BG_CATALOG_LOCKS;
}

/*
 * Run the switch: the prepare statements, then the swap statements in a
 * subtransaction, once every lock they need is held.
 *
 * Two ways of taking the locks, tried in turn:
 *	- in order, each waiting at most bluegreen.lock_timeout while holding the ones
 *	  before it: quick when readers take the relations in the same order, but a reader
 *	  that holds a later relation and wants an earlier one forms a cycle that only the
 *	  timeout breaks;
 *	- first the one found busy last, waiting at most bluegreen.lock_timeout while holding
 *	  nothing else, then the rest without waiting at all: if one is busy, everything is
 *	  released and it is the one waited for next: promote never waits while holding a
 *	  lock a reader wants, so no cycle can form, whatever order readers use.
 * Either way no reader queues behind promote for longer than about one lock timeout, and
 * a failed try releases everything. Tries go on, with backoff after a timed-out wait,
 * until bluegreen.promote_deadline; then promote gives up having changed nothing.
 */
void
bg_switch_run(BgSwitch *sw)
{
	TimestampTz deadline = sw->deadline;
	long		backoff_ms = 10;
	int			attempts = 0;
	Oid			first = InvalidOid; /* the relation found busy last: waited for first */

	bg_check_lock_table(bg_switch_locks_needed(sw),
						psprintf("%s deployment " INT64_FORMAT,
								 sw->rollback ? "rolling back" : "promoting", sw->deployment_id),
						NULL);
	run_all(sw->prepare);
	for (;;)
	{
		SwapTry		t = {sw, attempts % 2 == 0, first, InvalidOid, InvalidOid};
		ErrorData  *edata;

		attempts++;
		edata = bg_in_subxact(swap_try, &t);
		if (edata == NULL)
		{
			if (attempts > 1)
				ereport(NOTICE,
						(errmsg("locks granted at attempt %d", attempts)));
			return;
		}
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
		if (GetCurrentTimestamp() >= deadline)
			bg_switch_gave_up(sw, attempts);
		CHECK_FOR_INTERRUPTS();
		if (OidIsValid(t.busy))
		{
			first = t.busy;		/* next: wait for it alone, then take the rest */
			continue;
		}
		/* a wait timed out: a long holder; let readers through for a moment */
		first = t.waiting;
		{
			/*
			 * A short pause lets queued readers through; never past the deadline, and
			 * never longer than a lock timeout, so the next chance is not missed.
			 */
			long		left_ms = (long) ((deadline - GetCurrentTimestamp()) / 1000);

			pg_usleep(Max(Min(backoff_ms, left_ms), 0) * 1000L);
			backoff_ms = Min(backoff_ms * 2, Max(bg_lock_timeout_ms, 10));
		}
	}
}
