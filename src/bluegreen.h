/*
 * bluegreen.h
 *		bluegreen's settings (defined in bluegreen.c, read everywhere).
 *
 * The rest of the declarations live beside the file that defines them: util.h, spi.h,
 * privilege.h, catalog.h at the bottom; manifest.h, state.h, selection.h, config.h,
 * redirect.h, verdict.h, build.h, audit.h, promote.h, cleanup.h up the data path (README
 * "Layout").
 */
#ifndef BLUEGREEN_H
#define BLUEGREEN_H

#include "postgres.h"

/* bluegreen.* settings */
extern char *bg_model_search_path;
extern bool bg_show_timing;
extern int	bg_lock_timeout_ms;
extern int	bg_promote_deadline_ms;
extern bool bg_create_schemas;
extern int	bg_statement_timeout_ms;
extern int	bg_temp_file_limit_kb;
extern bool bg_incremental_in_place;
extern double bg_max_changed_share;
extern bool bg_strict_compatibility;

/* bluegreen.unit_tests: what a deployment does with dbt unit tests (deploy_check.c) */
typedef enum BgUnitTests
{
	BG_UNIT_TESTS_RUN,			/* run them before the models they test (unit_test.c) */
	BG_UNIT_TESTS_SKIP,			/* build the models, saying the unit tests were not run */
	BG_UNIT_TESTS_REFUSE		/* refuse to build models that have them */
} BgUnitTests;
extern int	bg_unit_tests;

/* bluegreen.interface: how the session calls bluegreen, which hints speak (util.c) */
typedef enum BgInterface
{
	BG_INTERFACE_SQL,			/* CALL bg.promote(...) */
	BG_INTERFACE_DBT			/* dbt run-operation bg_promote, the dbt package's macros */
} BgInterface;
extern int	bg_interface;

#endif							/* BLUEGREEN_H */
