/*
 * redirect.h
 *		Compiled SQL read with PostgreSQL's parser: checks and shadow redirection
 *		(see redirect.c).
 */
#ifndef BLUEGREEN_REDIRECT_H
#define BLUEGREEN_REDIRECT_H

#include "nodes/nodes.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

extern HTAB *bg_redirect_map_create(MemoryContext cxt);
extern void bg_redirect_map_add(HTAB *map, const char *schema, const char *name,
								const char *target);
extern const char *bg_redirect_target(HTAB *map, const char *schema, const char *name);
extern char *bg_redirect_select(const char *what, const char *sql, HTAB *redirects,
								const char *database, int *n_redirected);
extern char *bg_redirect_ddl(const char *what, const char *sql, HTAB *redirects,
							 const char *database);
extern char *bg_render_hook(const char *what, const char *hook, const char *schema,
							const char *name, const char *database);
extern void bg_check_single_select(const char *what, const char *sql, const char *whose);
extern char *bg_identifier_at(const char *s, int *len, bool *qualified);
extern List *bg_raw_parse(const char *what, const char *sql, const char *whose);
extern uint64 bg_run_checked(const char *what, const char *sql, NodeTag expected_tag,
							 int expected_rc);

#endif							/* BLUEGREEN_REDIRECT_H */
