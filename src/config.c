/*
 * config.c
 *		A node's rendered config, its columns and its model-level constraints, parsed
 *		once into a BgModelConfig; and the one list of what bluegreen builds.
 *
 * Intake validated these JSON values and state_manifest.c keeps them verbatim, in
 * dbt's order, so a contract's columns come out in the order dbt wrote them. The parse
 * happens the first time a stage asks for a node's config; the struct is kept on the
 * node, in the node's own memory context, and every later question reads it. json-c
 * trees are malloc'd: each is freed on every path, errors included.
 */
#include "postgres.h"

#include "jsonc.h"

#include "catalog/pg_collation.h"
#include "utils/formatting.h"
#include "utils/memutils.h"

#include "config.h"
#include "util.h"

/* ------------------------------------------------------------------------
 * Reading parsed JSON leniently: a value of another type counts as absent
 * ------------------------------------------------------------------------
 */
static json_object *
jget(json_object *o, const char *field)
{
	json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
		!json_object_object_get_ex(o, field, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static char *
jstring(json_object *o, const char *field)
{
	json_object *v = jget(o, field);

	return v && json_object_is_type(v, json_type_string) ? pstrdup(json_object_get_string(v)) : NULL;
}

static bool
jbool(json_object *o, const char *field, bool *set)
{
	json_object *v = jget(o, field);
	bool		is_bool = v && json_object_is_type(v, json_type_boolean);

	if (set)
		*set = is_bool;
	return is_bool && json_object_get_boolean(v);
}

/* a string, or a list of strings, as a List of char * */
static List *
jstrings(json_object *v, bool *is_list)
{
	List	   *out = NIL;

	if (is_list)
		*is_list = false;
	if (v == NULL)
		return NIL;
	if (json_object_is_type(v, json_type_string))
		return list_make1(pstrdup(json_object_get_string(v)));
	if (json_object_is_type(v, json_type_array))
	{
		if (is_list)
			*is_list = true;
		for (size_t i = 0; i < json_object_array_length(v); i++)
		{
			json_object *e = json_object_array_get_idx(v, i);

			if (e && json_object_is_type(e, json_type_string))
				out = lappend(out, pstrdup(json_object_get_string(e)));
		}
	}
	return out;
}

/* pre-hook / post-hook: a string, or a list of strings or {"sql": ...} objects */
static List *
hooks(json_object *v)
{
	List	   *out = NIL;

	if (v == NULL)
		return NIL;
	if (json_object_is_type(v, json_type_string))
		return list_make1(pstrdup(json_object_get_string(v)));
	if (!json_object_is_type(v, json_type_array))
		return NIL;
	for (size_t i = 0; i < json_object_array_length(v); i++)
	{
		json_object *e = json_object_array_get_idx(v, i);
		char	   *sql = NULL;

		if (e && json_object_is_type(e, json_type_string))
			sql = pstrdup(json_object_get_string(e));
		else
			sql = jstring(e, "sql");
		if (sql && sql[0] != '\0')
			out = lappend(out, sql);
	}
	return out;
}

static BgConstraint *
constraint_of(json_object *c)
{
	BgConstraint *con = palloc0(sizeof(BgConstraint));

	con->type = jstring(c, "type");
	if (con->type == NULL)
		con->type = "";
	con->name = jstring(c, "name");
	con->expression = jstring(c, "expression");
	con->columns = jstrings(jget(c, "columns"), NULL);
	con->to = jstring(c, "to");
	con->to_columns = jstrings(jget(c, "to_columns"), NULL);
	return con;
}

static List *
constraints_of(json_object *v)
{
	List	   *out = NIL;

	if (v == NULL || !json_object_is_type(v, json_type_array))
		return NIL;
	for (size_t i = 0; i < json_object_array_length(v); i++)
		out = lappend(out, constraint_of(json_object_array_get_idx(v, i)));
	return out;
}

/* ------------------------------------------------------------------------
 * The parse
 * ------------------------------------------------------------------------
 */
static void
read_config(BgModelConfig *c, json_object *config)
{
	json_object *v;

	c->incremental_strategy = jstring(config, "incremental_strategy");
	c->unique_key = jstrings(jget(config, "unique_key"), &c->unique_key_is_list);
	c->on_schema_change = jstring(config, "on_schema_change");
	c->full_refresh = jbool(config, "full_refresh", &c->full_refresh_set);
	c->unlogged = jbool(config, "unlogged", NULL);
	c->sql_header = jstring(config, "sql_header");
	c->pre_hooks = hooks(jget(config, "pre-hook"));
	c->post_hooks = hooks(jget(config, "post-hook"));
	c->incremental_predicates = jstrings(jget(config, "incremental_predicates"), NULL);
	c->merge_update_columns = jstrings(jget(config, "merge_update_columns"), NULL);
	c->merge_exclude_columns = jstrings(jget(config, "merge_exclude_columns"), NULL);
	{
		bool		set;
		bool		alias = jbool(jget(config, "contract"), "alias_types", &set);

		c->contract_alias_types = set ? alias : true;
	}

	v = jget(config, "indexes");
	if (v && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++)
		{
			json_object *e = json_object_array_get_idx(v, i);
			BgIndexSpec *ix = palloc0(sizeof(BgIndexSpec));

			ix->columns = jstrings(jget(e, "columns"), NULL);
			ix->unique = jbool(e, "unique", NULL);
			ix->type = jstring(e, "type");
			c->indexes = lappend(c->indexes, ix);
		}
	v = jget(config, "grants");
	if (v && json_object_is_type(v, json_type_object))
	{
		json_object_object_foreach(v, privilege, grantees)
		{
			BgGrant    *g = palloc0(sizeof(BgGrant));

			g->privilege = pstrdup(privilege);
			g->grantees = jstrings(grantees, NULL);
			c->grants = lappend(c->grants, g);
		}
	}

	c->severity = jstring(config, "severity");
	c->fail_calc = jstring(config, "fail_calc");
	c->warn_if = jstring(config, "warn_if");
	c->error_if = jstring(config, "error_if");
	v = jget(config, "limit");
	if (v && json_object_is_type(v, json_type_int))
		c->limit = json_object_get_int64(v);
}

static void
read_columns(BgModelConfig *c, json_object *columns)
{
	if (columns == NULL || !json_object_is_type(columns, json_type_object))
		return;
	{
		json_object_object_foreach(columns, name, val)
		{
			BgModelColumn *col = palloc0(sizeof(BgModelColumn));

			col->name = pstrdup(name);
			col->data_type = jstring(val, "data_type");
			col->quote = jbool(val, "quote", NULL);
			col->description = jstring(val, "description");
			col->constraints = constraints_of(jget(val, "constraints"));
			c->columns = lappend(c->columns, col);
		}
	}
}

/* json-c's parse of a stored value; NULL for none */
static json_object *
parse(const char *text)
{
	return text ? json_tokener_parse(text) : NULL;
}

static BgModelConfig *
parse_config(BgNode *n)
{
	BgModelConfig *c = palloc0(sizeof(BgModelConfig));
	json_object *volatile config = NULL;
	json_object *volatile columns = NULL;
	json_object *volatile constraints = NULL;

	c->limit = -1;
	PG_TRY();
	{
		config = parse(n->config_json);
		columns = parse(n->columns_json);
		constraints = parse(n->constraints_json);
		read_config(c, config);
		read_columns(c, columns);
		c->constraints = constraints_of(constraints);
	}
	PG_FINALLY();
	{
		if (config)
			json_object_put(config);
		if (columns)
			json_object_put(columns);
		if (constraints)
			json_object_put(constraints);
	}
	PG_END_TRY();

	/* dbt's defaults */
	if (c->severity == NULL)
		c->severity = "error";
	c->severity = str_tolower(c->severity, strlen(c->severity), DEFAULT_COLLATION_OID);
	if (c->fail_calc == NULL)
		c->fail_calc = "count(*)";
	if (c->warn_if == NULL)
		c->warn_if = "!= 0";
	if (c->error_if == NULL)
		c->error_if = "!= 0";
	if (c->on_schema_change == NULL)
		c->on_schema_change = "ignore";
	return c;
}

/* The node's config, parsed the first time it is asked for and kept on the node. */
BgModelConfig *
bg_node_config(BgNode *n)
{
	if (n->config == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(n));

		n->config = parse_config(n);
		MemoryContextSwitchTo(old);
	}
	return n->config;
}

/* ------------------------------------------------------------------------
 * What bluegreen builds
 * ------------------------------------------------------------------------
 */
static const char *const buildable_materializations[] = {
	"view", "table", "incremental", "materialized_view", NULL
};

/* incremental strategies, as dbt-postgres writes them ("default": dbt's choice) */
static const char *const buildable_strategies[] = {
	"append", "delete+insert", "merge", NULL
};

static bool
listed(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* A materialization bluegreen builds a relation of (ephemeral builds none). */
bool
bg_builds_materialization(const char *materialized)
{
	return materialized != NULL && listed(buildable_materializations, materialized);
}

/* ERROR unless bluegreen can build this model from its manifest. */
void
bg_check_buildable(BgNode *n)
{
	if (!bg_builds_materialization(n->materialized))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: materialization \"%s\" is not one bluegreen builds",
						bg_node_label(n), n->materialized),
				 errhint("bluegreen builds view, table, incremental, materialized_view and ephemeral models; build others with dbt%s.",
						 bg_with_dbt())));
	if (strcmp(n->materialized, "incremental") == 0)
		(void) bg_incremental_strategy(n);
	/* dbt puts it before the model's statement, in the same call; bluegreen runs the
	 * model's code as one checked SELECT, and would drop it silently */
	if (bg_node_config(n)->sql_header && bg_node_config(n)->sql_header[0])
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: config sql_header is not something bluegreen runs", bg_node_label(n)),
				 errdetail("sql_header: %s", bg_printable(bg_node_config(n)->sql_header)),
				 errhint("Move what it does into a pre-hook, or build this model with dbt%s.", bg_with_dbt())));
}

/* The incremental strategy of model n, with dbt-postgres's default resolved. */
const char *
bg_incremental_strategy(BgNode *n)
{
	BgModelConfig *c = bg_node_config(n);
	const char *s = c->incremental_strategy;

	if (s == NULL || strcmp(s, "default") == 0)
		return c->unique_key != NIL ? "delete+insert" : "append";
	if (!listed(buildable_strategies, s))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: incremental_strategy \"%s\" is not one bluegreen builds",
						bg_node_label(n), s),
				 errhint("bluegreen builds append, delete+insert and merge; build this model with dbt%s.",
						 bg_with_dbt())));
	return s;
}
