/*
 * publication.c
 *		Which publications send the changes of a table, in each of their forms (FOR
 *		TABLE, FOR TABLES IN SCHEMA, FOR ALL TABLES), and whether they could send what an
 *		in-place promote writes. The one place that reads pg_publication.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "publication.h"
#include "spi.h"

/* Publications that list relid: (name). */
SPITupleTable *
bg_dependent_publications(Oid relid, uint64 *n)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;

	bg_spi_exec("SELECT p.pubname::text FROM pg_catalog.pg_publication_rel AS r"
				"  JOIN pg_catalog.pg_publication AS p ON p.oid OPERATOR(pg_catalog.=) r.prpubid"
				" WHERE r.prrelid OPERATOR(pg_catalog.=) $1 ORDER BY 1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	*n = SPI_processed;
	return SPI_tuptable;
}

/*
 * The publications that send the changes of table relid, however they name it: FOR
 * TABLE, FOR TABLES IN SCHEMA, FOR ALL TABLES (which takes every permanent table):
 * (name, how), ordered by name.
 */
SPITupleTable *
bg_covering_publications(Oid relid, uint64 *n)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;

	bg_spi_exec("SELECT p.pubname::pg_catalog.text, CASE WHEN p.puballtables THEN 'FOR ALL TABLES'"
				"         WHEN EXISTS (SELECT FROM pg_catalog.pg_publication_rel AS r"
				"                       WHERE r.prpubid OPERATOR(pg_catalog.=) p.oid AND r.prrelid OPERATOR(pg_catalog.=) c.oid)"
				"         THEN 'FOR TABLE' ELSE 'FOR TABLES IN SCHEMA' END"
				"  FROM pg_catalog.pg_publication AS p, pg_catalog.pg_class AS c"
				" WHERE c.oid OPERATOR(pg_catalog.=) $1 AND " PUBLICATION_COVERS_SQL
				" ORDER BY 1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	*n = SPI_processed;
	return SPI_tuptable;
}

/* Of relids, the tables some publication sends the changes of. */
List *
bg_published_tables(List *relids)
{
	Datum		arg = bg_oid_array(relids);
	Oid			type = OIDARRAYOID;

	if (relids == NIL)
		return NIL;
	bg_spi_exec("SELECT c.oid FROM pg_catalog.pg_class AS c"
				" WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1)"
				"   AND EXISTS (SELECT FROM pg_catalog.pg_publication AS p WHERE " PUBLICATION_COVERS_SQL ")",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	return bg_spi_oids();
}

bool
bg_table_published(Oid relid)
{
	return bg_published_tables(list_make1_oid(relid)) != NIL;
}

/*
 * Why the changes to table relid's rows could not reach its subscribers as they are,
 * or NULL: a publication that covers it without sending inserts, updates and deletes
 * (promote writes all three), or with a row filter or column list on it (a delete
 * must carry what the filter reads, a subscriber the columns it leaves out).
 */
char *
bg_publication_obstacle(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			type = OIDOID;

	bg_spi_exec("SELECT 'publication ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(p.pubname) OPERATOR(pg_catalog.||)"
				"  CASE WHEN NOT (p.pubinsert AND p.pubupdate AND p.pubdelete) THEN ' does not send inserts, updates and deletes'"
				"       ELSE ' has a row filter or a column list on it' END"
				"  FROM pg_catalog.pg_publication AS p CROSS JOIN pg_catalog.pg_class AS c"
				"  LEFT JOIN pg_catalog.pg_publication_rel AS pr"
				"    ON pr.prpubid OPERATOR(pg_catalog.=) p.oid AND pr.prrelid OPERATOR(pg_catalog.=) c.oid"
				" WHERE c.oid OPERATOR(pg_catalog.=) $1 AND " PUBLICATION_COVERS_SQL
				"   AND (NOT (p.pubinsert AND p.pubupdate AND p.pubdelete) OR pr.prqual IS NOT NULL OR pr.prattrs IS NOT NULL)"
				" ORDER BY p.pubname LIMIT 1",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	return SPI_processed > 0 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
}

/*
 * Whether a publication takes every table of the database (FOR ALL TABLES): then any
 * permanent table a deployment creates in shadow is published the moment it exists.
 */
bool
bg_all_tables_published(void)
{
	bg_spi_exec("SELECT FROM pg_catalog.pg_publication WHERE puballtables LIMIT 1",
				SPI_OK_SELECT, 0, NULL, NULL, NULL);
	return SPI_processed > 0;
}

