/*
 * audit.h
 *		What a deployment checks before it may be promoted: its dbt tests, run against
 *		the shadow build (audit.c), and its dbt unit tests, run before the models they
 *		test are built (unit_test.c). The compatibility verdict is verdict.h's.
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
	char	   *message;		/* unit tests: the rows that differ, when it fails */
} BgTestResult;

extern void bg_run_test(BgBuildContext *ctx, BgNode *test, BgTestResult *res);

/* unit_test.c */
extern void bg_check_unit_test(BgManifest *m, BgUnitTest *ut);
extern void bg_run_unit_test(BgBuildContext *ctx, BgManifest *m, BgUnitTest *ut,
							 BgTestResult *res);

#endif							/* BLUEGREEN_AUDIT_H */
