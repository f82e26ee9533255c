/*
 * progress.h
 *		Progress lines of a deployment (progress.c).
 */
#ifndef BLUEGREEN_PROGRESS_H
#define BLUEGREEN_PROGRESS_H

#include "state.h"

extern void bg_report_step(BgStep *s, int total);

#endif							/* BLUEGREEN_PROGRESS_H */
