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

#if PG_VERSION_NUM < 150000
#error "bluegreen needs PostgreSQL 15 or later"
#endif

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

/* Index entries of a new heap tuple: 16 asks whether only summarizing indexes need them. */
#if PG_VERSION_NUM >= 160000
#define bg_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#else
#define bg_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#endif

/*
 * How many locks one transaction can count on in a lock table sized for "nominal" of
 * them (max_locks_per_transaction for each backend and prepared transaction).
 * PostgreSQL 15 reserves shared memory for nominal LOCK entries and twice as many
 * PROCLOCK entries, and a lock held by one backend alone takes one of each, so the LOCK
 * table grows into the PROCLOCK table's unused room: one transaction locking tables
 * until "out of shared memory" gets about 1.54 x nominal + 800 at any setting (measured:
 * 12,855 at default settings, nominal 7,808). bluegreen counts on 1.4 x nominal and
 * leaves the rest to other sessions, whose weak locks move into the same table while a
 * switch holds strong ones. A version that sizes the table otherwise changes this.
 */
#define BG_LOCKS_FIT(nominal) ((nominal) * 7 / 5)

#endif							/* BLUEGREEN_COMPAT_H */
