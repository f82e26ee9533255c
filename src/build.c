/*
 * build.c
 *		One model built into the shadow of its live schema, the way dbt-postgres would
 *		build it in place.
 *
 * Runs as the owner role (deploy.c switches user around each model), inside a
 * subtransaction of its own, so a failing model leaves nothing behind. Every name
 * bluegreen writes is quoted with quote_identifier; the fragments that come from the
 * manifest as SQL (the model's code, constraint and check expressions, unique_key and
 * incremental predicates, as dbt itself splices them) are spliced the same way dbt
 * splices them, and every assembled statement is parsed and checked to be the one
 * statement of the one kind expected before it runs, so no fragment can smuggle in a
 * second statement.
 *
 * Materializations:
 *	view				CREATE VIEW shadow.x AS <code>
 *	table				CREATE TABLE shadow.x AS <code>; with an enforced contract,
 *						CREATE TABLE with the contract's columns and constraints, then
 *						INSERT ... SELECT, after checking the code's columns against it
 *	incremental			in full (as table) when the model is new, has no live relation,
 *						says full_refresh: true, or the deployment is a full refresh;
 *						otherwise the shadow starts as a copy of the live table, the code
 *						(its is_incremental() branch, which reads {{ this }}, redirected
 *						to that copy) is the increment, applied by the model's strategy:
 *						append, delete+insert or merge, with on_schema_change honoured
 *	materialized_view	CREATE MATERIALIZED VIEW shadow.x AS <code>
 * then the config dbt-postgres honours: indexes, persist_docs comments, grants, hooks
 * (their {{ this }} rendered as the shadow relation), and ANALYZE of new tables. A hook
 * may change {{ this }}, not what is live: the relations of the project's live schemas
 * are compared before and after each hook, and a change is an error.
 */
#include "postgres.h"

#include "jsonc.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/resowner.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "bluegreen.h"
#include "build.h"
#include "redirect.h"

/* ------------------------------------------------------------------------
 * Config
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

BgModelConfig *
bg_model_config(BgNode *n)
{
	BgModelConfig *c = palloc0(sizeof(BgModelConfig));
	json_object *config = n->config_json ? json_tokener_parse(n->config_json) : NULL;
	json_object *v;

	c->limit = -1;
	c->incremental_strategy = jstring(config, "incremental_strategy");
	c->unique_key = jstrings(jget(config, "unique_key"), &c->unique_key_is_list);
	c->on_schema_change = jstring(config, "on_schema_change");
	v = jget(config, "full_refresh");
	c->full_refresh = v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
	c->pre_hooks = hooks(jget(config, "pre-hook"));
	c->post_hooks = hooks(jget(config, "post-hook"));
	c->incremental_predicates = jstrings(jget(config, "incremental_predicates"), NULL);
	c->merge_update_columns = jstrings(jget(config, "merge_update_columns"), NULL);
	c->merge_exclude_columns = jstrings(jget(config, "merge_exclude_columns"), NULL);

	v = jget(config, "indexes");
	if (v && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++)
		{
			json_object *e = json_object_array_get_idx(v, i);
			BgIndexSpec *ix = palloc0(sizeof(BgIndexSpec));
			json_object *u = jget(e, "unique");

			ix->columns = jstrings(jget(e, "columns"), NULL);
			ix->unique = u && json_object_is_type(u, json_type_boolean) && json_object_get_boolean(u);
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
	if (config)
		json_object_put(config);

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

/* "model model.shop.orders", for messages */
char *
bg_node_label(BgNode *n)
{
	return psprintf("%s %s", n->resource_type, n->unique_id);
}

/* ------------------------------------------------------------------------
 * Catalog helpers
 * ------------------------------------------------------------------------
 */
bool
bg_relation_exists(const char *schema, const char *name, Oid *relid, char *relkind)
{
	Oid			nsp = get_namespace_oid(schema, true);
	Oid			rel;

	if (!OidIsValid(nsp))
		return false;
	rel = get_relname_relid(name, nsp);
	if (relid)
		*relid = rel;
	if (relkind && OidIsValid(rel))
		*relkind = get_rel_relkind(rel);
	return OidIsValid(rel);
}

typedef struct Column
{
	char	   *name;
	Oid			type;
	int32		typmod;
	char	   *type_name;		/* format_type_with_typemod */
} Column;

/* The columns of a relation, in order. */
static List *
relation_columns(const char *schema, const char *name)
{
	Oid			relid;
	Relation	rel;
	TupleDesc	desc;
	List	   *out = NIL;

	if (!bg_relation_exists(schema, name, &relid, NULL))
		elog(ERROR, "relation %s does not exist", quote_qualified_identifier(schema, name));
	rel = relation_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Column	   *c;

		if (att->attisdropped)
			continue;
		c = palloc(sizeof(Column));
		c->name = pstrdup(NameStr(att->attname));
		c->type = att->atttypid;
		c->typmod = att->atttypmod;
		c->type_name = format_type_with_typemod(att->atttypid, att->atttypmod);
		out = lappend(out, c);
	}
	relation_close(rel, AccessShareLock);
	return out;
}

static Column *
find_column(List *columns, const char *name)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		Column	   *c = lfirst(lc);

		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* "a", "b", "c" (each quoted), optionally each prefixed with "prefix." */
static char *
column_list(List *columns, const char *prefix)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, columns)
	{
		Column	   *c = lfirst(lc);

		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		if (prefix)
			appendStringInfo(&buf, "%s.", prefix);
		appendStringInfoString(&buf, quote_identifier(c->name));
	}
	return buf.data;
}

/* ------------------------------------------------------------------------
 * Running what was assembled
 * ------------------------------------------------------------------------
 */

/*
 * Parse an assembled statement and insist it is one statement of the kind expected,
 * then run it. Returns SPI_processed.
 */
static uint64
run_checked(const char *what, const char *sql, NodeTag expected_tag, int expected_rc)
{
	List	   *stmts = bg_raw_parse(what, sql,
									 "the statement bluegreen builds from its config (constraint, unique_key, predicate, index, grant)");

	if (list_length(stmts) != 1 ||
		nodeTag(linitial_node(RawStmt, stmts)->stmt) != expected_tag)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s: a config fragment (constraint, unique_key, predicate or test setting) does not fit the statement bluegreen builds", what),
				 errdetail("Statement: %s", sql)));
	bg_spi_exec(sql, expected_rc, 0, NULL, NULL, NULL);
	return SPI_processed;
}

/*
 * The state of every relation in the project's live schemas, and of the schemas: what
 * a hook must leave as it is. A relation written (rows inserted, updated or deleted in
 * this transaction), truncated or rewritten (relfilenode), altered, renamed or granted
 * (its pg_class row replaced), given a trigger, dropped or created shows as a
 * difference; so does a live schema renamed or dropped.
 */
typedef struct LiveObject
{
	Oid			oid;
	char	   *name;
	char	   *state;
} LiveObject;

static LiveObject *
live_objects(BgBuildContext *ctx, int *n)
{
	Datum		arg;
	Oid			type = OIDARRAYOID;
	Datum	   *oids;
	int			i = 0;
	ListCell   *lc;
	LiveObject *out;

	*n = 0;
	if (ctx->live_schemas == NIL)
		return NULL;
	oids = palloc(sizeof(Datum) * list_length(ctx->live_schemas));
	foreach(lc, ctx->live_schemas)
		oids[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	arg = PointerGetDatum(construct_array(oids, i, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	bg_spi_exec("SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname),"
				"       pg_catalog.concat_ws(':', c.relfilenode, c.xmin,"
				"         pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid),"
				"         pg_catalog.pg_stat_get_xact_tuples_updated(c.oid),"
				"         pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid),"
				"         (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger AS t"
				"           WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid))"
				"  FROM pg_catalog.pg_class AS c"
				"  JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
				" WHERE c.relnamespace OPERATOR(pg_catalog.=) ANY ($1)"
				" UNION ALL"
				" SELECT n.oid, 'schema ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(n.nspname),"
				"        n.xmin::text"
				"  FROM pg_catalog.pg_namespace AS n WHERE n.oid OPERATOR(pg_catalog.=) ANY ($1)"
				/* functions (a SECURITY DEFINER one would act as the owner role for anyone) */
				" UNION ALL"
				" SELECT p.oid, 'function ' OPERATOR(pg_catalog.||) p.oid::pg_catalog.regprocedure::text,"
				"        p.xmin::text"
				"  FROM pg_catalog.pg_proc AS p WHERE p.pronamespace OPERATOR(pg_catalog.=) ANY ($1)"
				" UNION ALL"
				" SELECT t.oid, 'type ' OPERATOR(pg_catalog.||) t.oid::pg_catalog.regtype::text, t.xmin::text"
				"  FROM pg_catalog.pg_type AS t WHERE t.typnamespace OPERATOR(pg_catalog.=) ANY ($1)"
				"   AND t.typrelid OPERATOR(pg_catalog.=) 0 AND t.typelem OPERATOR(pg_catalog.=) 0"
				" UNION ALL"
				" SELECT o.oid, 'policy ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(o.polname),"
				"        o.xmin::text"
				"  FROM pg_catalog.pg_policy AS o JOIN pg_catalog.pg_class AS r"
				"    ON r.oid OPERATOR(pg_catalog.=) o.polrelid"
				" WHERE r.relnamespace OPERATOR(pg_catalog.=) ANY ($1)"
				" ORDER BY 1, 2",
				SPI_OK_SELECT, 1, &type, &arg, NULL);
	*n = (int) SPI_processed;
	out = palloc0(sizeof(LiveObject) * (*n + 1));
	for (i = 0; i < *n; i++)
	{
		bool		isnull;

		out[i].oid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		out[i].name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		out[i].state = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
	}
	return out;
}

static void
check_live_untouched(const char *what, const char *hook, LiveObject *before, int nb,
					 LiveObject *after, int na)
{
	int			b = 0,
				a = 0;
	const char *name = NULL;
	const char *how = NULL;

	while ((b < nb || a < na) && how == NULL)
	{
		if (a >= na || (b < nb && before[b].oid < after[a].oid))
			name = before[b].name, how = "dropped (or moved out of its schema)";
		else if (b >= nb || after[a].oid < before[b].oid)
			name = after[a].name, how = "created";
		else if (strcmp(before[b].state, after[a].state) != 0)
			name = before[b].name, how = "changed (rows written, or its definition, name or grants altered)";
		else
			b++, a++;
	}
	if (how)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: a hook changed live %s: it was %s", what, name, how),
				 errdetail("Hook: %s", hook),
				 errhint("Hooks run beside production, before anything is promoted: they may change {{ this }}, the relation being built, but not what is live.")));
}

static void
run_hooks(BgBuildContext *ctx, const char *what, List *hook_list, const char *schema,
		  const char *name, const char *database)
{
	ListCell   *lc;

	foreach(lc, hook_list)
	{
		char	   *sql = bg_render_hook(what, lfirst(lc), schema, name, database);
		int			nb,
					na;
		LiveObject *before = live_objects(ctx, &nb);
		LiveObject *after;
		int			rc = SPI_execute(sql, false, 0);

		if (rc < 0)
			elog(ERROR, "%s: hook failed (%s): %s", what, SPI_result_code_string(rc), sql);
		after = live_objects(ctx, &na);
		check_live_untouched(what, sql, before, nb, after, na);
	}
}

/* ------------------------------------------------------------------------
 * Contracts
 * ------------------------------------------------------------------------
 */
typedef struct ContractColumn
{
	char	   *name;
	char	   *data_type;
	List	   *constraints;	/* char *: column constraint clauses */
} ContractColumn;

static const char *
constraint_clause(const char *what, json_object *c, const char *column)
{
	const char *type = json_object_get_string(jget(c, "type"));
	const char *expression = json_object_get_string(jget(c, "expression"));
	const char *name = json_object_get_string(jget(c, "name"));
	StringInfoData buf;

	initStringInfo(&buf);
	if (name)
		appendStringInfo(&buf, "CONSTRAINT %s ", quote_identifier(name));
	if (type == NULL)
		type = "";
	if (strcmp(type, "not_null") == 0 && column)
		appendStringInfoString(&buf, "NOT NULL");
	else if (strcmp(type, "unique") == 0 || strcmp(type, "primary_key") == 0)
	{
		appendStringInfoString(&buf, strcmp(type, "unique") == 0 ? "UNIQUE" : "PRIMARY KEY");
		if (!column)
		{
			List	   *cols = jstrings(jget(c, "columns"), NULL);
			ListCell   *lc;

			appendStringInfoString(&buf, " (");
			foreach(lc, cols)
				appendStringInfo(&buf, "%s%s", lc == list_head(cols) ? "" : ", ",
								 quote_identifier(lfirst(lc)));
			appendStringInfoChar(&buf, ')');
		}
	}
	else if (strcmp(type, "check") == 0 && expression)
		appendStringInfo(&buf, "CHECK (%s)", expression);
	else if (strcmp(type, "foreign_key") == 0)
	{
		const char *to = json_object_get_string(jget(c, "to"));

		if (!column)
		{
			List	   *cols = jstrings(jget(c, "columns"), NULL);
			ListCell   *lc;

			appendStringInfoString(&buf, "FOREIGN KEY (");
			foreach(lc, cols)
				appendStringInfo(&buf, "%s%s", lc == list_head(cols) ? "" : ", ",
								 quote_identifier(lfirst(lc)));
			appendStringInfoString(&buf, ") ");
		}
		if (to)
		{
			List	   *cols = jstrings(jget(c, "to_columns"), NULL);
			ListCell   *lc;

			appendStringInfo(&buf, "REFERENCES %s (", to);
			foreach(lc, cols)
				appendStringInfo(&buf, "%s%s", lc == list_head(cols) ? "" : ", ",
								 quote_identifier(lfirst(lc)));
			appendStringInfoChar(&buf, ')');
		}
		else if (expression)
			appendStringInfo(&buf, "REFERENCES %s", expression);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: a foreign_key constraint has neither \"to\" nor \"expression\"", what)));
	}
	else if (strcmp(type, "custom") == 0 && expression)
		appendStringInfoString(&buf, expression);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: contract constraint of type \"%s\"%s%s is not one bluegreen can build",
						what, type, column ? " on column " : "", column ? column : "")));
	return buf.data;
}

/*
 * The CREATE TABLE of an enforced contract: the contract's columns, in its order, with
 * their constraints. Foreign keys to models being rebuilt are pointed at their shadow
 * copies by the caller (the statement goes through bg_redirect_ddl).
 */
static char *
contract_table_sql(const char *what, BgNode *n, const char *target, List **columns_out)
{
	json_object *columns = n->columns_json ? json_tokener_parse(n->columns_json) : NULL;
	json_object *constraints = n->constraints_json ? json_tokener_parse(n->constraints_json) : NULL;
	StringInfoData buf;
	List	   *cols = NIL;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE TABLE %s (", target);
	if (columns)
	{
		json_object_object_foreach(columns, cname, cval)
		{
			ContractColumn *cc = palloc0(sizeof(ContractColumn));
			json_object *cons = jget(cval, "constraints");

			cc->name = pstrdup(cname);
			cc->data_type = jstring(cval, "data_type");
			if (cc->data_type == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s: contract column \"%s\" has no data_type", what, cname)));
			appendStringInfo(&buf, "%s\n  %s %s", first ? "" : ",", quote_identifier(cname),
							 cc->data_type);
			first = false;
			if (cons && json_object_is_type(cons, json_type_array))
				for (size_t i = 0; i < json_object_array_length(cons); i++)
					appendStringInfo(&buf, " %s",
									 constraint_clause(what, json_object_array_get_idx(cons, i), cname));
			cols = lappend(cols, cc);
		}
	}
	if (constraints && json_object_is_type(constraints, json_type_array))
		for (size_t i = 0; i < json_object_array_length(constraints); i++)
		{
			json_object *c = json_object_array_get_idx(constraints, i);
			const char *type = json_object_get_string(jget(c, "type"));

			if (type && strcmp(type, "not_null") == 0)
			{
				/* a model-level not_null names columns: one NOT NULL each */
				List	   *names = jstrings(jget(c, "columns"), NULL);
				ListCell   *lc;

				foreach(lc, names)
					appendStringInfo(&buf, ",\n  CHECK (%s IS NOT NULL)",
									 quote_identifier(lfirst(lc)));
				continue;
			}
			appendStringInfo(&buf, ",\n  %s", constraint_clause(what, c, NULL));
		}
	appendStringInfoString(&buf, "\n)");
	if (columns)
		json_object_put(columns);
	if (constraints)
		json_object_put(constraints);
	if (cols == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the contract is enforced but lists no columns", what)));
	*columns_out = cols;
	return buf.data;
}

/*
 * dbt refuses to build a contracted model whose code does not produce exactly the
 * contract's columns with the contract's types; so does bluegreen, naming each
 * difference.
 */
static void
check_contract(const char *what, const char *select_sql, List *contract)
{
	char	   *probe = psprintf("SELECT * FROM (\n%s) AS bg_contract_probe LIMIT 0", select_sql);
	TupleDesc	desc;
	StringInfoData diff;
	ListCell   *lc;

	bg_spi_exec(probe, SPI_OK_SELECT, 0, NULL, NULL, NULL);
	desc = SPI_tuptable->tupdesc;
	initStringInfo(&diff);
	foreach(lc, contract)
	{
		ContractColumn *cc = lfirst(lc);
		bool		found = false;

		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			Oid			want;
			int32		want_mod;

			if (strcmp(NameStr(att->attname), cc->name) != 0)
				continue;
			found = true;
			typenameTypeIdAndMod(NULL, typeStringToTypeName(cc->data_type), &want, &want_mod);
			if (want != att->atttypid)
				appendStringInfo(&diff, "%scolumn \"%s\" is %s in the code and %s in the contract",
								 diff.len ? "; " : "", cc->name,
								 format_type_be(att->atttypid), format_type_be(want));
		}
		if (!found)
			appendStringInfo(&diff, "%scolumn \"%s\" of the contract is not in the code",
							 diff.len ? "; " : "", cc->name);
	}
	for (int i = 0; i < desc->natts; i++)
	{
		bool		found = false;

		foreach(lc, contract)
			if (strcmp(((ContractColumn *) lfirst(lc))->name, NameStr(TupleDescAttr(desc, i)->attname)) == 0)
				found = true;
		if (!found)
			appendStringInfo(&diff, "%scolumn \"%s\" of the code is not in the contract",
							 diff.len ? "; " : "", NameStr(TupleDescAttr(desc, i)->attname));
	}
	if (diff.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: the code does not match its enforced contract", what),
				 errdetail("%s.", diff.data)));
}

/* ------------------------------------------------------------------------
 * Materializations
 * ------------------------------------------------------------------------
 */
/* dbt-postgres's unlogged config: the table is created UNLOGGED */
static bool
config_unlogged(BgNode *n)
{
	json_object *config = n->config_json ? json_tokener_parse(n->config_json) : NULL;
	json_object *v = jget(config, "unlogged");
	bool		unlogged = v && json_object_is_type(v, json_type_boolean) &&
		json_object_get_boolean(v);

	if (config)
		json_object_put(config);
	return unlogged;
}

/* a contract's "CREATE TABLE ..." as "CREATE UNLOGGED TABLE ..." */
static char *
unlogged_ddl(char *ddl, bool unlogged)
{
	const char *prefix = "CREATE TABLE ";

	if (!unlogged || strncmp(ddl, prefix, strlen(prefix)) != 0)
		return ddl;
	return psprintf("CREATE UNLOGGED TABLE %s", ddl + strlen(prefix));
}

static uint64
build_table(const char *what, BgBuildContext *ctx, BgNode *n, const char *select_sql,
			const char *target)
{
	bool		unlogged = config_unlogged(n);

	if (n->contract_enforced)
	{
		List	   *contract;
		char	   *ddl = unlogged_ddl(contract_table_sql(what, n, target, &contract), unlogged);
		StringInfoData cols;
		ListCell   *lc;

		check_contract(what, select_sql, contract);
		ddl = bg_redirect_ddl(what, ddl, ctx->redirects, ctx->database);
		run_checked(what, ddl, T_CreateStmt, SPI_OK_UTILITY);
		initStringInfo(&cols);
		foreach(lc, contract)
			appendStringInfo(&cols, "%s%s", cols.len ? ", " : "",
							 quote_identifier(((ContractColumn *) lfirst(lc))->name));
		return run_checked(what,
						   psprintf("INSERT INTO %s (%s)\nSELECT %s FROM (\n%s) AS model_subq",
									target, cols.data, cols.data, select_sql),
						   T_InsertStmt, SPI_OK_INSERT);
	}
	return run_checked(what, psprintf("CREATE %sTABLE %s AS\n%s", unlogged ? "UNLOGGED " : "",
									  target, select_sql),
					   T_CreateTableAsStmt, SPI_OK_UTILITY);
}

static const char *
strategy_of(const char *what, BgModelConfig *c)
{
	const char *s = c->incremental_strategy;

	if (s == NULL || strcmp(s, "default") == 0)
		return c->unique_key != NIL ? "delete+insert" : "append";
	if (strcmp(s, "append") == 0 || strcmp(s, "delete+insert") == 0 || strcmp(s, "merge") == 0)
		return s;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s: incremental_strategy \"%s\" is not one bluegreen builds", what, s),
			 errhint("bluegreen builds append, delete+insert and merge; build this model with dbt (see the README).")));
	return NULL;
}

/* dbt's Column.is_string() and string_size(): text, or a size not given, counts as 256 */
static bool
is_string_column(Column *col)
{
	return col->type == TEXTOID || col->type == VARCHAROID || col->type == BPCHAROID;
}

static int
string_size(Column *col)
{
	return col->type == TEXTOID || col->typmod < 0 ? 256 : col->typmod - VARHDRSZ;
}

/*
 * dbt's alter_column_type: a new column of the type, filled from the old one (an
 * assignment cast), the old one dropped, the new one renamed; so the column moves to
 * the end of the table.
 */
static void
dbt_alter_column_type(const char *target, const char *name, const char *type_name)
{
	const char *col = quote_identifier(name);
	const char *tmp = quote_identifier(psprintf("%s__dbt_alter", name));

	bg_spi_exec(psprintf("ALTER TABLE %s ADD COLUMN %s %s", target, tmp, type_name),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_spi_exec(psprintf("UPDATE %s SET %s = %s", target, tmp, col),
				SPI_OK_UPDATE, 0, NULL, NULL, NULL);
	bg_spi_exec(psprintf("ALTER TABLE %s DROP COLUMN %s", target, col),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_spi_exec(psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", target, tmp, col),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
}

/*
 * on_schema_change: which columns the increment writes, after adding (or dropping)
 * columns of the target as the setting asks.
 */
static List *
reconcile_columns(const char *what, BgModelConfig *c, const char *target,
				  const char *shadow_schema, const char *name, const char *incr_schema,
				  const char *incr_name)
{
	List	   *dest = relation_columns(shadow_schema, name);
	List	   *source = relation_columns(incr_schema, incr_name);
	List	   *added = NIL,
			   *removed = NIL,
			   *retyped = NIL;
	ListCell   *lc;
	const char *mode = c->on_schema_change;

	foreach(lc, source)
	{
		Column	   *s = lfirst(lc);
		Column	   *d = find_column(dest, s->name);

		if (d == NULL)
			added = lappend(added, s);
		else if ((d->type != s->type || d->typmod != s->typmod) &&
				 !(is_string_column(s) && is_string_column(d) &&
				   string_size(d) > string_size(s)))
			retyped = lappend(retyped, s);	/* dbt: a shorter string is no change */
	}
	foreach(lc, dest)
		if (find_column(source, ((Column *) lfirst(lc))->name) == NULL)
			removed = lappend(removed, lfirst(lc));

	if (strcmp(mode, "ignore") == 0)
	{
		/* the table's columns are written; one the increment lacks fails, as in dbt */
		if (removed != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s: the increment lacks column%s %s of the table, and on_schema_change is \"ignore\"",
							what, list_length(removed) == 1 ? "" : "s", column_list(removed, NULL)),
					 errhint("Set on_schema_change to append_new_columns (the column stays, empty in new rows) or sync_all_columns (it is dropped), or deploy with full_refresh => true.")));
		return dest;
	}
	if (added == NIL && removed == NIL && retyped == NIL)
		return source;
	if (strcmp(mode, "fail") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: the increment's columns differ from the table's, and on_schema_change is \"fail\"", what),
				 errdetail("Added: %s. Removed: %s. Retyped: %s.",
						   added ? column_list(added, NULL) : "none",
						   removed ? column_list(removed, NULL) : "none",
						   retyped ? column_list(retyped, NULL) : "none")));
	if (strcmp(mode, "append_new_columns") != 0 && strcmp(mode, "sync_all_columns") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: on_schema_change \"%s\" is not one of ignore, fail, append_new_columns, sync_all_columns", what, mode)));
	foreach(lc, added)
	{
		Column	   *s = lfirst(lc);

		bg_spi_exec(psprintf("ALTER TABLE %s ADD COLUMN %s %s", target,
							 quote_identifier(s->name), s->type_name),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	}
	if (strcmp(mode, "sync_all_columns") == 0)
	{
		foreach(lc, removed)
			bg_spi_exec(psprintf("ALTER TABLE %s DROP COLUMN %s", target,
								 quote_identifier(((Column *) lfirst(lc))->name)),
						SPI_OK_UTILITY, 0, NULL, NULL, NULL);
		foreach(lc, retyped)
			dbt_alter_column_type(target, ((Column *) lfirst(lc))->name,
								  ((Column *) lfirst(lc))->type_name);
	}
	return source;
}

static char *
predicates_sql(List *predicates)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, predicates)
		appendStringInfo(&buf, "\n  AND (%s)", (char *) lfirst(lc));
	return buf.data;
}

static uint64
apply_increment(const char *what, BgModelConfig *c, const char *strategy, const char *target,
				const char *increment, List *dest)
{
	char	   *cols = column_list(dest, NULL);
	ListCell   *lc;

	/*
	 * The aliases are dbt's, unquoted as dbt writes them (so they fold to lower case):
	 * incremental_predicates written for dbt, such as DBT_INTERNAL_DEST.col > x, must
	 * find them.
	 */
	if (strcmp(strategy, "merge") == 0)
	{
		StringInfoData sql;
		List	   *update = NIL;

		initStringInfo(&sql);
		appendStringInfo(&sql, "MERGE INTO %s AS DBT_INTERNAL_DEST\nUSING %s AS DBT_INTERNAL_SOURCE\nON ",
						 target, increment);
		if (c->unique_key == NIL)
			appendStringInfoString(&sql, "FALSE");
		foreach(lc, c->unique_key)
		{
			const char *k = lfirst(lc);

			if (c->unique_key_is_list)
				appendStringInfo(&sql, "%sDBT_INTERNAL_SOURCE.%s = DBT_INTERNAL_DEST.%s",
								 lc == list_head(c->unique_key) ? "" : " AND ",
								 quote_identifier(k), quote_identifier(k));
			else
				appendStringInfo(&sql, "DBT_INTERNAL_SOURCE.%s = DBT_INTERNAL_DEST.%s", k, k);
		}
		appendStringInfoString(&sql, predicates_sql(c->incremental_predicates));
		foreach(lc, dest)
		{
			Column	   *col = lfirst(lc);
			bool		keep = c->merge_update_columns == NIL;
			ListCell   *m;

			foreach(m, c->merge_update_columns)
				if (strcmp(lfirst(m), col->name) == 0)
					keep = true;
			foreach(m, c->merge_exclude_columns)
				if (strcmp(lfirst(m), col->name) == 0)
					keep = false;
			if (keep)
				update = lappend(update, col);
		}
		if (c->unique_key != NIL && update != NIL)
		{
			appendStringInfoString(&sql, "\nWHEN MATCHED THEN UPDATE SET ");
			foreach(lc, update)
			{
				const char *q = quote_identifier(((Column *) lfirst(lc))->name);

				appendStringInfo(&sql, "%s%s = DBT_INTERNAL_SOURCE.%s",
								 lc == list_head(update) ? "" : ", ", q, q);
			}
		}
		appendStringInfo(&sql, "\nWHEN NOT MATCHED THEN INSERT (%s) VALUES (%s)", cols,
						 column_list(dest, "DBT_INTERNAL_SOURCE"));
		return run_checked(what, sql.data, T_MergeStmt, SPI_OK_MERGE);
	}
	if (strcmp(strategy, "delete+insert") == 0 && c->unique_key != NIL)
	{
		StringInfoData sql;
		StringInfoData keys;

		/*
		 * dbt's default__get_delete_insert_merge_sql: the key (a column, a list, or an
		 * expression as dbt splices it) IN the increment's distinct keys, the table
		 * named DBT_INTERNAL_DEST for the predicates, which may also name its columns
		 * unqualified
		 */
		initStringInfo(&keys);
		foreach(lc, c->unique_key)
			appendStringInfo(&keys, "%s%s", lc == list_head(c->unique_key) ? "" : ", ",
							 c->unique_key_is_list ? quote_identifier(lfirst(lc)) :
							 (const char *) lfirst(lc));
		initStringInfo(&sql);
		appendStringInfo(&sql, "DELETE FROM %s AS DBT_INTERNAL_DEST\nWHERE (%s) IN (SELECT DISTINCT %s FROM %s AS DBT_INTERNAL_SOURCE)",
						 target, keys.data, keys.data, increment);
		appendStringInfoString(&sql, predicates_sql(c->incremental_predicates));
		run_checked(what, sql.data, T_DeleteStmt, SPI_OK_DELETE);
	}
	return run_checked(what, psprintf("INSERT INTO %s (%s)\nSELECT %s FROM %s", target, cols,
									  cols, increment),
					   T_InsertStmt, SPI_OK_INSERT);
}

/*
 * dbt's should_full_refresh(): the model's full_refresh config when it sets one (true or
 * false), otherwise the run's --full-refresh. With full_refresh: false dbt compiled the
 * incremental branch even under --full-refresh, and runs it as an increment. And as in
 * dbt's incremental materialization, a live view (a model that was one) is replaced in
 * full: is_incremental() was false over it, so its full query was compiled.
 */
static bool
incremental_in_full(BgBuildContext *ctx, BgNode *n, BgModelConfig *c, bool live_exists)
{
	json_object *config = n->config_json ? json_tokener_parse(n->config_json) : NULL;
	json_object *v = jget(config, "full_refresh");
	bool		full = ctx->full_refresh || c->full_refresh;
	char		relkind = 0;

	if (v && json_object_is_type(v, json_type_boolean))
		full = json_object_get_boolean(v);
	if (config)
		json_object_put(config);
	if (live_exists && bg_relation_exists(n->schema, n->alias, NULL, &relkind) &&
		relkind == RELKIND_VIEW)
		return true;
	return !live_exists || full;
}

/* For deploy.c's checks: is this incremental model built in full, not by an increment? */
bool
bg_incremental_in_full(BgBuildContext *ctx, BgNode *n, bool live_exists)
{
	return incremental_in_full(ctx, n, bg_model_config(n), live_exists);
}

/*
 * dbt's expand_target_column_types, which its incremental materialization runs before
 * on_schema_change on a model without an enforced contract: a string column that the
 * increment has longer becomes character varying(<the increment's size>), by
 * dbt_alter_column_type.
 */
static void
expand_string_columns(const char *target, const char *schema, const char *name,
					  const char *incr_name)
{
	List	   *source = relation_columns(schema, incr_name);
	ListCell   *lc;

	foreach(lc, relation_columns(schema, name))
	{
		Column	   *d = lfirst(lc);
		Column	   *s = find_column(source, d->name);

		if (s == NULL || !is_string_column(d) || !is_string_column(s) ||
			string_size(s) <= string_size(d))
			continue;
		dbt_alter_column_type(target, d->name,
							  psprintf("character varying(%d)", string_size(s)));
	}
}

static void
build_incremental(const char *what, BgBuildContext *ctx, BgNode *n, BgModelConfig *c,
				  const char *select_sql, const char *shadow_schema, int step,
				  BgBuildResult *res)
{
	const char *target = quote_qualified_identifier(shadow_schema, n->alias);
	const char *strategy = strategy_of(what, c);
	char	   *incr_name = psprintf("__bg_increment_%d", step);
	char	   *increment = quote_qualified_identifier(shadow_schema, incr_name);
	List	   *dest;
	Oid			live_oid = InvalidOid;
	bool		unlogged;

	/* start from the latest live data, logged or not as the live table is */
	(void) bg_relation_exists(n->schema, n->alias, &live_oid, NULL);
	unlogged = OidIsValid(live_oid) && get_rel_persistence(live_oid) == RELPERSISTENCE_UNLOGGED;
	if (n->contract_enforced)
	{
		List	   *contract;
		char	   *ddl = unlogged_ddl(contract_table_sql(what, n, target, &contract), unlogged);

		ddl = bg_redirect_ddl(what, ddl, ctx->redirects, ctx->database);
		run_checked(what, ddl, T_CreateStmt, SPI_OK_UTILITY);
		dest = relation_columns(n->schema, n->alias);
		res->carried_rows = run_checked(what,
										psprintf("INSERT INTO %s (%s) SELECT %s FROM %s", target,
												 column_list(dest, NULL), column_list(dest, NULL),
												 quote_qualified_identifier(n->schema, n->alias)),
										T_InsertStmt, SPI_OK_INSERT);
	}
	else
	{
		/*
		 * with the live table's indexes, as dbt's incremental run keeps the table's: dbt
		 * creates the indexes config only with the table (or at a full refresh)
		 */
		run_checked(what, psprintf("CREATE %sTABLE %s (LIKE %s INCLUDING ALL)",
								   unlogged ? "UNLOGGED " : "",
								   target, quote_qualified_identifier(n->schema, n->alias)),
					T_CreateStmt, SPI_OK_UTILITY);
		res->carried_rows = run_checked(what,
										psprintf("INSERT INTO %s SELECT * FROM %s", target,
												 quote_qualified_identifier(n->schema, n->alias)),
										T_InsertStmt, SPI_OK_INSERT);
	}

	/*
	 * Pre-hooks see {{ this }} as dbt's see the existing table: the latest live data,
	 * here its copy, before the increment is computed.
	 */
	run_hooks(ctx, what, c->pre_hooks, shadow_schema, n->alias, n->database);

	/* the increment, reading {{ this }} as the copy just made */
	run_checked(what, psprintf("CREATE TABLE %s AS\n%s", increment, select_sql),
				T_CreateTableAsStmt, SPI_OK_UTILITY);
	if (n->contract_enforced)
	{
		List	   *contract;

		(void) contract_table_sql(what, n, target, &contract);
		check_contract(what, psprintf("SELECT * FROM %s", increment), contract);
	}
	if (!n->contract_enforced)
		expand_string_columns(target, shadow_schema, n->alias, incr_name);
	dest = reconcile_columns(what, c, target, shadow_schema, n->alias, shadow_schema, incr_name);
	res->rows = apply_increment(what, c, strategy, target, increment, dest);
	bg_spi_exec(psprintf("DROP TABLE %s", increment), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	res->how = psprintf("incremental (%s)", strategy);
}

/* CREATE INDEX for each configured index; names left to PostgreSQL */
static void
create_indexes(const char *what, BgModelConfig *c, const char *target)
{
	ListCell   *lc;

	foreach(lc, c->indexes)
	{
		BgIndexSpec *ix = lfirst(lc);
		StringInfoData sql;
		ListCell   *col;

		if (ix->columns == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: an index in config.indexes has no columns", what)));
		initStringInfo(&sql);
		appendStringInfo(&sql, "CREATE %sINDEX ON %s", ix->unique ? "UNIQUE " : "", target);
		if (ix->type)
			appendStringInfo(&sql, " USING %s", quote_identifier(ix->type));
		appendStringInfoString(&sql, " (");
		foreach(col, ix->columns)
			appendStringInfo(&sql, "%s%s", col == list_head(ix->columns) ? "" : ", ",
							 quote_identifier(lfirst(col)));
		appendStringInfoChar(&sql, ')');
		run_checked(what, sql.data, T_IndexStmt, SPI_OK_UTILITY);
	}
}

static const char *const privileges[] = {
	"select", "insert", "update", "delete", "truncate", "references", "trigger", "all", NULL
};

static void
apply_grants(const char *what, BgModelConfig *c, const char *target)
{
	ListCell   *lc;

	foreach(lc, c->grants)
	{
		BgGrant    *g = lfirst(lc);
		char	   *priv = str_tolower(g->privilege, strlen(g->privilege), DEFAULT_COLLATION_OID);
		bool		known = false;
		ListCell   *who;

		for (int i = 0; privileges[i]; i++)
			if (strcmp(priv, privileges[i]) == 0)
				known = true;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_GRANT_OPERATION),
					 errmsg("%s: config.grants names privilege \"%s\", which a table or view does not have", what, g->privilege)));
		foreach(who, g->grantees)
		{
			const char *grantee = lfirst(who);

			run_checked(what, psprintf("GRANT %s ON %s TO %s", priv, target,
									   pg_strcasecmp(grantee, "public") == 0 ? "PUBLIC" :
									   quote_identifier(grantee)),
						T_GrantStmt, SPI_OK_UTILITY);
		}
	}
}

static void
persist_docs(BgNode *n, const char *target, const char *kind_word)
{
	if (n->persist_relation_docs && n->description && n->description[0])
	{
		/* COMMENT takes no parameters: the text goes in as a quoted literal */
		bg_spi_exec(psprintf("COMMENT ON %s %s IS %s", kind_word, target,
							 quote_literal_cstr(n->description)),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	}
	if (n->persist_column_docs && n->columns_json)
	{
		json_object *columns = json_tokener_parse(n->columns_json);
		List	   *comments = NIL;
		ListCell   *lc;

		if (columns && json_object_is_type(columns, json_type_object))
		{
			json_object_object_foreach(columns, cname, cval)
			{
				char	   *d = jstring(cval, "description");

				if (d && d[0])
					comments = lappend(comments,
									   psprintf("COMMENT ON COLUMN %s.%s IS %s", target,
												quote_identifier(cname), quote_literal_cstr(d)));
			}
		}
		if (columns)
			json_object_put(columns);
		/* a documented column the code does not produce is skipped */
		foreach(lc, comments)
		{
			ErrorData  *e = bg_spi_exec_subxact(lfirst(lc));

			if (e)
				FreeErrorData(e);
		}
	}
}

void
bg_build_model(BgBuildContext *ctx, BgNode *n, bool live_exists, const char *shadow_schema,
			   int step, BgBuildResult *res)
{
	char	   *what = bg_node_label(n);
	BgModelConfig *c = bg_model_config(n);
	const char *target = quote_qualified_identifier(shadow_schema, n->alias);
	char	   *select_sql;
	const char *kind_word = "TABLE";
	bool		live_indexes = false;	/* an incremental run keeps live's indexes */

	memset(res, 0, sizeof(*res));
	if (n->compiled_code == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no compiled code", what),
				 errhint("Give bluegreen the manifest of dbt compile (or dbt build), not of dbt parse.")));
	select_sql = bg_redirect_select(what, n->compiled_code, ctx->redirects, ctx->database, NULL);

	/* an incremental run has its pre-hooks run on the copy of live (build_incremental) */
	if (strcmp(n->materialized, "incremental") != 0 || incremental_in_full(ctx, n, c, live_exists))
		run_hooks(ctx, what, c->pre_hooks, shadow_schema, n->alias, n->database);

	if (strcmp(n->materialized, "view") == 0)
	{
		if (n->contract_enforced)
		{
			List	   *contract;

			(void) contract_table_sql(what, n, target, &contract);
			check_contract(what, select_sql, contract);
		}
		run_checked(what, psprintf("CREATE VIEW %s AS\n%s", target, select_sql),
					T_ViewStmt, SPI_OK_UTILITY);
		res->how = "view";
		res->relkind = RELKIND_VIEW;
		kind_word = "VIEW";
	}
	else if (strcmp(n->materialized, "table") == 0 ||
			 (strcmp(n->materialized, "incremental") == 0 &&
			  incremental_in_full(ctx, n, c, live_exists)))
	{
		if (strcmp(n->materialized, "incremental") == 0)
			(void) strategy_of(what, c);
		res->rows = build_table(what, ctx, n, select_sql, target);
		res->how = strcmp(n->materialized, "table") == 0 ? "table" : "incremental (in full)";
		res->relkind = RELKIND_RELATION;
	}
	else if (strcmp(n->materialized, "incremental") == 0)
	{
		build_incremental(what, ctx, n, c, select_sql, shadow_schema, step, res);
		res->relkind = RELKIND_RELATION;
		live_indexes = !n->contract_enforced;
	}
	else if (strcmp(n->materialized, "materialized_view") == 0)
	{
		res->rows = run_checked(what, psprintf("CREATE MATERIALIZED VIEW %s AS\n%s", target, select_sql),
								T_CreateTableAsStmt, SPI_OK_UTILITY);
		res->how = "materialized view";
		res->relkind = RELKIND_MATVIEW;
		kind_word = "MATERIALIZED VIEW";
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: materialization \"%s\" is not one bluegreen builds", what, n->materialized),
				 errhint("bluegreen builds view, table, incremental, materialized_view and ephemeral models; build others with dbt (see the README).")));

	if (res->relkind != RELKIND_VIEW && !live_indexes)
		create_indexes(what, c, target);
	persist_docs(n, target, kind_word);
	apply_grants(what, c, target);
	run_hooks(ctx, what, c->post_hooks, shadow_schema, n->alias, n->database);
	if (res->relkind != RELKIND_VIEW)
		bg_spi_exec(psprintf("ANALYZE %s", target), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
}

/*
 * For a deployment that dbt builds (bg.deploy_begin): an incremental model with a live
 * table starts in shadow as a copy of it, so that dbt's is_incremental() finds the
 * relation and applies its increment to the latest live data, not to nothing. Returns
 * the rows copied, or -1 when the model is built in full (nothing to copy).
 */
int64
bg_copy_live_incremental(BgBuildContext *ctx, BgNode *n, bool live_exists,
						 const char *shadow_schema)
{
	BgModelConfig *c = bg_model_config(n);
	char	   *what = bg_node_label(n);
	const char *target = quote_qualified_identifier(shadow_schema, n->alias);
	const char *live = quote_qualified_identifier(n->schema, n->alias);

	if (strcmp(n->materialized, "incremental") != 0 || incremental_in_full(ctx, n, c, live_exists))
		return -1;
	run_checked(what, psprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", target, live),
				T_CreateStmt, SPI_OK_UTILITY);
	return (int64) run_checked(what, psprintf("INSERT INTO %s SELECT * FROM %s", target, live),
							   T_InsertStmt, SPI_OK_INSERT);
}
