/*
 * ownership.c
 *		bg.transfer_ownership: hand a schema and every object in it to the owner role.
 *
 * Ownership changes in place with ALTER ... OWNER TO; nothing is copied, and grants on
 * the objects survive (PostgreSQL rewrites the old owner to the new one as grantor).
 *
 * Who may do it. The caller must own each object, or have the privileges of its owner
 * (has_privs_of_role; superusers always do). The check is made here, in C, against the
 * caller's own identity, for every object before anything changes: if any object fails
 * it, the ERROR lists them all and nothing changes.
 *
 * Who runs the ALTERs. Plain ALTER ... OWNER TO bluegreen would also need the caller to
 * be a member of bluegreen (able to SET ROLE to it) and to hold CREATE on the schema;
 * deployers are deliberately not members of the owner role. So, once the caller's rights
 * are established, the ALTER statements (and nothing else) run as the extension's owner,
 * a superuser, with search_path pinned (privilege.c).
 *
 * Why a user switch in C and not a SECURITY DEFINER procedure: inside a SECURITY
 * DEFINER procedure the current user is the definer, so the ownership check would have
 * to guess the caller (session_user ignores SET ROLE); the switch lets the check see the
 * caller exactly (GetUserId() on entry) and raises privilege around the ALTERs only, not
 * around the catalog reading. And a SECURITY DEFINER procedure runs in atomic mode (it
 * cannot COMMIT, nor can anything it calls); bluegreen's procedures that must commit
 * switch user the same way, so every privileged call works alike. This procedure needs
 * no COMMIT: the check and every ALTER are one transaction, all or nothing.
 *
 * What would act as the owner role once it owns it (SECURITY DEFINER routines, rules,
 * writes granted through views) is refused: the owner role owns every
 * managed schema, so whoever made such an object could act on all of them.
 *
 * What moves, and what follows by itself:
 *	- the schema; tables, partitioned tables and each partition (ALTER TABLE does not
 *	  recurse to partitions), views, materialized views, foreign tables, sequences;
 *	- functions, procedures, aggregates; composite, enum, range, multirange and base
 *	  types, domains (a multirange type is named on its own: on PostgreSQL 15, ALTER
 *	  TYPE of a range type leaves its multirange type with the old owner);
 *	- operators, operator classes and families, collations, conversions, text search
 *	  dictionaries and configurations, statistics objects;
 *	- indexes, TOAST tables, a table's row type, array types and sequences owned by a
 *	  column (always in the table's schema) follow their parent and are not named
 *	  separately; the constructor functions of range and multirange types are part of
 *	  the type and stay with the bootstrap superuser, as PostgreSQL creates them.
 * Objects that belong to an extension are left as they are and listed in a NOTICE.
 * Objects already owned by bluegreen are skipped, so a second call is harmless.
 *
 * Refused: schemas named pg_* and information_schema, bluegreen's own schema, and a
 * schema that belongs to an extension.
 *
 * Each ALTER of a relation takes an ACCESS EXCLUSIVE lock, as ALTER ... OWNER always
 * does; a caller who must not queue behind long readers sets lock_timeout first. Objects
 * created in the schema after the listing was read are not included; a second call
 * picks them up.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "privilege.h"
#include "spi.h"
#include "util.h"

PG_FUNCTION_INFO_V1(bg_transfer_ownership);

/* At most this many objects are named in one error or notice. */
#define MAX_LISTED 50

/*
 * The kinds of object handed over, in the order their statements run: the catalog the
 * listing query reads them from, the word the query labels them with, and the ALTER
 * keyword.
 */
typedef enum XferCatalog
{
	XFER_NAMED,					/* schema-qualified name */
	XFER_ROUTINE,				/* pg_proc: name and argument types */
	XFER_OPERATOR,				/* pg_operator: name and operand types */
	XFER_ACCESS_METHOD			/* opclass/opfamily: name USING access method */
} XferCatalog;

typedef struct XferKind
{
	const char *label;
	const char *keyword;
	XferCatalog catalog;
} XferKind;

static const XferKind xfer_kinds[] = {
	{"table", "TABLE", XFER_NAMED},
	{"partitioned table", "TABLE", XFER_NAMED},
	{"foreign table", "FOREIGN TABLE", XFER_NAMED},
	{"sequence", "SEQUENCE", XFER_NAMED},
	{"view", "VIEW", XFER_NAMED},
	{"materialized view", "MATERIALIZED VIEW", XFER_NAMED},
	{"composite type", "TYPE", XFER_NAMED},
	{"enum type", "TYPE", XFER_NAMED},
	{"range type", "TYPE", XFER_NAMED},
	{"multirange type", "TYPE", XFER_NAMED},
	{"base type", "TYPE", XFER_NAMED},
	{"domain", "DOMAIN", XFER_NAMED},
	{"function", "FUNCTION", XFER_ROUTINE},
	{"procedure", "PROCEDURE", XFER_ROUTINE},
	{"aggregate", "AGGREGATE", XFER_ROUTINE},
	{"operator", "OPERATOR", XFER_OPERATOR},
	{"operator class", "OPERATOR CLASS", XFER_ACCESS_METHOD},
	{"operator family", "OPERATOR FAMILY", XFER_ACCESS_METHOD},
	{"collation", "COLLATION", XFER_NAMED},
	{"conversion", "CONVERSION", XFER_NAMED},
	{"text search dictionary", "TEXT SEARCH DICTIONARY", XFER_NAMED},
	{"text search configuration", "TEXT SEARCH CONFIGURATION", XFER_NAMED},
	{"statistics object", "STATISTICS", XFER_NAMED},
};

#define N_XFER_KINDS lengthof(xfer_kinds)

/*
 * Every object with an owner in schema $1, one row each, with the extension it belongs
 * to, if any. Left out, because they follow another object: sequences owned by a
 * column (serial: pg_depend deptype 'a', identity: 'i'), tables' row types, implicit
 * array types, and functions internal to a type (range and multirange constructors,
 * deptype 'i'). Runs with search_path pinned to pg_catalog, pg_temp (bg_switch_user),
 * so operators resolve to the catalog's own.
 */
static const char *const xfer_list_sql =
"WITH o (kind, classid, objid, objname, owner, amname) AS ("
"  SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'"
"                        WHEN 'f' THEN 'foreign table' WHEN 'S' THEN 'sequence'"
"                        WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' END,"
"         'pg_catalog.pg_class'::regclass::oid, c.oid, c.relname, c.relowner, NULL::name"
"    FROM pg_catalog.pg_class AS c"
"   WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'p', 'f', 'S', 'v', 'm')"
"     AND NOT (c.relkind = 'S' AND EXISTS ("
"           SELECT FROM pg_catalog.pg_depend AS d"
"            WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid"
"              AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjsubid > 0"
"              AND d.deptype IN ('a', 'i')))"
"  UNION ALL"
"  SELECT CASE t.typtype WHEN 'c' THEN 'composite type' WHEN 'e' THEN 'enum type'"
"                        WHEN 'r' THEN 'range type' WHEN 'm' THEN 'multirange type'"
"                        WHEN 'b' THEN 'base type' WHEN 'd' THEN 'domain' END,"
"         'pg_catalog.pg_type'::regclass::oid, t.oid, t.typname, t.typowner, NULL"
"    FROM pg_catalog.pg_type AS t"
"    LEFT JOIN pg_catalog.pg_class AS r ON r.oid = t.typrelid"
"   WHERE t.typnamespace = $1 AND t.typisdefined"
"     AND (t.typtype IN ('e', 'r', 'm', 'b', 'd') OR t.typtype = 'c' AND r.relkind = 'c')"
"     AND NOT EXISTS (SELECT FROM pg_catalog.pg_type AS e WHERE e.typarray = t.oid)"
"  UNION ALL"
"  SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'"
"                        ELSE 'function' END,"
"         'pg_catalog.pg_proc'::regclass::oid, p.oid, p.proname, p.proowner, NULL"
"    FROM pg_catalog.pg_proc AS p"
"   WHERE p.pronamespace = $1"
"     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS i"
"                      WHERE i.classid = 'pg_catalog.pg_proc'::regclass AND i.objid = p.oid"
"                        AND i.deptype = 'i')"
"  UNION ALL"
"  SELECT 'operator', 'pg_catalog.pg_operator'::regclass::oid, op.oid, op.oprname,"
"         op.oprowner, NULL"
"    FROM pg_catalog.pg_operator AS op WHERE op.oprnamespace = $1"
"  UNION ALL"
"  SELECT 'operator class', 'pg_catalog.pg_opclass'::regclass::oid, oc.oid, oc.opcname,"
"         oc.opcowner, am.amname"
"    FROM pg_catalog.pg_opclass AS oc JOIN pg_catalog.pg_am AS am ON am.oid = oc.opcmethod"
"   WHERE oc.opcnamespace = $1"
"  UNION ALL"
"  SELECT 'operator family', 'pg_catalog.pg_opfamily'::regclass::oid, f.oid, f.opfname,"
"         f.opfowner, am.amname"
"    FROM pg_catalog.pg_opfamily AS f JOIN pg_catalog.pg_am AS am ON am.oid = f.opfmethod"
"   WHERE f.opfnamespace = $1"
"  UNION ALL"
"  SELECT 'collation', 'pg_catalog.pg_collation'::regclass::oid, co.oid, co.collname,"
"         co.collowner, NULL"
"    FROM pg_catalog.pg_collation AS co WHERE co.collnamespace = $1"
"  UNION ALL"
"  SELECT 'conversion', 'pg_catalog.pg_conversion'::regclass::oid, cv.oid, cv.conname,"
"         cv.conowner, NULL"
"    FROM pg_catalog.pg_conversion AS cv WHERE cv.connamespace = $1"
"  UNION ALL"
"  SELECT 'text search dictionary', 'pg_catalog.pg_ts_dict'::regclass::oid, td.oid,"
"         td.dictname, td.dictowner, NULL"
"    FROM pg_catalog.pg_ts_dict AS td WHERE td.dictnamespace = $1"
"  UNION ALL"
"  SELECT 'text search configuration', 'pg_catalog.pg_ts_config'::regclass::oid, tc.oid,"
"         tc.cfgname, tc.cfgowner, NULL"
"    FROM pg_catalog.pg_ts_config AS tc WHERE tc.cfgnamespace = $1"
"  UNION ALL"
"  SELECT 'statistics object', 'pg_catalog.pg_statistic_ext'::regclass::oid, st.oid,"
"         st.stxname, st.stxowner, NULL"
"    FROM pg_catalog.pg_statistic_ext AS st WHERE st.stxnamespace = $1"
")"
" SELECT o.kind, o.objid, o.objname, o.owner, o.amname, x.extname"
"   FROM o"
"   LEFT JOIN pg_catalog.pg_depend AS d"
"     ON d.classid = o.classid AND d.objid = o.objid AND d.objsubid = 0 AND d.deptype = 'e'"
"   LEFT JOIN pg_catalog.pg_extension AS x ON x.oid = d.refobjid";

typedef struct XferObject
{
	int			kind;			/* index into xfer_kinds */
	char	   *name;			/* as SQL names it: qualified, quoted, signature */
	Oid			owner;
	char	   *extension;		/* belongs to this extension: left alone */
} XferObject;

static int
xfer_kind_index(const char *label)
{
	for (int k = 0; k < N_XFER_KINDS; k++)
		if (strcmp(xfer_kinds[k].label, label) == 0)
			return k;
	elog(ERROR, "unexpected object kind \"%s\"", label);
	return -1;					/* keep the compiler quiet */
}

/*
 * How SQL names the object. Called with search_path pinned to pg_catalog, pg_temp, the
 * path the ALTER statements also run under: names of the schema's own objects come out
 * qualified, catalog types in argument lists plain.
 */
static char *
xfer_object_name(const XferKind *kind, Oid objid, const char *nspname, const char *objname,
				 const char *amname)
{
	switch (kind->catalog)
	{
		case XFER_NAMED:
			return quote_qualified_identifier(nspname, objname);
		case XFER_ROUTINE:
			/* an aggregate of no arguments is written agg(*) */
			if (strcmp(kind->keyword, "AGGREGATE") == 0 && get_func_nargs(objid) == 0)
				return psprintf("%s(*)", quote_qualified_identifier(nspname, objname));
			return format_procedure(objid);
		case XFER_OPERATOR:
			return format_operator(objid);
		case XFER_ACCESS_METHOD:
			return psprintf("%s USING %s", quote_qualified_identifier(nspname, objname),
							quote_identifier(amname));
	}
	return NULL;				/* keep the compiler quiet */
}

/* Kinds sharing an ALTER keyword (tables and partitioned tables, types) sort as one. */
static int
xfer_kind_group(int kind)
{
	for (int k = 0; k < kind; k++)
		if (strcmp(xfer_kinds[k].keyword, xfer_kinds[kind].keyword) == 0)
			return k;
	return kind;
}

static int
xfer_object_cmp(const void *a, const void *b)
{
	const XferObject *x = a;
	const XferObject *y = b;
	int			gx = xfer_kind_group(x->kind);
	int			gy = xfer_kind_group(y->kind);

	if (gx != gy)
		return gx < gy ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Every object in the schema with an owner, in the order their statements run. */
static XferObject *
xfer_list_objects(Oid nspid, const char *nspname, int *n_objects)
{
	Oid			argtype = OIDOID;
	Datum		arg = ObjectIdGetDatum(nspid);
	XferObject *objects;
	int			n;

	bg_spi_exec(xfer_list_sql, SPI_OK_SELECT, 1, &argtype, &arg, NULL);
	n = (int) SPI_processed;
	objects = palloc0(sizeof(XferObject) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		XferObject *o = &objects[i];
		bool		isnull;

		o->kind = xfer_kind_index(SPI_getvalue(tup, desc, 1));
		o->name = xfer_object_name(&xfer_kinds[o->kind],
								   DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull)),
								   nspname, SPI_getvalue(tup, desc, 3),
								   SPI_getvalue(tup, desc, 5));
		o->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
		o->extension = SPI_getvalue(tup, desc, 6);
	}
	qsort(objects, n, sizeof(XferObject), xfer_object_cmp);
	*n_objects = n;
	return objects;
}

static char *
xfer_role_name(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return name ? name : psprintf("%u", roleid);
}

/* "1 object", "14 objects" */
static char *
count_objects(int n)
{
	return psprintf("%d object%s", n, n == 1 ? "" : "s");
}

/* One line of a listing, ending the list with "and N more" past MAX_LISTED. */
static void
append_listed(StringInfo buf, int *listed, int total, const char *line)
{
	if (*listed < MAX_LISTED)
		appendStringInfo(buf, "%s%s", buf->len > 0 ? "\n" : "", line);
	else if (*listed == MAX_LISTED)
		appendStringInfo(buf, "\nand %d more", total - MAX_LISTED);
	(*listed)++;
}

/*
 * ERROR unless the caller may hand over each object (and the schema, when it moves):
 * it must own it or have the privileges of its owner. Lists every object that fails.
 */
static void
xfer_check_caller(Oid caller, const char *nspname, bool schema_moves, Oid nspowner,
				  XferObject *objects, int n, bool *moves)
{
	StringInfoData detail;
	int			denied = 0;
	int			listed = 0;

	if (schema_moves && !has_privs_of_role(caller, nspowner))
		denied++;
	for (int i = 0; i < n; i++)
		if (moves[i] && !has_privs_of_role(caller, objects[i].owner))
			denied++;
	if (denied == 0)
		return;

	initStringInfo(&detail);
	if (schema_moves && !has_privs_of_role(caller, nspowner))
		append_listed(&detail, &listed, denied,
					  psprintf("schema %s (owner %s)", quote_identifier(nspname),
							   xfer_role_name(nspowner)));
	for (int i = 0; i < n; i++)
		if (moves[i] && !has_privs_of_role(caller, objects[i].owner))
			append_listed(&detail, &listed, denied,
						  psprintf("%s %s (owner %s)", xfer_kinds[objects[i].kind].label,
								   objects[i].name, xfer_role_name(objects[i].owner)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to transfer schema \"%s\" to role %s",
					nspname, BG_OWNER_ROLE),
			 errdetail("Role \"%s\" may not hand over %s; nothing was changed:\n%s",
					   xfer_role_name(caller), count_objects(denied), detail.data),
			 errhint("The caller must own each object or have the privileges of its owner. "
					 "The owner, or a superuser, can transfer the others.")));
}

/*
 * ERROR if the schema holds what would run with the owner role's privileges for whoever
 * may call or write it once the owner role owns it: SECURITY DEFINER routines, rules,
 * writes granted through views (catalog.c, bg_acting_as_owner). The owner
 * role owns every managed schema of every project; handing it such an object would let
 * the role that made it act on all of them. Nothing is changed; the error lists them.
 */
static void
xfer_check_acting(Oid nspid, const char *nspname)
{
	Datum		arg = ObjectIdGetDatum(nspid);
	Oid			type = OIDOID;
	List	   *relids = NIL;
	List	   *acting;
	StringInfoData detail;
	ListCell   *lc;

	bg_spi_exec("SELECT c.oid FROM pg_catalog.pg_class AS c"
				" WHERE c.relnamespace OPERATOR(pg_catalog.=) $1"
				"   AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,m,f}')",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		relids = lappend_oid(relids, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc, 1, &isnull)));
	}
	acting = bg_acting_as_owner(relids, false);
	bg_spi_exec("SELECT pg_catalog.format('SECURITY DEFINER %s %s',"
				"    CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, p.oid::pg_catalog.regprocedure)"
				"  FROM pg_catalog.pg_proc AS p"
				" WHERE p.pronamespace OPERATOR(pg_catalog.=) $1 AND p.prosecdef ORDER BY 1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
		acting = lappend(acting, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	if (acting == NIL)
		return;
	initStringInfo(&detail);
	foreach(lc, acting)
		appendStringInfo(&detail, "%s%s", detail.len ? "\n" : "", (char *) lfirst(lc));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot transfer schema \"%s\": %s would act as the owner role %s",
					nspname, count_objects(list_length(acting)), BG_OWNER_ROLE),
			 errdetail("Once the owner role owns them, whoever may call or write them would act as it, on every managed schema; nothing was changed:\n%s",
					   detail.data),
			 errhint("Drop them, or make them SECURITY INVOKER, then transfer the schema.")));
}

/* NOTICE naming the objects that belong to an extension: they stay as they are. */
static void
xfer_report_left_alone(const char *nspname, XferObject *objects, int n)
{
	StringInfoData detail;
	int			total = 0;
	int			listed = 0;

	for (int i = 0; i < n; i++)
		if (objects[i].extension != NULL)
			total++;
	if (total == 0)
		return;

	initStringInfo(&detail);
	for (int i = 0; i < n; i++)
		if (objects[i].extension != NULL)
			append_listed(&detail, &listed, total,
						  psprintf("%s %s (extension %s)", xfer_kinds[objects[i].kind].label,
								   objects[i].name, quote_identifier(objects[i].extension)));
	ereport(NOTICE,
			(errmsg("%s in schema \"%s\" %s to an extension and %s left as %s",
					count_objects(total), nspname, total == 1 ? "belongs" : "belong",
					total == 1 ? "is" : "are", total == 1 ? "it is" : "they are"),
			 errdetail("%s", detail.data)));
}

/*
 * The closing line: what moved (or would), and what already belonged to the owner role.
 * Objects that belong to an extension are not counted here.
 */
static void
xfer_report_summary(const char *nspname, bool dry_run, bool schema_moves, int n_moved,
					int n_already)
{
	StringInfoData msg;

	initStringInfo(&msg);
	if (!schema_moves && n_moved == 0)
	{
		if (n_already == 0)
			appendStringInfo(&msg, "schema \"%s\" already belongs to role %s and holds no other objects",
							 nspname, BG_OWNER_ROLE);
		else
			appendStringInfo(&msg, "schema \"%s\" and its %s already belong to role %s",
							 nspname, count_objects(n_already), BG_OWNER_ROLE);
		appendStringInfoString(&msg, "; nothing to do");
		ereport(NOTICE, (errmsg("%s", msg.data)));
		return;
	}

	appendStringInfoString(&msg, dry_run ? "dry run: would transfer " : "transferred ");
	if (schema_moves && n_moved > 0)
		appendStringInfo(&msg, "schema \"%s\" and %s", nspname, count_objects(n_moved));
	else if (schema_moves)
		appendStringInfo(&msg, "schema \"%s\"", nspname);
	else
		appendStringInfo(&msg, "%s of schema \"%s\"", count_objects(n_moved), nspname);
	appendStringInfo(&msg, " to role %s", BG_OWNER_ROLE);
	if (!schema_moves && n_already > 0)
		appendStringInfo(&msg, " (the schema and %s already belonged to it)",
						 count_objects(n_already));
	else if (!schema_moves)
		appendStringInfoString(&msg, " (the schema already belonged to it)");
	else if (n_already > 0)
		appendStringInfo(&msg, " (%s already belonged to it)", count_objects(n_already));
	else if (n_moved == 0)
		appendStringInfoString(&msg, " (it holds no other objects)");
	if (dry_run)
		appendStringInfoString(&msg, "; nothing was changed");
	ereport(NOTICE, (errmsg("%s", msg.data)));
}

/* The schema bluegreen is installed in: always bg (bluegreen.control: not relocatable). */
static Oid
bluegreen_schema(void)
{
	return get_namespace_oid("bg", false);
}

/* ERROR unless the schema is one whose objects may be handed to the owner role. */
static Oid
xfer_lookup_schema(const char *nspname, Oid *nspowner)
{
	Oid			nspid;
	Oid			extoid;
	HeapTuple	tup;

	if (strncmp(nspname, "pg_", 3) == 0 || strcmp(nspname, "information_schema") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot transfer system schema \"%s\"", nspname),
				 errdetail("Schemas named pg_* and information_schema belong to the system.")));

	if (bg_is_side_schema_name(nspname))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot transfer schema \"%s\": its name is one bluegreen gives the schemas it keeps beside production", nspname),
				 errdetail("Shadow, previous and rollback schemas (<schema>__bg_shadow, __bg_p<n>, __bg_r<n>) are bluegreen's own making; a schema handed over under such a name would be taken for one."),
				 errhint("Rename the schema first.")));

	nspid = get_namespace_oid(nspname, true);
	if (!OidIsValid(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"%s\" does not exist", nspname),
				 nspname[0] == '"' ?
				 errhint("Give the schema's name as it is stored, without quotes: 'Mixed Case', not '\"Mixed Case\"'.") : 0));

	if (nspid == bluegreen_schema())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot transfer schema \"%s\": it is bluegreen's own schema", nspname),
				 errdetail("Its tables hold bluegreen's state and history; they stay with the extension's owner.")));

	extoid = getExtensionOfObject(NamespaceRelationId, nspid);
	if (OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot transfer schema \"%s\": it belongs to extension %s",
						nspname, quote_identifier(get_extension_name(extoid)))));

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema %u", nspid);
	*nspowner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return nspid;
}

Datum
bg_transfer_ownership(PG_FUNCTION_ARGS)
{
	char	   *nspname;
	bool		dry_run;
	Oid			caller = GetUserId();
	Oid			owner_role;
	Oid			nspid;
	Oid			nspowner;
	bool		schema_moves;
	XferObject *objects;
	bool	   *moves;
	int			n;
	int			n_moved = 0;
	int			n_already = 0;
	char	  **statements;
	int			n_statements = 0;
	BgUserSwitch sw;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schema_name must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dry_run must not be null")));
	nspname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	dry_run = PG_GETARG_BOOL(1);

	owner_role = get_role_oid(BG_OWNER_ROLE, true);
	if (!OidIsValid(owner_role))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist", BG_OWNER_ROLE),
				 errhint("CREATE EXTENSION bluegreen creates it; recreate it with CREATE ROLE %s NOLOGIN.",
						 BG_OWNER_ROLE)));

	nspid = xfer_lookup_schema(nspname, &nspowner);
	schema_moves = nspowner != owner_role;

	SPI_connect();

	/* list and name the objects as the caller, with search_path pinned */
	bg_switch_user(&sw, caller);
	objects = xfer_list_objects(nspid, nspname, &n);
	moves = palloc0(sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (objects[i].extension != NULL)
			continue;
		if (objects[i].owner == owner_role)
			n_already++;
		else
		{
			moves[i] = true;
			n_moved++;
		}
	}
	xfer_check_caller(caller, nspname, schema_moves, nspowner, objects, n, moves);
	xfer_check_acting(nspid, nspname);

	statements = palloc(sizeof(char *) * (2 * n + 2));
	if (schema_moves)
		statements[n_statements++] = psprintf("ALTER SCHEMA %s OWNER TO %s",
											  quote_identifier(nspname),
											  quote_identifier(BG_OWNER_ROLE));
	for (int i = 0; i < n; i++)
		if (moves[i])
			statements[n_statements++] = psprintf("ALTER %s %s OWNER TO %s",
												  xfer_kinds[objects[i].kind].keyword,
												  objects[i].name,
												  quote_identifier(BG_OWNER_ROLE));
	/* the builder reads what is live, as every deployment needs, and writes none of it */
	statements[n_statements++] = psprintf("GRANT USAGE ON SCHEMA %s TO %s",
										  quote_identifier(nspname),
										  quote_identifier(BG_BUILDER_ROLE));
	for (int i = 0; i < n; i++)
		if (objects[i].extension == NULL && xfer_kinds[objects[i].kind].catalog == XFER_NAMED &&
			(strcmp(xfer_kinds[objects[i].kind].keyword, "TABLE") == 0 ||
			 strcmp(xfer_kinds[objects[i].kind].keyword, "VIEW") == 0 ||
			 strcmp(xfer_kinds[objects[i].kind].keyword, "MATERIALIZED VIEW") == 0 ||
			 strcmp(xfer_kinds[objects[i].kind].keyword, "FOREIGN TABLE") == 0))
			statements[n_statements++] = psprintf("GRANT SELECT ON %s TO %s", objects[i].name,
												  quote_identifier(BG_BUILDER_ROLE));
	bg_restore_user(&sw);

	if (dry_run)
	{
		for (int i = 0; i < n_statements; i++)
			ereport(NOTICE, (errmsg("%s;", statements[i])));
	}
	else
	{
		bg_become_extension_owner(&sw);
		for (int i = 0; i < n_statements; i++)
		{
			ereport(NOTICE, (errmsg("%s;", statements[i])));
			bg_spi_exec(statements[i], SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		}
		bg_restore_user(&sw);
	}

	/* the listing lives in SPI's memory: report before leaving it */
	xfer_report_left_alone(nspname, objects, n);
	xfer_report_summary(nspname, dry_run, schema_moves, n_moved, n_already);
	SPI_finish();
	PG_RETURN_VOID();
}
