/*
 * schema_swap.c
 *		Switching a whole live schema by renaming schemas: when it applies, and the
 *		statements that make the renamed schema the live one in every other respect.
 *
 * A relation moved into live by ALTER ... SET SCHEMA is locked ACCESS EXCLUSIVE until
 * the switch commits, and that lock is written to the WAL and taken again by every hot
 * standby's startup process. For a live schema most of whose relations a deployment
 * replaces, renaming is cheaper: the live schema becomes the previous one
 * (<schema>__bg_p<D>), the incoming one (the shadow schema, or for a rollback the
 * previous one) takes the live name, and the few relations the deployment does not
 * touch move across. Renaming a schema locks none of its relations, so the incoming
 * relations cost no lock at all; the relations leaving live are still locked, as with
 * per-relation moves, because those locks are what keeps a reader from seeing one
 * version in one statement and the other in the next (switch.c).
 *
 * The live schema object changes, so what belongs to the schema itself is carried from
 * the old one to the new: owner, grants, default privileges, comment; the one leaving
 * keeps only its owner's rights, like a previous schema promote creates. A schema is
 * renamed only when nothing else could notice the change: both schemas hold only
 * relations (with their indexes, sequences and row types), every relation of the
 * incoming one comes live, every one left behind in live is the owner role's and not an
 * extension's, no publication holds either schema, and the previous name is free.
 * Otherwise the schema's relations move one by one.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"

#include "bluegreen.h"
#include "catalog.h"
#include "privilege.h"
#include "promote.h"
#include "spi.h"
#include "util.h"

/*
 * What schema nsp holds besides the relations in keep: *blockers counts what a rename
 * could not carry (other kinds of objects, an extension's relations, relations of
 * another owner than owner, a publication of the schema), and the result lists the
 * other relations, which would have to move across (NIL when there are none).
 */
static List *
schema_contents(Oid nsp, List *keep, Oid owner, int64 *blockers)
{
	Datum		args[3] = {ObjectIdGetDatum(nsp), bg_oid_array(keep), ObjectIdGetDatum(owner)};
	Oid			types[3] = {OIDOID, OIDARRAYOID, OIDOID};
	List	   *others = NIL;
	bool		isnull;

	bg_spi_exec("WITH rel AS ("
				"  SELECT c.oid, c.relkind, c.relowner,"
				"    EXISTS (SELECT FROM pg_catalog.pg_depend AS d"
				"      WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"        AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e') AS ext,"
				"    c.relkind OPERATOR(pg_catalog.=) 'S' AND EXISTS (SELECT FROM pg_catalog.pg_depend AS d"
				"      WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"        AND d.objid OPERATOR(pg_catalog.=) c.oid"
				"        AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"        AND d.deptype OPERATOR(pg_catalog.=) ANY ('{a,i}')) AS owned"
				"    FROM pg_catalog.pg_class AS c"
				"   WHERE c.relnamespace OPERATOR(pg_catalog.=) $1"
				"     AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,v,m,p,f,S,c}'))"
				" SELECT (SELECT pg_catalog.count(*) FROM rel WHERE relkind OPERATOR(pg_catalog.=) 'c' OR ext"
				"          OR (NOT owned AND oid OPERATOR(pg_catalog.<>) ALL ($2) AND relowner OPERATOR(pg_catalog.<>) $3))"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_type AS t"
				"       WHERE t.typnamespace OPERATOR(pg_catalog.=) $1 AND t.typrelid OPERATOR(pg_catalog.=) 0"
				"         AND NOT EXISTS (SELECT FROM pg_catalog.pg_type AS e WHERE e.oid OPERATOR(pg_catalog.=) t.typelem"
				"              AND e.typrelid OPERATOR(pg_catalog.<>) 0))"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_opclass WHERE opcnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_statistic_ext WHERE stxnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_parser WHERE prsnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_template WHERE tmplnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_extension WHERE extnamespace OPERATOR(pg_catalog.=) $1)"
				"   + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_publication_namespace WHERE pnnspid OPERATOR(pg_catalog.=) $1),"
				"   (SELECT pg_catalog.array_agg(oid ORDER BY oid) FROM rel"
				"     WHERE relkind OPERATOR(pg_catalog.<>) 'c' AND NOT ext AND NOT owned"
				"       AND oid OPERATOR(pg_catalog.<>) ALL ($2))",
				SPI_OK_SELECT, 3, types, args, NULL);
	*blockers = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
	{
		char	   *text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		char	   *tok;
		char	   *save;

		/* "{1,2,3}" */
		text[strlen(text) - 1] = '\0';
		for (tok = strtok_r(text + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			others = lappend_oid(others, (Oid) strtoul(tok, NULL, 10));
	}
	return others;
}

/*
 * Whether live schema "live" is switched by renaming, and if so its BgSchemaSwap: every
 * move into it comes from one schema, which holds nothing else, and renaming costs fewer
 * locks than moving the relations one by one.
 */
BgSchemaSwap *
bg_schema_swap_plan(BgSwitch *sw, const char *live)
{
	List	   *in = NIL;
	List	   *out = NIL;
	const char *from = NULL;
	const char *away = NULL;
	Oid			live_nsp = get_namespace_oid(live, true);
	Oid			from_nsp;
	Oid			owner = bg_owner_role();
	int64		blockers;
	List	   *unselected = NIL;
	ListCell   *lc;
	BgSchemaSwap *swap;

	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (strcmp(m->live_schema, live) != 0)
			continue;
		/* a table that stays live, rows and all: moving it would lock its readers out */
		if (m->kind == BG_MOVE_APPLY)
			return NULL;
		if (OidIsValid(m->in_oid))
		{
			if (from != NULL && strcmp(from, m->from_schema) != 0)
				return NULL;
			from = m->from_schema;
			in = lappend_oid(in, m->in_oid);
		}
		if (OidIsValid(m->out_oid))
		{
			away = m->away_schema;
			out = lappend_oid(out, m->out_oid);
		}
	}
	if (from == NULL || !OidIsValid(from_nsp = get_namespace_oid(from, true)))
		return NULL;
	if (OidIsValid(live_nsp))
	{
		if (away == NULL)
			away = sw->rollback ? bg_rollback_schema_name(live, sw->deployment_id) :
				bg_previous_schema_name(live, sw->deployment_id);
		if (OidIsValid(get_namespace_oid(away, true)) ||
			bg_namespace_owner(live_nsp) != owner || bg_namespace_owner(from_nsp) != owner)
			return NULL;
		unselected = schema_contents(live_nsp, out, owner, &blockers);
		/* moving the others across must cost fewer locks than moving the new ones in */
		if (blockers > 0 || list_length(unselected) >= list_length(in))
			return NULL;
	}
	else if (bg_namespace_owner(from_nsp) != owner)
		return NULL;
	if (schema_contents(from_nsp, in, owner, &blockers) != NIL || blockers > 0)
		return NULL;

	swap = palloc0(sizeof(BgSchemaSwap));
	swap->live = pstrdup(live);
	swap->from = pstrdup(from);
	swap->away = OidIsValid(live_nsp) ? pstrdup(away) : NULL;
	swap->live_nsp = live_nsp;
	swap->from_nsp = from_nsp;
	swap->unselected = unselected;
	return swap;
}

/*
 * The statements of a schema swap, in order: the renames, the relations left behind
 * moved across, then what belongs to the schema: the new live schema gets the owner,
 * grants, default privileges and comment of the old one, and loses the grants it had as
 * a shadow schema (the builder's read, bluegreen's own grant on every live schema, is
 * given last); the old one keeps only its owner's rights.
 */
void
bg_schema_swap_statements(BgSwitch *sw, BgSchemaSwap *swap)
{
	Datum		args[5] = {ObjectIdGetDatum(swap->live_nsp), ObjectIdGetDatum(swap->from_nsp),
		CStringGetTextDatum(swap->live), CStringGetTextDatum(swap->away ? swap->away : ""),
	ObjectIdGetDatum(bg_builder_role())};
	Oid			types[5] = {OIDOID, OIDOID, TEXTOID, TEXTOID, OIDOID};
	ListCell   *lc;

	/* read before the renames: by OID, the old schema and the incoming one */
	bg_spi_exec("WITH g AS ("
				"  SELECT n.oid, n.nspowner, a.grantee, a.privilege_type, a.is_grantable,"
				"    CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
				"         ELSE pg_catalog.quote_ident(a.grantee::pg_catalog.regrole::text) END AS who"
				"    FROM pg_catalog.pg_namespace AS n, pg_catalog.aclexplode(n.nspacl) AS a"
				"   WHERE n.oid OPERATOR(pg_catalog.=) ANY (ARRAY[$1, $2])"
				"     AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner)"
				" SELECT s FROM ("
				"  SELECT 1, who, pg_catalog.format('REVOKE ALL ON SCHEMA %I FROM %s', $3, who)"
				"    FROM g WHERE oid OPERATOR(pg_catalog.=) $2 GROUP BY who"
				"  UNION ALL"
				"  SELECT 2, '', pg_catalog.format('ALTER SCHEMA %I OWNER TO %I', $3, n.nspowner::pg_catalog.regrole)"
				"    FROM pg_catalog.pg_namespace AS n, pg_catalog.pg_namespace AS f"
				"   WHERE n.oid OPERATOR(pg_catalog.=) $1 AND f.oid OPERATOR(pg_catalog.=) $2"
				"     AND n.nspowner OPERATOR(pg_catalog.<>) f.nspowner"
				"  UNION ALL"
				"  SELECT 3, who, pg_catalog.format('GRANT %s ON SCHEMA %I TO %s%s', privilege_type, $3, who,"
				"           CASE WHEN is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)"
				"    FROM g WHERE oid OPERATOR(pg_catalog.=) $1 AND grantee OPERATOR(pg_catalog.<>) $5"
				"  UNION ALL"
				"  SELECT 4, '', pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT %s ON %s TO %s%s',"
				"           d.defaclrole::pg_catalog.regrole, $3, a.privilege_type,"
				"           CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES'"
				"                WHEN 'f' THEN 'FUNCTIONS' ELSE 'TYPES' END,"
				"           CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
				"                ELSE pg_catalog.quote_ident(a.grantee::pg_catalog.regrole::text) END,"
				"           CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)"
				"    FROM pg_catalog.pg_default_acl AS d, pg_catalog.aclexplode(d.defaclacl) AS a"
				"   WHERE d.defaclnamespace OPERATOR(pg_catalog.=) $1"
				"  UNION ALL"
				"  SELECT 5, '', pg_catalog.format('COMMENT ON SCHEMA %I IS %s', $3,"
				"           COALESCE(pg_catalog.quote_literal(pg_catalog.obj_description($1, 'pg_namespace')), 'NULL'))"
				"   WHERE pg_catalog.obj_description($1, 'pg_namespace') IS DISTINCT FROM"
				"         pg_catalog.obj_description($2, 'pg_namespace')"
				"  UNION ALL"
				"  SELECT 6, who, pg_catalog.format('REVOKE ALL ON SCHEMA %I FROM %s', $4, who)"
				"    FROM g WHERE oid OPERATOR(pg_catalog.=) $1 GROUP BY who"
				" ) AS x (phase, who, s) ORDER BY phase, who, s",
				SPI_OK_SELECT, 5, types, args, NULL);

	if (swap->away)
		sw->swap = lappend(sw->swap, psprintf("ALTER SCHEMA %s RENAME TO %s", quote_identifier(swap->live),
											  quote_identifier(swap->away)));
	sw->swap = lappend(sw->swap, psprintf("ALTER SCHEMA %s RENAME TO %s", quote_identifier(swap->from),
										  quote_identifier(swap->live)));
	foreach(lc, swap->unselected)
	{
		Oid			relid = lfirst_oid(lc);

		sw->locked = lappend_oid(sw->locked, relid);
		sw->swap = lappend(sw->swap, psprintf("ALTER %s %s SET SCHEMA %s",
											  bg_relkind_keyword(get_rel_relkind(relid)),
											  quote_qualified_identifier(swap->away, get_rel_name(relid)),
											  quote_identifier(swap->live)));
	}
	for (uint64 i = 0; i < SPI_processed; i++)
		sw->swap = lappend(sw->swap, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	/* the builder reads every live schema */
	sw->swap = lappend(sw->swap, psprintf("GRANT USAGE ON SCHEMA %s TO %s", quote_identifier(swap->live),
										  quote_identifier(BG_BUILDER_ROLE)));
}

/* The swap of live schema "live" in this switch, or NULL when its relations move one by one. */
BgSchemaSwap *
bg_schema_swap_of(BgSwitch *sw, const char *live)
{
	ListCell   *lc;

	foreach(lc, sw->swaps)
		if (strcmp(((BgSchemaSwap *) lfirst(lc))->live, live) == 0)
			return lfirst(lc);
	return NULL;
}

/*
 * In the swap's transaction, before its statements: lock both schemas of every swap
 * against objects being created in them (CREATE takes a lock on its schema), and check
 * again that they hold what the plan found: another project's deployment building into
 * the same shadow schema meanwhile must not go live with this one.
 */
void
bg_schema_swap_lock(BgSwitch *sw)
{
	ListCell   *lc;

	foreach(lc, sw->swaps)
	{
		BgSchemaSwap *swap = lfirst(lc);
		List	   *in = NIL;
		List	   *out = NIL;
		List	   *unselected = NIL;
		int64		blockers = 0;
		int64		from_blockers = 0;
		ListCell   *mc;

		LockDatabaseObject(NamespaceRelationId, swap->from_nsp, 0, AccessExclusiveLock);
		if (OidIsValid(swap->live_nsp))
			LockDatabaseObject(NamespaceRelationId, swap->live_nsp, 0, AccessExclusiveLock);
		foreach(mc, sw->moves)
		{
			BgMove	   *m = lfirst(mc);

			if (strcmp(m->live_schema, swap->live) != 0)
				continue;
			if (OidIsValid(m->in_oid))
				in = lappend_oid(in, m->in_oid);
			if (OidIsValid(m->out_oid))
				out = lappend_oid(out, m->out_oid);
		}
		if (OidIsValid(swap->live_nsp))
			unselected = schema_contents(swap->live_nsp, out, bg_owner_role(), &blockers);
		if (schema_contents(swap->from_nsp, in, bg_owner_role(), &from_blockers) != NIL ||
			from_blockers > 0 || blockers > 0 || !equal(unselected, swap->unselected))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot %s deployment " INT64_FORMAT ": schema \"%s\" or \"%s\" changed while the switch was planned",
							sw->rollback ? "roll back" : "promote", sw->deployment_id, swap->live, swap->from),
					 errhint("Nothing was changed; try again.")));
	}
}

