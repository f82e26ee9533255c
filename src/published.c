/*
 * published.c
 *		A table that feeds logical replication, promoted as its exact changes.
 *
 * A publication sends what happens to the rows of the tables it covers (FOR TABLE, FOR
 * TABLES IN SCHEMA, FOR ALL TABLES). Replacing such a table by another, as promote does
 * any other table, sends nothing: subscribers keep the old rows, and the new table has
 * neither the old one's replica identity nor, for FOR TABLE, its place in the
 * publication. So a table model whose live table is published is built in full into
 * shadow, as dbt builds it, and then kept as what changes: the live rows no longer in
 * the new version (to delete, by ctid and xmin) and the new rows not already live (to
 * insert), compared as multisets of whole rows, as text, so that a value that changes
 * only in how it is written (1.0 and 1.00) changes for subscribers too. The full build
 * is dropped; the shadow name shows the table as it will be; promote applies the
 * changes inside the switch, exactly as it applies an increment kept in place
 * (incremental.c, apply.c), and rollback applies them backwards. The live table keeps
 * its OID, replica identity, indexes, grants and publication membership; a subscriber
 * receives each change once, with the switch's commit.
 *
 * Only when the live table can take the rows as they are: its columns the new
 * version's, in order and type, and nothing on it that in-place writes may not touch
 * (bg_in_place_possible). Otherwise the table is replaced as any other, and
 * the verdict calls that breaking for the subscribers (verdict.c).
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "build.h"
#include "catalog.h"
#include "spi.h"
#include "state.h"

/*
 * Model n was just built in full as shadow_schema.alias (a table). When its live table
 * is published and can take the changes in place, keep only those and return true, the
 * shadow name then a view of the table as promote will leave it; false, with the build
 * left as it is, otherwise.
 */
bool
bg_build_as_changes(const char *what, BgBuildContext *ctx, BgNode *n,
					const char *shadow_schema, int step, BgBuildResult *res)
{
	Oid			live_oid;
	Oid			built_oid;
	List	   *cols;
	const char *live = quote_qualified_identifier(n->schema, n->alias);
	const char *view = quote_qualified_identifier(shadow_schema, n->alias);
	char	   *new_name = psprintf("__bg_new_%d", step);
	const char *built = quote_qualified_identifier(shadow_schema, new_name);
	const char *counts = quote_qualified_identifier(shadow_schema, psprintf("__bg_counts_%d", step));
	const char *rows = quote_qualified_identifier(shadow_schema, psprintf(BG_IN_PLACE_ROWS, step));
	const char *del = quote_qualified_identifier(shadow_schema, psprintf(BG_IN_PLACE_DELETE, step));
	char	   *row,
			   *list;
	int			level;

	if (!bg_relation_exists(n->schema, n->alias, &live_oid, NULL) ||
		get_rel_relkind(live_oid) != RELKIND_RELATION || !bg_table_published(live_oid) ||
		!bg_relation_exists(shadow_schema, n->alias, &built_oid, NULL) ||
		!bg_in_place_possible(ctx, n))
		return false;
	cols = bg_relation_columns(live_oid);
	if (!bg_same_columns(cols, bg_relation_columns(built_oid)))
		return false;

	/* rows compared by their text, in full: a float must not print as its neighbour does */
	level = NewGUCNestLevel();
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	list = bg_column_list(cols, NULL);
	row = psprintf("ROW(%s)::pg_catalog.text", bg_column_list(cols, "d"));
	bg_spi_exec(psprintf("ALTER TABLE %s RENAME TO %s", view, quote_identifier(new_name)),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_in_place_side_tables(ctx, live, rows, del);

	/* each distinct row that one side has more often than the other, and how often each has it */
	bg_spi_exec(psprintf("CREATE UNLOGGED TABLE %s AS"
						 " SELECT u.t, pg_catalog.count(*) FILTER (WHERE u.live) AS nl,"
						 "        pg_catalog.count(*) FILTER (WHERE NOT u.live) AS nn"
						 "   FROM (SELECT true AS live, %s AS t FROM ONLY %s AS d"
						 "         UNION ALL SELECT false, %s FROM %s AS d) AS u"
						 "  GROUP BY u.t"
						 " HAVING pg_catalog.count(*) FILTER (WHERE u.live)"
						 "        OPERATOR(pg_catalog.<>) pg_catalog.count(*) FILTER (WHERE NOT u.live)",
						 counts, row, live, row, built),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	/* the live rows in excess, and the new rows in excess */
	res->carried_rows = bg_spi_rows(psprintf("INSERT INTO %s"
										   " SELECT x.c, x.x FROM (SELECT d.ctid AS c, d.xmin AS x,"
										   "   pg_catalog.row_number() OVER (PARTITION BY k.t) AS i,"
										   "   k.nl OPERATOR(pg_catalog.-) k.nn AS excess"
										   "   FROM ONLY %s AS d JOIN %s AS k ON k.t OPERATOR(pg_catalog.=) %s"
										   "  WHERE k.nl OPERATOR(pg_catalog.>) k.nn) AS x"
										   " WHERE x.i OPERATOR(pg_catalog.<=) x.excess",
										   del, live, counts, row),
								  SPI_OK_INSERT);
	res->rows = bg_spi_rows(psprintf("INSERT INTO %s (%s)"
								   " SELECT %s FROM (SELECT d.*,"
								   "   pg_catalog.row_number() OVER (PARTITION BY k.t) AS __bg_i,"
								   "   k.nn OPERATOR(pg_catalog.-) k.nl AS __bg_excess"
								   "   FROM %s AS d JOIN %s AS k ON k.t OPERATOR(pg_catalog.=) %s"
								   "  WHERE k.nn OPERATOR(pg_catalog.>) k.nl) AS x"
								   " WHERE x.__bg_i OPERATOR(pg_catalog.<=) x.__bg_excess",
								   rows, list, bg_column_list(cols, "x"), built, counts, row),
						  SPI_OK_INSERT);
	AtEOXact_GUC(true, level);
	bg_spi_exec(psprintf("DROP TABLE %s, %s", counts, built), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_check_unique_keys(what, live_oid, live, rows, del);
	bg_in_place_view(view, live, cols, rows, del);
	res->how = psprintf("%s, as its changes to the published table", res->how);
	res->in_place = true;
	return true;
}
