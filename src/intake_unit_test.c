/*
 * intake_unit_test.c
 *		Manifest intake of dbt unit tests: each enabled one reduced to the model it tests,
 *		its fixtures as dbt wrote them, and its overrides; shapes checked at the door,
 *		naming the test and the field. What a deployment does with them is unit_test.c's.
 */
#include "postgres.h"

#include "jsonc.h"

#include "intake_json.h"
#include "manifest.h"

/*
 * One fixture of a unit test (field "given[i]" or "expect"): rows as dbt wrote them,
 * a JSON array of objects, or one query for format sql.
 */
static void
unit_test_fixture(json_object *o, const char *key, const char *field, bool given,
				  BgUnitTestFixture *f)
{
	json_object *rows = bg_json_get(o, "rows");
	char	   *format;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		bg_json_field_error("unit test", key, field, "an object");
	if (given &&
		(f->input = bg_json_opt_string(o, "input", "unit test", key,
									   psprintf("%s.input", field))) == NULL)
		bg_json_field_error("unit test", key, psprintf("%s.input", field), "a string");
	format = bg_json_opt_string(o, "format", "unit test", key, psprintf("%s.format", field));
	if (format == NULL)
		format = "dict";
	f->is_sql = strcmp(format, "sql") == 0;
	if (!f->is_sql && strcmp(format, "dict") != 0 && strcmp(format, "csv") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest unit test \"%s\": field \"%s.format\" is \"%s\", not dict, csv or sql",
						key, field, bg_shorten(format))));
	if (f->is_sql)
	{
		if (rows == NULL || !json_object_is_type(rows, json_type_string))
			bg_json_field_error("unit test", key, psprintf("%s.rows", field), "a string (format sql)");
		f->sql = bg_json_copy_string(rows, "unit test", key, psprintf("%s.rows", field));
	}
	else
	{
		if (rows != NULL && !json_object_is_type(rows, json_type_null) &&
			!json_object_is_type(rows, json_type_array))
			bg_json_field_error("unit test", key, psprintf("%s.rows", field), "an array of rows");
		for (size_t i = 0; rows && i < json_object_array_length(rows); i++)
			if (!json_object_is_type(json_object_array_get_idx(rows, i), json_type_object))
				bg_json_field_error("unit test", key, psprintf("%s.rows[%zu]", field, i),
									"an object (column: value)");
		f->rows_json = rows ? bg_json_plain(rows) : pstrdup("[]");
	}
}

/* A dbt unit test, when enabled: the model it tests, its fixtures, its overrides. */
void
bg_unit_test_from_json(BgManifest *m, json_object *o, const char *key)
{
	char	   *id = bg_json_req_string(o, "unique_id", "unit test", key);
	json_object *config = bg_json_opt_object(o, "config", "unit test", key, NULL);
	json_object *depends_on = bg_json_opt_object(o, "depends_on", "unit test", key, NULL);
	json_object *enabled = bg_json_get(config, "enabled");
	json_object *given = bg_json_get(o, "given");
	json_object *overrides = bg_json_get(o, "overrides");
	BgUnitTest *ut;
	char	  **nodes;
	int			n;

	if (strcmp(id, key) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest unit test \"%s\": field \"unique_id\" is \"%s\", not the key it is listed under",
						key, bg_shorten(id))));
	if (enabled && json_object_is_type(enabled, json_type_boolean) &&
		!json_object_get_boolean(enabled))
		return;
	nodes = bg_json_string_array(depends_on, "nodes", "unit test", key, "depends_on.nodes", &n);
	/* dbt puts the tested model first (and only) */
	if (n == 0 || strncmp(nodes[0], "model.", 6) != 0)
		return;

	ut = palloc0(sizeof(BgUnitTest));
	ut->node = bg_manifest_new_node(m);
	ut->node->unique_id = id;
	ut->node->resource_type = "unit_test";
	ut->node->package_name = bg_json_req_string(o, "package_name", "unit test", key);
	ut->node->name = bg_json_req_string(o, "name", "unit test", key);
	ut->node->listed = true;
	ut->model = nodes[0];
	ut->model_name = bg_json_opt_string(o, "model", "unit test", key, NULL);
	if (ut->model_name == NULL)
		ut->model_name = ut->model;
	if (given != NULL && !json_object_is_type(given, json_type_array))
		bg_json_field_error("unit test", key, "given", "an array of inputs");
	ut->n_given = given ? (int) json_object_array_length(given) : 0;
	ut->given = palloc0(sizeof(BgUnitTestFixture) * (ut->n_given + 1));
	for (int i = 0; i < ut->n_given; i++)
		unit_test_fixture(json_object_array_get_idx(given, i), key, psprintf("given[%d]", i),
						  true, &ut->given[i]);
	unit_test_fixture(bg_json_get(o, "expect"), key, "expect", false, &ut->expect);
	/* overrides of macros, vars or env_vars: anything but empty objects counts */
	if (overrides != NULL && json_object_is_type(overrides, json_type_object))
	{
		json_object_object_foreach(overrides, k, v)
		{
			(void) k;
			if (v != NULL && !(json_object_is_type(v, json_type_object) &&
							   json_object_object_length(v) == 0))
				ut->overrides = bg_json_plain(overrides);
		}
	}
	else if (overrides != NULL && !json_object_is_type(overrides, json_type_null))
		bg_json_field_error("unit test", key, "overrides", "an object");
	m->unit_tests = lappend(m->unit_tests, ut);
}
