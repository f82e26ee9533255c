/*
 * progress.c
 *		The lines a deployment prints as it goes, in the style dbt users know:
 *		"3 of 12 OK built table analytics.orders (1,204 rows) in 0.12s".
 */
#include "postgres.h"

#include "catalog/pg_class.h"

#include "progress.h"
#include "util.h"

static const char *
kind_word(BgNode *n, char relkind)
{
	if (relkind == RELKIND_VIEW || strcmp(n->materialized, "view") == 0)
		return "view";
	if (strcmp(n->materialized, "materialized_view") == 0)
		return "materialized view";
	if (strcmp(n->materialized, "incremental") == 0)
		return "incremental";
	return "table";
}

/* a test by its name; a unit test as dbt shows it, model::test */
static const char *
test_name(BgStep *s)
{
	if (s->unit_test)
		return psprintf("%s::%s", bg_printable(s->unit_test->model_name),
						bg_printable(s->node->name));
	return bg_printable(s->node->name);
}

void
bg_report_step(BgStep *s, int total)
{
	char	   *rel = s->node->schema ? bg_qualified_name(s->node->schema, s->node->alias) : NULL;

	switch (s->kind)
	{
		case BG_STEP_BUILD:
			if (strcmp(s->status, "ok") != 0)
				ereport(NOTICE,
						(errmsg("%d of %d ERROR building %s %s%s", s->number, total,
								kind_word(s->node, s->relkind), rel, bg_timing(s->seconds))));
			else if (s->relkind == RELKIND_VIEW)
				ereport(NOTICE,
						(errmsg("%d of %d OK created view %s%s", s->number, total, rel,
								bg_timing(s->seconds))));
			else if (strchr(s->message, ':'))	/* an increment on live data */
				ereport(NOTICE,
						(errmsg("%d of %d OK built %s %s (%s)%s", s->number, total,
								pnstrdup(s->message, strchr(s->message, ':') - s->message), rel,
								strchr(s->message, ':') + 2, bg_timing(s->seconds))));
			else
				ereport(NOTICE,
						(errmsg("%d of %d OK built %s %s (%s row%s)%s", s->number, total,
								s->message, rel, bg_thousands(s->rows), s->rows == 1 ? "" : "s",
								bg_timing(s->seconds))));
			break;
		case BG_STEP_TEST:
			if (strcmp(s->status, "pass") == 0)
				ereport(NOTICE,
						(errmsg("%d of %d PASS %s%s", s->number, total, test_name(s),
								bg_timing(s->seconds))));
			else if (strcmp(s->status, "warn") == 0 || strcmp(s->status, "fail") == 0)
				ereport(NOTICE,
						(errmsg("%d of %d %s %s %s%s", s->number, total,
								strcmp(s->status, "warn") == 0 ? "WARN" : "FAIL",
								bg_thousands(s->failures), test_name(s), bg_timing(s->seconds)),
						 s->unit_test && s->message ? errdetail("%s.", s->message) : 0));
			else
				ereport(NOTICE,
						(errmsg("%d of %d ERROR %s%s", s->number, total, test_name(s),
								bg_timing(s->seconds))));
			break;
		case BG_STEP_CARRY:
			ereport(NOTICE,
					(errmsg("%d of %d SKIP %s %s: carried from live (bluegreen cannot build its data from a manifest; run dbt %s)",
							s->number, total, s->node->resource_type, rel,
							s->node->resource_type)));
			break;
		case BG_STEP_REMOVE:
			ereport(NOTICE,
					(errmsg("%d of %d REMOVE %s at promote%s%s (%s)", s->number, total, rel,
							s->message ? ": " : "", s->message ? s->message : "",
							s->compatibility && s->breaking ? "breaking" : "kept for rollback")));
			break;
	}
}
