/*
 * apply.c
 *		An increment kept in place (incremental.c) applied to its live table inside the
 *		switch, and taken back out by rollback.
 *
 * At deploy, the builder computed what the model's strategy changes: the rows to insert
 * (<shadow>.__bg_rows_<step>, typed as the live table's columns) and the live rows to
 * delete (<shadow>.__bg_delete_<step>, by ctid and xmin), and the shadow view under the
 * model's name showed the table as it will be to what read it downstream. Promote runs
 * no manifest SQL: in the switch's subtransaction it deletes those rows, keeping them in
 * <live>__bg_p<D>.__bg_deleted_<step>, inserts the new ones, recording where they went in
 * <live>__bg_p<D>.__bg_inserted_<step>, points the views of the deployment that read the
 * shadow view at the live table, and drops the shadow view and the two tables. DML takes
 * no ACCESS EXCLUSIVE lock: readers of the table never wait for the switch, and see the
 * rows as they were until it commits, whatever their isolation level.
 *
 * A row is the one the deployment saw only while its ctid and xmin are what they were:
 * when fewer rows than recorded are deleted (the live table was written, vacuumed full
 * or clustered meanwhile), the switch stops with nothing changed. Rollback deletes the
 * inserted rows the same way and inserts the kept ones again.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "privilege.h"
#include "promote.h"
#include "redirect.h"
#include "spi.h"
#include "state.h"
#include "util.h"

/* One statement of the switch that applies an increment, and the rows it must write. */
typedef struct BgApplyStatement
{
	char	   *sql;
	int64		expected;		/* -1: not checked */
	bool		rows;			/* writes the live table's rows: run before the moves */
	BgMove	   *move;
} BgApplyStatement;

static int64
count_rows(Oid relid)
{
	return bg_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM %s", bg_relation_name(relid)));
}

/* The rows a table of ctids names, not counting the marker row of an unlogged one. */
static int64
count_ctids(Oid relid)
{
	return bg_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM %s WHERE row_ctid OPERATOR(pg_catalog.<>) " BG_IN_PLACE_MARKER,
								bg_relation_name(relid)));
}

static void
add(BgSwitch *sw, BgMove *m, char *sql, int64 expected)
{
	BgApplyStatement *st = palloc(sizeof(BgApplyStatement));

	st->sql = sql;
	st->expected = expected;
	st->rows = expected >= 0;
	st->move = m;
	sw->apply = lappend(sw->apply, st);
	if (st->rows)
		sw->apply_rows_sql = lappend(sw->apply_rows_sql, sql);
	else
		sw->apply_sql = lappend(sw->apply_sql, sql);
}

/*
 * Where each relation the switch brings live is now (its shadow name) and where it will
 * be: the views re-pointed below are written again by name, after the moves.
 */
static HTAB *
incoming_names(BgSwitch *sw)
{
	HTAB	   *map = bg_redirect_map_create(CurrentMemoryContext);
	ListCell   *lc;

	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (OidIsValid(m->in_oid) || (m->kind == BG_MOVE_APPLY && !sw->rollback))
			bg_redirect_map_add(map, m->from_schema, m->name,
								quote_qualified_identifier(m->live_schema, m->name));
	}
	return map;
}

/* The live name the view "view", one the switch brings live, will have; NULL if none. */
static BgMove *
move_bringing(BgSwitch *sw, Oid view)
{
	ListCell   *lc;

	foreach(lc, sw->moves)
		if (((BgMove *) lfirst(lc))->in_oid == view)
			return lfirst(lc);
	return NULL;
}

/*
 * The views that read the shadow view of m, written again over the live table: each must
 * be one the switch brings live; anything else that reads the shadow view is refused.
 */
typedef struct Reader
{
	Oid			relid;
	char		kind;
	char	   *options;		/* reloptions, or NULL */
} Reader;

static void
repoint_readers(BgSwitch *sw, BgMove *m, HTAB *names, List **refused)
{
	uint64		n;
	SPITupleTable *tt = bg_dependent_views(m->view_oid, &n);
	Reader	   *readers = palloc(sizeof(Reader) * Max(n, 1));

	/* listed first: reading a definition runs queries of its own */
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		readers[i].relid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		readers[i].kind = DatumGetChar(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		readers[i].options = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);
	}
	for (uint64 i = 0; i < n; i++)
	{
		Reader	   *r = &readers[i];
		BgMove	   *brought = move_bringing(sw, r->relid);
		char	   *def;

		if (r->kind != RELKIND_VIEW || brought == NULL)
		{
			*refused = lappend(*refused,
							   psprintf("%s %s reads %s, the shadow view of an increment applied in place",
										bg_relkind_name(r->kind), bg_relation_name(r->relid),
										bg_relation_name(m->view_oid)));
			continue;
		}
		/* a view that reads several of them: written once, for all */
		if (list_member_oid(sw->views, r->relid))
			continue;
		sw->views = lappend_oid(sw->views, r->relid);
		def = TextDatumGetCString(DirectFunctionCall2(pg_get_viewdef_ext, ObjectIdGetDatum(r->relid),
													  BoolGetDatum(false)));
		if (strlen(def) > 0 && def[strlen(def) - 1] == ';')
			def[strlen(def) - 1] = '\0';
		def = bg_redirect_select(bg_relation_name(r->relid), def, names, NULL, NULL);
		add(sw, m, psprintf("CREATE OR REPLACE VIEW %s%s%s%s AS %s",
							quote_qualified_identifier(brought->live_schema, brought->name),
							r->options ? " WITH (" : "", r->options ? r->options : "",
							r->options ? ")" : "", def), -1);
	}
}

/* "c1 = r.c1, c2 = r.c2, ..." */
static char *
set_list(Oid relid, const char *from)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, bg_relation_columns(relid))
	{
		const char *c = quote_identifier(((BgColumn *) lfirst(lc))->name);

		appendStringInfo(&buf, "%s%s = %s.%s", buf.len ? ", " : "", c, from, c);
	}
	return buf.data;
}

/*
 * Promote of a table with a replica identity key: a live row to delete and a new row
 * with its key are one UPDATE, so that subscribers and change-data capture see the row
 * change, not go and come back. Every live row the deployment replaces is kept first
 * (for rollback), then the pairs are updated, the rest deleted, the rest inserted.
 * key_match pairs live rows (d) with new ones (r).
 */
static void
plan_keyed_promote(BgSwitch *sw, BgMove *m, const char *key_match, const char *cols,
				   const char *deleted, const char *inserted)
{
	const char *live = quote_qualified_identifier(m->live_schema, m->name);
	const char *del = bg_relation_name(m->delete_oid);
	const char *rows = bg_relation_name(m->rows_oid);
	int64		pairs = bg_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s AS d"
											 " JOIN %s AS x ON d.ctid OPERATOR(pg_catalog.=) x.row_ctid AND d.xmin OPERATOR(pg_catalog.=) x.row_xmin"
											 " JOIN %s AS r ON %s", live, del, rows, key_match));

	int64		replaced = count_ctids(m->delete_oid);

	add(sw, m, psprintf("INSERT INTO %s SELECT d.* FROM ONLY %s AS d JOIN %s AS x"
						" ON d.ctid OPERATOR(pg_catalog.=) x.row_ctid AND d.xmin OPERATOR(pg_catalog.=) x.row_xmin",
						deleted, live, del),
		replaced);
	add(sw, m, psprintf("WITH up AS (UPDATE ONLY %s AS d SET %s FROM %s AS x, %s AS r"
						" WHERE d.ctid OPERATOR(pg_catalog.=) x.row_ctid AND d.xmin OPERATOR(pg_catalog.=) x.row_xmin AND %s"
						" RETURNING d.ctid, d.xmin) INSERT INTO %s SELECT * FROM up",
						live, set_list(m->rows_oid, "r"), del, rows, key_match, inserted),
		pairs);
	/* the updated rows have a new xmin now: these are the others */
	add(sw, m, psprintf("DELETE FROM ONLY %s AS d USING %s AS x"
						" WHERE d.ctid OPERATOR(pg_catalog.=) x.row_ctid AND d.xmin OPERATOR(pg_catalog.=) x.row_xmin",
						live, del),
		replaced - pairs);
	add(sw, m, psprintf("WITH put AS (INSERT INTO %s (%s) SELECT %s FROM %s AS r"
						" WHERE NOT EXISTS (SELECT FROM %s AS d WHERE %s) RETURNING ctid, xmin)"
						" INSERT INTO %s SELECT * FROM put",
						live, cols, cols, rows, deleted, key_match, inserted),
		count_rows(m->rows_oid) - pairs);
}

/*
 * Rollback of plan_keyed_promote: the rows it updated updated back (their key pairs the
 * row promote inserted with the one it kept), the rest of what it inserted deleted, the
 * rest of what it deleted inserted again. key_match pairs live rows (d) with kept ones,
 * here aliased r.
 */
static void
plan_keyed_rollback(BgSwitch *sw, BgMove *m, const char *key_match, const char *cols,
					const char *deleted, const char *inserted)
{
	const char *live = quote_qualified_identifier(m->live_schema, m->name);
	int64		pairs = bg_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s AS d"
											 " JOIN %s AS x ON d.ctid OPERATOR(pg_catalog.=) x.row_ctid AND d.xmin OPERATOR(pg_catalog.=) x.row_xmin"
											 " JOIN %s AS r ON %s", live, inserted, deleted, key_match));

	add(sw, m, psprintf("UPDATE ONLY %s AS d SET %s FROM %s AS x, %s AS r"
						" WHERE d.ctid OPERATOR(pg_catalog.=) x.row_ctid AND d.xmin OPERATOR(pg_catalog.=) x.row_xmin AND %s",
						live, set_list(m->delete_oid, "r"), inserted, deleted, key_match),
		pairs);
	add(sw, m, psprintf("DELETE FROM ONLY %s AS d USING %s AS x"
						" WHERE d.ctid OPERATOR(pg_catalog.=) x.row_ctid AND d.xmin OPERATOR(pg_catalog.=) x.row_xmin",
						live, inserted),
		count_ctids(m->rows_oid) - pairs);
	add(sw, m, psprintf("INSERT INTO %s (%s) SELECT %s FROM %s AS r"
						" WHERE NOT EXISTS (SELECT FROM ONLY %s AS d WHERE %s)",
						live, cols, cols, deleted, live, key_match),
		count_rows(m->delete_oid) - pairs);
}

/*
 * The statements that apply (promote) or take back (rollback) the increment of each
 * move of kind BG_MOVE_APPLY: their tables for rollback made in prepare, the rest in
 * sw->apply: those writing rows run before the moves, the others (re-pointing views,
 * drops) after (bg_apply_run). What cannot be re-pointed goes to *refused.
 */
void
bg_apply_plan(BgSwitch *sw, List **refused)
{
	HTAB	   *names = NULL;
	bool		publish_all = bg_all_tables_published();
	ListCell   *lc;

	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);
		const char *live = quote_qualified_identifier(m->live_schema, m->name);
		char	   *deleted = quote_qualified_identifier(m->away_schema,
														 psprintf(BG_IN_PLACE_DELETED, m->step));
		char	   *inserted = quote_qualified_identifier(m->away_schema,
														  psprintf(BG_IN_PLACE_INSERTED, m->step));
		char	   *cols;
		char	   *key_match;

		if (m->kind != BG_MOVE_APPLY)
			continue;
		/* rows of one key on both sides pair up as an UPDATE (published.c) */
		key_match = bg_replica_key_match(m->apply_oid, "d", "r");
		if (!sw->rollback)
		{
			/* under FOR ALL TABLES unlogged, as the deploy's (incremental.c), with the marker */
			const char *persistence = publish_all ? "UNLOGGED " : "";

			cols = bg_column_list(bg_relation_columns(m->rows_oid), NULL);
			sw->prepare = lappend(sw->prepare, psprintf("CREATE %sTABLE %s (LIKE %s)", persistence,
														deleted, live));
			sw->prepare = lappend(sw->prepare, publish_all ?
								  psprintf("CREATE UNLOGGED TABLE %s AS SELECT " BG_IN_PLACE_MARKER " AS row_ctid,"
										   " '0'::pg_catalog.xid AS row_xmin", inserted) :
								  psprintf("CREATE TABLE %s (row_ctid pg_catalog.tid, row_xmin pg_catalog.xid)",
										   inserted));
			sw->prepare = lappend(sw->prepare, psprintf("ALTER TABLE %s OWNER TO %s", deleted,
														quote_identifier(BG_OWNER_ROLE)));
			sw->prepare = lappend(sw->prepare, psprintf("ALTER TABLE %s OWNER TO %s", inserted,
														quote_identifier(BG_OWNER_ROLE)));
			if (key_match)
				plan_keyed_promote(sw, m, key_match, cols, deleted, inserted);
			else
			{
				add(sw, m, psprintf("WITH gone AS (DELETE FROM ONLY %s AS d USING %s AS x"
									" WHERE d.ctid OPERATOR(pg_catalog.=) x.row_ctid AND d.xmin OPERATOR(pg_catalog.=) x.row_xmin"
									" RETURNING d.*) INSERT INTO %s SELECT * FROM gone",
									live, bg_relation_name(m->delete_oid), deleted),
					count_ctids(m->delete_oid));
				add(sw, m, psprintf("WITH put AS (INSERT INTO %s (%s) SELECT %s FROM %s RETURNING ctid, xmin)"
									" INSERT INTO %s SELECT * FROM put",
									live, cols, cols, bg_relation_name(m->rows_oid), inserted),
					count_rows(m->rows_oid));
			}
			if (names == NULL)
				names = incoming_names(sw);
			repoint_readers(sw, m, names, refused);
			add(sw, m, psprintf("DROP VIEW %s", bg_relation_name(m->view_oid)), -1);
			add(sw, m, psprintf("DROP TABLE %s, %s", bg_relation_name(m->rows_oid),
								bg_relation_name(m->delete_oid)), -1);
		}
		else
		{
			/* rollback: rows_oid is what promote inserted, delete_oid what it deleted */
			cols = bg_column_list(bg_relation_columns(m->delete_oid), NULL);
			if (key_match)
				plan_keyed_rollback(sw, m, key_match, cols, deleted, inserted);
			else
			{
				add(sw, m, psprintf("DELETE FROM ONLY %s AS d USING %s AS x"
									" WHERE d.ctid OPERATOR(pg_catalog.=) x.row_ctid AND d.xmin OPERATOR(pg_catalog.=) x.row_xmin",
									live, inserted), count_ctids(m->rows_oid));
				add(sw, m, psprintf("INSERT INTO %s (%s) SELECT %s FROM %s", live, cols, cols, deleted),
					count_rows(m->delete_oid));
			}
			add(sw, m, psprintf("DROP TABLE %s, %s", deleted, inserted), -1);
		}
	}
}

/* Locks the statements of bg_apply_plan take, beside the moves'. */
int64
bg_apply_locks(BgSwitch *sw)
{
	int64		locks = 0;
	ListCell   *lc;

	foreach(lc, sw->moves)
	{
		BgMove	   *m = lfirst(lc);

		if (m->kind == BG_MOVE_APPLY)
			/* the live table and its indexes; the side tables, their TOAST, types and
			 * rules, which the drops lock too */
			locks += bg_relation_locks(list_make1_oid(m->apply_oid), true) + 24;
	}
	return locks;
}

/*
 * Run the statements of bg_apply_plan, in the switch's subtransaction: those that write
 * the live tables' rows (rows) before the moves take their ACCESS EXCLUSIVE locks, so
 * that readers of the moved relations do not wait for them; the rest (re-pointing
 * views, drops) after. A statement that writes fewer or more rows than the deployment
 * recorded means the live table is not what the deployment saw: the switch stops,
 * changing nothing.
 */
void
bg_apply_run(BgSwitch *sw, bool rows)
{
	ListCell   *lc;

	foreach(lc, sw->apply)
	{
		BgApplyStatement *st = lfirst(lc);
		int			rc;

		if (st->rows != rows)
			continue;
		rc = SPI_execute(st->sql, false, 0);

		if (rc < 0)
			elog(ERROR, "SPI_execute failed (%s): %s", SPI_result_code_string(rc), st->sql);
		if (st->expected >= 0 && (int64) SPI_processed != st->expected)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot %s deployment " INT64_FORMAT ": live table %s changed since it was %s",
							sw->rollback ? "roll back" : "promote", sw->deployment_id,
							quote_qualified_identifier(st->move->live_schema, st->move->name),
							sw->rollback ? "promoted" : "built"),
					 errdetail("%s %s row%s of it, and " UINT64_FORMAT " %s as %s.",
							   sw->rollback ? "Promote inserted" : "The deployment is to delete",
							   bg_thousands(st->expected), st->expected == 1 ? "" : "s",
							   (uint64) SPI_processed, SPI_processed == 1 ? "is" : "are",
							   sw->rollback ? "promote left it" : "it read them"),
					 errhint(sw->rollback ?
							 "Nothing was changed; rows promote inserted were updated, deleted or moved (VACUUM FULL, CLUSTER) since." :
							 "Nothing was changed; deploy again: the table was written, or its rows moved (VACUUM FULL, CLUSTER), after the deployment read it.")));
	}
}
