/*
 * promote.c
 *		bg.promote and bg.rollback: one atomic switch between what is live and what a
 *		deployment built, that readers never wait on for long; and bg.cleanup.
 *
 * The switch, for a deployment D of project P, in one transaction:
 *	- prepare (touches no live relation): create the previous schema of each live schema
 *	  (<schema>__bg_p<D>); carry ownership, grants, comments and row-level security from
 *	  each relation being replaced to its replacement in shadow;
 *	- swap, under a short lock_timeout: each replaced relation moves from the live schema
 *	  to the previous one (ALTER ... SET SCHEMA), its replacement from shadow to live;
 *	  removed models move to previous, new ones from shadow to live; objects outside the
 *	  project that read a replaced relation are pointed at its replacement: views with
 *	  CREATE OR REPLACE VIEW (their definition read before the moves, names qualified),
 *	  foreign keys dropped and added again NOT VALID (validated after the commit),
 *	  publications given the new table;
 *	- the live manifest of P becomes D's.
 * Readers see the old relations until the commit and the new ones after it: a reader
 * queued behind the switch looks the name up again when it gets its lock (PostgreSQL
 * does so after any invalidation), so it reads the new relation, never a missing one.
 *
 * Locks. Moving a relation takes an ACCESS EXCLUSIVE lock on it, which queues behind
 * every running reader and makes every new reader queue behind it. So the swap runs in a
 * subtransaction with lock_timeout = bluegreen.lock_timeout: if a lock is not granted in
 * time, the subtransaction rolls back (releasing every lock it took, so queued readers go
 * on), promote sleeps with growing backoff and tries again, until
 * bluegreen.promote_deadline; then it gives up, having changed nothing, and names the
 * sessions that held the locks. No reader waits much longer than one lock_timeout. (A
 * schema rename takes no relation lock, but moves every object of the schema, including
 * the relations a deployment does not replace; per-relation moves are used instead.)
 *
 * Rollback is the same switch backwards for the latest promoted deployment: its
 * replacements move out to <schema>__bg_r<D>, the relations it replaced come back from
 * <schema>__bg_p<D>, and the live manifest becomes the one before.
 *
 * Everything runs as the extension owner, with search_path pinned to pg_catalog (so
 * captured view and constraint definitions come out schema-qualified), and every name is
 * quoted. Why a user switch in C rather than SECURITY DEFINER: the same switch as
 * deploy (privilege.c), and promote commits before validating re-added foreign keys.
 *
 * Dry run computes the same statements, prints each as a NOTICE, returns them as JSON,
 * and changes nothing, not even history.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "bluegreen.h"
#include "build.h"
#include "privilege.h"

PG_FUNCTION_INFO_V1(bg_promote);
PG_FUNCTION_INFO_V1(bg_rollback);
PG_FUNCTION_INFO_V1(bg_cleanup);

int			bg_lock_timeout_ms = 100;
int			bg_promote_deadline_ms = 30000;

typedef enum MoveKind
{
	MOVE_REPLACE,				/* live -> away, incoming -> live */
	MOVE_ADD,					/* incoming -> live */
	MOVE_REMOVE					/* live -> away */
} MoveKind;

typedef struct Move
{
	MoveKind	kind;
	char	   *unique_id;
	char	   *live_schema;
	char	   *name;
	char	   *from_schema;	/* where the incoming relation is now */
	char	   *away_schema;	/* where the outgoing one goes */
	Oid			out_oid;		/* the live relation that leaves */
	Oid			in_oid;			/* the relation that comes in */
	int			step;
} Move;

typedef struct Switch
{
	bool		rollback;
	int64		deployment_id;
	int64		manifest_id;	/* live manifest after the switch */
	List	   *moves;			/* Move * */
	List	   *prepare;		/* char *: statements that touch no live relation */
	List	   *swap;			/* char *: statements that need live locks */
	List	   *after;			/* char *: after the commit */
	List	   *locked;			/* Oid list: relations whose locks the swap needs */
	List	   *views;			/* Oid list: views outside the switch already handled */
	List	   *schemas;		/* char *: away schemas to create */
} Switch;

static bool
call_is_nonatomic(FunctionCallInfo fcinfo)
{
	return fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
}

static char *
arg_text(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static bool
arg_bool(FunctionCallInfo fcinfo, int n)
{
	return PG_NARGS() > n && !PG_ARGISNULL(n) && PG_GETARG_BOOL(n);
}

static const char *
kind_keyword(char relkind)
{
	switch (relkind)
	{
		case RELKIND_VIEW:
			return "VIEW";
		case RELKIND_MATVIEW:
			return "MATERIALIZED VIEW";
		case RELKIND_FOREIGN_TABLE:
			return "FOREIGN TABLE";
		default:
			return "TABLE";
	}
}

static char *
qname(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

static void
add_schema(Switch *sw, const char *schema)
{
	ListCell   *lc;

	foreach(lc, sw->schemas)
		if (strcmp(lfirst(lc), schema) == 0)
			return;
	sw->schemas = lappend(sw->schemas, pstrdup(schema));
}

/* ------------------------------------------------------------------------
 * What carries from a replaced relation to its replacement
 * ------------------------------------------------------------------------
 */
static void
carry_over(Switch *sw, Move *m)
{
	Datum		args[2] = {ObjectIdGetDatum(m->out_oid), ObjectIdGetDatum(m->in_oid)};
	Oid			types[2] = {OIDOID, OIDOID};
	char	   *target = qname(m->in_oid);
	char		kind = get_rel_relkind(m->in_oid);
	uint64		n;
	SPITupleTable *tt;

	/* ownership */
	bg_spi_exec("SELECT o.relowner::pg_catalog.regrole::text FROM pg_catalog.pg_class AS o,"
				"  pg_catalog.pg_class AS i WHERE o.oid OPERATOR(pg_catalog.=) $1"
				"  AND i.oid OPERATOR(pg_catalog.=) $2 AND o.relowner OPERATOR(pg_catalog.<>) i.relowner",
				SPI_OK_SELECT, 2, types, args, NULL);
	if (SPI_processed == 1)
		sw->prepare = lappend(sw->prepare,
							  psprintf("ALTER %s %s OWNER TO %s", kind_keyword(kind), target,
									   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)));

	/* grants the replaced relation had, each kept with its grant option */
	bg_spi_exec("SELECT a.privilege_type,"
				"  CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
				"       ELSE pg_catalog.quote_ident(a.grantee::pg_catalog.regrole::text) END,"
				"  a.is_grantable"
				"  FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a"
				" WHERE c.oid OPERATOR(pg_catalog.=) $1"
				"   AND a.grantee OPERATOR(pg_catalog.<>) c.relowner"
				" ORDER BY 2, 1",
				SPI_OK_SELECT, 1, types, args, NULL);
	n = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		const char *privilege = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);

		/* only what the new kind of relation can be granted */
		if (kind == RELKIND_VIEW && strcmp(privilege, "TRUNCATE") == 0)
			continue;
		sw->prepare = lappend(sw->prepare,
							  psprintf("GRANT %s ON %s TO %s%s", privilege, target,
									   SPI_getvalue(tt->vals[i], tt->tupdesc, 2),
									   DatumGetBool(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull)) ?
									   " WITH GRANT OPTION" : ""));
	}

	/* column grants, on the columns the replacement has too */
	bg_spi_exec("SELECT x.privilege_type, pg_catalog.quote_ident(a.attname::text),"
				"  CASE WHEN x.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
				"       ELSE pg_catalog.quote_ident(x.grantee::pg_catalog.regrole::text) END,"
				"  x.is_grantable"
				"  FROM pg_catalog.pg_class AS c"
				"  JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) c.oid"
				"  CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) AS x"
				" WHERE c.oid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0"
				"   AND NOT a.attisdropped AND x.grantee OPERATOR(pg_catalog.<>) c.relowner"
				"   AND EXISTS (SELECT FROM pg_catalog.pg_attribute AS b"
				"        WHERE b.attrelid OPERATOR(pg_catalog.=) $2 AND b.attname OPERATOR(pg_catalog.=) a.attname"
				"          AND NOT b.attisdropped)"
				" ORDER BY 3, 1, a.attnum",
				SPI_OK_SELECT, 2, types, args, NULL);
	n = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		sw->prepare = lappend(sw->prepare,
							  psprintf("GRANT %s (%s) ON %s TO %s%s",
									   SPI_getvalue(tt->vals[i], tt->tupdesc, 1),
									   SPI_getvalue(tt->vals[i], tt->tupdesc, 2), target,
									   SPI_getvalue(tt->vals[i], tt->tupdesc, 3),
									   DatumGetBool(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull)) ?
									   " WITH GRANT OPTION" : ""));
	}

	/* comments, where the replacement has none of its own */
	bg_spi_exec("SELECT o.objsubid, a.attname::text, o.description"
				"  FROM pg_catalog.pg_description AS o"
				"  LEFT JOIN pg_catalog.pg_attribute AS oa ON oa.attrelid OPERATOR(pg_catalog.=) $1"
				"       AND oa.attnum OPERATOR(pg_catalog.=) o.objsubid AND o.objsubid OPERATOR(pg_catalog.>) 0"
				"  LEFT JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) $2"
				"       AND a.attname OPERATOR(pg_catalog.=) oa.attname AND NOT a.attisdropped"
				" WHERE o.objoid OPERATOR(pg_catalog.=) $1"
				"   AND o.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"   AND (o.objsubid OPERATOR(pg_catalog.=) 0 OR a.attnum IS NOT NULL)"
				"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_description AS n"
				"        WHERE n.objoid OPERATOR(pg_catalog.=) $2"
				"          AND n.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"          AND n.objsubid OPERATOR(pg_catalog.=) COALESCE(a.attnum, 0))"
				" ORDER BY 1",
				SPI_OK_SELECT, 2, types, args, NULL);
	n = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *column = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		char	   *text = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);

		if (column)
			sw->prepare = lappend(sw->prepare,
								  psprintf("COMMENT ON COLUMN %s.%s IS %s", target,
										   quote_identifier(column), quote_literal_cstr(text)));
		else
			sw->prepare = lappend(sw->prepare,
								  psprintf("COMMENT ON %s %s IS %s", kind_keyword(kind), target,
										   quote_literal_cstr(text)));
	}

	/* row-level security and its policies, on tables */
	if (kind != RELKIND_RELATION)
		return;
	bg_spi_exec("SELECT relrowsecurity, relforcerowsecurity FROM pg_catalog.pg_class"
				" WHERE oid OPERATOR(pg_catalog.=) $1",
				SPI_OK_SELECT, 1, types, args, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			sw->prepare = lappend(sw->prepare,
								  psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", target));
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
			sw->prepare = lappend(sw->prepare,
								  psprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", target));
	}
	bg_spi_exec("SELECT pg_catalog.format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s',"
				"    p.polname, $3,"
				"    CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,"
				"    CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'"
				"         WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,"
				"    (SELECT pg_catalog.string_agg(CASE WHEN r OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
				"             ELSE pg_catalog.quote_ident(r::pg_catalog.regrole::text) END, ', ')"
				"       FROM pg_catalog.unnest(p.polroles) AS r),"
				"    ' USING (' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(p.polqual, p.polrelid) OPERATOR(pg_catalog.||) ')',"
				"    ' WITH CHECK (' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) OPERATOR(pg_catalog.||) ')')"
				"  FROM pg_catalog.pg_policy AS p"
				" WHERE p.polrelid OPERATOR(pg_catalog.=) $1"
				"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_policy AS q"
				"        WHERE q.polrelid OPERATOR(pg_catalog.=) $2 AND q.polname OPERATOR(pg_catalog.=) p.polname)"
				" ORDER BY p.polname",
				SPI_OK_SELECT, 3, (Oid[]) {OIDOID, OIDOID, TEXTOID},
				(Datum[]) {args[0], args[1], CStringGetTextDatum(target)}, NULL);
	n = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
		sw->prepare = lappend(sw->prepare, SPI_getvalue(tt->vals[i], tt->tupdesc, 1));
}

/* ------------------------------------------------------------------------
 * Objects outside the switch that read a relation leaving live
 * ------------------------------------------------------------------------
 */
static bool
oid_in(List *oids, Oid oid)
{
	return list_member_oid(oids, oid);
}

/*
 * The columns of "out" that view "view" reads and "in" lacks or has with another type
 * ("column a" / "columns a, b"), or NULL when the view can read "in" instead: CREATE OR
 * REPLACE VIEW would fail on such a column.
 */
static char *
columns_lost(Oid view, Oid out, Oid in)
{
	Datum		args[3] = {ObjectIdGetDatum(view), ObjectIdGetDatum(out), ObjectIdGetDatum(in)};
	Oid			types[3] = {OIDOID, OIDOID, OIDOID};
	bool		isnull;
	int64		count;
	char	   *columns;

	bg_spi_exec("SELECT pg_catalog.count(DISTINCT a.attname),"
				"  pg_catalog.string_agg(DISTINCT pg_catalog.quote_ident(a.attname::text), ', ')"
				"  FROM pg_catalog.pg_rewrite AS r"
				"  JOIN pg_catalog.pg_depend AS d ON d.objid OPERATOR(pg_catalog.=) r.oid"
				"       AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
				"  JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) d.refobjid"
				"       AND a.attnum OPERATOR(pg_catalog.=) d.refobjsubid"
				" WHERE r.ev_class OPERATOR(pg_catalog.=) $1"
				"   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"   AND d.refobjid OPERATOR(pg_catalog.=) $2 AND d.refobjsubid OPERATOR(pg_catalog.>) 0"
				"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS b"
				"        WHERE b.attrelid OPERATOR(pg_catalog.=) $3 AND b.attname OPERATOR(pg_catalog.=) a.attname"
				"          AND NOT b.attisdropped AND b.atttypid OPERATOR(pg_catalog.=) a.atttypid"
				"          AND b.atttypmod OPERATOR(pg_catalog.=) a.atttypmod)",
				SPI_OK_SELECT, 3, types, args, NULL);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	columns = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (count == 0)
		return NULL;
	return psprintf("column%s %s", count == 1 ? "" : "s", columns);
}

/*
 * Why view "view" cannot be pointed at the relations that take the names of those it
 * reads, one line each, or NIL: it reads a relation that is removed, or a column that
 * the replacement lacks or has with another type (CREATE OR REPLACE VIEW would fail).
 */
static List *
view_refusals(Switch *sw, Oid view)
{
	Datum		arg = ObjectIdGetDatum(view);
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
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		reads = lappend_oid(reads, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 1, &isnull)));
	}
	foreach(lc, sw->moves)
	{
		Move	   *m = lfirst(lc);
		char	   *lost;

		if (!OidIsValid(m->out_oid) || !list_member_oid(reads, m->out_oid))
			continue;
		if (m->kind == MOVE_REMOVE)
			why = lappend(why, psprintf("view %s reads %s, which is removed", qname(view),
										qname(m->out_oid)));
		else if ((lost = columns_lost(view, m->out_oid, m->in_oid)) != NULL)
			why = lappend(why, psprintf("view %s reads %s of %s, which its replacement does not have with the same type",
										qname(view), lost, qname(m->out_oid)));
	}
	return why;
}

/*
 * Whether "in" can back foreign key "conoid", which references the relation it
 * replaces: a table with the referenced columns, of the same types, under a unique
 * index on exactly them (ADD CONSTRAINT would fail otherwise).
 */
static bool
foreign_key_backed(Oid conoid, Oid in)
{
	Datum		args[2] = {ObjectIdGetDatum(conoid), ObjectIdGetDatum(in)};
	Oid			types[2] = {OIDOID, OIDOID};
	bool		isnull;

	if (get_rel_relkind(in) != RELKIND_RELATION && get_rel_relkind(in) != RELKIND_PARTITIONED_TABLE)
		return false;
	bg_spi_exec("SELECT NOT EXISTS (SELECT FROM pg_catalog.unnest(c.confkey) AS k"
				"         JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) c.confrelid"
				"              AND a.attnum OPERATOR(pg_catalog.=) k"
				"        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS b"
				"              WHERE b.attrelid OPERATOR(pg_catalog.=) $2 AND b.attname OPERATOR(pg_catalog.=) a.attname"
				"                AND NOT b.attisdropped AND b.atttypid OPERATOR(pg_catalog.=) a.atttypid))"
				"   AND EXISTS (SELECT FROM pg_catalog.pg_index AS i"
				"        WHERE i.indrelid OPERATOR(pg_catalog.=) $2 AND i.indisunique AND i.indimmediate"
				"          AND i.indpred IS NULL AND i.indexprs IS NULL"
				"          AND (SELECT pg_catalog.array_agg(b.attname::text ORDER BY b.attname)"
				"                 FROM pg_catalog.pg_attribute AS b WHERE b.attrelid OPERATOR(pg_catalog.=) $2"
				"                  AND b.attnum OPERATOR(pg_catalog.=) ANY"
				"                      ((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts OPERATOR(pg_catalog.-) 1]))"
				"              OPERATOR(pg_catalog.=)"
				"              (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname)"
				"                 FROM pg_catalog.pg_attribute AS a WHERE a.attrelid OPERATOR(pg_catalog.=) c.confrelid"
				"                  AND a.attnum OPERATOR(pg_catalog.=) ANY (c.confkey)))"
				"  FROM pg_catalog.pg_constraint AS c WHERE c.oid OPERATOR(pg_catalog.=) $1",
				SPI_OK_SELECT, 2, types, args, NULL);
	return SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Point what reads "out" (leaving live) at "in" (taking its name): views by
 * CREATE OR REPLACE VIEW with their definition as it reads now (names qualified, since
 * search_path is pg_catalog), foreign keys dropped and added NOT VALID, publications.
 * Materialized views cannot be re-pointed without being dropped: refused.
 */
static void
repoint_dependents(Switch *sw, Move *m, List *switched, List **refused)
{
	uint64		n;
	SPITupleTable *tt;

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

		if (oid_in(switched, dep))
			continue;			/* moves with the switch */
		def = TextDatumGetCString(DirectFunctionCall2(pg_get_viewdef_ext, ObjectIdGetDatum(dep),
													  BoolGetDatum(false)));
		/* a view that reads several relations of the switch: once, for all of them */
		if (list_member_oid(sw->views, dep))
			continue;
		sw->views = lappend_oid(sw->views, dep);
		if (kind == RELKIND_MATVIEW)
		{
			*refused = lappend(*refused, psprintf("materialized view %s reads %s", qname(dep),
												  qname(m->out_oid)));
			continue;
		}
		/* a view that would not compile against the new relations stays where it is */
		why = view_refusals(sw, dep);
		if (why != NIL)
		{
			*refused = list_concat(*refused, why);
			continue;
		}
		sw->locked = lappend_oid(sw->locked, dep);
		/* pg_get_viewdef ends the query with a semicolon */
		if (def && strlen(def) > 0 && def[strlen(def) - 1] == ';')
			def[strlen(def) - 1] = '\0';
		sw->swap = lappend(sw->swap,
						   psprintf("CREATE OR REPLACE VIEW %s%s%s%s AS %s", qname(dep),
									options && options[0] ? " WITH (" : "",
									options && options[0] ? options : "",
									options && options[0] ? ")" : "", def));
	}

	tt = bg_dependent_foreign_keys(m->out_oid, &n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			dep = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		char	   *conname = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		char	   *def = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);
		Oid			conoid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));

		if (oid_in(switched, dep))
			continue;
		if (m->kind == MOVE_REMOVE)
		{
			*refused = lappend(*refused, psprintf("foreign key %s on %s references %s, which is removed",
												  quote_identifier(conname), qname(dep),
												  qname(m->out_oid)));
			continue;
		}
		if (!foreign_key_backed(conoid, m->in_oid))
		{
			*refused = lappend(*refused, psprintf("foreign key %s on %s references %s, whose replacement has no unique index on the columns it references",
												  quote_identifier(conname), qname(dep),
												  qname(m->out_oid)));
			continue;
		}
		sw->locked = lappend_oid(sw->locked, dep);
		sw->swap = lappend(sw->swap, psprintf("ALTER TABLE %s DROP CONSTRAINT %s", qname(dep),
											  quote_identifier(conname)));
		sw->swap = lappend(sw->swap, psprintf("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID",
											  qname(dep), quote_identifier(conname), def));
		sw->after = lappend(sw->after, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s",
												qname(dep), quote_identifier(conname)));
	}

	tt = bg_dependent_publications(m->out_oid, &n);
	for (uint64 i = 0; i < n; i++)
	{
		const char *pub = quote_identifier(SPI_getvalue(tt->vals[i], tt->tupdesc, 1));

		if (m->kind == MOVE_REPLACE && get_rel_relkind(m->in_oid) == RELKIND_RELATION)
		{
			sw->swap = lappend(sw->swap, psprintf("ALTER PUBLICATION %s DROP TABLE %s", pub,
												  quote_qualified_identifier(m->away_schema, m->name)));
			sw->swap = lappend(sw->swap, psprintf("ALTER PUBLICATION %s ADD TABLE %s", pub,
												  quote_qualified_identifier(m->live_schema, m->name)));
		}
		else
			*refused = lappend(*refused, psprintf(m->kind == MOVE_REMOVE ?
												  "publication %s holds %s, which is removed" :
												  "publication %s holds %s, whose replacement is not a table",
												  pub, qname(m->out_oid)));
	}
}

/* ------------------------------------------------------------------------
 * Building the switch
 * ------------------------------------------------------------------------
 */
static void
build_switch(Switch *sw, bool force)
{
	List	   *switched = NIL;
	List	   *refused = NIL;
	ListCell   *lc;

	foreach(lc, sw->moves)
	{
		Move	   *m = lfirst(lc);

		if (OidIsValid(m->out_oid))
			switched = lappend_oid(switched, m->out_oid);
	}

	foreach(lc, sw->moves)
	{
		Move	   *m = lfirst(lc);

		/* what dbt built in shadow is its role's: live relations are the owner role's */
		if (!sw->rollback && OidIsValid(m->in_oid) &&
			relation_owner(m->in_oid) != bg_owner_role())
			sw->prepare = lappend(sw->prepare,
								  psprintf("ALTER %s %s OWNER TO %s",
										   kind_keyword(get_rel_relkind(m->in_oid)), qname(m->in_oid),
										   quote_identifier(BG_OWNER_ROLE)));
		if (m->kind == MOVE_REPLACE && !sw->rollback)
			carry_over(sw, m);
		if (OidIsValid(m->out_oid))
			add_schema(sw, m->away_schema);
		/* the first model of a live schema: create the schema, as dbt would */
		if (OidIsValid(m->in_oid) && !OidIsValid(get_namespace_oid(m->live_schema, true)))
			add_schema(sw, m->live_schema);
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

	/* out first, so that each name is free when its replacement comes in */
	foreach(lc, sw->moves)
	{
		Move	   *m = lfirst(lc);

		if (!OidIsValid(m->out_oid))
			continue;
		sw->locked = lappend_oid(sw->locked, m->out_oid);
		sw->swap = lappend(sw->swap,
						   psprintf("ALTER %s %s SET SCHEMA %s",
									kind_keyword(get_rel_relkind(m->out_oid)),
									quote_qualified_identifier(m->live_schema, m->name),
									quote_identifier(m->away_schema)));
	}
	foreach(lc, sw->moves)
	{
		Move	   *m = lfirst(lc);

		if (!OidIsValid(m->in_oid))
			continue;
		sw->swap = lappend(sw->swap,
						   psprintf("ALTER %s %s SET SCHEMA %s",
									kind_keyword(get_rel_relkind(m->in_oid)),
									quote_qualified_identifier(m->from_schema, m->name),
									quote_identifier(m->live_schema)));
	}
	foreach(lc, sw->moves)
	{
		Move	   *m = lfirst(lc);

		if (OidIsValid(m->out_oid))
			repoint_dependents(sw, m, switched, &refused);
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

/* "backend 123 (user alice, application psql, active for 00:01:02: SELECT ...)" */
static char *
lock_holders(List *relids)
{
	StringInfoData buf;
	Datum		arg;
	Oid			type = OIDARRAYOID;
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(relids), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, relids)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	arg = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	bg_spi_exec("SELECT pg_catalog.format('backend %s (user %s, application %s, %s for %s: %s)',"
				"    a.pid, a.usename, pg_catalog.quote_literal(a.application_name), a.state,"
				"    pg_catalog.date_trunc('second', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) a.xact_start),"
				"    pg_catalog.left(a.query, 60))"
				"  FROM pg_catalog.pg_stat_activity AS a"
				" WHERE a.pid IN (SELECT l.pid FROM pg_catalog.pg_locks AS l"
				"      WHERE l.relation OPERATOR(pg_catalog.=) ANY ($1) AND l.granted"
				"        AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid())"
				" ORDER BY a.xact_start",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	initStringInfo(&buf);
	for (uint64 i = 0; i < SPI_processed; i++)
		appendStringInfo(&buf, "\n  %s", SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return buf.len ? buf.data + 1 : pstrdup("(they have finished since)");
}

/*
 * The swap statements in a subtransaction, once every lock they need is held.
 *
 * Two ways of taking the locks, tried in turn:
 *	- in order, each waiting at most bluegreen.lock_timeout while holding the ones
 *	  before it: quick when readers take the relations in the same order, but a reader
 *	  that holds a later relation and wants an earlier one forms a cycle that only the
 *	  timeout breaks;
 *	- first the one found busy last, waiting at most bluegreen.lock_timeout while holding
 *	  nothing else, then all the others without waiting (ConditionalLockRelationOid); if
 *	  one is busy, everything is released and it is the one waited for next: promote
 *	  never waits while holding a lock a reader wants, so no cycle can form, whatever
 *	  order readers use.
 * Either way no reader queues behind promote for longer than about one lock timeout, and
 * a failed try releases everything. Tries go on, with backoff after a timed-out wait,
 * until bluegreen.promote_deadline; then promote gives up having changed nothing.
 */
static void
run_swap(Switch *sw)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), bg_promote_deadline_ms);
	long		backoff_ms = 10;
	int			attempts = 0;
	Oid			first = InvalidOid; /* the relation found busy last: waited for first */

	for (;;)
	{
		MemoryContext cxt = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;
		ErrorData  *volatile edata = NULL;
		volatile Oid busy = InvalidOid;
		volatile Oid waiting = InvalidOid;
		bool		in_order = attempts % 2 == 0;
		int			level;

		attempts++;
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		level = NewGUCNestLevel();
		/*
		 * Every wait, for the listed relations and for what else the statements lock.
		 * Below half of deadlock_timeout, so that a reader caught in a cycle with an
		 * in-order try never runs the deadlock check (which would fail the reader): the
		 * try gives up first.
		 */
		(void) set_config_option("lock_timeout",
								 psprintf("%dms", Min(bg_lock_timeout_ms, Max(DeadlockTimeout / 2, 1))),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		PG_TRY();
		{
			ListCell   *lc;

			if (!in_order && OidIsValid(first))
			{
				/* wait for the busy one alone: nothing else is held yet */
				waiting = first;
				LockRelationOid(first, AccessExclusiveLock);
			}
			foreach(lc, sw->locked)
			{
				Oid			relid = lfirst_oid(lc);

				if (in_order)
				{
					waiting = relid;
					LockRelationOid(relid, AccessExclusiveLock);
				}
				else if (relid != first &&
						 !ConditionalLockRelationOid(relid, AccessExclusiveLock))
				{
					busy = relid;
					break;
				}
			}
			if (!OidIsValid(busy))
				run_all(sw->swap);
			AtEOXact_GUC(true, level);
			if (OidIsValid(busy))
				RollbackAndReleaseCurrentSubTransaction();
			else
				ReleaseCurrentSubTransaction();
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (edata == NULL && !OidIsValid(busy))
		{
			if (attempts > 1)
				ereport(NOTICE,
						(errmsg("locks granted at attempt %d", attempts)));
			return;
		}
		if (edata != NULL && edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not %s deployment " INT64_FORMAT ": live relations stayed locked by other sessions for bluegreen.promote_deadline (%d ms); nothing was changed",
							sw->rollback ? "roll back" : "promote", sw->deployment_id,
							bg_promote_deadline_ms),
					 errdetail_internal("%d attempts, each waiting at most bluegreen.lock_timeout (%d ms). Holding locks:\n%s",
										attempts, bg_lock_timeout_ms, lock_holders(sw->locked)),
					 errhint("Try again when they are done, or end them; raise bluegreen.promote_deadline to wait longer.")));
		CHECK_FOR_INTERRUPTS();
		if (OidIsValid(busy))
		{
			first = busy;		/* next: wait for it alone, then take the rest */
			continue;
		}
		/* a wait timed out: a long holder; let readers through for a moment */
		first = waiting;
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

/* ------------------------------------------------------------------------
 * Loading what to switch
 * ------------------------------------------------------------------------
 */
typedef struct DeploymentRow
{
	int64		id;
	char	   *status;
	int64		manifest_id;
	int64		base_manifest_id;
	char	   *failed_node;
	char	   *error;
	bool		previous_dropped;
} DeploymentRow;

static DeploymentRow *
latest_deployment(BgProject *project, const char *status)
{
	Datum		args[2] = {Int64GetDatum(project->project_id), (Datum) 0};
	Oid			types[2] = {INT8OID, TEXTOID};
	DeploymentRow *d;
	bool		isnull;
	Datum		v;

	if (status)
		args[1] = CStringGetTextDatum(status);
	bg_spi_exec(status ?
				"SELECT deployment_id, status, manifest_id, base_manifest_id, failed_node, error,"
				"  previous_dropped_at IS NOT NULL FROM bg.deployment"
				" WHERE project_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) $2"
				" ORDER BY deployment_id DESC LIMIT 1" :
				"SELECT deployment_id, status, manifest_id, base_manifest_id, failed_node, error,"
				"  previous_dropped_at IS NOT NULL FROM bg.deployment"
				" WHERE project_id OPERATOR(pg_catalog.=) $1"
				" ORDER BY deployment_id DESC LIMIT 1",
				SPI_OK_SELECT, status ? 2 : 1, types, args, NULL);
	if (SPI_processed == 0)
		return NULL;
	d = palloc0(sizeof(DeploymentRow));
	d->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	d->status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	d->manifest_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
	d->base_manifest_id = isnull ? 0 : DatumGetInt64(v);
	d->failed_node = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);
	d->error = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6);
	d->previous_dropped = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7, &isnull));
	return d;
}

/*
 * The moves of deployment d: its built relations and removed ones. For promote, the
 * live relation must still be the one the deployment was built against.
 */
static void
load_moves(Switch *sw, DeploymentRow *d, List **changed)
{
	Datum		arg = Int64GetDatum(d->id);
	Oid			type = INT8OID;
	uint64		n;
	SPITupleTable *tt;

	bg_spi_exec("SELECT step, unique_id, action, live_schema, live_name, shadow_schema, live_oid,"
				"  previous_schema"
				"  FROM bg.deployment_step WHERE deployment_id OPERATOR(pg_catalog.=) $1"
				"   AND ((action OPERATOR(pg_catalog.=) 'build' AND status OPERATOR(pg_catalog.=) 'ok')"
				"        OR action OPERATOR(pg_catalog.=) 'remove')"
				" ORDER BY step",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	n = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		Move	   *m = palloc0(sizeof(Move));
		bool		isnull;
		Datum		v;
		char	   *action = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
		char	   *shadow = SPI_getvalue(tt->vals[i], tt->tupdesc, 6);
		Oid			recorded;
		Oid			now = InvalidOid;
		bool		exists;

		m->step = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		m->unique_id = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		m->live_schema = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);
		m->name = SPI_getvalue(tt->vals[i], tt->tupdesc, 5);
		v = SPI_getbinval(tt->vals[i], tt->tupdesc, 7, &isnull);
		recorded = isnull ? InvalidOid : DatumGetObjectId(v);
		exists = bg_relation_exists(m->live_schema, m->name, &now, NULL);

		if (!sw->rollback)
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
			if (strcmp(action, "remove") == 0)
			{
				if (!exists)
					continue;	/* nothing live to remove */
				m->kind = MOVE_REMOVE;
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
				m->kind = exists ? MOVE_REPLACE : MOVE_ADD;
				m->out_oid = exists ? now : InvalidOid;
			}
		}
		else
		{
			/* back: what promote put live goes out, what it replaced comes back */
			char	   *previous = SPI_getvalue(tt->vals[i], tt->tupdesc, 8);
			Oid			back = InvalidOid;

			if (previous == NULL)
				previous = bg_previous_schema_name(m->live_schema, d->id);
			m->away_schema = bg_side_schema_name(m->live_schema,
												 psprintf("__bg_r" INT64_FORMAT, d->id));
			m->from_schema = previous;
			(void) bg_relation_exists(previous, m->name, &back, NULL);
			if (strcmp(action, "remove") == 0)
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
				m->kind = MOVE_ADD;
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
				m->kind = OidIsValid(back) ? MOVE_REPLACE : MOVE_REMOVE;
				if (OidIsValid(recorded) && !OidIsValid(back))
				{
					*changed = lappend(*changed,
									   psprintf("the previous %s is gone (cleaned up?)",
												bg_qualified_name(m->live_schema, m->name)));
					continue;
				}
			}
		}
		sw->moves = lappend(sw->moves, m);
	}
}

/* The breaking changes of the deployment as they stand now, one line each. */
static List *
breaking_now(Switch *sw)
{
	List	   *lines = NIL;
	List	   *managed_list = NIL;
	Oid		   *managed;
	int			n = 0;
	ListCell   *lc;

	foreach(lc, sw->moves)
	{
		Move	   *m = lfirst(lc);

		if (OidIsValid(m->out_oid))
			managed_list = lappend_oid(managed_list, m->out_oid);
	}
	managed = palloc(sizeof(Oid) * Max(list_length(managed_list), 1));
	foreach(lc, managed_list)
		managed[n++] = lfirst_oid(lc);
	foreach(lc, sw->moves)
	{
		Move	   *m = lfirst(lc);
		bool		breaking = false;
		char	   *summary = NULL;

		if (m->kind == MOVE_REPLACE)
			(void) bg_compare_relations(m->out_oid, m->in_oid, managed, n, &breaking, &summary);
		else if (m->kind == MOVE_REMOVE)
			(void) bg_removed_relation_report(m->out_oid, managed, n, &breaking, &summary);
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
plan_result(Switch *sw, bool dry_run)
{
	StringInfoData buf;
	TupleDesc	desc;
	Datum		value;
	bool		isnull = false;
	List	   *phases[3] = {sw->prepare, sw->swap, sw->after};
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"deployment_id\": " INT64_FORMAT ", \"action\": \"%s\", \"dry_run\": %s, \"statements\": [",
					 sw->deployment_id, sw->rollback ? "rollback" : "promote",
					 dry_run ? "true" : "false");
	for (int p = 0; p < 3; p++)
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
print_statements(Switch *sw)
{
	List	   *phases[3] = {sw->prepare, sw->swap, sw->after};
	static const char *const labels[3] = {"", "", "-- after commit: "};

	for (int p = 0; p < 3; p++)
	{
		ListCell   *lc;

		foreach(lc, phases[p])
			ereport(NOTICE, (errmsg("%s%s;", labels[p], (char *) lfirst(lc))));
	}
}

typedef struct PlanCall
{
	Switch	   *sw;
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
					 errhint("CALL bg.promote(force => true) to promote it anyway, or CALL bg.abandon().")));
		}
	}
	build_switch(call->sw, call->force);
	AtEOXact_GUC(true, level);
}

/*
 * What the switch will do, read from the catalogs and the relations themselves (their
 * columns, for the breaking check). Reading a relation waits for a session that holds it
 * exclusively, so this runs under lock_timeout = bluegreen.promote_deadline, in a
 * subtransaction: past the deadline it gives up with the same clear error as the swap.
 */
static void
plan_switch(Switch *sw, bool rollback, bool force, int64 deployment_id)
{
	PlanCall	call = {sw, rollback, force, deployment_id};
	ErrorData  *e = bg_in_subxact(plan_body, &call);

	if (e == NULL)
		return;
	if (e->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
	{
		List	   *relids = NIL;
		ListCell   *lc;

		foreach(lc, sw->moves)
			if (OidIsValid(((Move *) lfirst(lc))->out_oid))
				relids = lappend_oid(relids, ((Move *) lfirst(lc))->out_oid);
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not %s deployment " INT64_FORMAT ": live relations stayed locked by other sessions for bluegreen.promote_deadline (%d ms); nothing was changed",
						rollback ? "roll back" : "promote", deployment_id, bg_promote_deadline_ms),
				 errdetail_internal("Holding locks:\n%s", lock_holders(relids)),
				 errhint("Try again when they are done, or end them; raise bluegreen.promote_deadline to wait longer.")));
	}
	ReThrowError(e);
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
	Switch	   *sw = palloc0(sizeof(Switch));
	DeploymentRow *d;
	List	   *changed = NIL;
	TimestampTz started = GetCurrentTimestamp();
	volatile Datum result = (Datum) 0;
	MemoryContext caller = CurrentMemoryContext;	/* the plan record outlives SPI */

	sw->rollback = rollback;
	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	bg_become_extension_owner(&us);
	project = bg_project_lookup(project_name, false);
	bg_restore_user(&us);
	bg_lock_project(project, rollback ? "roll back" : "promote");
	PG_TRY();
	{
		bg_become_extension_owner(&us);
		if (!rollback)
		{
			d = latest_deployment(project, NULL);
			if (d == NULL || strcmp(d->status, "built") != 0)
			{
				if (d && strcmp(d->status, "failed") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("cannot promote: deployment " INT64_FORMAT " of project \"%s\" failed%s%s%s",
									d->id, project->name, d->failed_node ? " at " : "",
									d->failed_node ? d->failed_node : "",
									d->error ? psprintf(": %s", d->error) : ""),
							 errhint("Fix it and CALL bg.deploy(manifest) again; production is as it was.")));
				if (d && strcmp(d->status, "promoted") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("cannot promote: deployment " INT64_FORMAT " of project \"%s\" is already live",
									d->id, project->name)));
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot promote: project \"%s\" has no built deployment", project->name),
						 errhint("CALL bg.deploy(manifest) first.")));
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
			d = latest_deployment(project, "promoted");
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
		plan_switch(sw, rollback, force, d->id);

		if (dry_run)
		{
			bg_restore_user(&us);
			ereport(NOTICE,
					(errmsg("dry run: %s deployment " INT64_FORMAT " of project \"%s\" would run %d statements; nothing is changed",
							verb, d->id, project->name,
							list_length(sw->prepare) + list_length(sw->swap) + list_length(sw->after))));
			print_statements(sw);
		}
		else
		{
			ListCell   *lc;
			Datum		args[3] = {Int64GetDatum(d->id), Int64GetDatum(project->project_id),
			Int64GetDatum(sw->manifest_id)};
			Oid			types[3] = {INT8OID, INT8OID, INT8OID};

			run_all(sw->prepare);
			run_swap(sw);
			foreach(lc, sw->moves)
			{
				Move	   *m = lfirst(lc);

				if (!rollback && OidIsValid(m->out_oid))
				{
					Datum		v[3] = {Int64GetDatum(d->id), Int32GetDatum(m->step),
					CStringGetTextDatum(m->away_schema)};
					Oid			t[3] = {INT8OID, INT4OID, TEXTOID};

					bg_spi_exec("UPDATE bg.deployment_step SET previous_schema = $3"
								" WHERE deployment_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2",
								SPI_OK_UPDATE, 3, t, v, NULL);
				}
			}
			bg_spi_exec(rollback ?
						"UPDATE bg.deployment SET status = 'rolled_back', rolled_back_at = pg_catalog.clock_timestamp()"
						" WHERE deployment_id OPERATOR(pg_catalog.=) $1" :
						"UPDATE bg.deployment SET status = 'promoted', promoted_at = pg_catalog.clock_timestamp(),"
						"  finished_at = pg_catalog.clock_timestamp()"
						" WHERE deployment_id OPERATOR(pg_catalog.=) $1",
						SPI_OK_UPDATE, 1, types, args, NULL);
			bg_spi_exec("UPDATE bg.project SET live_manifest_id = $3 WHERE project_id OPERATOR(pg_catalog.=) $2",
						SPI_OK_UPDATE, 3, types, args, NULL);
			bg_restore_user(&us);
			ereport(NOTICE,
					(errmsg("%s deployment " INT64_FORMAT " of project \"%s\": %d relation%s switched%s",
							rollback ? "rolled back" : "promoted", d->id, project->name,
							list_length(sw->moves), list_length(sw->moves) == 1 ? "" : "s",
							bg_show_timing ? psprintf(" in %.3fs",
													  (double) (GetCurrentTimestamp() - started) / 1000000.0) : ""),
					 errhint(rollback ? "What it replaced is live again." :
							 "CALL bg.rollback() switches back; CALL bg.cleanup() drops what it replaced.")));
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
	PG_RETURN_DATUM(bg_switch_deployment(arg_text(fcinfo, 1), false, arg_bool(fcinfo, 0),
										 arg_bool(fcinfo, 2), call_is_nonatomic(fcinfo)));
}

Datum
bg_rollback(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(bg_switch_deployment(arg_text(fcinfo, 0), true, arg_bool(fcinfo, 1),
										 false, call_is_nonatomic(fcinfo)));
}

/* ------------------------------------------------------------------------
 * bg.cleanup
 * ------------------------------------------------------------------------
 */

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

/*
 * Drop every relation in the side schemas of one deployment, then each schema that this
 * leaves empty. Relations read one another, across these schemas too (a view of staging
 * reads a table of analytics, a view reads a view): each pass drops what it can, views
 * first, and the next pass tries the rest again, until one drops nothing; only what is
 * left then is reported. Returns the number of failures.
 */
static int
drop_side_schemas(List *schemas, int *dropped, StringInfo failures)
{
	char	  **names = palloc(sizeof(char *) * Max(list_length(schemas), 1));
	Datum		arg;
	Oid			type = TEXTARRAYOID;
	StringInfoData left;
	List	   *stuck = NIL;	/* schemas still holding a relation */
	int			failed = 0;
	int			k = 0;
	ListCell   *lc;

	foreach(lc, schemas)
		names[k++] = lfirst(lc);
	arg = bg_text_array(names, k);
	initStringInfo(&left);
	for (;;)
	{
		uint64		n;
		SPITupleTable *tt;
		int			dropped_now = 0;

		failed = 0;
		stuck = NIL;
		resetStringInfo(&left);
		bg_spi_exec("SELECT s.nspname::text, c.relname::text, c.relkind FROM pg_catalog.pg_class AS c"
					"  JOIN pg_catalog.pg_namespace AS s ON s.oid OPERATOR(pg_catalog.=) c.relnamespace"
					" WHERE s.nspname OPERATOR(pg_catalog.=) ANY ($1)"
					"   AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,m,f}')"
					"   AND NOT c.relispartition"
					" ORDER BY c.relkind OPERATOR(pg_catalog.=) ANY ('{v,m}') DESC, 1, 2",
					SPI_OK_SELECT, 1, &type, &arg, NULL);
		n = SPI_processed;
		tt = SPI_tuptable;
		for (uint64 i = 0; i < n; i++)
		{
			char	   *schema = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
			char	   *name = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			bool		isnull;
			char		kind = DatumGetChar(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
			char	   *relation = quote_qualified_identifier(schema, name);
			char	   *failure = try_drop(psprintf("DROP %s %s", kind_keyword(kind), relation));

			if (failure)
			{
				failed++;
				stuck = lappend(stuck, schema);
				appendStringInfo(&left, "\n  %s: %s", relation, failure);
			}
			else
			{
				(*dropped)++;
				dropped_now++;
			}
		}
		if (failed == 0 || dropped_now == 0)
			break;
	}
	appendStringInfoString(failures, left.data);
	foreach(lc, schemas)
	{
		const char *schema = lfirst(lc);
		char	   *failure;
		bool		empty = true;
		ListCell   *lc2;

		foreach(lc2, stuck)
			if (strcmp(lfirst(lc2), schema) == 0)
				empty = false;
		if (!empty || !OidIsValid(get_namespace_oid(schema, true)))
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

Datum
bg_cleanup(PG_FUNCTION_ARGS)
{
	char	   *project_name = arg_text(fcinfo, 0);
	int			keep = PG_ARGISNULL(1) ? 1 : PG_GETARG_INT32(1);
	BgUserSwitch us;
	BgProject  *project;
	volatile int dropped = 0;
	volatile int failed = 0;
	volatile int deployments = 0;
	StringInfoData failures;

	if (keep < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep must be 0 or more, not %d", keep)));
	initStringInfo(&failures);
	SPI_connect();
	bg_become_extension_owner(&us);
	project = bg_project_lookup(project_name, false);
	bg_restore_user(&us);
	bg_lock_project(project, "clean up");
	PG_TRY();
	{
		Datum		args[3];
		Oid			types[3] = {INT8OID, INT4OID, INTERVALOID};
		char		nulls[3] = "   ";
		uint64		n;
		SPITupleTable *tt;

		args[0] = Int64GetDatum(project->project_id);
		args[1] = Int32GetDatum(keep);
		args[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
		if (PG_ARGISNULL(2))
			nulls[2] = 'n';
		bg_become_extension_owner(&us);

		/*
		 * Past retention: promoted deployments after the newest "keep", or promoted
		 * longer ago than older_than; and every rolled-back one (what it put live went
		 * out when it was rolled back, and nothing can bring it back). Only promoted
		 * deployments count towards "keep": a rolled-back one must not push the live
		 * deployment's previous relations out.
		 */
		bg_spi_exec("SELECT d.deployment_id, d.status,"
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
		n = SPI_processed;
		tt = SPI_tuptable;
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			char	   *status = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			Datum		schemas = SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull);
			Datum	   *elems = NULL;
			int			nelems = 0;
			int			before = failed;
			List	   *side = NIL;

			if (!isnull)
				deconstruct_array(DatumGetArrayTypeP(schemas), TEXTOID, -1, false, TYPALIGN_INT,
								  &elems, NULL, &nelems);
			for (int k = 0; k < nelems; k++)
			{
				char	   *live = TextDatumGetCString(elems[k]);

				side = lappend(side, bg_previous_schema_name(live, id));
				if (strcmp(status, "rolled_back") == 0)
					side = lappend(side, bg_side_schema_name(live, psprintf("__bg_r" INT64_FORMAT, id)));
			}
			failed += drop_side_schemas(side, (int *) &dropped, &failures);
			if (failed == before)
			{
				Datum		v = Int64GetDatum(id);
				Oid			t = INT8OID;

				bg_spi_exec("UPDATE bg.deployment SET previous_dropped_at = pg_catalog.clock_timestamp()"
							" WHERE deployment_id OPERATOR(pg_catalog.=) $1",
							SPI_OK_UPDATE, 1, &t, &v, NULL);
				deployments++;
			}
		}
		bg_restore_user(&us);
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
				 errhint("They are kept; drop what reads them, then CALL bg.cleanup() again.")));
	ereport(NOTICE,
			(errmsg("project \"%s\": dropped %d previous relation%s of %d deployment%s%s",
					project->name, dropped, dropped == 1 ? "" : "s", deployments,
					deployments == 1 ? "" : "s",
					failed ? psprintf("; %d could not be dropped", failed) : "")));
	PG_RETURN_VOID();
}
