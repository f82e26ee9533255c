/*
 * audit.h
 *		What a deployment checks before it may be promoted: its dbt tests, run against
 *		the shadow build (audit.c). The compatibility verdict is verdict.h's.
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

#endif							/* BLUEGREEN_AUDIT_H */
