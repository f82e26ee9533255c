/*
 * audit.c
 *		What a deployment checks before anyone may promote it: the project's own dbt
 *		tests, run against the shadow build. (Whether what it replaces or removes can
 *		break something is verdict.c's to say.)
 *
 * Tests run as dbt runs them (dbt's default test query): the test's compiled code,
 * redirected to shadow, wrapped as
 *		SELECT <fail_calc> AS failures, <fail_calc> <warn_if>, <fail_calc> <error_if>
 *		  FROM (<code> [LIMIT n]) AS dbt_internal_test
 * An error-severity test whose error_if holds fails; otherwise a warn_if that holds warns.
 */
#include "postgres.h"

#include "executor/spi.h"

#include "audit.h"
#include "config.h"
#include "privilege.h"
#include "redirect.h"
#include "spi.h"

void
bg_run_test(BgBuildContext *ctx, BgNode *test, BgTestResult *res)
{
	char	   *what = bg_node_label(test);
	BgModelConfig *c = bg_node_config(test);
	char	   *code;
	char	   *sql;
	bool		isnull;
	Datum		v;

	BgBuilderState *before = bg_builder_state(ctx, NULL, NULL, 0);

	memset(res, 0, sizeof(*res));
	code = bg_redirect_select(what, bg_node_code(test), ctx->redirects, ctx->database, NULL);
	sql = psprintf("SELECT (%s)::bigint AS failures,\n"
				   "       (%s) %s AS should_warn,\n"
				   "       (%s) %s AS should_error\n"
				   "  FROM (\n%s%s) AS dbt_internal_test",
				   c->fail_calc, c->fail_calc, c->warn_if, c->fail_calc, c->error_if, code,
				   c->limit >= 0 ? psprintf("LIMIT " INT64_FORMAT "\n", c->limit) : "");
	/* checked under the settings it runs under, right before it runs */
	bg_pin_manifest_settings();
	bg_check_single_select(what, sql,
						   "the query bluegreen builds from its code and config (fail_calc, warn_if, error_if, limit)");
	bg_spi_exec(sql, SPI_OK_SELECT, 0, NULL, NULL, NULL);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("%s: the test query returned %d rows, not one", what, (int) SPI_processed)));
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	res->failures = isnull ? 0 : DatumGetInt64(v);
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	res->should_warn = !isnull && DatumGetBool(v);
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	res->should_error = !isnull && DatumGetBool(v);
	res->severity = strcmp(c->severity, "warn") == 0 ? "warn" : "error";
	if (strcmp(res->severity, "error") == 0 && res->should_error)
		res->status = "fail";
	else if (res->should_warn)
		res->status = "warn";
	else
		res->status = "pass";
	/* whatever the test called may not have left anything of the builder's behind */
	bg_builder_unchanged(ctx, what, "running it", before, NULL, NULL, 0);
}
