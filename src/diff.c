/*
 * diff.c
 *		Blue against green: how the rows of a relation a deployment replaces differ from
 *		the live ones, computed in the database in one pass per table.
 *
 * Rows are matched by the model's key: its unique_key, else the live table's primary key
 * or a unique index on plain columns, else the column (or columns) of a unique test on
 * the model (dbt's unique, dbt_utils' unique_combination_of_columns). Matched by key,
 * the relations are joined once (FULL JOIN, which the planner runs as a hash or merge
 * join) and one aggregate over the join counts the rows only in live, only in shadow,
 * and changed, each column's changes, and keeps a few example keys. Rows whose key is
 * NULL match nothing by key, so they are compared as whole rows among themselves; a key
 * that turns out not to be unique (the join yields more rows of a side than it has)
 * gives way to a whole-row comparison. Without a key, the two relations are compared as
 * multisets of whole rows: one hash aggregate over both counts each distinct row on each
 * side; a changed row is then one row only in live and one only in shadow.
 *
 * Values are compared with their type's equality operator, named by OID so that no
 * search_path can substitute another; a type without one (json, point), or a column
 * whose type differs between the two sides, is compared as text.
 *
 * An increment applied in place (incremental.c) is compared on what it changes only:
 * the live rows promote deletes against the rows it inserts, which costs what the
 * increment costs, whatever the table's size.
 */
#include "postgres.h"

#include "jsonc.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "bluegreen.h"
#include "catalog.h"
#include "config.h"
#include "diff.h"
#include "privilege.h"
#include "spi.h"
#include "state.h"
#include "util.h"


/* ------------------------------------------------------------------------
 * The SQL of a comparison
 * ------------------------------------------------------------------------
 */

/* The equality operator of type, qualified by its schema; NULL when it has none. */
static char *
equality_operator(Oid type)
{
	TypeCacheEntry *tc = lookup_type_cache(type, TYPECACHE_EQ_OPR);
	HeapTuple	tup;
	char	   *op;

	if (!OidIsValid(tc->eq_opr))
		return NULL;
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tc->eq_opr));
	if (!HeapTupleIsValid(tup))
		return NULL;
	op = psprintf("OPERATOR(%s.%s)",
				  quote_identifier(get_namespace_name(((Form_pg_operator) GETSTRUCT(tup))->oprnamespace)),
				  NameStr(((Form_pg_operator) GETSTRUCT(tup))->oprname));
	ReleaseSysCache(tup);
	return op;
}

/* How column a of side la and column b of side lb are compared: "=" for two values. */
static char *
equal_sql(BgColumn *a, const char *la, BgColumn *b, const char *lb)
{
	const char *an = quote_identifier(a->name);
	const char *bn = quote_identifier(b->name);
	char	   *op = a->type == b->type ? equality_operator(a->type) : NULL;

	if (op)
		return psprintf("%s.%s %s %s.%s", la, an, op, lb, bn);
	return psprintf("%s.%s::pg_catalog.text OPERATOR(pg_catalog.=) %s.%s::pg_catalog.text", la, an, lb, bn);
}

/* True when the values differ, NULL counting as a value (IS DISTINCT FROM). */
static char *
distinct_sql(BgColumn *a, BgColumn *b)
{
	return psprintf("((l.%s IS NULL) OPERATOR(pg_catalog.<>) (r.%s IS NULL) OR (%s) IS FALSE)",
					quote_identifier(a->name), quote_identifier(b->name), equal_sql(a, "l", b, "r"));
}

/* An expression a whole row can be grouped by: the column, or its text. */
static char *
group_sql(BgColumn *a, BgColumn *b)
{
	if (a->type == b->type && equality_operator(a->type) != NULL &&
		OidIsValid(lookup_type_cache(a->type, TYPECACHE_HASH_PROC)->hash_proc))
		return psprintf("t.%s", quote_identifier(a->name));
	return psprintf("t.%s::pg_catalog.text", quote_identifier(a->name));
}

static bool
name_in(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

/* The key's value as text, for examples: one expression's text, or the row of them. */
static char *
key_text_sql(List *exprs)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	foreach(lc, exprs)
		appendStringInfo(&s, "%s%s", s.len ? ", " : "", (char *) lfirst(lc));
	if (list_length(exprs) == 1)
		return psprintf("%s::pg_catalog.text", s.data);
	return psprintf("ROW(%s)::pg_catalog.text", s.data);
}

static char *
key_names(List *key)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	foreach(lc, key)
		appendStringInfo(&s, "%s%s", s.len ? ", " : "", quote_identifier(lfirst(lc)));
	return s.data;
}

static char *
any_null_sql(List *key, const char *side)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	foreach(lc, key)
		appendStringInfo(&s, "%s%s.%s IS NULL", s.len ? " OR " : "", side, quote_identifier(lfirst(lc)));
	return s.data;
}

/*
 * Whom a comparison's queries run as: the caller (bg.diff_relations), or the builder
 * (a deployment's diffs), which may read both sides. As the builder, a query is parsed
 * first as the caller, who may name bluegreen's own aggregate in schema bg, and run as
 * the builder: the executor checks every table read against the builder's rights, and
 * any function the query calls (a type's equality, a policy) runs as the builder.
 */
static bool run_as_builder = false;	/* set by each entry point */

static void run_query(const char *sql);

static void
run(const char *sql)
{
	int			level = NewGUCNestLevel();

	/* values compared as text, in full: a float must not print as its neighbour does */
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	run_query(sql);
	AtEOXact_GUC(true, level);
}

static void
run_query(const char *sql)
{
	SPIPlanPtr	plan;
	BgUserSwitch sw;
	Oid			builder;
	int			builder_context;
	int			rc;

	if (!run_as_builder)
	{
		bg_spi_exec(sql, SPI_OK_SELECT, 0, NULL, NULL, NULL);
		return;
	}
	/*
	 * Parsed under the builder's settings (search_path: the plan cache would parse it
	 * again, as the builder, if they differed) but with the caller's identity.
	 */
	bg_become_builder(&sw);
	GetUserIdAndSecContext(&builder, &builder_context);
	SetUserIdAndSecContext(sw.saved_userid, sw.saved_sec_context);
	plan = SPI_prepare(sql, 0, NULL);
	SetUserIdAndSecContext(builder, builder_context);
	if (plan == NULL)
		elog(ERROR, "could not prepare a diff query: %s", SPI_result_code_string(SPI_result));
	rc = SPI_execute_plan(plan, NULL, NULL, true, 0);
	bg_restore_user(&sw);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "a diff query returned %s", SPI_result_code_string(rc));
	SPI_freeplan(plan);
}

static int64
int64_at(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static char *
text_at(int col)
{
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
}

/* What a comparison found. */
typedef struct Diff
{
	int64		rows_live;
	int64		rows_shadow;
	int64		only_live;
	int64		only_shadow;
	int64		changed;		/* -1: rows not matched by key */
	StringInfoData column_counts;	/* "name": n, ... */
	char	   *ex_only_live;	/* JSON arrays */
	char	   *ex_only_shadow;
	char	   *ex_changed;
	char	   *note;
} Diff;

/*
 * Compare the rows of live and shadow (FROM items, with their columns) as multisets of
 * whole rows, over the columns both have.
 */
static void
compare_rows(Diff *d, const char *live, List *lcols, const char *shadow, List *rcols)
{
	StringInfoData groups,
				names,
				row;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&groups);
	initStringInfo(&names);
	initStringInfo(&row);
	foreach(lc, lcols)
	{
		BgColumn   *a = lfirst(lc);
		BgColumn   *b = bg_column_named(rcols, a->name);

		if (b == NULL)
			continue;
		i++;
		appendStringInfo(&groups, ", %s AS g%d", group_sql(a, b), i);
		appendStringInfo(&names, "%sg%d", names.len ? ", " : "", i);
		appendStringInfo(&row, "%sg.g%d", row.len ? ", " : "", i);
	}
	if (i == 0)
	{
		/* nothing in common: every row differs */
		run(psprintf("SELECT (SELECT pg_catalog.count(*) FROM %s AS t), (SELECT pg_catalog.count(*) FROM %s AS t)",
					 live, shadow));
		d->rows_live += int64_at(1);
		d->rows_shadow += int64_at(2);
		d->only_live += int64_at(1);
		d->only_shadow += int64_at(2);
		return;
	}
	run(psprintf("SELECT pg_catalog.sum(pg_catalog.int8larger(g.nl OPERATOR(pg_catalog.-) g.ns, 0))::pg_catalog.int8,"
						 "  pg_catalog.sum(pg_catalog.int8larger(g.ns OPERATOR(pg_catalog.-) g.nl, 0))::pg_catalog.int8,"
						 "  pg_catalog.sum(g.nl)::pg_catalog.int8, pg_catalog.sum(g.ns)::pg_catalog.int8,"
						 "  pg_catalog.to_json(bg.sample(ROW(%s)::pg_catalog.text) FILTER (WHERE g.nl OPERATOR(pg_catalog.>) g.ns))::pg_catalog.text,"
						 "  pg_catalog.to_json(bg.sample(ROW(%s)::pg_catalog.text) FILTER (WHERE g.ns OPERATOR(pg_catalog.>) g.nl))::pg_catalog.text"
						 " FROM (SELECT %s, pg_catalog.count(*) FILTER (WHERE u.side) AS nl,"
						 "         pg_catalog.count(*) FILTER (WHERE NOT u.side) AS ns"
						 "       FROM (SELECT true AS side%s FROM %s AS t"
						 "             UNION ALL SELECT false%s FROM %s AS t) AS u"
						 "      GROUP BY %s) AS g",
						 row.data, row.data, names.data, groups.data, live, groups.data, shadow,
				 names.data));
	d->only_live += int64_at(1);
	d->only_shadow += int64_at(2);
	d->rows_live += int64_at(3);
	d->rows_shadow += int64_at(4);
	d->ex_only_live = text_at(5);
	d->ex_only_shadow = text_at(6);
}

/*
 * Compare by key: one FULL JOIN, one aggregate. Returns false when the key is not
 * unique on a side that has matching rows (the caller compares whole rows instead).
 */
static bool
compare_by_key(Diff *d, const char *live, List *lcols, const char *shadow, List *rcols,
			   List *key)
{
	StringInfoData sel,
				on,
				any_change,
				inner;
	List	   *compared = NIL,
			   *lkeys = NIL,
			   *rkeys = NIL;
	ListCell   *lc;
	int64		joined_live,
				joined_shadow,
				null_live,
				null_shadow;
	int			col;

	initStringInfo(&sel);
	initStringInfo(&on);
	initStringInfo(&any_change);
	initStringInfo(&inner);
	foreach(lc, key)
	{
		const char *k = quote_identifier(lfirst(lc));

		appendStringInfo(&on, "%s%s", on.len ? " AND " : "",
						 equal_sql(bg_column_named(lcols, lfirst(lc)), "l",
								   bg_column_named(rcols, lfirst(lc)), "r"));
		appendStringInfo(&inner, ", l.%s AS lk%d, r.%s AS rk%d", k, foreach_current_index(lc) + 1,
						 k, foreach_current_index(lc) + 1);
		lkeys = lappend(lkeys, psprintf("j.lk%d", foreach_current_index(lc) + 1));
		rkeys = lappend(rkeys, psprintf("j.rk%d", foreach_current_index(lc) + 1));
	}
	col = 0;
	foreach(lc, lcols)
	{
		BgColumn   *a = lfirst(lc);
		BgColumn   *b = bg_column_named(rcols, a->name);

		if (b == NULL || name_in(key, a->name))
			continue;
		compared = lappend(compared, a);
		col++;
		/* each comparison once a row, in the subquery (OFFSET 0 keeps it one) */
		appendStringInfo(&inner, ", %s AS d%d", distinct_sql(a, b), col);
		appendStringInfo(&any_change, "%sj.d%d", any_change.len ? " OR " : "", col);
		appendStringInfo(&sel, ", pg_catalog.count(*) FILTER (WHERE j.li AND j.ri AND j.d%d)", col);
	}
	if (any_change.len == 0)
		appendStringInfoString(&any_change, "false");
	run(psprintf("SELECT pg_catalog.count(j.li), pg_catalog.count(j.ri),"
				 "  pg_catalog.count(*) FILTER (WHERE j.li AND j.lnull),"
				 "  pg_catalog.count(*) FILTER (WHERE j.ri AND j.rnull),"
				 "  (SELECT pg_catalog.count(*) FROM %s AS t), (SELECT pg_catalog.count(*) FROM %s AS t),"
				 "  pg_catalog.count(*) FILTER (WHERE j.ri IS NULL),"
				 "  pg_catalog.count(*) FILTER (WHERE j.li IS NULL),"
				 "  pg_catalog.count(*) FILTER (WHERE j.li AND j.ri AND (%s)),"
				 "  pg_catalog.to_json(bg.sample(%s) FILTER (WHERE j.ri IS NULL AND NOT j.lnull))::pg_catalog.text,"
				 "  pg_catalog.to_json(bg.sample(%s) FILTER (WHERE j.li IS NULL AND NOT j.rnull))::pg_catalog.text,"
				 "  pg_catalog.to_json(bg.sample(%s) FILTER (WHERE j.li AND j.ri AND (%s)))::pg_catalog.text"
				 "%s"
				 " FROM (SELECT l.__bg_in AS li, r.__bg_in AS ri, (%s) AS lnull, (%s) AS rnull%s"
				 "        FROM (SELECT true AS __bg_in, t.* FROM %s AS t) AS l"
				 "        FULL JOIN (SELECT true AS __bg_in, t.* FROM %s AS t) AS r ON %s OFFSET 0) AS j",
				 live, shadow, any_change.data,
				 key_text_sql(lkeys), key_text_sql(rkeys), key_text_sql(lkeys), any_change.data,
				 sel.data, any_null_sql(key, "l"), any_null_sql(key, "r"), inner.data,
				 live, shadow, on.data));
	joined_live = int64_at(1);
	joined_shadow = int64_at(2);
	null_live = int64_at(3);
	null_shadow = int64_at(4);
	d->rows_live = int64_at(5);
	d->rows_shadow = int64_at(6);
	if (joined_live != d->rows_live || joined_shadow != d->rows_shadow)
	{
		d->note = psprintf("the key (%s) is not unique in %s: whole rows compared",
						   key_names(key),
						   joined_live != d->rows_live ? "shadow" : "live");
		d->rows_live = d->rows_shadow = 0;
		return false;
	}
	d->only_live = int64_at(7) - null_live;
	d->only_shadow = int64_at(8) - null_shadow;
	d->changed = int64_at(9);
	d->ex_only_live = text_at(10);
	d->ex_only_shadow = text_at(11);
	d->ex_changed = text_at(12);
	col = 13;
	foreach(lc, compared)
	{
		int64		n = int64_at(col++);

		if (n > 0)
		{
			appendStringInfo(&d->column_counts, "%s", d->column_counts.len ? ", " : "");
			escape_json(&d->column_counts, ((BgColumn *) lfirst(lc))->name);
			appendStringInfo(&d->column_counts, ": " INT64_FORMAT, n);
		}
	}
	if (null_live > 0 || null_shadow > 0)
	{
		/* rows with a NULL key: matched as whole rows among themselves */
		Diff		nulls = {0};
		char	   *ex_live = d->ex_only_live,
				   *ex_shadow = d->ex_only_shadow;

		compare_rows(&nulls,
					 psprintf("(SELECT * FROM %s AS t WHERE %s)", live, any_null_sql(key, "t")), lcols,
					 psprintf("(SELECT * FROM %s AS t WHERE %s)", shadow, any_null_sql(key, "t")), rcols);
		d->only_live += nulls.only_live;
		d->only_shadow += nulls.only_shadow;
		d->ex_only_live = strcmp(ex_live, "[]") == 0 ? nulls.ex_only_live : ex_live;
		d->ex_only_shadow = strcmp(ex_shadow, "[]") == 0 ? nulls.ex_only_shadow : ex_shadow;
		d->note = psprintf("rows with a NULL key (%s live, %s shadow) compared as whole rows",
						   bg_thousands(null_live), bg_thousands(null_shadow));
	}
	return true;
}

static void
append_names(StringInfo buf, const char *field, List *names)
{
	ListCell   *lc;

	appendStringInfo(buf, ", \"%s\": [", field);
	foreach(lc, names)
	{
		if (lc != list_head(names))
			appendStringInfoString(buf, ", ");
		escape_json(buf, lfirst(lc));
	}
	appendStringInfoChar(buf, ']');
}

/*
 * The difference between the rows of live and shadow, FROM items with the columns given,
 * matched by key (column names both sides have; NIL: whole rows), as JSON; unchanged
 * rows, the same on both sides, are counted on both without being compared.
 */
char *
bg_diff_compute(const char *live, List *lcols, const char *shadow, List *rcols,
				List *key, const char *key_source, int64 unchanged)
{
	Diff		d = {0};
	StringInfoData buf;
	List	   *added = NIL,
			   *removed = NIL;
	ListCell   *lc;

	initStringInfo(&d.column_counts);
	d.changed = -1;
	foreach(lc, rcols)
		if (bg_column_named(lcols, ((BgColumn *) lfirst(lc))->name) == NULL)
			added = lappend(added, ((BgColumn *) lfirst(lc))->name);
	foreach(lc, lcols)
		if (bg_column_named(rcols, ((BgColumn *) lfirst(lc))->name) == NULL)
			removed = lappend(removed, ((BgColumn *) lfirst(lc))->name);
	if (key == NIL || !compare_by_key(&d, live, lcols, shadow, rcols, key))
	{
		d.changed = -1;
		compare_rows(&d, live, lcols, shadow, rcols);
		if (key != NIL)
			key_source = NULL;
		key = NIL;
	}
	d.rows_live += unchanged;
	d.rows_shadow += unchanged;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"key\": ");
	if (key == NIL)
		appendStringInfoString(&buf, "null");
	else
	{
		appendStringInfoChar(&buf, '[');
		foreach(lc, key)
		{
			if (lc != list_head(key))
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, lfirst(lc));
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoString(&buf, ", \"key_source\": ");
	if (key_source)
		escape_json(&buf, key_source);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfo(&buf, ", \"rows_live\": " INT64_FORMAT ", \"rows_shadow\": " INT64_FORMAT
					 ", \"only_in_live\": " INT64_FORMAT ", \"only_in_shadow\": " INT64_FORMAT,
					 d.rows_live, d.rows_shadow, d.only_live, d.only_shadow);
	if (d.changed >= 0)
		appendStringInfo(&buf, ", \"changed\": " INT64_FORMAT ", \"changed_columns\": {%s}",
						 d.changed, d.column_counts.data);
	else
		appendStringInfoString(&buf, ", \"changed\": null, \"changed_columns\": null");
	append_names(&buf, "columns_added", added);
	append_names(&buf, "columns_removed", removed);
	appendStringInfo(&buf, ", \"examples\": {\"only_in_live\": %s, \"only_in_shadow\": %s",
					 d.ex_only_live ? d.ex_only_live : "[]",
					 d.ex_only_shadow ? d.ex_only_shadow : "[]");
	if (d.ex_changed)
		appendStringInfo(&buf, ", \"changed\": %s", d.ex_changed);
	appendStringInfoString(&buf, "}, \"note\": ");
	if (d.note)
		escape_json(&buf, d.note);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* ------------------------------------------------------------------------
 * The key of a model
 * ------------------------------------------------------------------------
 */

/* Whether every name is a column of both sides. */
bool
bg_diff_columns_of_both(List *names, List *lcols, List *rcols)
{
	ListCell   *lc;

	if (names == NIL)
		return false;
	foreach(lc, names)
		if (bg_column_named(lcols, lfirst(lc)) == NULL || bg_column_named(rcols, lfirst(lc)) == NULL)
			return false;
	return true;
}

/* The columns of the live table's primary key, else of its first unique index on columns. */
List *
bg_diff_index_key(Oid relid, char **source)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;
	List	   *names = NIL;

	bg_spi_exec("SELECT CASE WHEN i.indisprimary THEN 'primary key' ELSE 'unique index '"
				"         OPERATOR(pg_catalog.||) i.indexrelid::pg_catalog.regclass::pg_catalog.text END,"
				"  ARRAY(SELECT a.attname::pg_catalog.text"
				"          FROM pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k (attnum, n)"
				"          JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid"
				"           AND a.attnum OPERATOR(pg_catalog.=) k.attnum"
				"         WHERE k.n OPERATOR(pg_catalog.<=) i.indnkeyatts ORDER BY k.n)"
				"  FROM pg_catalog.pg_index AS i"
				" WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisunique AND i.indisvalid"
				"   AND i.indpred IS NULL AND i.indexprs IS NULL"
				" ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid LIMIT 1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum	   *elems;
		int			n;

		*source = text_at(1);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &n);
		for (int i = 0; i < n; i++)
			names = lappend(names, TextDatumGetCString(elems[i]));
	}
	return names;
}

/* The columns of a unique test on model n (unique, unique_combination_of_columns). */
static List *
unique_test_key(BgManifest *m, BgNode *n, char **source)
{
	for (int i = 0; m && i < m->n_nodes; i++)
	{
		BgNode	   *t = m->nodes[i];
		json_object *meta,
				   *name,
				   *kwargs,
				   *v;
		List	   *names = NIL;

		if (!t->generic_test || t->disabled || t->attached_node == NULL ||
			strcmp(t->attached_node, n->unique_id) != 0 || t->test_metadata_json == NULL)
			continue;
		meta = json_tokener_parse(t->test_metadata_json);
		if (meta == NULL || !json_object_object_get_ex(meta, "name", &name) ||
			!json_object_object_get_ex(meta, "kwargs", &kwargs))
		{
			json_object_put(meta);
			continue;
		}
		if (!json_object_is_type(name, json_type_string) || !json_object_is_type(kwargs, json_type_object))
		{
			json_object_put(meta);
			continue;
		}
		if (strcmp(json_object_get_string(name), "unique") == 0 &&
			json_object_object_get_ex(kwargs, "column_name", &v) && json_object_is_type(v, json_type_string))
			names = list_make1(pstrdup(json_object_get_string(v)));
		else if (strcmp(json_object_get_string(name), "unique_combination_of_columns") == 0 &&
				 json_object_object_get_ex(kwargs, "combination_of_columns", &v) &&
				 json_object_is_type(v, json_type_array))
			for (size_t j = 0; j < json_object_array_length(v); j++)
			{
				json_object *col = json_object_array_get_idx(v, j);

				if (!json_object_is_type(col, json_type_string))
				{
					list_free(names);
					names = NIL;
					break;
				}
				names = lappend(names, pstrdup(json_object_get_string(col)));
			}
		json_object_put(meta);
		if (names != NIL)
		{
			*source = psprintf("test %s", t->name);
			return names;
		}
	}
	return NIL;
}

/*
 * The key rows of model n are matched by, from the first of: its unique_key, the live
 * table's primary key or unique index, a unique test; NIL when none names columns both
 * sides have.
 */
static List *
model_key(BgManifest *m, BgNode *n, Oid live, List *lcols, List *rcols, char **source)
{
	BgModelConfig *c = n->config_json ? bg_node_config(n) : NULL;
	List	   *key;

	if (c && bg_diff_columns_of_both(c->unique_key, lcols, rcols))
	{
		*source = "unique_key";
		return c->unique_key;
	}
	key = bg_diff_index_key(live, source);
	if (bg_diff_columns_of_both(key, lcols, rcols))
		return key;
	key = unique_test_key(m, n, source);
	if (bg_diff_columns_of_both(key, lcols, rcols))
		return key;
	*source = NULL;
	return NIL;
}

/*
 * The share of its rows model n may change or remove, from its meta
 * (meta: {bluegreen: {max_changed_share: 0.1}}) as JSON text, NULL when it sets none.
 * Checked when a deployment is planned; added to the model's diff for promote to hold
 * it to.
 */
char *
bg_diff_bound(BgNode *n)
{
	json_object *config = n->config_json ? json_tokener_parse(n->config_json) : NULL;
	json_object *meta,
			   *ours,
			   *bound;
	char	   *out = NULL;

	if (config && json_object_object_get_ex(config, "meta", &meta) &&
		json_object_object_get_ex(meta, "bluegreen", &ours) &&
		json_object_object_get_ex(ours, "max_changed_share", &bound))
	{
		double		v = json_object_get_double(bound);

		out = pstrdup(json_object_to_json_string(bound));
		if ((!json_object_is_type(bound, json_type_double) && !json_object_is_type(bound, json_type_int)) ||
			v < 0 || v > 1)
		{
			json_object_put(config);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: meta.bluegreen.max_changed_share must be a number from 0 to 1",
							bg_node_label(n)),
					 errdetail("It is %s.", out)));
		}
	}
	json_object_put(config);
	return out;
}

static char *
add_bound(char *json, BgNode *n)
{
	char	   *bound = bg_diff_bound(n);

	if (bound == NULL)
		return json;
	return psprintf("%.*s, \"max_changed_share\": %s}", (int) strlen(json) - 1, json, bound);
}

/*
 * The diff of build step s, as JSON; NULL when it has none: only tables and materialized views replaced (a view is cheap to rebuild and as
 * costly to read as to run) and increments applied in place. As the builder, which may
 * read both sides; bluegreen's own SQL, with the equality operators named by OID.
 */
static bool
has_row_security(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		rls = false;

	if (HeapTupleIsValid(tup))
	{
		rls = ((Form_pg_class) GETSTRUCT(tup))->relrowsecurity;
		ReleaseSysCache(tup);
	}
	return rls;
}

static char *
step_diff(BgManifest *m, BgStep *s)
{
	Oid			shadow;
	char		shadow_kind;
	const char *live_from,
			   *shadow_from;
	List	   *lcols,
			   *rcols,
			   *key;
	char	   *source;
	char	   *json;
	int64		unchanged = 0;
	char		live_kind = s->live_exists ? get_rel_relkind(s->live_oid) : 0;

	if (s->kind != BG_STEP_BUILD || !s->live_exists || strcmp(s->status, "ok") != 0 ||
		(live_kind != RELKIND_RELATION && live_kind != RELKIND_MATVIEW &&
		 live_kind != RELKIND_PARTITIONED_TABLE) ||
		!bg_relation_exists(s->shadow_schema, s->node->alias, &shadow, &shadow_kind))
		return NULL;
	if (has_row_security(s->live_oid) || has_row_security(shadow))
	{
		ereport(NOTICE,
				(errmsg("no diff of %s: row-level security hides rows from the builder, which compares them",
						bg_qualified_name(s->node->schema, s->node->alias))));
		return NULL;
	}
	lcols = bg_relation_columns(s->live_oid);
	if (s->in_place)
	{
		const char *rows = quote_qualified_identifier(s->shadow_schema, psprintf(BG_IN_PLACE_ROWS, s->number));
		const char *del = quote_qualified_identifier(s->shadow_schema, psprintf(BG_IN_PLACE_DELETE, s->number));

		/* what changes only: the rows deleted against the rows inserted */
		live_from = psprintf("(SELECT d.* FROM ONLY %s AS d WHERE d.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT x.row_ctid FROM %s AS x)))",
							 bg_relation_name(s->live_oid), del);
		shadow_from = rows;
		rcols = lcols;
	}
	else
	{
		if (shadow_kind != RELKIND_RELATION && shadow_kind != RELKIND_MATVIEW &&
			shadow_kind != RELKIND_PARTITIONED_TABLE)
			return NULL;
		live_from = bg_relation_name(s->live_oid);
		shadow_from = bg_relation_name(shadow);
		rcols = bg_relation_columns(shadow);
	}
	key = model_key(m, s->node, s->live_oid, lcols, rcols, &source);
	run_as_builder = true;
	if (s->in_place)
	{
		/* the rows neither deleted nor inserted */
		run(psprintf("SELECT (SELECT pg_catalog.count(*) FROM ONLY %s)"
					 " OPERATOR(pg_catalog.-) (SELECT pg_catalog.count(*) FROM %s"
					 "   WHERE row_ctid OPERATOR(pg_catalog.<>) " BG_IN_PLACE_MARKER ")",
					 bg_relation_name(s->live_oid),
					 quote_qualified_identifier(s->shadow_schema, psprintf(BG_IN_PLACE_DELETE, s->number))));
		unchanged = int64_at(1);
	}
	json = bg_diff_compute(live_from, lcols, shadow_from, rcols, key, source, unchanged);
	run_as_builder = false;
	return add_bound(json, s->node);
}

typedef struct StepDiffCall
{
	BgManifest *m;
	BgStep	   *s;
	char	   *json;
} StepDiffCall;

static void
step_diff_call(void *arg)
{
	StepDiffCall *c = arg;

	c->json = step_diff(c->m, c->s);
}

/*
 * The diff of build step s of a deployment of manifest m, as JSON, or NULL. A diff that
 * cannot be computed (a type that cannot be compared, a table the builder may not read)
 * is reported and left out: it informs a deployment, it does not decide it.
 */
char *
bg_diff_step(BgManifest *m, BgStep *s)
{
	StepDiffCall c = {m, s, NULL};
	ErrorData  *e = bg_in_subxact(step_diff_call, &c);

	run_as_builder = false;
	if (e == NULL)
		return c.json;
	if (e->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(e);
	ereport(WARNING,
			(errcode(e->sqlerrcode),
			 errmsg("no diff of %s: %s", bg_qualified_name(s->node->schema, s->node->alias), e->message)));
	return NULL;
}

