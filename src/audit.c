/*
 * audit.c
 *		What a deployment checks before anyone may promote it: the project's own dbt
 *		tests, run against the shadow build, and a comparison of every relation that
 *		would be replaced with its live version.
 *
 * Tests run as dbt runs them (dbt's default test query): the test's compiled code,
 * redirected to shadow, wrapped as
 *		SELECT <fail_calc> AS failures, <fail_calc> <warn_if>, <fail_calc> <error_if>
 *		  FROM (<code> [LIMIT n]) AS dbt_internal_test
 * An error-severity test whose error_if holds fails; otherwise a warn_if that holds warns.
 *
 * The comparison reads the catalogs as the extension owner. A change breaks a live
 * object outside the project when that object reads a column that is dropped or retyped
 * (views and materialized views, through pg_depend's column-level entries), when a
 * foreign key's referenced columns change or the new table cannot back it (catalog.c,
 * the same rule promote applies), or when a published table becomes something a
 * publication cannot hold.
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "audit.h"
#include "catalog.h"
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
	bg_check_single_select(what, sql);
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

/* ------------------------------------------------------------------------
 * Compatibility
 * ------------------------------------------------------------------------
 */
static bool
is_managed(Oid relid, Oid *managed, int n_managed)
{
	for (int i = 0; i < n_managed; i++)
		if (managed[i] == relid)
			return true;
	return false;
}

static void
json_string(StringInfo buf, const char *s)
{
	escape_json(buf, s);
}

/*
 * The dependents of live relation "live" outside the set being replaced, each judged
 * against "shadow_attrs" (NIL with shadow_kind 0: the relation is dropped). Appends
 * a JSON array to buf; sets *breaking and adds to summary.
 */
static void
report_dependents(StringInfo buf, Oid live, List *live_attrs, List *changed_columns,
				  List *shadow_attrs, char shadow_kind, Oid shadow, Oid *managed, int n_managed,
				  bool *breaking, StringInfo summary)
{
	bool		first = true;
	uint64		n;
	SPITupleTable *tt;

	appendStringInfoString(buf, "[");

	/* views and materialized views, with the columns each reads */
	tt = bg_dependent_views(live, &n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			dep = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		char		kind = DatumGetChar(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		ArrayType  *cols = DatumGetArrayTypeP(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		Datum	   *elems;
		int			nelems;
		StringInfoData why;
		char	   *name;

		if (is_managed(dep, managed, n_managed))
			continue;
		name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(dep)),
										  get_rel_name(dep));
		initStringInfo(&why);
		deconstruct_array(cols, INT4OID, 4, true, TYPALIGN_INT, &elems, NULL, &nelems);
		if (shadow_kind == 0)
			appendStringInfoString(&why, "reads a relation that is dropped");
		else
			for (int k = 0; k < nelems; k++)
			{
				BgColumn   *a = bg_column_numbered(live_attrs, DatumGetInt32(elems[k]));

				if (a && list_member_ptr(changed_columns, a))
					appendStringInfo(&why, "%sreads column %s, which is %s", why.len ? "; " : "",
									 quote_identifier(a->name),
									 bg_column_named(shadow_attrs, a->name) ? "retyped" : "dropped");
			}
		appendStringInfo(buf, "%s{\"object\":", first ? "" : ",");
		json_string(buf, name);
		appendStringInfo(buf, ",\"kind\":\"%s\",\"breaks\":%s", bg_relkind_name(kind),
						 why.len ? "true" : "false");
		if (why.len)
		{
			appendStringInfoString(buf, ",\"why\":");
			json_string(buf, why.data);
			*breaking = true;
			appendStringInfo(summary, "%s%s %s %s", summary->len ? "; " : "", bg_relkind_name(kind),
							 name, why.data);
		}
		appendStringInfoChar(buf, '}');
		first = false;
	}

	/* foreign keys that reference it */
	tt = bg_dependent_foreign_keys(live, &n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			dep = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		char	   *conname = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		Oid			conoid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
		ArrayType  *cols = DatumGetArrayTypeP(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		Datum	   *elems;
		int			nelems;
		StringInfoData why;
		char	   *name;

		if (is_managed(dep, managed, n_managed))
			continue;
		name = psprintf("%s on %s", quote_identifier(conname),
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(dep)),
												   get_rel_name(dep)));
		initStringInfo(&why);
		deconstruct_array(cols, INT4OID, 4, true, TYPALIGN_INT, &elems, NULL, &nelems);
		if (shadow_kind == 0)
			appendStringInfoString(&why, "references a table that is dropped");
		else if (shadow_kind != RELKIND_RELATION)
			appendStringInfo(&why, "references a table that becomes a %s", bg_relkind_name(shadow_kind));
		else
		{
			StringInfoData key;

			initStringInfo(&key);
			for (int k = 0; k < nelems; k++)
			{
				BgColumn   *a = bg_column_numbered(live_attrs, DatumGetInt32(elems[k]));

				if (a && list_member_ptr(changed_columns, a))
					appendStringInfo(&why, "%sreferences column %s, which is %s",
									 why.len ? "; " : "", quote_identifier(a->name),
									 bg_column_named(shadow_attrs, a->name) ? "retyped" : "dropped");
				if (a)
					appendStringInfo(&key, "%s%s", key.len ? "," : "", a->name);
			}
			if (why.len == 0 && !bg_foreign_key_backed(conoid, shadow))
				appendStringInfo(&why, "references (%s), which no unique index of the new table backs (on exactly those columns, not partial, not deferrable)",
								 key.data);
		}
		appendStringInfo(buf, "%s{\"object\":", first ? "" : ",");
		json_string(buf, name);
		appendStringInfo(buf, ",\"kind\":\"foreign key\",\"breaks\":%s", why.len ? "true" : "false");
		if (why.len)
		{
			appendStringInfoString(buf, ",\"why\":");
			json_string(buf, why.data);
			*breaking = true;
			appendStringInfo(summary, "%sforeign key %s %s", summary->len ? "; " : "", name, why.data);
		}
		appendStringInfoChar(buf, '}');
		first = false;
	}

	/*
	 * Publications that send its changes. A published table whose rows promote cannot
	 * apply in place (published.c) is replaced by another table, of which its
	 * subscribers receive nothing: they would keep the old rows.
	 */
	tt = bg_covering_publications(live, &n);
	if (n > 0)
	{
		char	   *obstacle = bg_in_place_obstacle(live);
		StringInfoData why;
		ListCell   *lc;


		initStringInfo(&why);
		if (shadow_kind == 0)
			appendStringInfoString(&why, "the table is removed");
		else if (shadow_kind != RELKIND_RELATION)
			appendStringInfoString(&why, "a publication holds only tables");
		else if (!bg_same_columns(live_attrs, shadow_attrs))
		{
			appendStringInfoString(&why, "its columns change (");
			foreach(lc, shadow_attrs)
			{
				BgColumn   *c = lfirst(lc);
				BgColumn   *l = bg_column_named(live_attrs, c->name);

				if (l == NULL)
					appendStringInfo(&why, "%s %s added", quote_identifier(c->name), c->type_name);
				else if (list_member_ptr(changed_columns, l))
					appendStringInfo(&why, "%s is %s now", quote_identifier(c->name), c->type_name);
				else
					continue;
				appendStringInfoString(&why, ", ");
			}
			foreach(lc, live_attrs)
				if (bg_column_named(shadow_attrs, ((BgColumn *) lfirst(lc))->name) == NULL)
					appendStringInfo(&why, "%s dropped, ", quote_identifier(((BgColumn *) lfirst(lc))->name));
			if (why.data[why.len - 1] == ' ')
				why.len -= 2;
			else
				appendStringInfoString(&why, "their order");
			why.data[why.len] = '\0';
			appendStringInfoString(&why, "), and promote sends a published table's new rows as changes only while its columns stay as they are; first give each subscriber's copy the new columns and types");
		}
		else if (obstacle)
			appendStringInfo(&why, "its rows cannot be written in place: %s", obstacle);
		else
			appendStringInfoString(&why, "the model's hooks, grants or docs, or a column default, keep its rows from being written in place");
		appendStringInfoString(&why, "; replaced, the table sends its subscribers nothing, and they keep the old rows until each copies it again");
		for (uint64 i = 0; i < n; i++)
		{
			char	   *pub = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
			char	   *how = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);

			appendStringInfo(buf, "%s{\"object\":", first ? "" : ",");
			json_string(buf, pub);
			appendStringInfo(buf, ",\"kind\":\"publication\",\"publishes\":");
			json_string(buf, how);
			appendStringInfoString(buf, ",\"breaks\":true,\"why\":");
			json_string(buf, why.data);
			appendStringInfoChar(buf, '}');
			*breaking = true;
			appendStringInfo(summary, "%spublication %s (%s): %s", summary->len ? "; " : "",
							 quote_identifier(pub), how, why.data);
			first = false;
		}
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Of the live relations in out, those whose comparison with their replacement (the
 * relation at the same place in "in") could find something breaking: the kind changes,
 * a column goes or changes type, or something outside managed depends on it. One query
 * for all; the others compare as compatible without asking bg_compare_relations.
 */
List *
bg_relations_maybe_breaking(List *out, List *in, List *managed)
{
	Datum		args[2] = {bg_oid_array(out), bg_oid_array(in)};
	Oid			types[2] = {OIDARRAYOID, OIDARRAYOID};
	List	   *result;

	if (out == NIL)
		return NIL;
	result = bg_relations_with_dependents(out, managed);
	bg_spi_exec("SELECT p.o FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS p (o, i)"
				" WHERE (SELECT relkind FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) p.o)"
				"       IS DISTINCT FROM (SELECT relkind FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) p.i)"
				"    OR EXISTS (SELECT FROM pg_catalog.pg_attribute AS a"
				"        WHERE a.attrelid OPERATOR(pg_catalog.=) p.o AND a.attnum OPERATOR(pg_catalog.>) 0"
				"          AND NOT a.attisdropped"
				"          AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS b"
				"               WHERE b.attrelid OPERATOR(pg_catalog.=) p.i AND b.attname OPERATOR(pg_catalog.=) a.attname"
				"                 AND NOT b.attisdropped AND b.atttypid OPERATOR(pg_catalog.=) a.atttypid"
				"                 AND b.atttypmod OPERATOR(pg_catalog.=) a.atttypmod))",
				SPI_OK_SELECT, 2, types, args, NULL);
	result = list_concat_unique_oid(result, bg_spi_oids());
	return result;
}

/*
 * Compare live relation "live" with its replacement "shadow". Returns the report as
 * JSON; *breaking says whether anything breaks, *summary says what changed in a line.
 */
char *
bg_compare_relations(Oid live, Oid shadow, Oid *managed, int n_managed, bool *breaking,
					 char **summary)
{
	List	   *live_attrs = bg_relation_columns(live);
	List	   *shadow_attrs = bg_relation_columns(shadow);
	List	   *changed = NIL;
	char		live_kind = get_rel_relkind(live);
	char		shadow_kind = get_rel_relkind(shadow);
	StringInfoData buf;
	StringInfoData added,
				dropped,
				retyped,
				retyped_line,
				line,
				broken;
	ListCell   *lc;

	*breaking = false;
	initStringInfo(&buf);
	initStringInfo(&added);
	initStringInfo(&dropped);
	initStringInfo(&retyped);
	initStringInfo(&retyped_line);
	initStringInfo(&line);
	initStringInfo(&broken);

	foreach(lc, shadow_attrs)
	{
		BgColumn   *s = lfirst(lc);

		if (bg_column_named(live_attrs, s->name) == NULL)
		{
			if (added.len)
				appendStringInfoChar(&added, ',');
			json_string(&added, s->name);
		}
	}
	foreach(lc, live_attrs)
	{
		BgColumn   *l = lfirst(lc);
		BgColumn   *s = bg_column_named(shadow_attrs, l->name);

		if (s == NULL)
		{
			if (dropped.len)
				appendStringInfoChar(&dropped, ',');
			json_string(&dropped, l->name);
			changed = lappend(changed, l);
		}
		else if (s->type != l->type || s->typmod != l->typmod)
		{
			appendStringInfo(&retyped, "%s{\"column\":", retyped.len ? "," : "");
			json_string(&retyped, l->name);
			appendStringInfoString(&retyped, ",\"from\":");
			json_string(&retyped, format_type_with_typemod(l->type, l->typmod));
			appendStringInfoString(&retyped, ",\"to\":");
			json_string(&retyped, format_type_with_typemod(s->type, s->typmod));
			appendStringInfoChar(&retyped, '}');
			if (retyped_line.len)
				appendStringInfoChar(&retyped_line, ',');
			json_string(&retyped_line, l->name);
			appendStringInfo(&retyped_line, " (%s to %s)",
							 format_type_with_typemod(l->type, l->typmod),
							 format_type_with_typemod(s->type, s->typmod));
			changed = lappend(changed, l);
		}
	}
	appendStringInfo(&buf, "{\"added\":[%s],\"dropped\":[%s],\"retyped\":[%s]",
					 added.data, dropped.data, retyped.data);
	if (strcmp(bg_relkind_name(live_kind), bg_relkind_name(shadow_kind)) != 0)
	{
		appendStringInfo(&buf, ",\"kind\":{\"from\":\"%s\",\"to\":\"%s\"}",
						 bg_relkind_name(live_kind), bg_relkind_name(shadow_kind));
		appendStringInfo(&line, "%s becomes a %s", bg_relkind_name(live_kind),
						 bg_relkind_name(shadow_kind));
		*breaking = true;
	}
	if (dropped.len)
	{
		appendStringInfo(&line, "%scolumns dropped: %s", line.len ? "; " : "", dropped.data);
		*breaking = true;
	}
	if (retyped.len)
	{
		appendStringInfo(&line, "%scolumns retyped: %s", line.len ? "; " : "", retyped_line.data);
		*breaking = true;
	}
	if (added.len)
		appendStringInfo(&line, "%scolumns added: %s", line.len ? "; " : "", added.data);
	appendStringInfoString(&buf, ",\"dependents\":");
	report_dependents(&buf, live, live_attrs, changed, shadow_attrs, shadow_kind, shadow,
					  managed, n_managed, breaking, &broken);
	if (broken.len)
		appendStringInfo(&line, "%sbreaks what reads it: %s", line.len ? "; " : "", broken.data);
	appendStringInfo(&buf, ",\"breaking\":%s}", *breaking ? "true" : "false");
	*summary = line.len ? line.data : NULL;
	return buf.data;
}

/* A live table whose rows alone an increment changes in place (apply.c): nothing breaks. */
char *
bg_in_place_relation_report(void)
{
	return pstrdup("{\"added\":[],\"dropped\":[],\"retyped\":[],\"in_place\":true,\"dependents\":[],\"breaking\":false}");
}

/* A live relation a deployment removes: every dependent outside the project breaks. */
char *
bg_removed_relation_report(Oid live, Oid *managed, int n_managed, bool *breaking, char **summary)
{
	StringInfoData buf;
	StringInfoData broken;
	List	   *live_attrs = bg_relation_columns(live);

	initStringInfo(&buf);
	initStringInfo(&broken);
	*breaking = true;
	appendStringInfoString(&buf, "{\"removed\":true,\"dependents\":");
	report_dependents(&buf, live, live_attrs, NIL, NIL, 0, InvalidOid, managed, n_managed,
					  breaking, &broken);
	appendStringInfoString(&buf, ",\"breaking\":true}");
	*summary = broken.len ? psprintf("dropped; breaks what reads it: %s", broken.data) : pstrdup("dropped");
	return buf.data;
}
