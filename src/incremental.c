/*
 * incremental.c
 *		Incremental models, the way dbt-postgres runs them: an increment computed by the
 *		model's code and applied to the latest live data by the model's strategy
 *		(append, delete+insert, merge), with on_schema_change honoured.
 *
 * Built in full (like a table, build.c) when the model is new, has no live table, its
 * live relation is a view, it says full_refresh: true, or the deployment is a full
 * refresh. Otherwise the shadow starts as a copy of the live table, the code (its
 * is_incremental() branch, which reads {{ this }}, redirected to that copy) is the
 * increment, and the increment is applied to the copy with dbt-postgres's statements.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/lsyscache.h"

#include "bluegreen.h"
#include "build.h"
#include "state.h"
#include "catalog.h"
#include "config.h"
#include "redirect.h"
#include "spi.h"
#include "util.h"

static void build_on_copy(const char *what, BgBuildContext *ctx, BgNode *n,
						  const char *select_sql, const char *shadow_schema, int step,
						  BgBuildResult *res);

/* The columns of relation schema.name, in order. */
static List *
columns_of(const char *schema, const char *name)
{
	Oid			relid;

	if (!bg_relation_exists(schema, name, &relid, NULL))
		elog(ERROR, "relation %s does not exist", quote_qualified_identifier(schema, name));
	return bg_relation_columns(relid);
}

/* dbt's Column.is_string() and string_size(): text, or a size not given, counts as 256 */
static bool
is_string_column(BgColumn *col)
{
	return col->type == TEXTOID || col->type == VARCHAROID || col->type == BPCHAROID;
}

static int
string_size(BgColumn *col)
{
	return col->type == TEXTOID || col->typmod < 0 ? 256 : col->typmod - VARHDRSZ;
}

/*
 * dbt's alter_column_type: a new column of the type, filled from the old one (an
 * assignment cast), the old one dropped, the new one renamed; so the column moves to
 * the end of the table.
 */
static void
dbt_alter_column_type(const char *target, const char *name, const char *type_name)
{
	const char *col = quote_identifier(name);
	const char *tmp = quote_identifier(psprintf("%s__dbt_alter", name));

	bg_spi_exec(psprintf("ALTER TABLE %s ADD COLUMN %s %s", target, tmp, type_name),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_spi_exec(psprintf("UPDATE %s SET %s = %s", target, tmp, col),
				SPI_OK_UPDATE, 0, NULL, NULL, NULL);
	bg_spi_exec(psprintf("ALTER TABLE %s DROP COLUMN %s", target, col),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_spi_exec(psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", target, tmp, col),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
}

/*
 * dbt's diff of the increment's columns (source) against the table's (dest): added,
 * removed, and retyped (a string column that the table has longer is no change).
 */
static void
compare_columns(List *dest, List *source, List **added, List **removed, List **retyped)
{
	ListCell   *lc;

	*added = *removed = *retyped = NIL;
	foreach(lc, source)
	{
		BgColumn   *s = lfirst(lc);
		BgColumn   *d = bg_column_named(dest, s->name);

		if (d == NULL)
			*added = lappend(*added, s);
		else if ((d->type != s->type || d->typmod != s->typmod) &&
				 !(is_string_column(s) && is_string_column(d) &&
				   string_size(d) > string_size(s)))
			*retyped = lappend(*retyped, s);
	}
	foreach(lc, dest)
		if (bg_column_named(source, ((BgColumn *) lfirst(lc))->name) == NULL)
			*removed = lappend(*removed, lfirst(lc));
}

/*
 * on_schema_change: which columns the increment writes, after adding (or dropping)
 * columns of the target as the setting asks.
 */
static List *
reconcile_columns(const char *what, BgModelConfig *c, const char *target,
				  const char *shadow_schema, const char *name, const char *incr_schema,
				  const char *incr_name)
{
	List	   *dest = columns_of(shadow_schema, name);
	List	   *source = columns_of(incr_schema, incr_name);
	List	   *added,
			   *removed,
			   *retyped;
	ListCell   *lc;
	const char *mode = c->on_schema_change;

	compare_columns(dest, source, &added, &removed, &retyped);

	if (strcmp(mode, "ignore") == 0)
	{
		/* the table's columns are written; one the increment lacks fails, as in dbt */
		if (removed != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s: the increment lacks column%s %s of the table, and on_schema_change is \"ignore\"",
							what, list_length(removed) == 1 ? "" : "s", bg_column_list(removed, NULL)),
					 errhint("Set on_schema_change to append_new_columns (the column stays, empty in new rows) or sync_all_columns (it is dropped), or deploy with %s.",
							 bg_hints_for_dbt() ? "--args '{full_refresh: true}'" : "full_refresh => true")));
		return dest;
	}
	if (added == NIL && removed == NIL && retyped == NIL)
		return source;
	if (strcmp(mode, "fail") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: the increment's columns differ from the table's, and on_schema_change is \"fail\"", what),
				 errdetail("Added: %s. Removed: %s. Retyped: %s.",
						   added ? bg_column_list(added, NULL) : "none",
						   removed ? bg_column_list(removed, NULL) : "none",
						   retyped ? bg_column_list(retyped, NULL) : "none")));
	if (strcmp(mode, "append_new_columns") != 0 && strcmp(mode, "sync_all_columns") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: on_schema_change \"%s\" is not one of ignore, fail, append_new_columns, sync_all_columns", what, mode)));
	foreach(lc, added)
	{
		BgColumn   *s = lfirst(lc);

		bg_spi_exec(psprintf("ALTER TABLE %s ADD COLUMN %s %s", target,
							 quote_identifier(s->name), s->type_name),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	}
	if (strcmp(mode, "sync_all_columns") == 0)
	{
		foreach(lc, removed)
			bg_spi_exec(psprintf("ALTER TABLE %s DROP COLUMN %s", target,
								 quote_identifier(((BgColumn *) lfirst(lc))->name)),
						SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		foreach(lc, retyped)
			dbt_alter_column_type(target, ((BgColumn *) lfirst(lc))->name,
								  ((BgColumn *) lfirst(lc))->type_name);
	}
	return source;
}

static char *
predicates_sql(List *predicates)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, predicates)
		appendStringInfo(&buf, "\n  AND (%s)", (char *) lfirst(lc));
	return buf.data;
}

/* dbt-postgres's MERGE condition: the unique key, then the incremental predicates */
static char *
merge_condition(BgModelConfig *c)
{
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	if (c->unique_key == NIL)
		appendStringInfoString(&sql, "FALSE");
	foreach(lc, c->unique_key)
	{
		const char *k = lfirst(lc);

		if (c->unique_key_is_list)
			appendStringInfo(&sql, "%sDBT_INTERNAL_SOURCE.%s = DBT_INTERNAL_DEST.%s",
							 lc == list_head(c->unique_key) ? "" : " AND ",
							 quote_identifier(k), quote_identifier(k));
		else
			appendStringInfo(&sql, "DBT_INTERNAL_SOURCE.%s = DBT_INTERNAL_DEST.%s", k, k);
	}
	appendStringInfoString(&sql, predicates_sql(c->incremental_predicates));
	return sql.data;
}

/* The columns a MERGE's WHEN MATCHED sets: merge_update_columns, less the excluded */
static List *
merge_update_list(BgModelConfig *c, List *dest)
{
	List	   *update = NIL;
	ListCell   *lc;

	foreach(lc, dest)
	{
		BgColumn   *col = lfirst(lc);
		bool		keep = c->merge_update_columns == NIL;
		ListCell   *m;

		foreach(m, c->merge_update_columns)
			if (strcmp(lfirst(m), col->name) == 0)
				keep = true;
		foreach(m, c->merge_exclude_columns)
			if (strcmp(lfirst(m), col->name) == 0)
				keep = false;
		if (keep)
			update = lappend(update, col);
	}
	return update;
}

/* dbt-postgres's delete+insert key: a column, a list, or an expression as dbt splices it */
static char *
delete_insert_keys(BgModelConfig *c)
{
	StringInfoData keys;
	ListCell   *lc;

	initStringInfo(&keys);
	foreach(lc, c->unique_key)
		appendStringInfo(&keys, "%s%s", lc == list_head(c->unique_key) ? "" : ", ",
						 c->unique_key_is_list ? quote_identifier(lfirst(lc)) :
						 (const char *) lfirst(lc));
	return keys.data;
}

static uint64
apply_increment(const char *what, BgModelConfig *c, const char *strategy, const char *target,
				const char *increment, List *dest)
{
	char	   *cols = bg_column_list(dest, NULL);
	ListCell   *lc;

	/*
	 * The aliases are dbt's, unquoted as dbt writes them (so they fold to lower case):
	 * incremental_predicates written for dbt, such as DBT_INTERNAL_DEST.col > x, must
	 * find them.
	 */
	if (strcmp(strategy, "merge") == 0)
	{
		StringInfoData sql;
		List	   *update = NIL;

		initStringInfo(&sql);
		appendStringInfo(&sql, "MERGE INTO %s AS DBT_INTERNAL_DEST\nUSING %s AS DBT_INTERNAL_SOURCE\nON %s",
						 target, increment, merge_condition(c));
		update = merge_update_list(c, dest);
		if (c->unique_key != NIL && update != NIL)
		{
			appendStringInfoString(&sql, "\nWHEN MATCHED THEN UPDATE SET ");
			foreach(lc, update)
			{
				const char *q = quote_identifier(((BgColumn *) lfirst(lc))->name);

				appendStringInfo(&sql, "%s%s = DBT_INTERNAL_SOURCE.%s",
								 lc == list_head(update) ? "" : ", ", q, q);
			}
		}
		appendStringInfo(&sql, "\nWHEN NOT MATCHED THEN INSERT (%s) VALUES (%s)", cols,
						 bg_column_list(dest, "DBT_INTERNAL_SOURCE"));
		return bg_run_checked(what, sql.data, T_MergeStmt, SPI_OK_MERGE);
	}
	if (strcmp(strategy, "delete+insert") == 0 && c->unique_key != NIL)
	{
		StringInfoData sql;
		char	   *keys = delete_insert_keys(c);

		/*
		 * dbt's default__get_delete_insert_merge_sql: the key IN the increment's
		 * distinct keys, the table named DBT_INTERNAL_DEST for the predicates, which
		 * may also name its columns unqualified
		 */
		initStringInfo(&sql);
		appendStringInfo(&sql, "DELETE FROM %s AS DBT_INTERNAL_DEST\nWHERE (%s) IN (SELECT DISTINCT %s FROM %s AS DBT_INTERNAL_SOURCE)",
						 target, keys, keys, increment);
		appendStringInfoString(&sql, predicates_sql(c->incremental_predicates));
		bg_run_checked(what, sql.data, T_DeleteStmt, SPI_OK_DELETE);
	}
	return bg_run_checked(what, psprintf("INSERT INTO %s (%s)\nSELECT %s FROM %s", target, cols,
									  cols, increment),
					   T_InsertStmt, SPI_OK_INSERT);
}

/*
 * dbt's should_full_refresh(): the model's full_refresh config when it sets one (true or
 * false), otherwise the run's --full-refresh. With full_refresh: false dbt compiled the
 * incremental branch even under --full-refresh, and runs it as an increment. And as in
 * dbt's incremental materialization, a live view (a model that was one) is replaced in
 * full: is_incremental() was false over it, so its full query was compiled.
 */
bool
bg_incremental_in_full(BgBuildContext *ctx, BgNode *n, bool live_exists)
{
	BgModelConfig *c = bg_node_config(n);
	bool		full = c->full_refresh_set ? c->full_refresh : ctx->full_refresh;
	char		relkind = 0;

	if (live_exists && bg_relation_exists(n->schema, n->alias, NULL, &relkind) &&
		relkind == RELKIND_VIEW)
		return true;
	return !live_exists || full;
}

/*
 * dbt's expand_target_column_types, which its incremental materialization runs before
 * on_schema_change on a model without an enforced contract: a string column that the
 * increment has longer becomes character varying(<the increment's size>), by
 * dbt_alter_column_type.
 */
static void
expand_string_columns(const char *target, const char *schema, const char *name,
					  const char *incr_name)
{
	List	   *source = columns_of(schema, incr_name);
	ListCell   *lc;

	foreach(lc, columns_of(schema, name))
	{
		BgColumn   *d = lfirst(lc);
		BgColumn   *s = bg_column_named(source, d->name);

		if (s == NULL || !is_string_column(d) || !is_string_column(s) ||
			string_size(s) <= string_size(d))
			continue;
		dbt_alter_column_type(target, d->name,
							  psprintf("character varying(%d)", string_size(s)));
	}
}

/* ------------------------------------------------------------------------
 * An increment applied in place
 * ------------------------------------------------------------------------
 */

/* Whether a text the catalog holds (NULL: none) is the one given. */
static bool
same_text(const char *sql, int nargs, Oid *types, Datum *args, const char *want)
{
	char	   *have;

	bg_spi_exec(sql, SPI_OK_SELECT, nargs, types, args, NULL);
	have = SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	return have != NULL && strcmp(have, want) == 0;
}

/*
 * Whether what the model's persist_docs and grants would do to a copy of the live table
 * (build.c: comments set, privileges granted; the live table's own carried over) leaves
 * it as it is: then nothing is to change on the live table but its rows.
 */
static bool
docs_and_grants_as_live(BgNode *n, BgModelConfig *c, Oid relid)
{
	Oid			types[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		args[3] = {ObjectIdGetDatum(relid), 0, 0};
	ListCell   *lc;

	if (n->persist_relation_docs && n->description && n->description[0] &&
		!same_text("SELECT pg_catalog.obj_description($1, 'pg_class')", 1, types, args,
				   n->description))
		return false;
	if (n->persist_column_docs)
		foreach(lc, c->columns)
		{
			BgModelColumn *col = lfirst(lc);

			if (col->description == NULL || col->description[0] == '\0')
				continue;
			args[1] = CStringGetTextDatum(col->name);
			args[2] = CStringGetTextDatum(col->description);
			/* a documented column the table lacks is skipped, as build.c skips it */
			if (!same_text("SELECT COALESCE(pg_catalog.col_description($1, a.attnum), '') FROM pg_catalog.pg_attribute AS a"
						   " WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) $2 AND NOT a.attisdropped"
						   " UNION ALL SELECT $3 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a"
						   " WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) $2 AND NOT a.attisdropped)",
						   3, types, args, col->description))
				return false;
		}
	foreach(lc, c->grants)
	{
		BgGrant    *g = lfirst(lc);
		ListCell   *who;

		foreach(who, g->grantees)
		{
			args[1] = CStringGetTextDatum(g->privilege);
			args[2] = CStringGetTextDatum(lfirst(who));
			/* every privilege named ("all": the five), held by that grantee already */
			bg_spi_exec("SELECT FROM pg_catalog.unnest(CASE WHEN pg_catalog.lower($2) OPERATOR(pg_catalog.=) 'all'"
						"    THEN '{SELECT,INSERT,UPDATE,DELETE,TRUNCATE}'::text[] ELSE ARRAY[pg_catalog.upper($2)] END) AS p (priv)"
						" WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a"
						"   WHERE c.oid OPERATOR(pg_catalog.=) $1 AND a.privilege_type OPERATOR(pg_catalog.=) p.priv"
						"     AND a.grantee OPERATOR(pg_catalog.=) CASE WHEN pg_catalog.lower($3) OPERATOR(pg_catalog.=) 'public' THEN 0::pg_catalog.oid"
						"         ELSE (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) $3) END)",
						SPI_OK_SELECT, 3, types, args, NULL);
			if (SPI_processed > 0)
				return false;
		}
	}
	return true;
}

/*
 * Whether what model n changes may be kept apart from its live table, for promote to
 * apply to it (an increment, bluegreen.incremental_in_place; a published table's new
 * rows, published.c). Not when a hook may act on {{ this }} (a table
 * of its own in shadow), when the model's persist_docs or grants would change the live
 * table's comments or grants (docs_and_grants_as_live), when a column of the live table is filled by a default,
 * an identity or a generation expression (the shadow view could not show what the
 * insert makes), when a materialized view the deployment builds reads the model (its
 * definition would keep reading the shadow view), or when something on the live table
 * would run code or reach beyond it as promote writes it (bg_in_place_obstacle).
 */
bool
bg_in_place_possible(BgBuildContext *ctx, BgNode *n)
{
	BgModelConfig *c = bg_node_config(n);
	Oid			relid;
	Datum		arg;
	Oid			type = OIDOID;
	ListCell   *lc;

	if (c->pre_hooks != NIL || c->post_hooks != NIL)
		return false;
	foreach(lc, ctx->read_by_matview)
		if (strcmp(lfirst(lc), n->unique_id) == 0)
			return false;
	if (!bg_relation_exists(n->schema, n->alias, &relid, NULL) || bg_in_place_obstacle(relid) != NULL ||
		!docs_and_grants_as_live(n, c, relid))
		return false;
	arg = ObjectIdGetDatum(relid);
	bg_spi_exec("SELECT FROM pg_catalog.pg_attribute"
				" WHERE attrelid OPERATOR(pg_catalog.=) $1 AND attnum OPERATOR(pg_catalog.>) 0"
				"   AND NOT attisdropped"
				"   AND (atthasdef OR attidentity OPERATOR(pg_catalog.<>) '' OR attgenerated OPERATOR(pg_catalog.<>) '')"
				" LIMIT 1", SPI_OK_SELECT, 1, &type, &arg, NULL);
	return SPI_processed == 0;
}

/*
 * The columns the increment writes when it leaves the table's columns as they are
 * (what the copy path would do with no ALTER TABLE), or NIL when it would change them:
 * a string column the increment has longer, or a column added, removed or retyped
 * under on_schema_change (or the error that "fail" and "ignore" give). Those take the
 * copy path, which does exactly what dbt does.
 */
static List *
unchanged_columns(BgModelConfig *c, BgNode *n, List *live, List *source)
{
	List	   *added,
			   *removed,
			   *retyped;
	ListCell   *lc;

	if (!n->contract_enforced)
		foreach(lc, live)
		{
			BgColumn   *d = lfirst(lc);
			BgColumn   *s = bg_column_named(source, d->name);

			if (s && is_string_column(d) && is_string_column(s) &&
				string_size(s) > string_size(d))
				return NIL;
		}
	compare_columns(live, source, &added, &removed, &retyped);
	if (strcmp(c->on_schema_change, "ignore") == 0)
		return removed == NIL ? live : NIL;
	return added == NIL && removed == NIL && retyped == NIL ? live : NIL;
}

/*
 * What the live table's unique indexes (on columns, without predicate) would refuse when
 * promote inserts the rows: two of them with one key, or one with the key of a live row
 * that stays. dbt's INSERT fails on it; here it fails the deployment, not the promote.
 */
void
bg_check_unique_keys(const char *what, Oid relid, const char *live, const char *rows,
					 const char *del)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;
	uint64		n;
	char	  **names;
	char	  **keys;
	bool	   *nulls_distinct;

	bg_spi_exec("SELECT i.indexrelid::pg_catalog.regclass::text,"
				"  (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ',' ORDER BY k.n)"
				"     FROM pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k (attnum, n)"
				"     JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid"
				"      AND a.attnum OPERATOR(pg_catalog.=) k.attnum"
				"    WHERE k.n OPERATOR(pg_catalog.<=) i.indnkeyatts),"
				"  NOT i.indnullsnotdistinct"
				" FROM pg_catalog.pg_index AS i WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisunique"
				"  AND i.indpred IS NULL AND i.indexprs IS NULL",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	n = SPI_processed;
	names = palloc(sizeof(char *) * Max(n, 1));
	keys = palloc(sizeof(char *) * Max(n, 1));
	nulls_distinct = palloc(sizeof(bool) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		keys[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		nulls_distinct[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
	}
	for (uint64 i = 0; i < n; i++)
	{
		List	   *cols = NIL;
		StringInfoData join,
					not_null;
		ListCell   *lc;

		if (!SplitIdentifierString(pstrdup(keys[i]), ',', &cols))
			continue;
		initStringInfo(&join);
		initStringInfo(&not_null);
		foreach(lc, cols)
		{
			const char *col = quote_identifier(lfirst(lc));

			appendStringInfo(&join, nulls_distinct[i] ? "%sd.%s OPERATOR(pg_catalog.=) r.%s" :
							 "%sd.%s IS NOT DISTINCT FROM r.%s", join.len ? " AND " : "", col, col);
			appendStringInfo(&not_null, "%s%s IS NOT NULL", not_null.len ? " AND " : "", col);
		}
		bg_spi_exec(psprintf("SELECT FROM %s WHERE %s GROUP BY %s HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 LIMIT 1",
							 rows, nulls_distinct[i] ? not_null.data : "true", keys[i]),
					SPI_OK_SELECT, 0, NULL, NULL, NULL);
		if (SPI_processed == 0)
			bg_spi_exec(psprintf("SELECT FROM %s AS r JOIN ONLY %s AS d ON %s"
								 " WHERE NOT EXISTS (SELECT FROM %s AS x WHERE x.row_ctid OPERATOR(pg_catalog.=) d.ctid)"
								 " LIMIT 1", rows, live, join.data, del),
						SPI_OK_SELECT, 0, NULL, NULL, NULL);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("%s: the new rows would give unique index %s two rows with one key (%s)",
							what, names[i], keys[i]),
					 errdetail("dbt's insert of them fails on it the same way.")));
	}
}

/*
 * The tables that hold what promote applies to live table live: the rows it inserts
 * (the live table's columns, NOT NULL and CHECK constraints: a row they refuse fails
 * here) and the live rows it deletes, by ctid and xmin. Under a FOR ALL TABLES
 * publication they are unlogged, so that nothing of them reaches a subscriber; a crash
 * or a failover empties unlogged tables, so the deletions then hold a marker row (ctid
 * (0,0), which names no row) whose absence tells promote they were lost.
 */
void
bg_in_place_side_tables(BgBuildContext *ctx, const char *live, const char *rows, const char *del)
{
	const char *persistence = ctx->publish_all ? "UNLOGGED " : "";

	bg_spi_exec(psprintf("CREATE %sTABLE %s (LIKE %s INCLUDING CONSTRAINTS)", persistence, rows, live),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_spi_exec(psprintf("CREATE %sTABLE %s (row_ctid pg_catalog.tid, row_xmin pg_catalog.xid)",
						 persistence, del),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	if (ctx->publish_all)
		bg_spi_exec(psprintf("INSERT INTO %s VALUES (" BG_IN_PLACE_MARKER ", '0')", del),
					SPI_OK_INSERT, 0, NULL, NULL, NULL);
}

/* Under the shadow name, the table as promote will leave it: what the models and tests downstream read. */
void
bg_in_place_view(const char *view, const char *live, List *dest, const char *rows, const char *del)
{
	bg_spi_exec(psprintf("CREATE VIEW %s AS SELECT %s FROM ONLY %s AS d"
						 " WHERE NOT EXISTS (SELECT FROM %s AS x WHERE x.row_ctid OPERATOR(pg_catalog.=) d.ctid)"
						 " UNION ALL SELECT %s FROM %s",
						 view, bg_column_list(dest, "d"), live, del, bg_column_list(dest, NULL), rows),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_spi_exec(psprintf("ANALYZE %s, %s", rows, del), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
}

/*
 * Build model n's increment beside its live table, which nothing here writes:
 *	- {{ this }} reads live (a view of it under the shadow name while the code runs);
 *	- the increment, the model's code, in a table of its own;
 *	- the rows promote inserts, typed as the live table's columns (assignment casts, as
 *	  dbt's INSERT makes them), and the live rows it deletes, by ctid and xmin: the
 *	  strategy's statements, with the model's key and predicates, run here, as the
 *	  builder, so that promote runs no manifest SQL;
 *	- under the shadow name, a view of the table as it will be: the live rows not
 *	  deleted and the rows inserted, which the models and tests downstream read.
 * Returns false, with nothing left behind, when the increment changes the table's
 * columns: the caller builds on a copy instead.
 */
static bool
build_in_place(const char *what, BgBuildContext *ctx, BgNode *n, const char *select_sql,
			   const char *shadow_schema, int step, BgBuildResult *res)
{
	BgModelConfig *c = bg_node_config(n);
	const char *strategy = bg_incremental_strategy(n);
	const char *live = quote_qualified_identifier(n->schema, n->alias);
	const char *view = quote_qualified_identifier(shadow_schema, n->alias);
	char	   *incr_name = psprintf("__bg_increment_%d", step);
	const char *increment = quote_qualified_identifier(shadow_schema, incr_name);
	const char *rows = quote_qualified_identifier(shadow_schema, psprintf(BG_IN_PLACE_ROWS, step));
	const char *del = quote_qualified_identifier(shadow_schema, psprintf(BG_IN_PLACE_DELETE, step));
	List	   *dest;
	char	   *cols;

	bg_spi_exec(psprintf("CREATE VIEW %s AS SELECT * FROM %s", view, live),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_run_checked(what, psprintf("CREATE %sTABLE %s AS\n%s", ctx->publish_all ? "UNLOGGED " : "",
								  increment, select_sql),
				   T_CreateTableAsStmt, SPI_OK_UTILITY);
	if (n->contract_enforced)
		bg_check_contract(what, psprintf("SELECT * FROM %s", increment), n);
	dest = unchanged_columns(c, n, columns_of(n->schema, n->alias),
							 columns_of(shadow_schema, incr_name));
	if (dest == NIL)
	{
		bg_spi_exec(psprintf("DROP TABLE %s", increment), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		bg_spi_exec(psprintf("DROP VIEW %s", view), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		return false;
	}
	cols = bg_column_list(dest, NULL);

	bg_in_place_side_tables(ctx, live, rows, del);
	if (strcmp(strategy, "merge") == 0)
	{
		char	   *match = quote_qualified_identifier(shadow_schema,
													   psprintf("__bg_match_%d", step));
		List	   *update = merge_update_list(c, dest);

		/* each live row the MERGE would update, with the increment's row it matches */
		bg_run_checked(what, psprintf("CREATE %sTABLE %s AS SELECT DBT_INTERNAL_DEST.ctid AS dest_ctid,"
									  " DBT_INTERNAL_DEST.xmin AS dest_xmin, DBT_INTERNAL_SOURCE.ctid AS source_ctid"
									  "\nFROM %s AS DBT_INTERNAL_DEST JOIN %s AS DBT_INTERNAL_SOURCE\nON %s",
									  ctx->publish_all ? "UNLOGGED " : "", match, live, increment,
									  merge_condition(c)),
					   T_CreateTableAsStmt, SPI_OK_UTILITY);
		/* MERGE refuses a row matched twice only when it would update it */
		if (c->unique_key != NIL && update != NIL)
			bg_spi_exec(psprintf("SELECT FROM %s GROUP BY dest_ctid HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 LIMIT 1",
								 match), SPI_OK_SELECT, 0, NULL, NULL, NULL);
		if (c->unique_key != NIL && update != NIL && SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("%s: MERGE command cannot affect row a second time", what),
					 errhint("Ensure that not more than one source row matches any one target row.")));
		if (c->unique_key != NIL && update != NIL)
		{
			StringInfoData sel;
			ListCell   *lc;

			/* an updated row: the columns it sets from the increment, the rest as live */
			initStringInfo(&sel);
			foreach(lc, dest)
			{
				BgColumn   *col = lfirst(lc);

				appendStringInfo(&sel, "%s%s.%s", sel.len ? ", " : "",
								 list_member_ptr(update, col) ? "s" : "d",
								 quote_identifier(col->name));
			}
			res->carried_rows = bg_spi_rows(psprintf("INSERT INTO %s SELECT DISTINCT dest_ctid, dest_xmin FROM %s",
												   del, match), SPI_OK_INSERT);
			res->rows = bg_spi_rows(psprintf("INSERT INTO %s (%s) SELECT %s FROM %s AS m"
										   " JOIN %s AS d ON d.ctid OPERATOR(pg_catalog.=) m.dest_ctid"
										   " JOIN %s AS s ON s.ctid OPERATOR(pg_catalog.=) m.source_ctid",
										   rows, cols, sel.data, match, live, increment),
								  SPI_OK_INSERT);
		}
		res->rows += bg_spi_rows(psprintf("INSERT INTO %s (%s) SELECT %s FROM %s AS s"
										" WHERE NOT EXISTS (SELECT FROM %s AS m WHERE m.source_ctid OPERATOR(pg_catalog.=) s.ctid)",
										rows, cols, bg_column_list(dest, "s"), increment, match),
							   SPI_OK_INSERT);
		bg_spi_exec(psprintf("DROP TABLE %s", match), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	}
	else
	{
		if (strcmp(strategy, "delete+insert") == 0 && c->unique_key != NIL)
		{
			char	   *keys = delete_insert_keys(c);

			/* the rows dbt's DELETE would delete */
			res->carried_rows = bg_run_checked(what,
											   psprintf("INSERT INTO %s SELECT DBT_INTERNAL_DEST.ctid, DBT_INTERNAL_DEST.xmin"
														"\nFROM %s AS DBT_INTERNAL_DEST\nWHERE (%s) IN (SELECT DISTINCT %s FROM %s AS DBT_INTERNAL_SOURCE)%s",
														del, live, keys, keys, increment,
														predicates_sql(c->incremental_predicates)),
											   T_InsertStmt, SPI_OK_INSERT);
		}
		res->rows = bg_spi_rows(psprintf("INSERT INTO %s (%s) SELECT %s FROM %s", rows, cols, cols,
									   increment), SPI_OK_INSERT);
	}
	bg_spi_exec(psprintf("DROP TABLE %s", increment), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	{
		Oid			live_oid;

		(void) bg_relation_exists(n->schema, n->alias, &live_oid, NULL);
		bg_check_unique_keys(what, live_oid, live, rows, del);
	}

	/* the table as promote will leave it */
	bg_spi_exec(psprintf("DROP VIEW %s", view), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_in_place_view(view, live, dest, rows, del);
	res->how = psprintf("incremental (%s) in place", strategy);
	res->in_place = true;
	return true;
}

/*
 * Model n's increment: applied in place by promote when it can be (build_in_place),
 * otherwise applied here to a copy of the live table that replaces it.
 */
void
bg_build_incremental(const char *what, BgBuildContext *ctx, BgNode *n,
					 const char *select_sql, const char *shadow_schema, int step,
					 BgBuildResult *res)
{
	if (bg_incremental_in_place && bg_in_place_possible(ctx, n) &&
		build_in_place(what, ctx, n, select_sql, shadow_schema, step, res))
		return;
	build_on_copy(what, ctx, n, select_sql, shadow_schema, step, res);
}

/* The increment applied to a copy of the live table, which replaces it at promote. */
static void
build_on_copy(const char *what, BgBuildContext *ctx, BgNode *n, const char *select_sql,
			  const char *shadow_schema, int step, BgBuildResult *res)
{
	BgModelConfig *c = bg_node_config(n);
	const char *target = quote_qualified_identifier(shadow_schema, n->alias);
	const char *strategy = bg_incremental_strategy(n);
	char	   *incr_name = psprintf("__bg_increment_%d", step);
	char	   *increment = quote_qualified_identifier(shadow_schema, incr_name);
	List	   *dest;
	Oid			live_oid = InvalidOid;
	bool		unlogged;

	/* start from the latest live data, logged or not as the live table is */
	(void) bg_relation_exists(n->schema, n->alias, &live_oid, NULL);
	unlogged = (OidIsValid(live_oid) && get_rel_persistence(live_oid) == RELPERSISTENCE_UNLOGGED) ||
		ctx->publish_all;
	if (n->contract_enforced)
	{
		char	   *ddl = bg_contract_table_sql(what, n, target, unlogged);

		ddl = bg_redirect_ddl(what, ddl, ctx->redirects, ctx->database);
		bg_run_checked(what, ddl, T_CreateStmt, SPI_OK_UTILITY);
		dest = columns_of(n->schema, n->alias);
		res->carried_rows = bg_run_checked(what,
										psprintf("INSERT INTO %s (%s) SELECT %s FROM %s", target,
												 bg_column_list(dest, NULL), bg_column_list(dest, NULL),
												 quote_qualified_identifier(n->schema, n->alias)),
										T_InsertStmt, SPI_OK_INSERT);
	}
	else
	{
		/*
		 * with the live table's indexes, as dbt's incremental run keeps the table's: dbt
		 * creates the indexes config only with the table (or at a full refresh)
		 */
		/* bluegreen's own statement, names quoted, no fragment of the manifest */
		bg_spi_exec(psprintf("CREATE %sTABLE %s (LIKE %s INCLUDING ALL)",
							 unlogged ? "UNLOGGED " : "",
							 target, quote_qualified_identifier(n->schema, n->alias)),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		res->carried_rows = bg_run_checked(what,
										psprintf("INSERT INTO %s SELECT * FROM %s", target,
												 quote_qualified_identifier(n->schema, n->alias)),
										T_InsertStmt, SPI_OK_INSERT);
	}

	/*
	 * Pre-hooks see {{ this }} as dbt's see the existing table: the latest live data,
	 * here its copy, before the increment is computed.
	 */
	bg_run_hooks(ctx, what, c->pre_hooks, shadow_schema, n->alias, n->database);

	/* the increment, reading {{ this }} as the copy just made */
	bg_run_checked(what, psprintf("CREATE %sTABLE %s AS\n%s", ctx->publish_all ? "UNLOGGED " : "",
								  increment, select_sql),
				T_CreateTableAsStmt, SPI_OK_UTILITY);
	if (n->contract_enforced)
		bg_check_contract(what, psprintf("SELECT * FROM %s", increment), n);
	else
		expand_string_columns(target, shadow_schema, n->alias, incr_name);
	dest = reconcile_columns(what, c, target, shadow_schema, n->alias, shadow_schema, incr_name);
	res->rows = apply_increment(what, c, strategy, target, increment, dest);
	bg_spi_exec(psprintf("DROP TABLE %s", increment), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	res->how = psprintf("incremental (%s)", strategy);
}

/*
 * For a deployment that dbt builds (bg.deploy_begin): an incremental model with a live
 * table starts in shadow as a copy of it, so that dbt's is_incremental() finds the
 * relation and applies its increment to the latest live data, not to nothing. Returns
 * the rows copied, or -1 when the model is built in full (nothing to copy).
 */
int64
bg_copy_live_incremental(BgBuildContext *ctx, BgNode *n, bool live_exists,
						 const char *shadow_schema)
{
	char	   *what = bg_node_label(n);
	const char *target = quote_qualified_identifier(shadow_schema, n->alias);
	const char *live = quote_qualified_identifier(n->schema, n->alias);

	if (strcmp(n->materialized, "incremental") != 0 || bg_incremental_in_full(ctx, n, live_exists))
		return -1;
	bg_spi_exec(psprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", target, live),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	return (int64) bg_run_checked(what, psprintf("INSERT INTO %s SELECT * FROM %s", target, live),
							   T_InsertStmt, SPI_OK_INSERT);
}
