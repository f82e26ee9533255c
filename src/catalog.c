/*
 * catalog.c
 *		What bluegreen reads of the system catalogs about relations and schemas.
 *
 * Each question has one answer here, asked alike by the stages that need it: whether a
 * relation exists and what it is, its columns, what reads it from outside (views,
 * foreign keys, publications), and whether a table can back a foreign key. The
 * compatibility verdict (verdict.c) and the switch (switch.c) must never disagree on
 * those, so neither has a copy of its own.
 *
 * Catalog queries run with whatever search_path the caller pinned; every operator is
 * qualified, so a hostile path cannot change their meaning.
 */
#include "postgres.h"

#include "utils/typcache.h"
#include "catalog/pg_operator.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/twophase.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "compat.h"
#include "privilege.h"
#include "spi.h"

/* ------------------------------------------------------------------------
 * Relations and schemas
 * ------------------------------------------------------------------------
 */
bool
bg_relation_exists(const char *schema, const char *name, Oid *relid, char *relkind)
{
	Oid			nsp = get_namespace_oid(schema, true);
	Oid			rel;

	if (relid)
		*relid = InvalidOid;
	if (!OidIsValid(nsp))
		return false;
	rel = get_relname_relid(name, nsp);
	if (relid)
		*relid = rel;
	if (relkind && OidIsValid(rel))
		*relkind = get_rel_relkind(rel);
	return OidIsValid(rel);
}

Oid
bg_relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

Oid
bg_namespace_owner(Oid nsp)
{
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/* "schema"."name" of a relation, as it is named now */
char *
bg_relation_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* The keyword of ALTER/DROP/COMMENT ON for a relation of this kind. */
const char *
bg_relkind_keyword(char relkind)
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

/* The kind of a relation, in words. */
const char *
bg_relkind_name(char relkind)
{
	switch (relkind)
	{
		case RELKIND_RELATION:
		case RELKIND_PARTITIONED_TABLE:
			return "table";
		case RELKIND_VIEW:
			return "view";
		case RELKIND_MATVIEW:
			return "materialized view";
		case RELKIND_FOREIGN_TABLE:
			return "foreign table";
	}
	return "relation";
}

/*
 * Whether row-level security and its policies carry to a relation of this kind when it
 * replaces a table that has them: a plain table only (carry.c carries them; verdict.c
 * calls a replacement of another kind breaking, as its readers would see every row).
 */
bool
bg_kind_carries_row_security(char relkind)
{
	return relkind == RELKIND_RELATION;
}

/* ------------------------------------------------------------------------
 * Columns
 * ------------------------------------------------------------------------
 */

/* The columns of a relation, in order, dropped ones left out. */
List *
bg_relation_columns(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *out = NIL;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		BgColumn   *c;

		if (att->attisdropped)
			continue;
		c = palloc(sizeof(BgColumn));
		c->attnum = att->attnum;
		c->name = pstrdup(NameStr(att->attname));
		c->type = att->atttypid;
		c->typmod = att->atttypmod;
		c->type_name = format_type_with_typemod(att->atttypid, att->atttypmod);
		out = lappend(out, c);
	}
	relation_close(rel, AccessShareLock);
	return out;
}

BgColumn *
bg_column_named(List *columns, const char *name)
{
	ListCell   *lc;

	foreach(lc, columns)
		if (strcmp(((BgColumn *) lfirst(lc))->name, name) == 0)
			return lfirst(lc);
	return NULL;
}

BgColumn *
bg_column_numbered(List *columns, int attnum)
{
	ListCell   *lc;

	foreach(lc, columns)
		if (((BgColumn *) lfirst(lc))->attnum == attnum)
			return lfirst(lc);
	return NULL;
}

/* "a", "b", "c" (each quoted), optionally each prefixed with "prefix." */
char *
bg_column_list(List *columns, const char *prefix)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, columns)
	{
		BgColumn   *c = lfirst(lc);

		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		if (prefix)
			appendStringInfo(&buf, "%s.", prefix);
		appendStringInfoString(&buf, quote_identifier(c->name));
	}
	return buf.data;
}

/* ------------------------------------------------------------------------
 * What depends on a relation, from outside it
 * ------------------------------------------------------------------------
 */

/*
 * Views and materialized views that read relid: (oid, relkind, attnums read as
 * integer[] (0: the whole row), reloptions as text). Other sessions' temporary views are
 * left out (bg_other_sessions_temp_views).
 */
SPITupleTable *
bg_dependent_views(Oid relid, uint64 *n)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;

	bg_spi_exec("SELECT r.ev_class, c.relkind,"
				"       pg_catalog.array_agg(DISTINCT d.refobjsubid::integer),"
				"       pg_catalog.array_to_string(c.reloptions, ', ')"
				"  FROM pg_catalog.pg_depend AS d"
				"  JOIN pg_catalog.pg_rewrite AS r ON r.oid OPERATOR(pg_catalog.=) d.objid"
				"  JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) r.ev_class"
				" WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
				"   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"   AND d.refobjid OPERATOR(pg_catalog.=) $1"
				"   AND r.ev_class OPERATOR(pg_catalog.<>) $1"
				"   AND (c.relpersistence OPERATOR(pg_catalog.<>) 't'"
				"        OR c.relnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema())"
				" GROUP BY r.ev_class, c.relkind, c.reloptions ORDER BY r.ev_class",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	*n = SPI_processed;
	return SPI_tuptable;
}

/*
 * Temporary views of other sessions that read relid, by name: nobody but
 * their session can change them, so they are never counted as dependents (a reader's
 * TEMP view must not be able to stop a promote); promote reports them.
 */
List *
bg_other_sessions_temp_views(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;
	List	   *out = NIL;

	bg_spi_exec("SELECT DISTINCT pg_catalog.quote_ident(c.relname)"
				"  FROM pg_catalog.pg_depend AS d"
				"  JOIN pg_catalog.pg_rewrite AS r ON r.oid OPERATOR(pg_catalog.=) d.objid"
				"  JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) r.ev_class"
				"  JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
				" WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
				"   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"   AND d.refobjid OPERATOR(pg_catalog.=) $1 AND r.ev_class OPERATOR(pg_catalog.<>) $1"
				"   AND c.relpersistence OPERATOR(pg_catalog.=) 't'"
				"   AND c.relnamespace OPERATOR(pg_catalog.<>) pg_catalog.pg_my_temp_schema()"
				" ORDER BY 1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
		out = lappend(out, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return out;
}

/*
 * SQL for one foreign key k (a pg_constraint row): a function that a role other than a
 * superuser owns and that the key's checks run, "f(type), which r owns", or NULL: one of
 * its equality operators', or the cast from a referencing column's type to the
 * referenced one's. PostgreSQL runs those checks as the owner of the referenced table,
 * the owner role for a project's.
 */
#define FK_FOREIGN_CODE_SQL \
	"(SELECT pg_catalog.format('%s, which %s owns', p.oid::pg_catalog.regprocedure," \
	"        pg_catalog.quote_ident(r.rolname::text))" \
	"   FROM (SELECT o.oprcode::pg_catalog.oid AS fn FROM pg_catalog.pg_operator AS o" \
	"          WHERE o.oid OPERATOR(pg_catalog.=) ANY (k.conpfeqop OPERATOR(pg_catalog.||) k.conppeqop" \
	"                OPERATOR(pg_catalog.||) k.conffeqop)" \
	"         UNION SELECT c.castfunc" \
	"           FROM ROWS FROM (pg_catalog.unnest(k.conkey), pg_catalog.unnest(k.confkey)) AS u (fa, pa)" \
	"           JOIN pg_catalog.pg_attribute AS fa ON fa.attrelid OPERATOR(pg_catalog.=) k.conrelid" \
	"                AND fa.attnum OPERATOR(pg_catalog.=) u.fa" \
	"           JOIN pg_catalog.pg_attribute AS pa ON pa.attrelid OPERATOR(pg_catalog.=) k.confrelid" \
	"                AND pa.attnum OPERATOR(pg_catalog.=) u.pa" \
	"           JOIN pg_catalog.pg_cast AS c ON c.castsource OPERATOR(pg_catalog.=) fa.atttypid" \
	"                AND c.casttarget OPERATOR(pg_catalog.=) pa.atttypid) AS f" \
	"   JOIN pg_catalog.pg_proc AS p ON p.oid OPERATOR(pg_catalog.=) f.fn" \
	"   JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) p.proowner AND NOT r.rolsuper" \
	"  ORDER BY 1 LIMIT 1)"

/*
 * Foreign keys of other tables that reference relid: (table, name, referenced attnums
 * as integer[], definition, constraint oid, a non-superuser's function its checks run
 * or NULL).
 */
SPITupleTable *
bg_dependent_foreign_keys(Oid relid, uint64 *n)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;

	bg_spi_exec("SELECT k.conrelid, k.conname::text, k.confkey::integer[],"
				"       pg_catalog.pg_get_constraintdef(k.oid), k.oid, " FK_FOREIGN_CODE_SQL
				"  FROM pg_catalog.pg_constraint AS k"
				" WHERE k.contype OPERATOR(pg_catalog.=) 'f'"
				"   AND k.confrelid OPERATOR(pg_catalog.=) $1"
				"   AND k.conrelid OPERATOR(pg_catalog.<>) $1 ORDER BY k.conrelid, k.conname",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	*n = SPI_processed;
	return SPI_tuptable;
}

/* Whether two column lists (bg_relation_columns) are the same names and types, in order. */
bool
bg_same_columns(List *a, List *b)
{
	ListCell   *x,
			   *y;

	if (list_length(a) != list_length(b))
		return false;
	forboth(x, a, y, b)
	{
		BgColumn   *p = lfirst(x);
		BgColumn   *q = lfirst(y);

		if (strcmp(p->name, q->name) != 0 || p->type != q->type || p->typmod != q->typmod)
			return false;
	}
	return true;
}

/*
 * Of relids, those that something outside relids and except depends on: a view or rule
 * reading it (bg_dependent_views, bg_other_sessions_temp_views), another table's foreign
 * key (bg_dependent_foreign_keys), a publication (bg_covering_publications). One query
 * for all of them, so that a switch of thousands of relations asks those per-relation
 * questions only where they have an answer.
 */
List *
bg_relations_with_dependents(List *relids, List *except)
{
	Datum		args[2] = {bg_oid_array(relids), bg_oid_array(list_concat_copy(relids, except))};
	Oid			types[2] = {OIDARRAYOID, OIDARRAYOID};
	List	   *out = NIL;

	if (relids == NIL)
		return NIL;
	bg_spi_exec("SELECT d.refobjid FROM pg_catalog.pg_depend AS d"
				"  JOIN pg_catalog.pg_rewrite AS r ON r.oid OPERATOR(pg_catalog.=) d.objid"
				" WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
				"   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"   AND d.refobjid OPERATOR(pg_catalog.=) ANY ($1)"
				"   AND r.ev_class OPERATOR(pg_catalog.<>) ALL ($2)"
				" UNION"
				" SELECT k.confrelid FROM pg_catalog.pg_constraint AS k"
				" WHERE k.contype OPERATOR(pg_catalog.=) 'f' AND k.confrelid OPERATOR(pg_catalog.=) ANY ($1)"
				"   AND k.conrelid OPERATOR(pg_catalog.<>) ALL ($2)"
				" UNION"
				" SELECT c.oid FROM pg_catalog.pg_class AS c"
				" WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1)"
				"   AND EXISTS (SELECT FROM pg_catalog.pg_publication AS p WHERE " PUBLICATION_COVERS_SQL ")",
				SPI_OK_SELECT, 2, types, args, NULL);
	out = bg_spi_oids();
	return out;
}

/*
 * Whether table relid can back foreign key conoid, which references another relation
 * (the one relid replaces): relid has each referenced column, by name, with the same
 * type, and a unique index whose key columns are exactly those, as ADD CONSTRAINT
 * requires (tablecmds.c, transformFkeyCheckAttrs): not partial, no expressions, not
 * deferrable, valid; INCLUDE columns do not count as key columns.
 */
bool
bg_foreign_key_backed(Oid conoid, Oid relid)
{
	Datum		args[2] = {ObjectIdGetDatum(conoid), ObjectIdGetDatum(relid)};
	Oid			types[2] = {OIDOID, OIDOID};
	char		kind = get_rel_relkind(relid);
	bool		isnull;

	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		return false;
	bg_spi_exec("SELECT NOT EXISTS (SELECT FROM pg_catalog.unnest(c.confkey) AS k"
				"         JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) c.confrelid"
				"              AND a.attnum OPERATOR(pg_catalog.=) k"
				"        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS b"
				"              WHERE b.attrelid OPERATOR(pg_catalog.=) $2 AND b.attname OPERATOR(pg_catalog.=) a.attname"
				"                AND NOT b.attisdropped AND b.atttypid OPERATOR(pg_catalog.=) a.atttypid))"
				"   AND EXISTS (SELECT FROM pg_catalog.pg_index AS i"
				"        WHERE i.indrelid OPERATOR(pg_catalog.=) $2 AND i.indisunique AND i.indimmediate"
				"          AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL"
				"          AND i.indnkeyatts OPERATOR(pg_catalog.=) pg_catalog.cardinality(c.confkey)"
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

/* ------------------------------------------------------------------------
 * What would act as a relation's owner
 * ------------------------------------------------------------------------
 */

/*
 * What on the relations relids would run with their owner's privileges for someone
 * else, one line each ("rule wipe on mart.inbox"), or NIL: a rule that is not a view's
 * own (its actions run as the table's owner), a grant (of the relation or a column) to
 * write through a view (the write reaches the view's base relations as the view's
 * owner), a grant of REFERENCES or TRIGGER to anyone (a key's checks run as the
 * referenced table's owner; a trigger is code on its writes); with triggers, also a
 * trigger that is not one of a foreign key's (it runs as the writer, but a model has no
 * business attaching code to what goes live; a schema handed over keeps its own); an
 * index, statistics, default, generated column or check constraint whose expression
 * calls a function (or an operator's) that a role other than a superuser owns: ANALYZE,
 * VACUUM FULL, REINDEX and autovacuum evaluate those as the relation's owner; and so
 * does REFRESH the query of a materialized view; a foreign key to or from the relation
 * whose checks call one (they run as the referenced table's owner). Once the
 * owner role owns them, any of these would let whoever may write the relation, or wrote
 * the function, act as the owner role, on every managed schema: bluegreen hands no
 * such relation to it.
 */
List *
bg_acting_as_owner(List *relids, bool triggers)
{
	Datum		args[2] = {bg_oid_array(relids), BoolGetDatum(triggers)};
	Oid			types[2] = {OIDARRAYOID, BOOLOID};
	List	   *out = NIL;

	if (relids == NIL)
		return NIL;
	bg_spi_exec("SELECT pg_catalog.format('rule %I on %s', r.rulename, r.ev_class::pg_catalog.regclass)"
				"  FROM pg_catalog.pg_rewrite AS r"
				" WHERE r.ev_class OPERATOR(pg_catalog.=) ANY ($1)"
				"   AND NOT (r.rulename OPERATOR(pg_catalog.=) '_RETURN' AND r.ev_type OPERATOR(pg_catalog.=) '1')"
				" UNION ALL"
				" SELECT pg_catalog.format('trigger %I on %s', t.tgname, t.tgrelid::pg_catalog.regclass)"
				"  FROM pg_catalog.pg_trigger AS t"
				" WHERE $2 AND t.tgrelid OPERATOR(pg_catalog.=) ANY ($1) AND NOT t.tgisinternal"
				" UNION ALL"
				" SELECT pg_catalog.format('grant of %s%s on %s %s to %s', a.privilege_type,"
				"        CASE WHEN g.attname IS NULL THEN '' ELSE ' (' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(g.attname) OPERATOR(pg_catalog.||) ')' END,"
				"        CASE c.relkind WHEN 'v' THEN 'view' ELSE 'relation' END, c.oid::pg_catalog.regclass,"
				"        CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
				"             ELSE pg_catalog.quote_ident(a.grantee::pg_catalog.regrole::text) END)"
				"  FROM pg_catalog.pg_class AS c"
				"  CROSS JOIN LATERAL (SELECT NULL::pg_catalog.name AS attname, c.relacl AS acl"
				"        UNION ALL SELECT t.attname, t.attacl FROM pg_catalog.pg_attribute AS t"
				"         WHERE t.attrelid OPERATOR(pg_catalog.=) c.oid AND t.attnum OPERATOR(pg_catalog.>) 0"
				"           AND t.attacl IS NOT NULL) AS g"
				"  CROSS JOIN LATERAL pg_catalog.aclexplode(g.acl) AS a"
				" WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1) AND a.grantee OPERATOR(pg_catalog.<>) c.relowner"
				"   AND (a.privilege_type OPERATOR(pg_catalog.=) ANY ('{REFERENCES,TRIGGER}')"
				"        OR (c.relkind OPERATOR(pg_catalog.=) 'v'"
				"            AND a.privilege_type OPERATOR(pg_catalog.=) ANY ('{INSERT,UPDATE,DELETE,TRUNCATE}')))"
				" UNION ALL"
				" SELECT pg_catalog.format('foreign key %I on %s, whose checks run %s', k.conname,"
				"        k.conrelid::pg_catalog.regclass, x.code)"
				"  FROM pg_catalog.pg_constraint AS k CROSS JOIN LATERAL (SELECT " FK_FOREIGN_CODE_SQL " AS code) AS x"
				" WHERE k.contype OPERATOR(pg_catalog.=) 'f' AND x.code IS NOT NULL"
				"   AND (k.confrelid OPERATOR(pg_catalog.=) ANY ($1) OR k.conrelid OPERATOR(pg_catalog.=) ANY ($1))"
				" UNION ALL"
				" SELECT pg_catalog.format('%s calls %s, which %s owns',"
				"        pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid),"
				"        f.oid::pg_catalog.regprocedure, pg_catalog.quote_ident(r.rolname::text))"
				"  FROM pg_catalog.pg_depend AS d"
				"  LEFT JOIN pg_catalog.pg_operator AS o"
				"    ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass"
				"   AND o.oid OPERATOR(pg_catalog.=) d.refobjid"
				"  JOIN pg_catalog.pg_proc AS f ON f.oid OPERATOR(pg_catalog.=) CASE"
				"       WHEN d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass THEN d.refobjid"
				"       ELSE o.oprcode::pg_catalog.oid END"
				"  JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) f.proowner AND NOT r.rolsuper"
				" WHERE (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"        AND d.objid OPERATOR(pg_catalog.=) ANY (SELECT i.indexrelid FROM pg_catalog.pg_index AS i"
				"              WHERE i.indrelid OPERATOR(pg_catalog.=) ANY ($1)))"
				"    OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass"
				"        AND d.objid OPERATOR(pg_catalog.=) ANY (SELECT a.oid FROM pg_catalog.pg_attrdef AS a"
				"              WHERE a.adrelid OPERATOR(pg_catalog.=) ANY ($1)))"
				"    OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass"
				"        AND d.objid OPERATOR(pg_catalog.=) ANY (SELECT k.oid FROM pg_catalog.pg_constraint AS k"
				"              WHERE k.conrelid OPERATOR(pg_catalog.=) ANY ($1)))"
				"    OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
				"        AND d.objid OPERATOR(pg_catalog.=) ANY (SELECT w.oid FROM pg_catalog.pg_rewrite AS w"
				"              JOIN pg_catalog.pg_class AS m ON m.oid OPERATOR(pg_catalog.=) w.ev_class"
				"             WHERE w.ev_class OPERATOR(pg_catalog.=) ANY ($1) AND m.relkind OPERATOR(pg_catalog.=) 'm'))"
				"    OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass"
				"        AND d.objid OPERATOR(pg_catalog.=) ANY (SELECT x.oid FROM pg_catalog.pg_statistic_ext AS x"
				"              WHERE x.stxrelid OPERATOR(pg_catalog.=) ANY ($1)))"
				" ORDER BY 1",
				SPI_OK_SELECT, 2, types, args, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
		out = lappend(out, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return out;
}

/* ------------------------------------------------------------------------
 * The lock table
 * ------------------------------------------------------------------------
 */

/*
 * How many locks one transaction takes to move, re-own or drop the relations relids:
 * each, and the sequences it owns; with parts, also its indexes and its TOAST table
 * and index (ALTER ... OWNER TO and DROP lock them; SET SCHEMA does not). Read in one
 * query, however many relations.
 */
int64
bg_relation_locks(List *relids, bool parts)
{
	Datum		args[2] = {bg_oid_array(relids), BoolGetDatum(parts)};
	Oid			types[2] = {OIDARRAYOID, BOOLOID};
	bool		isnull;
	Datum		n;

	if (relids == NIL)
		return 0;
	bg_spi_exec("SELECT pg_catalog.count(*)"
				"  + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_index AS i"
				"      WHERE $2 AND i.indrelid OPERATOR(pg_catalog.=) ANY ($1))"
				"  + 2 * pg_catalog.count(*) FILTER (WHERE $2 AND c.reltoastrelid OPERATOR(pg_catalog.<>) 0)"
				"  + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_depend AS d"
				"      JOIN pg_catalog.pg_class AS s ON s.oid OPERATOR(pg_catalog.=) d.objid"
				"      WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"        AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"        AND d.refobjid OPERATOR(pg_catalog.=) ANY ($1)"
				"        AND d.deptype OPERATOR(pg_catalog.=) ANY ('{a,i}')"
				"        AND s.relkind OPERATOR(pg_catalog.=) 'S')"
				"  FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1)",
				SPI_OK_SELECT, 2, types, args, NULL);
	n = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(n);
}

/*
 * ERROR, before taking any of them, if one transaction would need more locks than the
 * server's lock table holds (max_locks_per_transaction for each backend and prepared
 * transaction): PostgreSQL would fail it midway with "out of shared memory". what says
 * what needs them; hint what else the caller can do.
 */
void
bg_check_lock_table(int64 needed, const char *what, const char *hint)
{
	int64		slots = (int64) MaxBackends + max_prepared_xacts;
	int64		capacity = BG_LOCKS_FIT((int64) max_locks_per_xact * slots);

	if (needed <= capacity)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("%s needs about " INT64_FORMAT " locks in one transaction; the lock table holds " INT64_FORMAT,
					what, needed, capacity),
			 errdetail("The lock table is sized for max_locks_per_transaction (%d) for each of " INT64_FORMAT " backends and prepared transactions, and one transaction can count on about 1.4 times that. Nothing was changed.",
					   max_locks_per_xact, slots),
			 hint ? errhint("%s", hint) :
			 errhint("Set max_locks_per_transaction to at least " INT64_FORMAT " and restart the server.",
					 ((needed + needed / 4) * 5 / 7 + slots - 1) / slots)));
}

/* ------------------------------------------------------------------------
 * Who holds a lock
 * ------------------------------------------------------------------------
 */

/* One line per session, as the caller may see it in pg_stat_activity, for pids. */
static char *
describe_sessions(const char *which_pids, Datum arg, Oid type, Oid caller)
{
	StringInfoData buf;
	BgUserSwitch sw;

	bg_switch_user(&sw, caller);
	bg_spi_exec(psprintf("SELECT pg_catalog.format('backend %%s (user %%s, application %%s, %%s for %%s: %%s)',"
						 "    a.pid, a.usename, pg_catalog.quote_literal(a.application_name), a.state,"
						 "    pg_catalog.date_trunc('second', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) a.xact_start),"
						 "    pg_catalog.left(a.query, 60))"
						 "  FROM pg_catalog.pg_stat_activity AS a"
						 " WHERE a.pid IN (%s)"
						 " ORDER BY a.xact_start", which_pids),
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	initStringInfo(&buf);
	for (uint64 i = 0; i < SPI_processed; i++)
		appendStringInfo(&buf, "\n  %s", SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	bg_restore_user(&sw);
	return buf.len ? buf.data + 1 : pstrdup("(they have finished since)");
}

/*
 * "backend 123 (user alice, application psql, active for 00:01:02: SELECT ...)": the
 * sessions that hold locks on relids, as the caller may see them in pg_stat_activity
 * (the query as "<insufficient privilege>" where the caller may not read it): it runs
 * as the caller, never as the extension owner (it switches itself).
 */
char *
bg_lock_holders(List *relids, Oid caller)
{
	return describe_sessions("SELECT l.pid FROM pg_catalog.pg_locks AS l"
							 "  WHERE l.relation OPERATOR(pg_catalog.=) ANY ($1) AND l.granted"
							 "    AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()",
							 bg_oid_array(relids), OIDARRAYOID, caller);
}

/* The same, for the sessions of these pids (a List of int). */
char *
bg_session_names(List *pids, Oid caller)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(pids), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, pids)
		elems[n++] = Int32GetDatum(lfirst_int(lc));
	return describe_sessions("SELECT pg_catalog.unnest($1)",
							 PointerGetDatum(construct_array(elems, n, INT4OID, 4, true, TYPALIGN_INT)),
							 INT4ARRAYOID, caller);
}

/*
 * How rows of table relid pair by its replica identity key (its primary key, or the
 * index REPLICA IDENTITY USING INDEX names): "<a>.k OPERATOR(pg_catalog.=) <b>.k AND
 * ...", or NULL when it has none (FULL, NOTHING), the key is deferrable, another unique
 * or exclusion index is on the table, or a key column's type compares with an operator
 * outside pg_catalog (promote writes as a superuser: it calls no one else's code).
 */
char *
bg_replica_key_match(Oid relid, const char *a, const char *b)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;
	StringInfoData match;
	uint64		n;
	SPITupleTable *tt;

	bg_spi_exec("SELECT att.attname::pg_catalog.text, att.atttypid"
				"  FROM pg_catalog.pg_index AS i"
				"  JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) i.indrelid"
				"  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k (attnum, n)"
				"  JOIN pg_catalog.pg_attribute AS att ON att.attrelid OPERATOR(pg_catalog.=) i.indrelid"
				"   AND att.attnum OPERATOR(pg_catalog.=) k.attnum"
				" WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND k.n OPERATOR(pg_catalog.<=) i.indnkeyatts"
				"   AND i.indimmediate"
				"   AND ((c.relreplident OPERATOR(pg_catalog.=) 'd' AND i.indisprimary)"
				"        OR (c.relreplident OPERATOR(pg_catalog.=) 'i' AND i.indisreplident))"
				/* another unique or exclusion index could refuse an UPDATE midway that the
				 * delete-then-insert order never would (two rows trading a value) */
				"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_index AS o"
				"                    WHERE o.indrelid OPERATOR(pg_catalog.=) i.indrelid"
				"                      AND o.indexrelid OPERATOR(pg_catalog.<>) i.indexrelid"
				"                      AND (o.indisunique OR o.indisexclusion))"
				" ORDER BY k.n",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	n = SPI_processed;
	tt = SPI_tuptable;
	if (n == 0)
		return NULL;
	initStringInfo(&match);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		const char *col = quote_identifier(SPI_getvalue(tt->vals[i], tt->tupdesc, 1));
		Oid			typid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		TypeCacheEntry *tc = lookup_type_cache(typid, TYPECACHE_EQ_OPR);
		HeapTuple	tup;
		bool		builtin;

		if (!OidIsValid(tc->eq_opr))
			return NULL;
		tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tc->eq_opr));
		if (!HeapTupleIsValid(tup))
			return NULL;
		builtin = ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace == PG_CATALOG_NAMESPACE &&
			strcmp(NameStr(((Form_pg_operator) GETSTRUCT(tup))->oprname), "=") == 0;
		ReleaseSysCache(tup);
		if (!builtin)
			return NULL;
		appendStringInfo(&match, "%s%s.%s OPERATOR(pg_catalog.=) %s.%s", i ? " AND " : "",
						 a, col, b, col);
	}
	return match.data;
}

/*
 * Why the rows of live table relid may not be changed in place by promote (apply.c), or
 * NULL when they may: promote deletes and inserts as a superuser, so nothing on the
 * table may run code or reach beyond it — a trigger or rule, an expression acting as its
 * owner, a domain's checks, a foreign key of another table (its actions, or its refusal),
 * inheritance or partitions (a ctid names a row of one table only) — and a publication
 * must be able to send what promote writes (bg_publication_obstacle).
 */
char *
bg_in_place_obstacle(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;
	List	   *acting;

	bg_spi_exec("SELECT CASE"
				"  WHEN c.relkind OPERATOR(pg_catalog.<>) 'r' OR c.relispartition"
				"    OR EXISTS (SELECT FROM pg_catalog.pg_inherits AS i"
				"                WHERE i.inhrelid OPERATOR(pg_catalog.=) c.oid OR i.inhparent OPERATOR(pg_catalog.=) c.oid)"
				"    THEN 'it is not a plain table (inheritance or partitions)'"
				"  WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger AS t"
				"                WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid AND NOT t.tgisinternal)"
				"    THEN 'it has a trigger'"
				"  WHEN EXISTS (SELECT FROM pg_catalog.pg_rewrite AS r WHERE r.ev_class OPERATOR(pg_catalog.=) c.oid)"
				"    THEN 'it has a rule'"
				"  WHEN EXISTS (SELECT FROM pg_catalog.pg_constraint AS k"
				"                WHERE k.contype OPERATOR(pg_catalog.=) 'f' AND k.confrelid OPERATOR(pg_catalog.=) c.oid)"
				"    THEN 'a foreign key references it'"
				"  WHEN EXISTS (SELECT FROM pg_catalog.pg_attribute AS a"
				"                JOIN pg_catalog.pg_type AS y ON y.oid OPERATOR(pg_catalog.=) a.atttypid"
				"               WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0"
				"                 AND NOT a.attisdropped AND y.typtype OPERATOR(pg_catalog.=) 'd')"
				"    THEN 'a column has a domain type'"
				"  WHEN EXISTS (SELECT FROM pg_catalog.pg_publication_tables AS p"
				"                WHERE p.schemaname OPERATOR(pg_catalog.=) n.nspname AND p.tablename OPERATOR(pg_catalog.=) c.relname)"
				"       AND (c.relreplident OPERATOR(pg_catalog.=) 'n' OR (c.relreplident OPERATOR(pg_catalog.=) 'd'"
				"            AND NOT EXISTS (SELECT FROM pg_catalog.pg_index AS x"
				"                             WHERE x.indrelid OPERATOR(pg_catalog.=) c.oid AND x.indisprimary)))"
				"    THEN 'it is published without a replica identity'"
				"  END"
				" FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
				" WHERE c.oid OPERATOR(pg_catalog.=) $1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	if (SPI_processed != 1)
		return pstrdup("it is gone");
	if (SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) != NULL)
		return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	acting = bg_acting_as_owner(list_make1_oid(relid), true);
	if (acting != NIL)
		return psprintf("%s", (char *) linitial(acting));
	return bg_publication_obstacle(relid);
}
