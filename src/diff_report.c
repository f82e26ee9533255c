/*
 * diff_report.c
 *		What the diffs of diff.c are shown as: bg.diff and bg.diff_relations, the lines of
 *		a deploy summary and a dry run, and the bound promote holds them to. Also the
 *		aggregate their queries keep example keys with.
 */
#include "postgres.h"

#include "jsonc.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "bluegreen.h"
#include "catalog.h"
#include "diff.h"
#include "privilege.h"
#include "state.h"
#include "util.h"

/* How many example keys (or rows) each kind of difference keeps. */
#define EXAMPLES 5
/* How much of an example row's text is kept. */
#define EXAMPLE_WIDTH 200

PG_FUNCTION_INFO_V1(bg_sample_step);
PG_FUNCTION_INFO_V1(bg_sample_final);
PG_FUNCTION_INFO_V1(bg_diff_relations);
PG_FUNCTION_INFO_V1(bg_diff_now);

/* ------------------------------------------------------------------------
 * bg.sample(text): the first few values an aggregate sees, as text[]
 *
 * array_agg would keep every changed key of a table where millions changed; this keeps
 * EXAMPLES and ignores the rest at the cost of one comparison a row.
 * ------------------------------------------------------------------------
 */
typedef struct Sample
{
	int			n;
	Datum		values[EXAMPLES];
} Sample;

Datum
bg_sample_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	Sample	   *s = PG_ARGISNULL(0) ? NULL : (Sample *) PG_GETARG_POINTER(0);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "bg_sample_step called outside an aggregate");
	if (s == NULL)
		s = MemoryContextAllocZero(aggcxt, sizeof(Sample));
	if (s->n < EXAMPLES && !PG_ARGISNULL(1))
	{
		text	   *t = PG_GETARG_TEXT_PP(1);
		char	   *str = text_to_cstring(t);
		MemoryContext old = MemoryContextSwitchTo(aggcxt);

		if (strlen(str) > EXAMPLE_WIDTH)
			str[pg_mbcliplen(str, strlen(str), EXAMPLE_WIDTH)] = '\0';
		s->values[s->n++] = CStringGetTextDatum(str);
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_POINTER(s);
}

static int
text_datum_cmp(const void *a, const void *b)
{
	return strcmp(TextDatumGetCString(*(const Datum *) a), TextDatumGetCString(*(const Datum *) b));
}

/* The values kept, in byte order: a reader compares them with the next diff's. */
Datum
bg_sample_final(PG_FUNCTION_ARGS)
{
	Sample	   *s = PG_ARGISNULL(0) ? NULL : (Sample *) PG_GETARG_POINTER(0);

	if (s == NULL || s->n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	qsort(s->values, s->n, sizeof(Datum), text_datum_cmp);
	PG_RETURN_ARRAYTYPE_P(construct_array(s->values, s->n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* ------------------------------------------------------------------------
 * Promote's gate: the share of a table's rows a deployment changes or removes
 * ------------------------------------------------------------------------
 */

/*
 * The first recorded diff (BgStepDiff) whose share of rows changed or removed passes its
 * bound (the model's max_changed_share, else bluegreen.max_changed_share), with the
 * message that says by how much; NULL when none does.
 */
char *
bg_diff_over_bound(List *diffs)
{
	ListCell   *lc;

	foreach(lc, diffs)
	{
		BgStepDiff *sd = lfirst(lc);
		json_object *j;
		json_object *v;
		double		bound = bg_max_changed_share;
		int64		rows_live = 0,
					gone = 0;
		const char *where = "bluegreen.max_changed_share";
		char	   *refusal = NULL;

		if (sd->diff == NULL)
		{
			/* nothing to hold to the bound: say so rather than let it pass */
			if (bg_max_changed_share >= 0)
				return psprintf("no diff of %s (%s) was recorded when it was built, so bluegreen.max_changed_share cannot be checked; its deploy said why",
								sd->relation, bg_printable(sd->unique_id));
			continue;
		}
		j = json_tokener_parse(sd->diff);

		if (j == NULL)
			continue;
		if (json_object_object_get_ex(j, "max_changed_share", &v))
		{
			bound = json_object_get_double(v);
			where = "its meta.bluegreen.max_changed_share";
		}
		if (json_object_object_get_ex(j, "rows_live", &v))
			rows_live = json_object_get_int64(v);
		if (json_object_object_get_ex(j, "only_in_live", &v))
			gone += json_object_get_int64(v);
		if (json_object_object_get_ex(j, "changed", &v) && !json_object_is_type(v, json_type_null))
			gone += json_object_get_int64(v);
		if (bound >= 0 && rows_live > 0 && (double) gone / rows_live > bound)
			refusal = psprintf("%s changes or removes %.1f%% of the rows of %s (%s of %s), more than %s allows (%.1f%%)",
							   bg_printable(sd->unique_id), 100.0 * gone / rows_live, sd->relation,
							   bg_thousands(gone), bg_thousands(rows_live), where, 100.0 * bound);
		json_object_put(j);
		if (refusal)
			return refusal;
	}
	return NULL;
}

/* "; columns added: a, b" for a non-empty JSON array field of j, else "". */
static char *
columns_note(json_object *j, const char *field, const char *label)
{
	json_object *v;
	StringInfoData buf;

	if (!json_object_object_get_ex(j, field, &v) || !json_object_is_type(v, json_type_array) ||
		json_object_array_length(v) == 0)
		return "";
	initStringInfo(&buf);
	appendStringInfo(&buf, "; columns %s: ", label);
	for (size_t i = 0; i < json_object_array_length(v); i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "",
						 quote_identifier(json_object_get_string(json_object_array_get_idx(v, i))));
	return buf.data;
}

/* One line of a dry run or a deploy summary: what the diff of a table says. */
char *
bg_diff_line(BgStepDiff *sd)
{
	json_object *j = sd->diff ? json_tokener_parse(sd->diff) : NULL;
	json_object *v;
	StringInfoData buf;
	int64		only_live = 0,
				only_shadow = 0,
				rows_live = 0;
	bool		keyed;

	if (j == NULL)
		return NULL;
	if (json_object_object_get_ex(j, "rows_live", &v))
		rows_live = json_object_get_int64(v);
	if (json_object_object_get_ex(j, "only_in_live", &v))
		only_live = json_object_get_int64(v);
	if (json_object_object_get_ex(j, "only_in_shadow", &v))
		only_shadow = json_object_get_int64(v);
	keyed = json_object_object_get_ex(j, "changed", &v) && !json_object_is_type(v, json_type_null);
	initStringInfo(&buf);
	if (only_live == 0 && only_shadow == 0 && (!keyed || json_object_get_int64(v) == 0))
	{
		appendStringInfo(&buf, "%s: the same %s row%s as live%s%s", sd->relation,
						 bg_thousands(rows_live), rows_live == 1 ? "" : "s",
						 columns_note(j, "columns_added", "added"), columns_note(j, "columns_removed", "removed"));
		json_object_put(j);
		return buf.data;
	}
	appendStringInfo(&buf, "%s: %s of %s live rows removed, %s added", sd->relation,
					 bg_thousands(only_live), bg_thousands(rows_live), bg_thousands(only_shadow));
	if (keyed)
	{
		json_object *cols;

		appendStringInfo(&buf, ", %s changed", bg_thousands(json_object_get_int64(v)));
		if (json_object_object_get_ex(j, "changed_columns", &cols) &&
			json_object_object_length(cols) > 0)
		{
			bool		first = true;

			appendStringInfoString(&buf, " (");
			{
				json_object_object_foreach(cols, col, n)
				{
					appendStringInfo(&buf, "%s%s %s", first ? "" : ", ", col,
									 bg_thousands(json_object_get_int64(n)));
					first = false;
				}
			}
			appendStringInfoChar(&buf, ')');
		}
	}
	else
		appendStringInfoString(&buf, " (no key: whole rows compared)");
	appendStringInfo(&buf, "%s%s", columns_note(j, "columns_added", "added"),
					 columns_note(j, "columns_removed", "removed"));
	json_object_put(j);
	return buf.data;
}

/* ------------------------------------------------------------------------
 * SQL: bg.diff_relations, bg.diff
 * ------------------------------------------------------------------------
 */

/*
 * bg.diff_relations(live regclass, shadow regclass, key text[] DEFAULT NULL) -> jsonb:
 * any two relations compared, as the caller (who needs SELECT on both). key NULL: the
 * first relation's primary key or unique index; '{}': whole rows.
 */
Datum
bg_diff_relations(PG_FUNCTION_ARGS)
{
	Oid			live = PG_GETARG_OID(0);
	Oid			shadow = PG_GETARG_OID(1);
	List	   *lcols,
			   *rcols,
			   *key = NIL;
	char	   *source = NULL;
	char	   *json;
	MemoryContext cxt = CurrentMemoryContext;

	SPI_connect();
	lcols = bg_relation_columns(live);
	rcols = bg_relation_columns(shadow);
	if (PG_ARGISNULL(2))
		key = bg_diff_index_key(live, &source);
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *name = nulls[i] ? "" : TextDatumGetCString(elems[i]);

			if (bg_column_named(lcols, name) == NULL || bg_column_named(rcols, name) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("key column \"%s\" is not a column of both %s and %s", name,
								bg_relation_name(live), bg_relation_name(shadow))));
			key = lappend(key, name);
		}
		source = key ? "given" : NULL;
	}
	if (!bg_diff_columns_of_both(key, lcols, rcols))
		key = NIL;
	json = bg_diff_compute(bg_relation_name(live), lcols, bg_relation_name(shadow), rcols, key,
						   key ? source : NULL, 0);
	json = MemoryContextStrdup(cxt, json);
	SPI_finish();
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/*
 * bg._diff_now(model text, project text) -> SETOF (unique_id, relation, diff): the diff of
 * every table the project's built deployment would replace (or of one model), computed
 * now. bg.diff shows it in columns.
 */
Datum
bg_diff_now(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *model = bg_arg_text(fcinfo, 0);
	BgProject  *project;
	BgDeploymentRow *dep;
	BgManifest *m;
	BgStep	   *steps;
	int			n;
	bool		found = false;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	project = bg_project_lookup(bg_arg_text(fcinfo, 1), false);
	dep = bg_deployment_latest(project, "built");
	if (dep == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no built deployment to compare with live", project->name),
				 errhint("CALL bg.deploy(...) first; bg.deployment_diffs keeps the diffs of earlier ones.")));
	m = bg_manifest_load(dep->manifest_id, BG_LOAD_TEXTS);
	steps = bg_deployment_steps(dep->id, true, &n);
	for (int i = 0; i < n; i++)
	{
		BgStep	   *s = &steps[i];
		BgNode	   *node;
		char	   *json;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (model && strcmp(s->node->unique_id, model) != 0 && strcmp(s->node->alias ? s->node->alias : "", model) != 0)
			continue;
		found = true;
		node = bg_manifest_node(m, s->node->unique_id);
		if (node)
		{
			node->schema = s->node->schema;
			node->alias = s->node->alias;
			s->node = node;
		}
		{
			BgUserSwitch sw;

			/* the catalogs read as the extension owner, the rows as the builder */
			bg_become_extension_owner(&sw);
			json = bg_diff_step(m, s);
			bg_restore_user(&sw);
		}
		if (json == NULL)
			continue;
		values[0] = CStringGetTextDatum(s->node->unique_id);
		values[1] = CStringGetTextDatum(bg_qualified_name(s->node->schema, s->node->alias));
		values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (model && !found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("deployment " INT64_FORMAT " of project \"%s\" builds no model \"%s\"",
						dep->id, project->name, model)));
	SPI_finish();
	return (Datum) 0;
}
