/*
 * audit.h
 *		What a deployment checks before it may be promoted: its dbt tests, run against
 *		the shadow build, and each replaced relation compared with live (audit.c).
 */
#ifndef BLUEGREEN_AUDIT_H
#define BLUEGREEN_AUDIT_H

#include "postgres.h"

#include "build.h"
#include "manifest.h"

typedef struct BgTestResult
{
	int64		failures;
	bool		should_warn;
	bool		should_error;
	const char *status;			/* "pass", "warn", "fail" */
	const char *severity;
} BgTestResult;

extern void bg_run_test(BgBuildContext *ctx, BgNode *test, BgTestResult *res);
extern List *bg_relations_maybe_breaking(List *out, List *in, List *managed);
extern char *bg_compare_relations(Oid live, Oid shadow, Oid *managed, int n_managed,
								  bool *breaking, char **summary);
extern char *bg_removed_relation_report(Oid live, Oid *managed, int n_managed,
										bool *breaking, char **summary);
extern char *bg_in_place_relation_report(void);

#endif							/* BLUEGREEN_AUDIT_H */
