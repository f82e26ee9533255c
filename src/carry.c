/*
 * carry.c
 *		What a switch carries from a relation leaving live to the one taking its name
 *		(grants, column grants, comments, row security and policies), and handing what a
 *		deployment built to the owner role before the switch.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "bluegreen.h"
#include "catalog.h"
#include "privilege.h"
#include "promote.h"
#include "spi.h"
#include "util.h"

/* ------------------------------------------------------------------------
 * What carries from a replaced relation to its replacement
 * ------------------------------------------------------------------------
 */
void
bg_carry_over(BgSwitch *sw, BgMove *m)
{
	Datum		args[2] = {ObjectIdGetDatum(m->out_oid), ObjectIdGetDatum(m->in_oid)};
	Oid			types[2] = {OIDOID, OIDOID};
	char	   *target = bg_relation_name(m->in_oid);
	char		kind = get_rel_relkind(m->in_oid);
	uint64		n;
	SPITupleTable *tt;

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

		/*
		 * Only what the new kind of relation can be granted, and no write through a
		 * view: it would reach the view's base relations as the owner role.
		 */
		if (kind == RELKIND_VIEW && strcmp(privilege, "SELECT") != 0 &&
			strcmp(privilege, "REFERENCES") != 0 && strcmp(privilege, "TRIGGER") != 0)
			continue;
		/*
		 * Not REFERENCES nor TRIGGER to anyone: a foreign key's checks would run as the
		 * owner role, a trigger would run on its writes (config.grants refuses them too).
		 */
		if (strcmp(privilege, "REFERENCES") == 0 || strcmp(privilege, "TRIGGER") == 0)
		{
			sw->notes = lappend(sw->notes,
								psprintf("not carried to %s: %s to %s (with it, %s could make the owner role run its code)",
										 target, privilege, SPI_getvalue(tt->vals[i], tt->tupdesc, 2),
										 SPI_getvalue(tt->vals[i], tt->tupdesc, 2)));
			continue;
		}
		/* the builder's read is granted to every incoming relation already */
		if (strcmp(privilege, "SELECT") == 0 &&
			strcmp(SPI_getvalue(tt->vals[i], tt->tupdesc, 2), BG_BUILDER_ROLE) == 0)
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
		const char *privilege = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);

		/* as for the whole relation: no REFERENCES, no write through a view */
		if (strcmp(privilege, "REFERENCES") == 0)
		{
			sw->notes = lappend(sw->notes,
								psprintf("not carried to %s: REFERENCES (%s) to %s (with it, %s could make the owner role run its code)",
										 target, SPI_getvalue(tt->vals[i], tt->tupdesc, 2),
										 SPI_getvalue(tt->vals[i], tt->tupdesc, 3),
										 SPI_getvalue(tt->vals[i], tt->tupdesc, 3)));
			continue;
		}
		if (kind == RELKIND_VIEW && strcmp(privilege, "SELECT") != 0)
			continue;
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
								  psprintf("COMMENT ON %s %s IS %s", bg_relkind_keyword(kind), target,
										   quote_literal_cstr(text)));
	}

	/* row-level security and its policies, where they can carry */
	if (!bg_kind_carries_row_security(kind))
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

/*
 * Of the relations in out, those that have something bg_carry_over carries: a grant (the
 * builder's read aside: every incoming relation has it), a column grant, a comment, row
 * security or a policy. One query for all of them.
 */
List *
bg_with_something_to_carry(List *out)
{
	Datum		args[2] = {bg_oid_array(out), ObjectIdGetDatum(bg_builder_role())};
	Oid			types[2] = {OIDARRAYOID, OIDOID};
	List	   *result = NIL;

	if (out == NIL)
		return NIL;
	bg_spi_exec("SELECT c.oid FROM pg_catalog.pg_class AS c"
				" WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1)"
				"   AND (EXISTS (SELECT FROM pg_catalog.aclexplode(c.relacl) AS a"
				"         WHERE a.grantee OPERATOR(pg_catalog.<>) c.relowner"
				"           AND NOT (a.grantee OPERATOR(pg_catalog.=) $2"
				"                    AND a.privilege_type OPERATOR(pg_catalog.=) 'SELECT'))"
				"     OR EXISTS (SELECT FROM pg_catalog.pg_attribute AS a"
				"         WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attacl IS NOT NULL)"
				"     OR EXISTS (SELECT FROM pg_catalog.pg_description AS d"
				"         WHERE d.objoid OPERATOR(pg_catalog.=) c.oid"
				"           AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass)"
				"     OR c.relrowsecurity OR c.relforcerowsecurity"
				"     OR EXISTS (SELECT FROM pg_catalog.pg_policy AS p WHERE p.polrelid OPERATOR(pg_catalog.=) c.oid))",
				SPI_OK_SELECT, 2, types, args, NULL);
	result = bg_spi_oids();
	return result;
}


/* ------------------------------------------------------------------------
 * Handing a built deployment to the owner role, in shadow
 * ------------------------------------------------------------------------
 */
/*
 * Once a deployment is built and tested, what the builder built is made the owner role's
 * (with SELECT for the builder, which reads everything live) while it is still in shadow,
 * so that the switch itself changes no owner: ALTER ... OWNER TO locks the relation, its
 * indexes and TOAST table, and in the switch those locks would count against the lock
 * table beside the live ones and be replayed on every hot standby. The builder cannot
 * change a relation it no longer owns, so what promote later checks is what goes live.
 * Only when nothing the relations hold would act as the owner role (the same check
 * promote makes, which then refuses naming them): otherwise they stay the builder's.
 * In batches of their own transactions when nonatomic. Returns how many were handed.
 */
int
bg_switch_hand_over(List *relids, bool nonatomic)
{
	BgUserSwitch us;
	ListCell   *lc;
	int			handed = 0;

	if (relids == NIL)
		return 0;
	bg_become_extension_owner(&us);
	if (bg_acting_as_owner(relids, true) != NIL)
	{
		bg_restore_user(&us);
		return 0;
	}
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		char	   *name = bg_relation_name(relid);

		if (bg_relation_owner(relid) == bg_owner_role())
			continue;
		bg_spi_exec(psprintf("ALTER %s %s OWNER TO %s", bg_relkind_keyword(get_rel_relkind(relid)),
							 name, quote_identifier(BG_OWNER_ROLE)),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		bg_spi_exec(psprintf("GRANT SELECT ON %s TO %s", name, quote_identifier(BG_BUILDER_ROLE)),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		if (++handed % BG_LOCK_BATCH == 0 && nonatomic && lnext(relids, lc) != NULL)
		{
			bg_restore_user(&us);
			SPI_commit();
			bg_become_extension_owner(&us);
		}
	}
	bg_restore_user(&us);
	return handed;
}

