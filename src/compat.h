/*
 * compat.h
 *		PostgreSQL version differences, kept in one place.
 *
 * bluegreen is built and tested on PostgreSQL 15. Every PG_VERSION_NUM test lives here so
 * that adding a version means reading one file.
 */
#ifndef BLUEGREEN_COMPAT_H
#define BLUEGREEN_COMPAT_H

#include "postgres.h"
#include "common/md5.h"

#if PG_VERSION_NUM < 150000
#error "bluegreen needs PostgreSQL 15 or later"
#endif

/* pg_md5_hash grew an error-string argument in 15. */
static inline bool
bg_md5_hex(const void *buf, size_t len, char *hexsum)
{
	const char *errstr = NULL;

	return pg_md5_hash(buf, len, hexsum, &errstr);
}

/* Ownership checks were renamed to object_ownercheck in 16. */
#if PG_VERSION_NUM >= 160000
#define bg_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#define bg_namespace_ownercheck(nspid, roleid) \
	object_ownercheck(NamespaceRelationId, (nspid), (roleid))
#else
#define bg_class_ownercheck(relid, roleid) pg_class_ownercheck((relid), (roleid))
#define bg_namespace_ownercheck(nspid, roleid) pg_namespace_ownercheck((nspid), (roleid))
#endif

#endif							/* BLUEGREEN_COMPAT_H */
