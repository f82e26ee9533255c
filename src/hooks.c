/*
 * hooks.c
 *		A model's pre-hooks and post-hooks, run beside production: each may change its
 *		own {{ this }} (the relation being built in shadow) and nothing that is live.
 *
 * A hook is manifest SQL bluegreen cannot read for intent. It runs as the builder, which
 * may write nothing live (it has SELECT there, and owns nothing there), so most of what
 * a hook could try fails on its own. What it did is checked all the same: the
 * relations of the project's live schemas, the schemas themselves, and the functions,
 * types and policies in them are read before and after each hook; so is everything the
 * builder owns, which must be unchanged but {{ this }}. Any difference is an error (the
 * step's subtransaction then undoes the hook).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"

#include "build.h"
#include "state.h"
#include "privilege.h"
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

/*
 * Everything the builder owns, but {{ this }} and what belongs to it (its indexes, TOAST
 * table, owned sequences, row type, statistics): catalog:oid, name and state (xmin, or
 * the ACL of default privileges), ordered by catalog:oid, which a change of search_path
 * cannot change as it changes a name. Whatever a hook creates is the builder's, so a
 * hook that creates or changes anything else shows here: a function or type (in shadow
 * or in pg_temp), a schema, default privileges, a large object, another model's shadow
 * relation.
 */
static const char *const builder_objects_sql =
"WITH this AS (SELECT c.oid, c.reltoastrelid FROM pg_catalog.pg_class AS c"
"               JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
"              WHERE n.nspname OPERATOR(pg_catalog.=) $2 AND c.relname OPERATOR(pg_catalog.=) ANY ($3)),"
" mine AS (SELECT oid FROM this"
"   UNION SELECT reltoastrelid FROM this"
"   UNION SELECT i.indexrelid FROM pg_catalog.pg_index AS i"
"          WHERE i.indrelid OPERATOR(pg_catalog.=) ANY (SELECT oid FROM this UNION SELECT reltoastrelid FROM this)"
"   UNION SELECT d.objid FROM pg_catalog.pg_depend AS d"
"          WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
"            AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
"            AND d.refobjid OPERATOR(pg_catalog.=) ANY (SELECT oid FROM this)"
"            AND d.deptype OPERATOR(pg_catalog.=) ANY ('{a,i}')),"
/* namespaces looked at: this deployment's shadow schemas, pg_temp, any that is not a
 * shadow schema (another project's deployment may be building in its own meanwhile) */
" ns AS (SELECT oid FROM pg_catalog.pg_namespace"
"         WHERE nspname OPERATOR(pg_catalog.=) ANY ($4)"
"            OR oid OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()"
"            OR nspname OPERATOR(pg_catalog.!~) '__bg_shadow$'),"
/* for what is not a relation, every schema but other sessions' temporary ones: the
 * builder may create in every project's shadow schemas, and a function left in
 * another's would be its code later; no build creates any but {{ this }}'s parts */
" ns_any AS (SELECT oid FROM pg_catalog.pg_namespace"
"             WHERE oid OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()"
"                OR nspname OPERATOR(pg_catalog.!~) '^pg_(toast_)?temp_')"
" SELECT * FROM ("
" SELECT 'pg_class:' OPERATOR(pg_catalog.||) c.oid::text AS k, 'relation ' OPERATOR(pg_catalog.||) c.oid::pg_catalog.regclass::text,"
/* another model of this deployment may be changed by this one (a foreign key to it
 * gives it triggers): only that it is there counts; anywhere else, any change */
"        CASE WHEN c.relnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM pg_catalog.pg_namespace"
"                  WHERE nspname OPERATOR(pg_catalog.=) ANY ($4)) THEN '' ELSE c.xmin::text END"
"   FROM pg_catalog.pg_class AS c"
"  WHERE c.relowner OPERATOR(pg_catalog.=) $1 AND c.relnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns) AND c.oid OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM mine)"
" UNION ALL SELECT 'pg_type:' OPERATOR(pg_catalog.||) t.oid::text, 'type ' OPERATOR(pg_catalog.||) t.oid::pg_catalog.regtype::text, t.xmin::text"
"   FROM pg_catalog.pg_type AS t"
"  WHERE t.typowner OPERATOR(pg_catalog.=) $1 AND t.typnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns_any)"
/* a relation's row type is its relation's (above), an array type its element type's */
"    AND t.typrelid OPERATOR(pg_catalog.=) 0"
/* (by the element's oid, which is indexed: pg_type.typarray is not) */
"    AND NOT EXISTS (SELECT FROM pg_catalog.pg_type AS e WHERE e.oid OPERATOR(pg_catalog.=) t.typelem"
"          AND e.typarray OPERATOR(pg_catalog.=) t.oid)"
" UNION ALL SELECT 'pg_proc:' OPERATOR(pg_catalog.||) p.oid::text, 'function ' OPERATOR(pg_catalog.||) p.oid::pg_catalog.regprocedure::text, p.xmin::text"
"   FROM pg_catalog.pg_proc AS p WHERE p.proowner OPERATOR(pg_catalog.=) $1"
"    AND p.pronamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns_any)"
" UNION ALL SELECT 'pg_namespace:' OPERATOR(pg_catalog.||) n.oid::text, 'schema ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(n.nspname), n.xmin::text"
"   FROM pg_catalog.pg_namespace AS n WHERE n.nspowner OPERATOR(pg_catalog.=) $1"
" UNION ALL SELECT 'pg_default_acl:' OPERATOR(pg_catalog.||) d.oid::text, 'default privileges on ' OPERATOR(pg_catalog.||)"
"        CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'"
"             WHEN 'T' THEN 'types' ELSE 'schemas' END"
"        OPERATOR(pg_catalog.||) CASE WHEN d.defaclnamespace OPERATOR(pg_catalog.=) 0 THEN ''"
"             ELSE ' in schema ' OPERATOR(pg_catalog.||) d.defaclnamespace::pg_catalog.regnamespace::text END,"
"        d.defaclacl::text"
"   FROM pg_catalog.pg_default_acl AS d WHERE d.defaclrole OPERATOR(pg_catalog.=) $1"
" UNION ALL SELECT 'pg_largeobject_metadata:' OPERATOR(pg_catalog.||) l.oid::text, 'large object ' OPERATOR(pg_catalog.||) l.oid::text, l.xmin::text"
"   FROM pg_catalog.pg_largeobject_metadata AS l WHERE l.lomowner OPERATOR(pg_catalog.=) $1"
" UNION ALL SELECT 'pg_statistic_ext:' OPERATOR(pg_catalog.||) x.oid::text, 'statistics object ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(x.stxname), x.xmin::text"
"   FROM pg_catalog.pg_statistic_ext AS x WHERE x.stxowner OPERATOR(pg_catalog.=) $1 AND x.stxnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns_any)"
"    AND x.stxrelid OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM mine)"
" UNION ALL SELECT 'pg_operator:' OPERATOR(pg_catalog.||) o.oid::text, 'operator ' OPERATOR(pg_catalog.||) o.oid::pg_catalog.regoperator::text, o.xmin::text"
"   FROM pg_catalog.pg_operator AS o WHERE o.oprowner OPERATOR(pg_catalog.=) $1 AND o.oprnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns_any)"
" UNION ALL SELECT 'pg_collation:' OPERATOR(pg_catalog.||) o.oid::text, 'collation ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(o.collname), o.xmin::text"
"   FROM pg_catalog.pg_collation AS o WHERE o.collowner OPERATOR(pg_catalog.=) $1 AND o.collnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns_any)"
" UNION ALL SELECT 'pg_conversion:' OPERATOR(pg_catalog.||) o.oid::text, 'conversion ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(o.conname), o.xmin::text"
"   FROM pg_catalog.pg_conversion AS o WHERE o.conowner OPERATOR(pg_catalog.=) $1 AND o.connamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns_any)"
" UNION ALL SELECT 'pg_opfamily:' OPERATOR(pg_catalog.||) o.oid::text, 'operator family ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(o.opfname), o.xmin::text"
"   FROM pg_catalog.pg_opfamily AS o WHERE o.opfowner OPERATOR(pg_catalog.=) $1 AND o.opfnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns_any)"
" UNION ALL SELECT 'pg_ts_config:' OPERATOR(pg_catalog.||) o.oid::text, 'text search configuration ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(o.cfgname), o.xmin::text"
"   FROM pg_catalog.pg_ts_config AS o WHERE o.cfgowner OPERATOR(pg_catalog.=) $1 AND o.cfgnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns_any)"
" UNION ALL SELECT 'pg_ts_dict:' OPERATOR(pg_catalog.||) o.oid::text, 'text search dictionary ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(o.dictname), o.xmin::text"
"   FROM pg_catalog.pg_ts_dict AS o WHERE o.dictowner OPERATOR(pg_catalog.=) $1 AND o.dictnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM ns_any)"
" UNION ALL SELECT 'pg_publication:' OPERATOR(pg_catalog.||) o.oid::text, 'publication ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(o.pubname), o.xmin::text"
"   FROM pg_catalog.pg_publication AS o WHERE o.pubowner OPERATOR(pg_catalog.=) $1"
") AS owned ORDER BY k COLLATE \"C\"";

typedef struct OwnedObject
{
	char	   *key;			/* catalog:oid, what is compared */
	char	   *name;			/* for the message */
	char	   *state;
} OwnedObject;

struct BgBuilderState
{
	OwnedObject *objects;
	int			n;
	OwnedObject *locks;
	int			n_locks;
};

/*
 * The locks this backend holds that manifest SQL could have taken to act outside the
 * deployment's shadow: on a relation elsewhere (a write to another project's shadow, a
 * LOCK of a live table), in any mode but ACCESS SHARE, which reading takes; and every
 * advisory lock (a session-level one would outlive the deployment in the caller's
 * session). Keyed like OwnedObject, compared before and after.
 */
static const char *const held_locks_sql =
"SELECT * FROM ("
" SELECT 'relation:' OPERATOR(pg_catalog.||) l.relation::text OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) l.mode AS k,"
"        pg_catalog.format('%s lock on %s', l.mode, l.relation::pg_catalog.regclass), ''"
"   FROM pg_catalog.pg_locks AS l JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) l.relation"
"  WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() AND l.locktype OPERATOR(pg_catalog.=) 'relation'"
"    AND l.relation OPERATOR(pg_catalog.>=) 16384 AND l.mode OPERATOR(pg_catalog.<>) 'AccessShareLock'"
"    AND c.relnamespace OPERATOR(pg_catalog.<>) pg_catalog.pg_my_temp_schema()"
"    AND c.relnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM pg_catalog.pg_namespace"
"          WHERE nspname OPERATOR(pg_catalog.=) ANY ($1) OR nspname OPERATOR(pg_catalog.~) '^pg_toast')"
" UNION ALL"
" SELECT pg_catalog.format('advisory:%s:%s:%s:%s', l.classid, l.objid, l.objsubid, l.mode),"
"        pg_catalog.format('advisory lock (%s, %s)', l.classid, l.objid), ''"
"   FROM pg_catalog.pg_locks AS l"
"  WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() AND l.locktype OPERATOR(pg_catalog.=) 'advisory'"
") AS held ORDER BY k COLLATE \"C\"";

static OwnedObject *
held_locks(BgBuildContext *ctx, int *n)
{
	char	  **shadows = palloc(sizeof(char *) * Max(list_length(ctx->shadow_schemas), 1));
	int			k = 0;
	Datum		arg;
	Oid			type = TEXTARRAYOID;
	OwnedObject *out;
	ListCell   *lc;

	foreach(lc, ctx->shadow_schemas)
		shadows[k++] = lfirst(lc);
	arg = bg_text_array(shadows, k);
	bg_spi_exec(held_locks_sql, SPI_OK_SELECT, 1, &type, &arg, NULL);
	*n = (int) SPI_processed;
	out = palloc0(sizeof(OwnedObject) * (*n + 1));
	for (int i = 0; i < *n; i++)
	{
		out[i].key = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		out[i].name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		out[i].state = "";
	}
	return out;
}

/*
 * What the builder owns but {{ this }} (schema.name) and, for the model of step "step"
 * (0: none), the relations an increment applied in place keeps beside it.
 */
static OwnedObject *
builder_objects(BgBuildContext *ctx, const char *schema, const char *name, int step, int *n)
{
	char	  **shadows = palloc(sizeof(char *) * Max(list_length(ctx->shadow_schemas), 1));
	char	   *names[3];
	int			k = 0;
	Datum		args[4];
	Oid			types[4] = {OIDOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID};
	OwnedObject *out;
	ListCell   *lc;

	foreach(lc, ctx->shadow_schemas)
		shadows[k++] = lfirst(lc);
	names[0] = (char *) name;
	names[1] = psprintf(BG_IN_PLACE_ROWS, step);
	names[2] = psprintf(BG_IN_PLACE_DELETE, step);
	args[0] = ObjectIdGetDatum(GetUserId());
	args[1] = CStringGetTextDatum(schema);
	args[2] = bg_text_array(names, step > 0 ? 3 : 1);
	args[3] = bg_text_array(shadows, k);
	bg_spi_exec(builder_objects_sql, SPI_OK_SELECT, 4, types, args, NULL);
	*n = (int) SPI_processed;
	out = palloc0(sizeof(OwnedObject) * (*n + 1));
	for (int i = 0; i < *n; i++)
	{
		out[i].key = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		out[i].name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		out[i].state = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
	}
	return out;
}

static void
check_only_this(const char *what, const char *by, const char *hook, OwnedObject *before,
				int nb, OwnedObject *after, int na, const char *created)
{
	int			b = 0,
				a = 0;
	const char *name = NULL;
	const char *how = NULL;

	while ((b < nb || a < na) && how == NULL)
	{
		int			cmp = a >= na ? -1 : b >= nb ? 1 : strcmp(before[b].key, after[a].key);

		if (cmp < 0)
			name = before[b].name, how = "dropped";
		else if (cmp > 0)
			name = after[a].name, how = created;
		else if (!(before[b].state == NULL ? after[a].state == NULL :
				   after[a].state != NULL && strcmp(before[b].state, after[a].state) == 0))
			name = before[b].name, how = "changed";
		else
			b++, a++;
	}
	if (how)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s: %s %s %s, which is not {{ this }}", what, by, how, name),
				 hook ? errdetail("Hook: %s", hook) : 0,
				 errhint("Manifest SQL may change {{ this }}, the relation being built, and nothing else: no routines, types, schemas, default privileges, large objects or other relations.")));
}

/*
 * Run the hooks, as the builder; after each, nothing live may have changed, and
 * nothing of the builder's but {{ this }}.
 */
void
bg_run_hooks(BgBuildContext *ctx, const char *what, List *hook_list, const char *schema,
			 const char *name, const char *database)
{
	ListCell   *lc;

	foreach(lc, hook_list)
	{
		char	   *sql = bg_render_hook(what, lfirst(lc), schema, name, database);
		int			nb,
					na,
					ob,
					oa;
		LiveObject *before = live_objects(ctx, &nb);
		OwnedObject *owned_before = builder_objects(ctx, schema, name, 0, &ob);
		LiveObject *after;
		OwnedObject *owned_after;
		int			rc;

		bg_pin_manifest_settings();
		rc = SPI_execute(sql, false, 0);
		if (rc < 0)
			elog(ERROR, "%s: hook failed (%s): %s", what, SPI_result_code_string(rc), sql);
		bg_pin_manifest_settings();
		after = live_objects(ctx, &na);
		check_live_untouched(what, sql, before, nb, after, na);
		owned_after = builder_objects(ctx, schema, name, 0, &oa);
		check_only_this(what, "a hook", sql, owned_before, ob, owned_after, oa, "created");
	}
}

/*
 * A session-level advisory lock outlives the subtransaction that undoes a failed step,
 * and would stay in the caller's session: release those manifest SQL took (they are
 * then reported as an error all the same).
 */
static void
release_new_advisory_locks(BgBuilderState *before, OwnedObject *after, int n)
{
	for (int i = 0; i < n; i++)
	{
		unsigned int classid,
					objid,
					objsubid;
		char		mode[64];
		bool		existed = false;
		LOCKTAG		tag;

		if (sscanf(after[i].key, "advisory:%u:%u:%u:%63s", &classid, &objid, &objsubid, mode) != 4)
			continue;
		for (int b = 0; b < before->n_locks && !existed; b++)
			existed = strcmp(before->locks[b].key, after[i].key) == 0;
		if (existed)
			continue;
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, classid, objid, objsubid);
		for (int k = 0; k < 64 && LockHeldByMe(&tag, strcmp(mode, "ShareLock") == 0 ? ShareLock : ExclusiveLock); k++)
			if (!LockRelease(&tag, strcmp(mode, "ShareLock") == 0 ? ShareLock : ExclusiveLock, true))
				break;			/* a transaction-level one: it goes with the failed step */
	}
}

/*
 * What the builder owns now, but relation schema.name (NULL: nothing excluded), to be
 * compared after a model's code or a test has run (bg_builder_unchanged).
 */
BgBuilderState *
bg_builder_state(BgBuildContext *ctx, const char *schema, const char *name, int step)
{
	BgBuilderState *st = palloc(sizeof(BgBuilderState));

	st->objects = builder_objects(ctx, schema ? schema : "", name ? name : "", step, &st->n);
	st->locks = held_locks(ctx, &st->n_locks);
	return st;
}

/* ERROR if anything the builder owns, but schema.name, changed since "before". */
void
bg_builder_unchanged(BgBuildContext *ctx, const char *what, const char *by,
					 BgBuilderState *before, const char *schema, const char *name, int step)
{
	int			n;
	OwnedObject *after = builder_objects(ctx, schema ? schema : "", name ? name : "", step, &n);

	check_only_this(what, by, NULL, before->objects, before->n, after, n, "created");
	after = held_locks(ctx, &n);
	release_new_advisory_locks(before, after, n);
	check_only_this(what, by, NULL, before->locks, before->n_locks, after, n, "took");
}
