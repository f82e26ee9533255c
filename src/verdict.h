/*
 * verdict.h
 *		Whether a deployment's change to a live relation can break something: the one
 *		definition of each compatibility rule, asked alike by bg.plan, the deploy report
 *		and promote, and by the switch for what reads a relation (verdict.c).
 */
#ifndef BLUEGREEN_VERDICT_H
#define BLUEGREEN_VERDICT_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* the type rule */
extern bool bg_type_widens(Oid from, int32 from_mod, Oid to, int32 to_mod);

/*
 * What reads a relation from outside, and whether it can follow the relation to its
 * replacement ("in"; InvalidOid when the relation is removed): NULL when it can, or why
 * not, as a phrase that names the relation ("reads column x of analytics.orders, ...").
 */
extern char *bg_reader_cannot_follow(Oid reader, char kind, Oid out, Oid in);
extern char *bg_foreign_key_cannot_follow(Oid conoid, const char *code, Oid out, Oid in);

/*
 * The verdict on one live relation: a JSON report (bg.deployment_steps.compatibility),
 * *breaking, and *summary, a line saying what changes and why it breaks (NULL when
 * nothing changes). managed: the live relations the same switch replaces or removes
 * (Oid list); what reads them is not outside.
 */
extern char *bg_verdict_replace(Oid live, Oid shadow, List *managed, bool *breaking,
								char **summary);
extern char *bg_verdict_remove(Oid live, const char *reason, const char *moved_to,
							   List *managed, bool *breaking, char **summary);
extern char *bg_verdict_in_place(void);
extern List *bg_verdict_candidates(List *out, List *in, List *managed);

/* the column-level rules alone (bg.plan, from an enforced contract) */
extern void bg_verdict_columns(List *live, List *now, bool typmods_known, StringInfo line,
							   bool *breaking);

#endif							/* BLUEGREEN_VERDICT_H */
