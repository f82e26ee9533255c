/*
 * publication.h
 *		Which publications send the changes of a table (see publication.c).
 */
#ifndef BLUEGREEN_PUBLICATION_H
#define BLUEGREEN_PUBLICATION_H

#include "postgres.h"

#include "executor/spi.h"
#include "nodes/pg_list.h"

/*
 * Publication p sends the changes of table c: FOR TABLE, FOR TABLES IN SCHEMA, FOR ALL
 * TABLES (which takes every permanent table). The one definition of "published".
 */
#define PUBLICATION_COVERS_SQL \
	"c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}') AND c.relpersistence OPERATOR(pg_catalog.=) 'p'" \
	" AND (p.puballtables" \
	"      OR EXISTS (SELECT FROM pg_catalog.pg_publication_rel AS r" \
	"                  WHERE r.prpubid OPERATOR(pg_catalog.=) p.oid AND r.prrelid OPERATOR(pg_catalog.=) c.oid)" \
	"      OR EXISTS (SELECT FROM pg_catalog.pg_publication_namespace AS s" \
	"                  WHERE s.pnpubid OPERATOR(pg_catalog.=) p.oid AND s.pnnspid OPERATOR(pg_catalog.=) c.relnamespace))"

extern SPITupleTable *bg_dependent_publications(Oid relid, uint64 *n);
extern SPITupleTable *bg_covering_publications(Oid relid, uint64 *n);
extern List *bg_published_tables(List *relids);
extern bool bg_table_published(Oid relid);
extern char *bg_publication_obstacle(Oid relid);
extern bool bg_all_tables_published(void);

#endif							/* BLUEGREEN_PUBLICATION_H */
