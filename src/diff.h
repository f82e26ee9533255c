/*
 * diff.h
 *		Blue against green: how the rows of a replaced relation differ (see diff.c).
 */
#ifndef BLUEGREEN_DIFF_H
#define BLUEGREEN_DIFF_H

#include "manifest.h"
#include "state.h"

extern char *bg_diff_compute(const char *live, List *lcols, const char *shadow, List *rcols,
							 List *key, const char *key_source, int64 unchanged);
extern char *bg_diff_step(BgManifest *m, BgStep *s);
extern char *bg_diff_bound(BgNode *n);
extern List *bg_diff_index_key(Oid relid, char **source);
extern bool bg_diff_columns_of_both(List *names, List *lcols, List *rcols);

/* diff_report.c */
extern char *bg_diff_over_bound(List *diffs);
extern char *bg_diff_line(BgStepDiff *sd);

#endif							/* BLUEGREEN_DIFF_H */
