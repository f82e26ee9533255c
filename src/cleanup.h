/*
 * cleanup.h
 *		Dropping what deployments leave beside production (cleanup.c).
 */
#ifndef BLUEGREEN_CLEANUP_H
#define BLUEGREEN_CLEANUP_H

#include "state.h"

extern int	bg_drop_unpromoted(BgProject *project, const char *new_status, const char *why,
							   bool nonatomic);

#endif							/* BLUEGREEN_CLEANUP_H */
