/*
 * bluegreen.c
 *		Module entry: the library's magic block and its settings.
 *
 * bluegreen deploys dbt projects blue/green inside PostgreSQL. Each stage of the data
 * path has a file of its own, and each file calls only the files below it; the README's
 * "Layout" lists them, and test/layout holds the code to that order. Every setting is
 * defined here, so that no stage owns another's.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "bluegreen.h"

PG_MODULE_MAGIC;

char	   *bg_model_search_path = NULL;
bool		bg_show_timing = true;
int			bg_lock_timeout_ms = 100;
int			bg_promote_deadline_ms = 30000;
bool		bg_create_schemas = true;
int			bg_statement_timeout_ms = 3600000;
int			bg_temp_file_limit_kb = -1;
bool		bg_incremental_in_place = true;
double		bg_max_changed_share = -1;
int			bg_interface = BG_INTERFACE_SQL;
int			bg_unit_tests = BG_UNIT_TESTS_RUN;

static const struct config_enum_entry unit_tests_options[] = {
	{"run", BG_UNIT_TESTS_RUN, false},
	{"skip", BG_UNIT_TESTS_SKIP, false},
	{"refuse", BG_UNIT_TESTS_REFUSE, false},
	{NULL, 0, false}
};

static const struct config_enum_entry interface_options[] = {
	{"sql", BG_INTERFACE_SQL, false},
	{"dbt", BG_INTERFACE_DBT, false},
	{NULL, 0, false}
};
bool		bg_strict_compatibility = false;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("bluegreen.model_search_path",
							   "search_path under which model and test code runs.",
							   "dbt renders references fully qualified; this path resolves the "
							   "functions and types the code names unqualified. Only superusers "
							   "may change it, so a deployer cannot point it at planted objects; "
							   "the default leaves out public, where other roles may plant them.",
							   &bg_model_search_path,
							   "pg_catalog, pg_temp",
							   PGC_SUSET, GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomBoolVariable("bluegreen.show_timing",
							 "Show durations in progress and summary lines.",
							 "Off gives output that is the same on every run (tests, diffs); "
							 "durations are recorded in bg.deployment_steps either way.",
							 &bg_show_timing, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("bluegreen.lock_timeout",
							"How long promote and rollback wait for a lock on a live relation before letting readers go on and trying again.",
							"Readers queue behind a waiting ACCESS EXCLUSIVE lock, so this bounds how long any reader waits.",
							&bg_lock_timeout_ms, 100, 1, 60000, PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bluegreen.promote_deadline",
							"How long promote and rollback keep trying to take their locks before giving up, changing nothing.",
							NULL,
							&bg_promote_deadline_ms, 30000, 1, 3600000, PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("bluegreen.create_schemas",
							 "Whether promote may create the live schema of a model whose schema does not exist yet.",
							 "Off: every live schema must exist and be handed to bluegreen first (bg.transfer_ownership). "
							 "Either way bluegreen acts only in schemas the owner role owns.",
							 &bg_create_schemas, true, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("bluegreen.statement_timeout",
							"The longest one model or test (with its hooks) may run; 0 for no bound.",
							"A step past it fails the deployment with a clear error and leaves production as it was.",
							&bg_statement_timeout_ms, 3600000, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bluegreen.temp_file_limit",
							"The most temporary file space one statement of manifest SQL may use; -1 for the server's temp_file_limit.",
							NULL,
							&bg_temp_file_limit_kb, -1, -1, INT_MAX, PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("bluegreen.incremental_in_place",
							 "Whether an incremental model's increment is kept apart and applied to the live table by promote, instead of applied to a copy of it.",
							 "In place, a deployment costs what the increment costs, whatever the table's size; off, every "
							 "incremental model starts as a copy of its live table.",
							 &bg_incremental_in_place, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("bluegreen.max_changed_share",
							 "The largest share of a table's rows (0 to 1) a deployment may change or remove before promote refuses it without force; -1 for no bound.",
							 "Read from the diff recorded when the deployment was built (bg.deployment_diffs); a model's "
							 "meta.bluegreen.max_changed_share takes its place for that model.",
							 &bg_max_changed_share, -1, -1, 1, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("bluegreen.unit_tests",
							 "What a deployment does with the dbt unit tests of the models it builds: run (each right before its model), skip (build the models, saying which went unrun), or refuse (build no model that has one).",
							 "A unit test checks a model's logic on fixed inputs, as dbt build runs it: a failing one "
							 "fails the deployment. A form bluegreen cannot run from the manifest (overrides, a model "
							 "that calls is_incremental(), an ephemeral input) is refused; run those with dbt and set skip.",
							 &bg_unit_tests, BG_UNIT_TESTS_RUN, unit_tests_options, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("bluegreen.interface",
							 "How this session calls bluegreen: sql (CALL bg....) or dbt (the dbt package's run-operation macros).",
							 "Hints name the next thing to do in that form: a user of dbt run-operation cannot CALL a "
							 "procedure or hand over a manifest file. The dbt package sets dbt for its calls; nothing "
							 "but the wording of hints depends on it.",
							 &bg_interface, BG_INTERFACE_SQL, interface_options, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("bluegreen.strict_compatibility",
							 "Whether every change to a live relation's columns is breaking: a column added, widened or moved as well as one dropped or retyped.",
							 "Off, only what can break something is breaking (verdict.c): a column dropped, a type "
							 "change that is not a widening, a reader outside the project that could not follow the "
							 "change. Superusers only, so that a deployer cannot loosen what a DBA set; force still "
							 "promotes what it refuses.",
							 &bg_strict_compatibility, false, PGC_SUSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("bluegreen");
}
