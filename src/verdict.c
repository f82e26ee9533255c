/*
 * verdict.c
 *		Whether a deployment's change to a live relation can break something. The one
 *		definition of each compatibility rule: bg.plan (before anything is built), the
 *		deploy report (against the shadow build) and promote (against live as it is
 *		then) ask the same functions, so they never disagree; the switch asks the same
 *		questions of what reads a relation before pointing it at the replacement.
 *
 * A change is breaking when it can break something:
 *	- a column dropped, or retyped to a type that does not hold every value it held;
 *	- a known reader outside the project that could not follow the relation to its
 *	  replacement: a view that reads a column the replacement drops or retypes (CREATE OR
 *	  REPLACE VIEW would refuse it), a materialized view or a rule (promote cannot point
 *	  either at another relation), a foreign key the replacement cannot back, a
 *	  publication that would send its subscribers nothing of the new rows;
 *	- a table with row-level security replaced by a relation its policies cannot carry
 *	  to (a view, a materialized view), whose readers would see every row;
 *	- a relation removed (or moved away: a move is the removal of the old relation plus
 *	  the addition of the new) that something outside reads.
 * Everything else is compatible, and reported with what changes: a column added, a type
 * widened (bg_type_widens), a view becoming a table or the other way round, a relation
 * removed that nothing reads. bluegreen.strict_compatibility makes every column-level
 * change breaking: a column added, widened or moved too.
 *
 * "Outside" is everything but the relations the same switch replaces or removes. The
 * catalogs are read with the caller's pinned search_path; every operator is qualified.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "bluegreen.h"
#include "catalog.h"
#include "publication.h"
#include "spi.h"
#include "util.h"
#include "verdict.h"

/* ------------------------------------------------------------------------
 * Types: which change holds every value
 * ------------------------------------------------------------------------
 */

/* numeric's typmod, as numeric.c packs it (the scale may be negative, or above the precision) */
#define NUMERIC_TYPMOD_PRECISION(m) ((((m) - VARHDRSZ) >> 16) & 0xffff)
#define NUMERIC_TYPMOD_SCALE(m) (((((m) - VARHDRSZ) & 0x7ff) ^ 1024) - 1024)

/*
 * Whether numeric of typmod "to" holds every value with at most int_digits digits before
 * the point and scale after it: no typmod holds anything.
 */
static bool
numeric_holds(int32 to, int int_digits, int scale)
{
	int			s;

	if (to < (int32) VARHDRSZ)
		return true;
	s = NUMERIC_TYPMOD_SCALE(to);
	return s >= scale && NUMERIC_TYPMOD_PRECISION(to) - s >= int_digits;
}

/* fractional second digits of a time or timestamp typmod (none given: 6, the most) */
static int
seconds_precision(int32 typmod)
{
	return typmod < 0 ? 6 : typmod;
}

/*
 * Whether type "to" (with its typmod) holds every value of type "from", unchanged: a
 * widening. smallint to integer to bigint to numeric (a numeric with a typmod when its
 * digits suffice), numeric(p,s) to a numeric that holds every such value, real to
 * double precision, varchar(n) to a longer varchar, to varchar and to text, and more
 * fractional seconds for time and timestamp types. Any other change of type is not.
 */
bool
bg_type_widens(Oid from, int32 from_mod, Oid to, int32 to_mod)
{
	if (from == to && from_mod == to_mod)
		return true;
	switch (from)
	{
		case INT2OID:
			return to == INT4OID || to == INT8OID ||
				(to == NUMERICOID && numeric_holds(to_mod, 5, 0));
		case INT4OID:
			return to == INT8OID || (to == NUMERICOID && numeric_holds(to_mod, 10, 0));
		case INT8OID:
			return to == NUMERICOID && numeric_holds(to_mod, 19, 0);
		case NUMERICOID:
			if (to != NUMERICOID)
				return false;
			if (from_mod < (int32) VARHDRSZ)
				return to_mod < (int32) VARHDRSZ;
			return numeric_holds(to_mod,
								 NUMERIC_TYPMOD_PRECISION(from_mod) - NUMERIC_TYPMOD_SCALE(from_mod),
								 NUMERIC_TYPMOD_SCALE(from_mod));
		case FLOAT4OID:
			return to == FLOAT8OID;
		case VARCHAROID:
			if (to == TEXTOID)
				return true;
			return to == VARCHAROID && (to_mod < 0 || (from_mod >= 0 && to_mod >= from_mod));
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case TIMEOID:
		case TIMETZOID:
			return to == from && seconds_precision(to_mod) >= seconds_precision(from_mod);
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Columns
 * ------------------------------------------------------------------------
 */
typedef struct ColumnChanges
{
	List	   *added;			/* BgColumn * of the replacement */
	List	   *dropped;		/* BgColumn * of live */
	List	   *retyped;		/* BgColumn * of live: to a type that does not hold it */
	List	   *widened;		/* BgColumn * of live: to a type that holds every value */
	bool		reordered;		/* the columns both have come in another order */
} ColumnChanges;

static void
compare_columns(List *live, List *now, ColumnChanges *ch)
{
	List	   *live_order = NIL;
	List	   *now_order = NIL;
	ListCell   *lc;
	ListCell   *lc2;

	memset(ch, 0, sizeof(*ch));
	foreach(lc, now)
	{
		BgColumn   *c = lfirst(lc);

		if (bg_column_named(live, c->name) == NULL)
			ch->added = lappend(ch->added, c);
		else
			now_order = lappend(now_order, c->name);
	}
	foreach(lc, live)
	{
		BgColumn   *l = lfirst(lc);
		BgColumn   *c = bg_column_named(now, l->name);

		if (c == NULL)
		{
			ch->dropped = lappend(ch->dropped, l);
			continue;
		}
		live_order = lappend(live_order, l->name);
		if (c->type == l->type && c->typmod == l->typmod)
			continue;
		if (bg_type_widens(l->type, l->typmod, c->type, c->typmod))
			ch->widened = lappend(ch->widened, l);
		else
			ch->retyped = lappend(ch->retyped, l);
	}
	forboth(lc, live_order, lc2, now_order)
		if (strcmp(lfirst(lc), lfirst(lc2)) != 0)
			ch->reordered = true;
}

/* "a", "b" */
static void
append_names(StringInfo buf, List *columns)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		if (lc != list_head(columns))
			appendStringInfoString(buf, ", ");
		escape_json(buf, ((BgColumn *) lfirst(lc))->name);
	}
}

/* "a" (integer to bigint), ... */
static void
append_type_changes(StringInfo buf, List *columns, List *now)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		BgColumn   *l = lfirst(lc);

		if (lc != list_head(columns))
			appendStringInfoString(buf, ", ");
		escape_json(buf, l->name);
		appendStringInfo(buf, " (%s to %s)", l->type_name, bg_column_named(now, l->name)->type_name);
	}
}

/* The JSON arrays of a comparison: "added", "dropped", "retyped", "widened". */
static void
columns_json(StringInfo buf, ColumnChanges *ch, List *now)
{
	List	   *changes[2] = {ch->retyped, ch->widened};
	static const char *const keys[2] = {"retyped", "widened"};
	ListCell   *lc;

	appendStringInfoString(buf, "\"added\":[");
	foreach(lc, ch->added)
	{
		if (lc != list_head(ch->added))
			appendStringInfoChar(buf, ',');
		escape_json(buf, ((BgColumn *) lfirst(lc))->name);
	}
	appendStringInfoString(buf, "],\"dropped\":[");
	foreach(lc, ch->dropped)
	{
		if (lc != list_head(ch->dropped))
			appendStringInfoChar(buf, ',');
		escape_json(buf, ((BgColumn *) lfirst(lc))->name);
	}
	appendStringInfoChar(buf, ']');
	for (int k = 0; k < 2; k++)
	{
		appendStringInfo(buf, ",\"%s\":[", keys[k]);
		foreach(lc, changes[k])
		{
			BgColumn   *l = lfirst(lc);

			if (lc != list_head(changes[k]))
				appendStringInfoChar(buf, ',');
			appendStringInfoString(buf, "{\"column\":");
			escape_json(buf, l->name);
			appendStringInfoString(buf, ",\"from\":");
			escape_json(buf, l->type_name);
			appendStringInfoString(buf, ",\"to\":");
			escape_json(buf, bg_column_named(now, l->name)->type_name);
			appendStringInfoChar(buf, '}');
		}
		appendStringInfoChar(buf, ']');
	}
	if (ch->reordered)
		appendStringInfoString(buf, ",\"reordered\":true");
}

/* "; " between the parts of a summary line */
static void
next_part(StringInfo line)
{
	if (line->len)
		appendStringInfoString(line, "; ");
}

/*
 * The column-level rules, in words, appended to line; sets *breaking for a column
 * dropped or retyped, and under bluegreen.strict_compatibility for any change.
 */
static void
describe_columns(ColumnChanges *ch, List *now, StringInfo line, bool *breaking)
{
	const char *strict = ", breaking under bluegreen.strict_compatibility";

	if (ch->dropped)
	{
		next_part(line);
		appendStringInfoString(line, "columns dropped: ");
		append_names(line, ch->dropped);
		*breaking = true;
	}
	if (ch->retyped)
	{
		next_part(line);
		appendStringInfoString(line, "columns retyped: ");
		append_type_changes(line, ch->retyped, now);
		*breaking = true;
	}
	if (ch->widened)
	{
		next_part(line);
		appendStringInfoString(line, "columns widened: ");
		append_type_changes(line, ch->widened, now);
		if (bg_strict_compatibility)
			appendStringInfoString(line, strict);
	}
	if (ch->added)
	{
		next_part(line);
		appendStringInfoString(line, "columns added: ");
		append_names(line, ch->added);
		if (bg_strict_compatibility)
			appendStringInfoString(line, strict);
	}
	if (ch->reordered)
	{
		next_part(line);
		appendStringInfoString(line, "columns reordered");
		if (bg_strict_compatibility)
			appendStringInfoString(line, strict);
	}
	if (bg_strict_compatibility && (ch->widened || ch->added || ch->reordered))
		*breaking = true;
}

/*
 * The column-level rules alone, for columns "now" that a relation is to have in place of
 * live's (bg.plan, from an enforced contract): appended to line in words; sets *breaking.
 * With typmods_known false (a view's contract: the view's code gives the typmods and the
 * order), a column whose type changes counts only where no typmod could make it a
 * widening, and neither a change of typmod alone nor the order counts.
 */
void
bg_verdict_columns(List *live, List *now, bool typmods_known, StringInfo line, bool *breaking)
{
	ColumnChanges ch;

	compare_columns(live, now, &ch);
	if (!typmods_known)
	{
		List	   *retyped = NIL;
		List	   *widened = NIL;
		ListCell   *lc;

		foreach(lc, list_concat_copy(ch.retyped, ch.widened))
		{
			BgColumn   *l = lfirst(lc);
			BgColumn   *c = bg_column_named(now, l->name);

			if (c->type == l->type)
				continue;
			if (bg_type_widens(l->type, l->typmod, c->type, -1))
				widened = lappend(widened, l);
			else
				retyped = lappend(retyped, l);
		}
		ch.retyped = retyped;
		ch.widened = widened;
		ch.reordered = false;
	}
	describe_columns(&ch, now, line, breaking);
}

/* ------------------------------------------------------------------------
 * What reads a relation from outside: can it follow it to its replacement?
 * ------------------------------------------------------------------------
 */

/*
 * The columns of "out" that view "view" reads and "in" lacks or has with another type
 * or typmod, in words, or NULL: CREATE OR REPLACE VIEW would refuse the view on the new
 * relation when a column it reads changes at all (a widened column changes the type of
 * what the view returns).
 */
static char *
columns_lost(Oid view, Oid out, Oid in)
{
	Datum		args[3] = {ObjectIdGetDatum(view), ObjectIdGetDatum(out), ObjectIdGetDatum(in)};
	Oid			types[3] = {OIDOID, OIDOID, OIDOID};
	char	   *rel = bg_relation_name(out);
	StringInfoData why;

	bg_spi_exec("SELECT DISTINCT a.attname::pg_catalog.text,"
				"       pg_catalog.format_type(a.atttypid, a.atttypmod),"
				"       pg_catalog.format_type(b.atttypid, b.atttypmod)"
				"  FROM pg_catalog.pg_rewrite AS r"
				"  JOIN pg_catalog.pg_depend AS d ON d.objid OPERATOR(pg_catalog.=) r.oid"
				"       AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
				"  JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) d.refobjid"
				"       AND a.attnum OPERATOR(pg_catalog.=) d.refobjsubid"
				"  LEFT JOIN pg_catalog.pg_attribute AS b ON b.attrelid OPERATOR(pg_catalog.=) $3"
				"       AND b.attname OPERATOR(pg_catalog.=) a.attname AND NOT b.attisdropped"
				" WHERE r.ev_class OPERATOR(pg_catalog.=) $1"
				"   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
				"   AND d.refobjid OPERATOR(pg_catalog.=) $2 AND d.refobjsubid OPERATOR(pg_catalog.>) 0"
				"   AND (b.attname IS NULL OR b.atttypid OPERATOR(pg_catalog.<>) a.atttypid"
				"        OR b.atttypmod OPERATOR(pg_catalog.<>) a.atttypmod)"
				" ORDER BY 1",
				SPI_OK_SELECT, 3, types, args, NULL);
	if (SPI_processed == 0)
		return NULL;
	initStringInfo(&why);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *column = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *was = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *now = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

		next_part(&why);
		if (now == NULL)
			appendStringInfo(&why, "reads column %s of %s, which its replacement does not have",
							 quote_identifier(column), rel);
		else
			appendStringInfo(&why, "reads column %s of %s, which its replacement has as %s, not %s",
							 quote_identifier(column), rel, now, was);
	}
	return why.data;
}

/*
 * Why reader "reader" (a view, a materialized view, or a relation with a rule, of kind
 * "kind") that reads live relation "out" cannot read "in" instead (InvalidOid: out is
 * removed), or NULL when promote can point it there (CREATE OR REPLACE VIEW with its
 * definition as it reads now). A materialized view or a rule cannot be pointed anywhere
 * without being dropped, and bluegreen drops nothing it does not manage.
 */
char *
bg_reader_cannot_follow(Oid reader, char kind, Oid out, Oid in)
{
	char	   *rel = bg_relation_name(out);

	if (kind != RELKIND_VIEW && kind != RELKIND_MATVIEW)
		return psprintf("reads %s through a rule, which promote cannot write again for another relation", rel);
	if (kind == RELKIND_MATVIEW)
		return psprintf("reads %s, and a materialized view cannot be pointed at another relation without being dropped and filled again", rel);
	if (!OidIsValid(in))
		return psprintf("reads %s, which is removed", rel);
	return columns_lost(reader, out, in);
}

/*
 * Why foreign key conoid, which references live table "out", cannot reference "in"
 * instead (InvalidOid: out is removed), or NULL when promote can drop it and add it
 * again there. code is a function of a role other than a superuser that its checks run
 * (bg_dependent_foreign_keys), or NULL: they run as the owner role.
 */
char *
bg_foreign_key_cannot_follow(Oid conoid, const char *code, Oid out, Oid in)
{
	char	   *rel = bg_relation_name(out);
	Datum		arg = ObjectIdGetDatum(conoid);
	Oid			type = OIDOID;
	char		kind;

	if (!OidIsValid(in))
		return psprintf("references %s, which is removed", rel);
	if (code)
		return psprintf("references %s, and its checks would run %s, as the owner role", rel, code);
	kind = get_rel_relkind(in);
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		return psprintf("references %s, whose replacement is a %s", rel, bg_relkind_name(kind));
	if (bg_foreign_key_backed(conoid, in))
		return NULL;
	bg_spi_exec("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname::pg_catalog.text), ', ' ORDER BY k.n)"
				"  FROM pg_catalog.pg_constraint AS c"
				"  CROSS JOIN LATERAL pg_catalog.unnest(c.confkey) WITH ORDINALITY AS k (attnum, n)"
				"  JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) c.confrelid"
				"       AND a.attnum OPERATOR(pg_catalog.=) k.attnum"
				" WHERE c.oid OPERATOR(pg_catalog.=) $1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	return psprintf("references %s (%s), which no unique index of its replacement backs (exactly those columns, of the same types; not partial, not deferrable)",
					rel, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/* ------------------------------------------------------------------------
 * The dependents of a relation, judged
 * ------------------------------------------------------------------------
 */

/* The start of one dependent's JSON object, and its verdict; why NULL: it can follow. */
static void
dependent_json(StringInfo buf, bool *first, const char *object, const char *kind,
			   const char *why)
{
	appendStringInfo(buf, "%s{\"object\":", *first ? "" : ",");
	escape_json(buf, object);
	appendStringInfo(buf, ",\"kind\":\"%s\",\"breaks\":%s", kind, why ? "true" : "false");
	if (why)
	{
		appendStringInfoString(buf, ",\"why\":");
		escape_json(buf, why);
	}
	appendStringInfoChar(buf, '}');
	*first = false;
}

/*
 * The readers of live relation "live" outside managed, each judged against its
 * replacement "shadow" (InvalidOid, shadow_kind 0: live is removed): a JSON array to buf.
 * Those that break set *breaking and are described in broken. changed: the columns of
 * live that the replacement drops or changes (for what a publication would send).
 */
static void
report_dependents(StringInfo buf, Oid live, List *live_attrs, List *changed,
				  List *shadow_attrs, char shadow_kind, Oid shadow, List *managed,
				  bool *breaking, StringInfo broken)
{
	bool		first = true;
	uint64		n;
	SPITupleTable *tt;

	appendStringInfoChar(buf, '[');

	/* views, materialized views and rules */
	tt = bg_dependent_views(live, &n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			dep = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		char		kind = DatumGetChar(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		char	   *name;
		char	   *why;

		if (list_member_oid(managed, dep))
			continue;
		name = bg_relation_name(dep);
		why = bg_reader_cannot_follow(dep, kind, live, shadow);
		dependent_json(buf, &first, name, bg_relkind_name(kind), why);
		if (why)
		{
			*breaking = true;
			next_part(broken);
			appendStringInfo(broken, "%s %s %s", bg_relkind_name(kind), name, why);
		}
	}

	/* foreign keys of other tables that reference it */
	tt = bg_dependent_foreign_keys(live, &n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			dep = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		char	   *conname = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		Oid			conoid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
		char	   *code = SPI_getvalue(tt->vals[i], tt->tupdesc, 6);
		char	   *name;
		char	   *why;

		if (list_member_oid(managed, dep))
			continue;
		name = psprintf("%s on %s", quote_identifier(conname), bg_relation_name(dep));
		why = bg_foreign_key_cannot_follow(conoid, code, live, shadow);
		dependent_json(buf, &first, name, "foreign key", why);
		if (why)
		{
			*breaking = true;
			next_part(broken);
			appendStringInfo(broken, "foreign key %s %s", name, why);
		}
	}

	/*
	 * Publications that send its changes. A published table whose rows promote cannot
	 * apply in place (published.c) is replaced by another table, of which its
	 * subscribers receive nothing: they would keep the old rows.
	 */
	tt = bg_covering_publications(live, &n);
	if (n > 0)
	{
		char	   *obstacle = bg_in_place_obstacle(live);
		StringInfoData why;
		ListCell   *lc;

		initStringInfo(&why);
		if (shadow_kind == 0)
			appendStringInfoString(&why, "the table is removed");
		else if (shadow_kind != RELKIND_RELATION)
			appendStringInfoString(&why, "a publication holds only tables");
		else if (!bg_same_columns(live_attrs, shadow_attrs))
		{
			appendStringInfoString(&why, "its columns change (");
			foreach(lc, shadow_attrs)
			{
				BgColumn   *c = lfirst(lc);
				BgColumn   *l = bg_column_named(live_attrs, c->name);

				if (l == NULL)
					appendStringInfo(&why, "%s %s added", quote_identifier(c->name), c->type_name);
				else if (list_member_ptr(changed, l))
					appendStringInfo(&why, "%s is %s now", quote_identifier(c->name), c->type_name);
				else
					continue;
				appendStringInfoString(&why, ", ");
			}
			foreach(lc, live_attrs)
				if (bg_column_named(shadow_attrs, ((BgColumn *) lfirst(lc))->name) == NULL)
					appendStringInfo(&why, "%s dropped, ", quote_identifier(((BgColumn *) lfirst(lc))->name));
			if (why.data[why.len - 1] == ' ')
				why.len -= 2;
			else
				appendStringInfoString(&why, "their order");
			why.data[why.len] = '\0';
			appendStringInfoString(&why, "), and promote sends a published table's new rows as changes only while its columns stay as they are; first give each subscriber's copy the new columns and types");
		}
		else if (obstacle)
			appendStringInfo(&why, "its rows cannot be written in place: %s", obstacle);
		else
			appendStringInfoString(&why, "the model's hooks, grants or docs, or a column default, keep its rows from being written in place");
		appendStringInfoString(&why, "; replaced, the table sends its subscribers nothing, and they keep the old rows until each copies it again");
		for (uint64 i = 0; i < n; i++)
		{
			char	   *pub = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
			char	   *how = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);

			appendStringInfo(buf, "%s{\"object\":", first ? "" : ",");
			escape_json(buf, pub);
			appendStringInfo(buf, ",\"kind\":\"publication\",\"publishes\":");
			escape_json(buf, how);
			appendStringInfoString(buf, ",\"breaks\":true,\"why\":");
			escape_json(buf, why.data);
			appendStringInfoChar(buf, '}');
			*breaking = true;
			next_part(broken);
			appendStringInfo(broken, "publication %s (%s): %s", quote_identifier(pub), how, why.data);
			first = false;
		}
	}
	appendStringInfoChar(buf, ']');
}

/* Whether relid is a table whose rows row-level security filters. */
static bool
has_row_security(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		rls;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	rls = ((Form_pg_class) GETSTRUCT(tup))->relrowsecurity;
	ReleaseSysCache(tup);
	return rls;
}

/* ------------------------------------------------------------------------
 * The verdicts
 * ------------------------------------------------------------------------
 */

/* ,"breaking":...,"summary":"..."} */
static void
close_report(StringInfo buf, bool breaking, StringInfo line)
{
	appendStringInfo(buf, ",\"breaking\":%s", breaking ? "true" : "false");
	if (line->len)
	{
		appendStringInfoString(buf, ",\"summary\":");
		escape_json(buf, line->data);
	}
	appendStringInfoChar(buf, '}');
}

/* Live relation "live" replaced by "shadow" (its shadow build). */
char *
bg_verdict_replace(Oid live, Oid shadow, List *managed, bool *breaking, char **summary)
{
	List	   *live_attrs = bg_relation_columns(live);
	List	   *shadow_attrs = bg_relation_columns(shadow);
	const char *live_kind = bg_relkind_name(get_rel_relkind(live));
	char		shadow_kind = get_rel_relkind(shadow);
	ColumnChanges ch;
	StringInfoData buf;
	StringInfoData line;
	StringInfoData broken;

	*breaking = false;
	initStringInfo(&buf);
	initStringInfo(&line);
	initStringInfo(&broken);
	compare_columns(live_attrs, shadow_attrs, &ch);
	appendStringInfoChar(&buf, '{');
	columns_json(&buf, &ch, shadow_attrs);

	/* a change of kind breaks only what depends on the kind (below) */
	if (strcmp(live_kind, bg_relkind_name(shadow_kind)) != 0)
	{
		appendStringInfo(&buf, ",\"kind\":{\"from\":\"%s\",\"to\":\"%s\"}",
						 live_kind, bg_relkind_name(shadow_kind));
		appendStringInfo(&line, "%s becomes a %s", live_kind, bg_relkind_name(shadow_kind));
	}
	/* row security and its policies do not carry to every kind (catalog.c) */
	if (!bg_kind_carries_row_security(shadow_kind) && has_row_security(live))
	{
		next_part(&line);
		appendStringInfo(&line, "its row-level security cannot carry to the new %s: its readers would see every row",
						 bg_relkind_name(shadow_kind));
		*breaking = true;
	}
	describe_columns(&ch, shadow_attrs, &line, breaking);

	appendStringInfoString(&buf, ",\"dependents\":");
	report_dependents(&buf, live, live_attrs,
					  list_concat(list_concat_copy(ch.dropped, ch.retyped), ch.widened),
					  shadow_attrs, shadow_kind, shadow, managed, breaking, &broken);
	if (broken.len)
	{
		next_part(&line);
		appendStringInfo(&line, "breaks what reads it: %s", broken.data);
	}
	close_report(&buf, *breaking, &line);
	*summary = line.len ? line.data : NULL;
	return buf.data;
}

/* A live table whose rows alone an increment changes in place (apply.c): nothing breaks. */
char *
bg_verdict_in_place(void)
{
	return pstrdup("{\"added\":[],\"dropped\":[],\"retyped\":[],\"widened\":[],\"in_place\":true,\"dependents\":[],\"breaking\":false}");
}

/*
 * Live relation "live" removed at promote, for reason (NULL: not said); moved_to names
 * the relation it moves to, when the model moves (the new one is an addition, and
 * breaks nothing). Breaking when something outside reads it.
 */
char *
bg_verdict_remove(Oid live, const char *reason, const char *moved_to, List *managed,
				  bool *breaking, char **summary)
{
	StringInfoData buf;
	StringInfoData line;
	StringInfoData broken;

	*breaking = false;
	initStringInfo(&buf);
	initStringInfo(&line);
	initStringInfo(&broken);
	appendStringInfoString(&buf, "{\"removed\":true");
	if (moved_to)
	{
		appendStringInfoString(&buf, ",\"moved_to\":");
		escape_json(&buf, moved_to);
		appendStringInfo(&line, "moves to %s", moved_to);
	}
	else if (reason)
		appendStringInfo(&line, "dropped (%s)", reason);
	else
		appendStringInfoString(&line, "dropped");
	appendStringInfoString(&buf, ",\"dependents\":");
	report_dependents(&buf, live, bg_relation_columns(live), NIL, NIL, 0, InvalidOid, managed,
					  breaking, &broken);
	if (broken.len)
		appendStringInfo(&line, "; breaks what reads it: %s", broken.data);
	else
		appendStringInfoString(&line, "; nothing outside the project reads it");
	close_report(&buf, *breaking, &line);
	*summary = line.data;
	return buf.data;
}

/*
 * Of the live relations in out, those whose comparison with their replacement (the
 * relation at the same place in "in") could find something breaking: the kind changes,
 * a column goes or changes type, under bluegreen.strict_compatibility any column changes,
 * or something outside managed reads it. One query for all, so that a switch of
 * thousands of relations compares only those; the others are compatible as they are.
 */
List *
bg_verdict_candidates(List *out, List *in, List *managed)
{
	Datum		args[3] = {bg_oid_array(out), bg_oid_array(in), BoolGetDatum(bg_strict_compatibility)};
	Oid			types[3] = {OIDARRAYOID, OIDARRAYOID, BOOLOID};
	List	   *result;

	if (out == NIL)
		return NIL;
	result = bg_relations_with_dependents(out, managed);
	bg_spi_exec("SELECT p.o FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS p (o, i)"
				" WHERE (SELECT relkind FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) p.o)"
				"       IS DISTINCT FROM (SELECT relkind FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) p.i)"
				"    OR EXISTS (SELECT FROM pg_catalog.pg_attribute AS a"
				"        WHERE a.attrelid OPERATOR(pg_catalog.=) p.o AND a.attnum OPERATOR(pg_catalog.>) 0"
				"          AND NOT a.attisdropped"
				"          AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS b"
				"               WHERE b.attrelid OPERATOR(pg_catalog.=) p.i AND b.attname OPERATOR(pg_catalog.=) a.attname"
				"                 AND NOT b.attisdropped AND b.atttypid OPERATOR(pg_catalog.=) a.atttypid"
				"                 AND b.atttypmod OPERATOR(pg_catalog.=) a.atttypmod))"
				"    OR ($3 AND (SELECT pg_catalog.array_agg(pg_catalog.format('%s %s %s', a.attname, a.atttypid, a.atttypmod)"
				"                                            ORDER BY a.attnum)"
				"                  FROM pg_catalog.pg_attribute AS a WHERE a.attrelid OPERATOR(pg_catalog.=) p.o"
				"                   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)"
				"               IS DISTINCT FROM"
				"               (SELECT pg_catalog.array_agg(pg_catalog.format('%s %s %s', b.attname, b.atttypid, b.atttypmod)"
				"                                            ORDER BY b.attnum)"
				"                  FROM pg_catalog.pg_attribute AS b WHERE b.attrelid OPERATOR(pg_catalog.=) p.i"
				"                   AND b.attnum OPERATOR(pg_catalog.>) 0 AND NOT b.attisdropped))",
				SPI_OK_SELECT, 3, types, args, NULL);
	result = list_concat_unique_oid(result, bg_spi_oids());
	return result;
}
