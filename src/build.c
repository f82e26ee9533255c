/*
 * build.c
 *		One model built into the shadow of its live schema, the way dbt-postgres would
 *		build it in place.
 *
 * Runs as the owner role (deploy.c switches user around each step), inside a
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
 *	incremental			in full (as table), or an increment applied to the latest live
 *						data by the model's strategy (incremental.c)
 *	materialized_view	CREATE MATERIALIZED VIEW shadow.x AS <code>
 * then the config dbt-postgres honours: indexes, persist_docs comments, grants, hooks
 * (their {{ this }} rendered as the shadow relation; hooks.c), and ANALYZE of new
 * tables. Contracts are contract.c's.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/formatting.h"

#include "build.h"
#include "catalog.h"
#include "config.h"
#include "redirect.h"
#include "spi.h"
#include "util.h"

static uint64
build_table(const char *what, BgBuildContext *ctx, BgNode *n, const char *select_sql,
			const char *target)
{
	/* under FOR ALL TABLES, unlogged until it is built: nothing of it is published */
	bool		unlogged = bg_node_config(n)->unlogged || ctx->publish_all;

	if (n->contract_enforced)
	{
		char	   *ddl = bg_contract_table_sql(what, n, target, unlogged);
		char	   *cols = bg_contract_column_list(what, n);

		bg_check_contract(what, select_sql, n);
		ddl = bg_redirect_ddl(what, ddl, ctx->redirects, ctx->database);
		bg_run_checked(what, ddl, T_CreateStmt, SPI_OK_UTILITY);
		return bg_run_checked(what,
							  psprintf("INSERT INTO %s (%s)\nSELECT %s FROM (\n%s) AS model_subq",
									   target, cols, cols, select_sql),
							  T_InsertStmt, SPI_OK_INSERT);
	}
	return bg_run_checked(what, psprintf("CREATE %sTABLE %s AS\n%s", unlogged ? "UNLOGGED " : "",
									  target, select_sql),
					   T_CreateTableAsStmt, SPI_OK_UTILITY);
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
		bg_run_checked(what, sql.data, T_IndexStmt, SPI_OK_UTILITY);
	}
}

/*
 * What config.grants may grant. Not REFERENCES nor TRIGGER: a foreign key's checks run
 * as the owner of the table it references, and a trigger attaches code to it, so either
 * would let the grantee run code as the owner role; "all" grants the rest.
 */
static const char *const privileges[] = {
	"select", "insert", "update", "delete", "truncate", "all", NULL
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
		if (strcmp(priv, "references") == 0 || strcmp(priv, "trigger") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("%s: config.grants names privilege \"%s\", which bluegreen does not grant", what, g->privilege),
					 errdetail("With it the grantee could make the owner role %s run its code: a foreign key's checks run as the referenced table's owner, a trigger runs on its writes.",
							   BG_OWNER_ROLE)));
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_GRANT_OPERATION),
					 errmsg("%s: config.grants names privilege \"%s\", which a table or view does not have", what, g->privilege)));
		if (strcmp(priv, "all") == 0)
			priv = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE";
		foreach(who, g->grantees)
		{
			const char *grantee = lfirst(who);

			bg_run_checked(what, psprintf("GRANT %s ON %s TO %s", priv, target,
									   pg_strcasecmp(grantee, "public") == 0 ? "PUBLIC" :
									   quote_identifier(grantee)),
						T_GrantStmt, SPI_OK_UTILITY);
		}
	}
}

static void
persist_docs(BgNode *n, const char *target, const char *kind_word)
{
	ListCell   *lc;

	if (n->persist_relation_docs && n->description && n->description[0])
	{
		/* COMMENT takes no parameters: the text goes in as a quoted literal */
		bg_spi_exec(psprintf("COMMENT ON %s %s IS %s", kind_word, target,
							 quote_literal_cstr(n->description)),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	}
	if (!n->persist_column_docs)
		return;
	foreach(lc, bg_node_config(n)->columns)
	{
		BgModelColumn *col = lfirst(lc);
		ErrorData  *e;

		if (col->description == NULL || col->description[0] == '\0')
			continue;
		/* a documented column the code does not produce is skipped */
		e = bg_spi_exec_subxact(psprintf("COMMENT ON COLUMN %s.%s IS %s", target,
										 quote_identifier(col->name),
										 quote_literal_cstr(col->description)));
		if (e)
			FreeErrorData(e);
	}
}

void
bg_build_model(BgBuildContext *ctx, BgNode *n, bool live_exists, const char *shadow_schema,
			   int step, BgBuildResult *res)
{
	char	   *what = bg_node_label(n);
	BgModelConfig *c = bg_node_config(n);
	const char *target = quote_qualified_identifier(shadow_schema, n->alias);
	bool		incremental = strcmp(n->materialized, "incremental") == 0;
	bool		in_full = incremental && bg_incremental_in_full(ctx, n, live_exists);
	char	   *select_sql;
	const char *kind_word = "TABLE";
	bool		live_indexes = false;	/* an incremental run keeps live's indexes */

	BgBuilderState *before = bg_builder_state(ctx, shadow_schema, n->alias, step);

	memset(res, 0, sizeof(*res));
	bg_check_buildable(n);
	select_sql = bg_redirect_select(what, bg_node_code(n), ctx->redirects, ctx->database, NULL);

	/* an incremental run has its pre-hooks run on the copy of live (incremental.c) */
	if (!incremental || in_full)
		bg_run_hooks(ctx, what, c->pre_hooks, shadow_schema, n->alias, n->database);

	if (strcmp(n->materialized, "view") == 0)
	{
		if (n->contract_enforced)
			bg_check_contract(what, select_sql, n);
		bg_run_checked(what, psprintf("CREATE VIEW %s AS\n%s", target, select_sql),
					   T_ViewStmt, SPI_OK_UTILITY);
		res->how = "view";
		res->relkind = RELKIND_VIEW;
		kind_word = "VIEW";
	}
	else if (strcmp(n->materialized, "table") == 0 || in_full)
	{
		res->rows = build_table(what, ctx, n, select_sql, target);
		res->how = incremental ? "incremental (in full)" : "table";
		res->relkind = RELKIND_RELATION;
		/* a published live table takes the new version's rows as changes (published.c) */
		if (live_exists)
			(void) bg_build_as_changes(what, ctx, n, shadow_schema, step, res);
	}
	else if (incremental)
	{
		bg_build_incremental(what, ctx, n, select_sql, shadow_schema, step, res);
		res->relkind = RELKIND_RELATION;
		live_indexes = !n->contract_enforced;
		if (!res->in_place && live_exists)
			(void) bg_build_as_changes(what, ctx, n, shadow_schema, step, res);
	}
	else
	{
		res->rows = bg_run_checked(what, psprintf("CREATE MATERIALIZED VIEW %s AS\n%s", target, select_sql),
								   T_CreateTableAsStmt, SPI_OK_UTILITY);
		res->how = "materialized view";
		res->relkind = RELKIND_MATVIEW;
		kind_word = "MATERIALIZED VIEW";
	}

	if (res->relkind != RELKIND_VIEW && !live_indexes && !res->in_place)
		create_indexes(what, c, target);
	/* an increment kept in place leaves the live table's comments and grants, which
	 * already are what these would make them (incremental.c) */
	if (!res->in_place)
	{
		persist_docs(n, target, kind_word);
		apply_grants(what, c, target);
	}
	bg_run_hooks(ctx, what, c->post_hooks, shadow_schema, n->alias, n->database);
	/*
	 * A table that will come live as it is, logged as live tables are, after its last
	 * write: a rewrite to logged is not decoded, so a FOR ALL TABLES publication sends
	 * nothing of it while it is in shadow, and its changes once it is live.
	 */
	if (ctx->publish_all && res->relkind == RELKIND_RELATION && !res->in_place && !c->unlogged)
		bg_spi_exec(psprintf("ALTER TABLE %s SET LOGGED", target), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	/* (an increment kept in place is a view of live and its own tables, analyzed) */
	if (res->relkind != RELKIND_VIEW && !res->in_place)
		bg_spi_exec(psprintf("ANALYZE %s", target), SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	/* whatever the code called may not have left anything of the builder's behind */
	bg_builder_unchanged(ctx, what, "building it", before, shadow_schema, n->alias, step);
	/* nor anything on {{ this }} that would act as the owner role once it is live */
	{
		Oid			relid;
		List	   *acting;

		(void) bg_relation_exists(shadow_schema, n->alias, &relid, NULL);
		acting = bg_acting_as_owner(list_make1_oid(relid), true);
		if (acting != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("%s: it would act as the owner role once live: %s", what,
							(char *) linitial(acting)),
					 errdetail("A rule's actions, a trigger, a write through a view, and what ANALYZE, REINDEX and REFRESH evaluate run with the relation's owner's privileges, and promote hands it to the owner role of every managed schema."),
					 errhint("Build the model without it; dbt's grants config may give SELECT on a view; expressions may call functions that superusers own.")));
	}
}
