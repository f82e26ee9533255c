/*
 * hooks.c
 *		A model's pre-hooks and post-hooks, run beside production: each may change its
 *		own {{ this }} (the relation being built in shadow) and nothing that is live.
 *
 * A hook is manifest SQL bluegreen cannot read for intent, so what it did is checked
 * instead: the relations of the project's live schemas, the schemas themselves, and
 * the functions, types and policies in them are read before and after each hook, and
 * any difference is an error (the step's subtransaction then undoes the hook).
 */
#include "postgres.h"

#include "catalog/pg_type.h"

#include "build.h"
#include "redirect.h"
#include "spi.h"

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
	int			i;
	LiveObject *out;

	*n = 0;
	if (ctx->live_schemas == NIL)
		return NULL;
	arg = bg_oid_array(ctx->live_schemas);
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

void
bg_run_hooks(BgBuildContext *ctx, const char *what, List *hook_list, const char *schema,
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
