/*
 * unit_test.c
 *		dbt unit tests, run as dbt build runs them: the tested model's compiled code with
 *		its inputs replaced by fixture rows, compared with the rows the test expects.
 *
 * dbt renders a unit test by compiling the model again with every ref() and source() it
 * reads pointing at a CTE of fixture rows. bluegreen renders no Jinja, but the manifest's
 * compiled code names each input by its relation, and redirect.c points those names at
 * CTEs of the fixtures: the same rewrite, on the parse tree, that points references at
 * shadow copies. Fixtures are written as dbt's get_fixture_sql writes them: one SELECT
 * per row over every column of the input relation, as the model will read it (its shadow
 * copy when this deployment rebuilds it), each value cast to the column's type, a column
 * the row leaves out a typed NULL. Expected rows are cast to the types of the model's own
 * columns, and only the columns the first expected row names are compared. dbt unions
 * both sides in one query (so each column has one type: an expected query's text where
 * the model has an integer is an error), reads them into tables of values and diffs them
 * as text, sorted (5.50 is not 5.5 to it): they are unioned here too, then compared as
 * multisets of their text (EXCEPT ALL both ways);
 * a failing test counts one failure, as dbt counts it, and its message shows the rows
 * that differ.
 *
 * What cannot be run from a manifest is refused before anything is built
 * (bg_check_unit_test), never skipped: overrides of macros, vars or env_vars (the
 * compiled code was rendered without them); a model that calls is_incremental() (dbt
 * asks such a test for an override, and the code was rendered for one value of it); an
 * ephemeral input (its code is compiled into the model's); an input the test does not
 * give (dbt refuses that too: "depends on a node named ... which was not found").
 */
#include "postgres.h"

#include "jsonc.h"

#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"

#include "audit.h"
#include "catalog.h"
#include "intake_scan.h"
#include "privilege.h"
#include "redirect.h"
#include "spi.h"
#include "util.h"

#define MAX_DIFF_ROWS 5

/* ------------------------------------------------------------------------
 * Inputs: "ref('orders')", "ref('pkg', 'orders', v=2)", "source('raw', 'x')", "this"
 * ------------------------------------------------------------------------
 */
typedef struct GivenInput
{
	bool		is_this;
	bool		is_source;
	int			n_args;
	char	   *args[2];
	char	   *version;		/* ref(..., v=2) */
} GivenInput;

static pg_attribute_noreturn() void
bad_input(BgUnitTest *ut, int i, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unit test %s: given[%d].input \"%s\" %s", bg_printable(ut->node->unique_id),
					i, bg_printable(ut->given[i].input), why),
			 errhint("An input is ref('model'), ref('package', 'model'), source('source', 'table') or this, as dbt reads it.")));
}

static const char *
skip_spaces(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* a quoted string ('x' or "x") or a bare number; NULL when there is none */
static char *
read_literal(const char **pp)
{
	const char *p = *pp;
	const char *start;

	if (*p == '\'' || *p == '"')
	{
		char		quote = *p++;

		start = p;
		while (*p && *p != quote)
			p++;
		if (*p != quote)
			return NULL;
		*pp = p + 1;
		return pnstrdup(start, p - start);
	}
	start = p;
	while ((*p >= '0' && *p <= '9') || *p == '.')
		p++;
	if (p == start)
		return NULL;
	*pp = p;
	return pnstrdup(start, p - start);
}

static GivenInput
parse_input(BgUnitTest *ut, int i)
{
	const char *p = skip_spaces(ut->given[i].input);
	GivenInput	in = {0};

	if (strncmp(p, "this", 4) == 0 && *skip_spaces(p + 4) == '\0')
	{
		in.is_this = true;
		return in;
	}
	if (strncmp(p, "ref", 3) == 0)
		p += 3;
	else if (strncmp(p, "source", 6) == 0)
	{
		in.is_source = true;
		p += 6;
	}
	else
		bad_input(ut, i, "is not ref(...), source(...) or this");
	p = skip_spaces(p);
	if (*p++ != '(')
		bad_input(ut, i, "is not ref(...), source(...) or this");
	for (;;)
	{
		char	   *value;

		p = skip_spaces(p);
		if (!in.is_source && (strncmp(p, "v", 1) == 0 || strncmp(p, "version", 7) == 0))
		{
			const char *q = p + (strncmp(p, "version", 7) == 0 ? 7 : 1);

			q = skip_spaces(q);
			if (*q == '=')
			{
				p = skip_spaces(q + 1);
				if ((in.version = read_literal(&p)) == NULL)
					bad_input(ut, i, "has a version that is not a number or a string");
				goto next;
			}
		}
		if ((value = read_literal(&p)) == NULL || in.n_args == 2)
			bad_input(ut, i, "does not name its node with one or two quoted names");
		in.args[in.n_args++] = value;
next:
		p = skip_spaces(p);
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p++ != ')' || *skip_spaces(p) != '\0')
			bad_input(ut, i, "is not ref(...), source(...) or this");
		break;
	}
	if (in.is_source ? in.n_args != 2 : in.n_args == 0)
		bad_input(ut, i, in.is_source ? "does not name a source and a table" : "names no model");
	return in;
}

/* canonical JSON of a version ("2" or 2) against what the input says (2) */
static bool
same_version(const char *canon, const char *given)
{
	Size		len = strlen(canon);

	if (len >= 2 && canon[0] == '"')
		return strncmp(canon + 1, given, len - 2) == 0 && strlen(given) == len - 2;
	return strcmp(canon, given) == 0;
}

static bool
input_names(const GivenInput *in, BgNode *n)
{
	if (in->is_source)
	{
		char	   *suffix;
		Size		ulen = strlen(n->unique_id);

		if (!bg_node_is(n, "source") || strcmp(n->name, in->args[1]) != 0)
			return false;
		suffix = psprintf(".%s.%s", in->args[0], in->args[1]);
		return ulen > strlen(suffix) && strcmp(n->unique_id + ulen - strlen(suffix), suffix) == 0;
	}
	if (!(bg_node_is(n, "model") || bg_node_is(n, "seed") || bg_node_is(n, "snapshot")))
		return false;
	if (strcmp(n->name, in->args[in->n_args - 1]) != 0)
		return false;
	if (in->n_args == 2 && strcmp(n->package_name, in->args[0]) != 0)
		return false;
	return in->version == NULL || (n->version && same_version(n->version, in->version));
}

/*
 * The node a given input stands for, among those the model reads; NULL when the model
 * does not read it (dbt builds a fixture nobody reads; so does nothing here), after
 * making sure the manifest has it at all.
 */
static BgNode *
given_node(BgManifest *m, BgUnitTest *ut, BgNode *model, int i)
{
	GivenInput	in = parse_input(ut, i);

	if (in.is_this)
		return model;
	for (int k = 0; k < model->n_depends_nodes; k++)
	{
		BgNode	   *n = bg_manifest_node(m, model->depends_nodes[k]);

		if (n && input_names(&in, n))
			return n;
	}
	for (int k = 0; k < m->n_nodes; k++)
		if (!m->nodes[k]->disabled && input_names(&in, m->nodes[k]))
			return NULL;
	bad_input(ut, i, "names nothing the manifest holds");
}

static BgNode *
tested_model(BgManifest *m, BgUnitTest *ut)
{
	BgNode	   *model = bg_manifest_node(m, ut->model);

	if (model == NULL || !bg_node_is(model, "model"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unit test %s tests %s, which is not an enabled model of the manifest",
						bg_printable(ut->node->unique_id), bg_printable(ut->model))));
	return model;
}

static pg_attribute_noreturn() void
cannot_run(BgUnitTest *ut, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("unit test %s cannot be run from the manifest: %s",
					bg_printable(ut->node->unique_id), why),
			 bg_hints_for_dbt() ?
			 errhint("Let dbt build the deployment, unit tests included: %s.", bg_dbt_deployment(false)) :
			 errhint("Run it with dbt (dbt test --select %s), then SET bluegreen.unit_tests = 'skip' for this deployment; or let dbt build the deployment, unit tests included (%s).",
					 bg_printable(ut->node->name), bg_call_hint("deploy_begin", NULL, NULL))));
}

/*
 * Fixture rows as intake kept them (bg_json_plain), parsed as deep as intake parsed
 * them: a value nested deeper than json_tokener_parse's default must not read as no rows.
 */
static json_object *
parse_rows(const char *rows_json)
{
	json_tokener *tok = json_tokener_new_ex(BG_JSON_MAX_DEPTH);
	json_object *rows = tok ? json_tokener_parse_ex(tok, rows_json, -1) : NULL;

	if (tok)
		json_tokener_free(tok);
	if (rows == NULL || !json_object_is_type(rows, json_type_array))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("unit test fixture rows do not parse again as an array")));
	return rows;
}

/* Fixture values are what YAML gives: strings, numbers, booleans, nulls. */
static void
check_rows(BgUnitTest *ut, const BgUnitTestFixture *f, const char *field)
{
	json_object *rows;

	if (f->is_sql)
		return;
	rows = parse_rows(f->rows_json);
	for (size_t r = 0; rows && r < json_object_array_length(rows); r++)
	{
		json_object_object_foreach(json_object_array_get_idx(rows, r), col, v)
			if (v && (json_object_is_type(v, json_type_object) ||
					  json_object_is_type(v, json_type_array)))
		{
			char	   *column = pstrdup(col);
			const char *kind = json_object_is_type(v, json_type_object) ? "mapping" : "list";

			json_object_put(rows);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unit test %s: %s.rows[%zu] gives column \"%s\" a %s; a fixture value is a string, number, boolean or null",
							bg_printable(ut->node->unique_id), field, r, bg_printable(column), kind)));
		}
	}
	json_object_put(rows);
}

void
bg_check_unit_test(BgManifest *m, BgUnitTest *ut)
{
	BgNode	   *model = tested_model(m, ut);
	bool	   *given;

	if (ut->overrides)
		cannot_run(ut, psprintf("it overrides %s, and the compiled code was rendered without that",
								bg_printable(ut->overrides)));
	for (int k = 0; k < model->n_depends_macros; k++)
		if (strcmp(model->depends_macros[k], "macro.dbt.is_incremental") == 0)
			cannot_run(ut, psprintf("%s calls is_incremental(), which its compiled code fixed when dbt compiled it",
									bg_node_label(model)));
	(void) bg_node_code(model);

	given = palloc0(sizeof(bool) * (model->n_depends_nodes + 1));
	for (int i = 0; i < ut->n_given; i++)
	{
		BgNode	   *n = given_node(m, ut, model, i);

		check_rows(ut, &ut->given[i], psprintf("given[%d]", i));
		for (int k = 0; n && k < model->n_depends_nodes; k++)
			if (strcmp(model->depends_nodes[k], n->unique_id) == 0)
				given[k] = true;
		if (n && bg_node_is(n, "model") && !bg_node_has_relation(n))
			cannot_run(ut, psprintf("its input %s is ephemeral: dbt compiled its code into %s's, where no fixture can take its place",
									bg_printable(ut->given[i].input), bg_printable(model->name)));
	}
	check_rows(ut, &ut->expect, "expect");
	for (int k = 0; k < model->n_depends_nodes; k++)
	{
		BgNode	   *n = bg_manifest_node(m, model->depends_nodes[k]);

		if (given[k] || n == NULL ||
			!(bg_node_is(n, "model") || bg_node_is(n, "seed") || bg_node_is(n, "snapshot") ||
			  bg_node_is(n, "source")))
			continue;
		if (bg_node_is(n, "model") && !bg_node_has_relation(n))
			cannot_run(ut, psprintf("%s reads ephemeral model %s, whose code dbt compiled into its own",
									bg_printable(model->name), bg_printable(n->unique_id)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unit test %s gives no rows for %s, which %s reads",
						bg_printable(ut->node->unique_id), bg_printable(n->unique_id),
						bg_printable(model->name)),
				 errdetail("dbt refuses it too: the test depends on a node named '%s' which was not found.",
						   bg_printable(n->name)),
				 errhint("Give it as an input (given: - input: %s(...)), with rows: [] for none.",
						 bg_node_is(n, "source") ? "source" : "ref")));
	}
}

/* ------------------------------------------------------------------------
 * The query: fixtures as CTEs, the model's code read from them, and the comparison
 * ------------------------------------------------------------------------
 */

/* A column as a fixture sees it: its name as dbt matches it (lower case), its type. */
typedef struct FixtureColumn
{
	char	   *name;
	char	   *lower;
	char	   *type_name;
	Oid			type;
} FixtureColumn;

static FixtureColumn *
fixture_column(const char *name, Oid type, int32 typmod)
{
	FixtureColumn *c = palloc(sizeof(FixtureColumn));

	c->name = pstrdup(name);
	c->lower = str_tolower(name, strlen(name), DEFAULT_COLLATION_OID);
	c->type_name = format_type_with_typemod(type, typmod);
	c->type = type;
	return c;
}

static FixtureColumn *
column_for(List *columns, const char *key)
{
	char	   *lower = str_tolower(key, strlen(key), DEFAULT_COLLATION_OID);
	ListCell   *lc;

	foreach(lc, columns)
		if (strcmp(((FixtureColumn *) lfirst(lc))->lower, lower) == 0)
			return lfirst(lc);
	return NULL;
}

static pg_attribute_noreturn() void
invalid_column(BgUnitTest *ut, const char *field, const char *key, const char *whose,
			   List *columns)
{
	StringInfoData accepted;
	ListCell   *lc;

	initStringInfo(&accepted);
	foreach(lc, columns)
		appendStringInfo(&accepted, "%s%s", accepted.len ? ", " : "",
						 ((FixtureColumn *) lfirst(lc))->lower);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("unit test %s: %s names column \"%s\", which %s does not have",
					bg_printable(ut->node->unique_id), field, bg_printable(key), whose),
			 errdetail("Its columns are: %s.", accepted.data)));
}

/* One value, as dbt's format_row writes it: a literal cast to the column's type. */
static void
append_value(StringInfo buf, json_object *v, FixtureColumn *c)
{
	const char *type = c->type_name;

	if (v == NULL || json_object_is_type(v, json_type_null))
		appendStringInfo(buf, "cast(null as %s)", type);
	else if (json_object_is_type(v, json_type_string))
	{
		/* dbt strips a varchar's length from a string's cast, so that none is cut short */
		if (strstr(type, "varying") && strchr(type, '('))
			type = pnstrdup(type, strchr(type, '(') - type);
		appendStringInfo(buf, "cast(%s as %s)", quote_literal_cstr(json_object_get_string(v)),
						 type);
	}
	else if (json_object_is_type(v, json_type_boolean))
		appendStringInfo(buf, "cast(%s as %s)", json_object_get_boolean(v) ? "true" : "false",
						 type);
	else
		appendStringInfo(buf, "cast(%s as %s)", json_object_to_json_string(v), type);
}

/*
 * Rows as SELECTs joined by UNION ALL. A given fixture lists every column of its input
 * (all = true), a typed NULL where the row says nothing; an expected row lists the
 * columns it names, in its order.
 */
static char *
rows_sql(BgUnitTest *ut, const char *rows_json, const char *field, const char *whose,
		 List *columns, bool all)
{
	json_object *rows = parse_rows(rows_json);
	StringInfoData buf;
	size_t		n = rows ? json_object_array_length(rows) : 0;

	initStringInfo(&buf);
	for (size_t r = 0; r < n; r++)
	{
		json_object *row = json_object_array_get_idx(rows, r);
		ListCell   *lc;
		bool		first = true;

		json_object_object_foreach(row, key, val)
		{
			(void) val;
			if (column_for(columns, key) == NULL)
			{
				char	   *k = pstrdup(key);

				json_object_put(rows);
				invalid_column(ut, psprintf("%s.rows[%zu]", field, r), k, whose, columns);
			}
		}
		appendStringInfoString(&buf, r ? "\nunion all\nselect " : "select ");
		if (all)
			foreach(lc, columns)
			{
				FixtureColumn *c = lfirst(lc);
				json_object *v = NULL;

				json_object_object_foreach(row, name, value)
					if (column_for(columns, name) == c)
					v = value;
				appendStringInfoString(&buf, first ? "" : ", ");
				append_value(&buf, v, c);
				appendStringInfo(&buf, " as %s", quote_identifier(c->name));
				first = false;
			}
		else
		{
			json_object_object_foreach(row, name, value)
			{
				FixtureColumn *c = column_for(columns, name);

				appendStringInfoString(&buf, first ? "" : ", ");
				append_value(&buf, value, c);
				appendStringInfo(&buf, " as %s", quote_identifier(c->name));
				first = false;
			}
		}
	}
	if (n == 0 && all)
	{
		ListCell   *lc;

		appendStringInfoString(&buf, "select ");
		foreach(lc, columns)
			appendStringInfo(&buf, "%scast(null as %s) as %s", foreach_current_index(lc) ? ", " : "",
							 ((FixtureColumn *) lfirst(lc))->type_name,
							 quote_identifier(((FixtureColumn *) lfirst(lc))->name));
		appendStringInfoString(&buf, "\nlimit 0");
	}
	json_object_put(rows);
	return buf.data;
}

/* The relation a model reads for an input: its shadow copy when this deployment rebuilds it. */
static Oid
input_relation(BgBuildContext *ctx, BgUnitTest *ut, int i, BgNode *n, bool is_this)
{
	const char *schema = n->schema;
	Oid			relid;

	if (!is_this && bg_redirect_target(ctx->redirects, n->schema, n->alias) != NULL)
		schema = bg_shadow_schema_name(n->schema);
	if (!bg_relation_exists(schema, n->alias, &relid, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("unit test %s: input %s has no relation to take its columns from: %s does not exist",
						bg_printable(ut->node->unique_id), bg_printable(ut->given[i].input),
						bg_qualified_name(schema, n->alias)),
				 errdetail("dbt types fixture rows by the input's columns, and refuses the test too when its relation does not exist."),
				 errhint("Give the input as format: sql, whose query says its own columns and types.")));
	return relid;
}

static void
run_select(const char *what, const char *sql)
{
	bg_check_single_select(what, sql,
						   "the query bluegreen builds from its fixtures and the model's compiled code");
	bg_spi_exec(sql, SPI_OK_SELECT, 0, NULL, NULL, NULL);
}

void
bg_run_unit_test(BgBuildContext *ctx, BgManifest *m, BgUnitTest *ut, BgTestResult *res)
{
	char	   *what = bg_node_label(ut->node);
	BgNode	   *model = tested_model(m, ut);
	HTAB	   *fixtures = bg_redirect_map_create(CurrentMemoryContext);
	StringInfoData with;
	StringInfoData sql;
	StringInfoData cols;
	StringInfoData names;
	StringInfoData aliases;
	StringInfoData texts;
	StringInfoData diff;
	List	   *actual = NIL;
	List	   *compared = NIL;
	char	   *main_sql;
	char	   *expected_sql;
	TupleDesc	desc;
	ListCell   *lc;
	BgBuilderState *before = bg_builder_state(ctx, NULL, NULL, 0);

	/* bg_check_unit_test has passed it before anything was built (deploy_check.c) */
	memset(res, 0, sizeof(*res));
	bg_pin_manifest_settings();

	/* every input the model reads, as a CTE of its fixture rows */
	initStringInfo(&with);
	for (int i = 0; i < ut->n_given; i++)
	{
		BgUnitTestFixture *f = &ut->given[i];
		BgNode	   *n = given_node(m, ut, model, i);
		char	   *cte = psprintf("__bg_given_%d", i + 1);
		char	   *body;

		if (n == NULL)
			continue;
		if (f->is_sql)
			body = f->sql;
		else
		{
			List	   *columns = NIL;
			ListCell   *c;

			foreach(c, bg_relation_columns(input_relation(ctx, ut, i, n, n == model)))
			{
				BgColumn   *col = lfirst(c);

				columns = lappend(columns, fixture_column(col->name, col->type, col->typmod));
			}
			body = rows_sql(ut, f->rows_json, psprintf("given[%d]", i),
							psprintf("input %s", f->input), columns, true);
		}
		appendStringInfo(&with, "%s%s AS (\n%s\n)", with.len ? ",\n" : "WITH ",
						 quote_identifier(cte), body);
		bg_redirect_map_add(fixtures, n->schema, n->alias, quote_identifier(cte));
	}
	main_sql = bg_redirect_select(what, bg_node_code(model), fixtures, ctx->database, NULL);

	/* the model's columns, as dbt reads them from an empty copy of its result */
	initStringInfo(&sql);
	appendStringInfo(&sql, "%s%sSELECT * FROM (\n%s) AS _dbt_internal_unit_test_actual LIMIT 0",
					 with.data, with.len ? "\n" : "", main_sql);
	run_select(what, sql.data);
	desc = SPI_tuptable->tupdesc;
	for (int k = 0; k < desc->natts; k++)
		actual = lappend(actual, fixture_column(NameStr(TupleDescAttr(desc, k)->attname),
												TupleDescAttr(desc, k)->atttypid,
												TupleDescAttr(desc, k)->atttypmod));

	/* what is compared: the columns of the first expected row, or all of them */
	if (!ut->expect.is_sql)
	{
		json_object *rows = parse_rows(ut->expect.rows_json);

		if (rows && json_object_array_length(rows) > 0)
		{
			json_object_object_foreach(json_object_array_get_idx(rows, 0), key, val)
			{
				FixtureColumn *c = column_for(actual, key);

				(void) val;
				if (c == NULL)
				{
					char	   *k = pstrdup(key);

					json_object_put(rows);
					invalid_column(ut, "expect.rows[0]", k,
								   psprintf("the result of %s", bg_printable(model->name)), actual);
				}
				compared = lappend(compared, c);
			}
		}
		json_object_put(rows);
	}
	if (compared == NIL)
		compared = actual;
	if (ut->expect.is_sql)
		expected_sql = ut->expect.sql;
	else if (strcmp(ut->expect.rows_json, "[]") == 0)
		expected_sql = "SELECT * FROM dbt_internal_unit_test_actual LIMIT 0";
	else
		expected_sql = rows_sql(ut, ut->expect.rows_json, "expect",
								psprintf("the result of %s", bg_printable(model->name)),
								actual, false);

	initStringInfo(&cols);
	initStringInfo(&names);
	initStringInfo(&aliases);
	initStringInfo(&texts);
	foreach(lc, compared)
	{
		FixtureColumn *c = lfirst(lc);
		int			k = foreach_current_index(lc) + 1;

		appendStringInfo(&cols, "%s%s", cols.len ? ", " : "", quote_identifier(c->name));
		appendStringInfo(&names, "%s%s", names.len ? ", " : "", quote_identifier(c->name));
		appendStringInfo(&aliases, "__bg_c%d, ", k);
		appendStringInfo(&texts, "%s__bg_c%d::text AS %s", texts.len ? ", " : "", k,
						 quote_identifier(c->name));
	}

	/*
	 * As dbt's get_unit_test_sql: both sides in one UNION ALL, so that PostgreSQL gives
	 * each column one type (an expected query's text where the model has an integer is
	 * an error, its double precision where the model has numeric compares as double
	 * precision); then the text of each side, as dbt's diff reads it.
	 */
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "%s%sdbt_internal_unit_test_actual AS (\n"
					 "  SELECT %s FROM (\n%s) AS _dbt_internal_unit_test_actual\n),\n"
					 "dbt_internal_unit_test_expected AS (\n"
					 "  SELECT %s FROM (\n%s\n) AS _dbt_internal_unit_test_expected\n),\n"
					 "__bg_unit_test_rows(%s__bg_side) AS (\n"
					 "  SELECT *, 'actual' FROM dbt_internal_unit_test_actual\n"
					 "  UNION ALL\n"
					 "  SELECT *, 'expected' FROM dbt_internal_unit_test_expected\n),\n"
					 "__bg_unit_test_actual AS (\n"
					 "  SELECT %s FROM __bg_unit_test_rows WHERE __bg_side = 'actual'\n),\n"
					 "__bg_unit_test_expected AS (\n"
					 "  SELECT %s FROM __bg_unit_test_rows WHERE __bg_side = 'expected'\n)\n"
					 "SELECT 'actual' AS side, d::text FROM (SELECT * FROM __bg_unit_test_actual"
					 " EXCEPT ALL SELECT * FROM __bg_unit_test_expected) AS d\n"
					 "UNION ALL\n"
					 "SELECT 'expected', d::text FROM (SELECT * FROM __bg_unit_test_expected"
					 " EXCEPT ALL SELECT * FROM __bg_unit_test_actual) AS d",
					 with.data, with.len ? ",\n" : "WITH ", cols.data, main_sql, cols.data,
					 expected_sql, aliases.data, texts.data, texts.data);
	run_select(what, sql.data);

	/* as dbt counts it: a unit test fails once, whatever the rows that differ */
	res->failures = SPI_processed > 0 ? 1 : 0;
	res->severity = "error";
	res->status = res->failures > 0 ? "fail" : "pass";
	if (res->failures > 0)
	{
		int			shown[2] = {0, 0};
		int			total[2] = {0, 0};

		initStringInfo(&diff);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			char	   *side = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
			int			k = strcmp(side, "actual") == 0 ? 0 : 1;

			total[k]++;
		}
		for (int k = 0; k < 2; k++)
		{
			if (total[k] == 0)
				continue;
			appendStringInfo(&diff, "%s%d row%s %s:", diff.len ? "; " : "", total[k],
							 total[k] == 1 ? "" : "s",
							 k == 0 ? "the model returns that the test does not expect" :
							 "the test expects that the model does not return");
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				char	   *side = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
				char	   *row = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);

				if ((strcmp(side, "actual") == 0) != (k == 0) || shown[k] >= MAX_DIFF_ROWS)
					continue;
				appendStringInfo(&diff, " %s", row ? row : "NULL");
				shown[k]++;
			}
			if (total[k] > shown[k])
				appendStringInfo(&diff, " and %d more", total[k] - shown[k]);
		}
		res->message = psprintf("actual differs from expected in (%s): %s", names.data, diff.data);
	}
	/* whatever the code called may not have left anything of the builder's behind */
	bg_builder_unchanged(ctx, what, "running it", before, NULL, NULL, 0);
}
