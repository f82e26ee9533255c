/*
 * scope.h
 *		The managed scope: the schemas and relations bluegreen may act on (scope.c).
 */
#ifndef BLUEGREEN_SCOPE_H
#define BLUEGREEN_SCOPE_H

#include "postgres.h"

#include "nodes/pg_list.h"

extern bool bg_schema_is_side(const char *schema);
extern void bg_scope_check(const char *what, const char *schema, const char *name);
extern void bg_scope_grant_reads(const char *schema, const char *name);

#endif							/* BLUEGREEN_SCOPE_H */
