/*
 * bluegreen.c
 *		Module entry: the library's magic block and its settings.
 *
 * bluegreen deploys dbt projects blue/green inside PostgreSQL. The parts live in files
 * of their own: manifest intake (manifest.c, manifest_store.c), selection
 * (selection.c), projects and plans (project.c), privilege switching (privilege.c) and
 * SPI helpers (spi_util.c).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "privilege.h"

PG_MODULE_MAGIC;

char	   *bg_model_search_path = NULL;
bool		bg_show_timing = true;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("bluegreen.model_search_path",
							   "search_path under which model and test code runs.",
							   "dbt renders references fully qualified; this path resolves the "
							   "functions and types the code names unqualified. Only superusers "
							   "may change it, so a deployer cannot point it at planted objects.",
							   &bg_model_search_path,
							   "pg_catalog, public, pg_temp",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("bluegreen.show_timing",
							 "Show durations in progress and summary lines.",
							 "Off gives output that is the same on every run (tests, diffs); "
							 "durations are recorded in bg.deployment_steps either way.",
							 &bg_show_timing, true, PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("bluegreen");
}
