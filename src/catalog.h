/*
 * catalog.h
 *		What bluegreen reads of the system catalogs about relations and schemas: one
 *		definition of each question, asked by build, audit and promote alike (catalog.c).
 */
#ifndef BLUEGREEN_CATALOG_H
#define BLUEGREEN_CATALOG_H

#include "postgres.h"

#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "storage/lock.h"

#include "publication.h"

/* One column of a relation. */
typedef struct BgColumn
{
	int			attnum;
	char	   *name;
	Oid			type;
	int32		typmod;
	char	   *type_name;		/* format_type_with_typemod */
} BgColumn;

extern bool bg_relation_exists(const char *schema, const char *name, Oid *relid, char *relkind);
extern Oid	bg_relation_owner(Oid relid);
extern Oid	bg_namespace_owner(Oid nsp);
extern char *bg_relation_name(Oid relid);
extern const char *bg_relkind_keyword(char relkind);
extern const char *bg_relkind_name(char relkind);
extern bool bg_kind_carries_row_security(char relkind);

extern List *bg_relation_columns(Oid relid);
extern BgColumn *bg_column_named(List *columns, const char *name);
extern bool bg_same_columns(List *a, List *b);
extern BgColumn *bg_column_numbered(List *columns, int attnum);
extern char *bg_column_list(List *columns, const char *prefix);

/* What reads a relation from outside it: one set of queries for audit and promote. */
extern SPITupleTable *bg_dependent_views(Oid relid, uint64 *n);
extern SPITupleTable *bg_dependent_foreign_keys(Oid relid, uint64 *n);
extern bool bg_foreign_key_backed(Oid conoid, Oid relid);

extern List *bg_other_sessions_temp_views(Oid relid);
extern List *bg_relations_with_dependents(List *relids, List *except);
extern List *bg_acting_as_owner(List *relids, bool triggers);
extern char *bg_in_place_obstacle(Oid relid);
extern char *bg_replica_key_match(Oid relid, const char *a, const char *b);
/* the catalogs and their indexes a switch or a drop locks besides its relations */
#define BG_CATALOG_LOCKS 64

/*
 * Work on many relations (drops, handing over) commits in batches when the CALL may
 * commit (outside a transaction block): each locks its relation, indexes, TOAST and types
 * until the commit, and thousands in one transaction would not fit the server's lock
 * table at default settings. A batch takes about max_locks_per_transaction locks, its
 * share of the table.
 */
#define BG_LOCK_BATCH Max(1, max_locks_per_xact / 8)

extern int64 bg_relation_locks(List *relids, bool parts);
extern void bg_check_lock_table(int64 needed, const char *what, const char *hint);
extern char *bg_lock_holders(List *relids, Oid caller);
extern char *bg_session_names(List *pids, Oid caller);

#endif							/* BLUEGREEN_CATALOG_H */
