/*
 * redirect.c
 *		Reading a model's compiled SQL with PostgreSQL's own parser: check that it is one
 *		plain SELECT, and point its references to rebuilt models at their shadow copies.
 *
 * dbt renders every ref() as the live, fully qualified relation name
 * ("db"."analytics"."orders"). While a deployment builds in shadow, a model that reads
 * another model being rebuilt must read the shadow copy, and a model that reads anything
 * else (sources, seeds, models left alone) must read live. Text search cannot tell a
 * relation name from the same words in a string literal, a comment, a column alias or a
 * CTE name, so the compiled code goes through raw_parser, and every RangeVar whose
 * schema and name are those of a rebuilt model is rewritten at the exact location the
 * parser recorded. Only schema-qualified references are candidates: dbt always qualifies,
 * and an unqualified name may be a CTE.
 *
 * Statements bluegreen assembles around manifest fragments are parsed the same way
 * before they run (bg_run_checked): one statement, of the kind intended.
 *
 * What the code may be. A model's code is wrapped in CREATE TABLE/VIEW ... AS and run as
 * the owner role, so it must be exactly one SELECT: no second statement, no SELECT INTO,
 * no data-modifying WITH (which could write to a live table while production is meant to
 * be untouched), no FOR UPDATE/SHARE (row locks on live tables). The checks are made on
 * the parse tree, so no spelling gets around them.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "mb/pg_wchar.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "privilege.h"
#include "redirect.h"
#include "spi.h"
#include "util.h"

typedef struct Reference
{
	int			location;		/* byte offset of the name's first part */
	int			parts;			/* 1 to 3: [catalog.][schema.]name */
	const char *target;			/* what to write instead */
} Reference;

typedef struct WalkState
{
	const char *what;			/* "model model.shop.orders", for messages */
	const char *whose;			/* "compiled code", or what bluegreen assembled */
	HTAB	   *redirects;
	List	   *refs;			/* Reference * */
	const char *database;
} WalkState;

HTAB *
bg_redirect_map_create(MemoryContext cxt)
{
	return bg_string_index("bluegreen redirects", cxt, 64);
}

static char *
redirect_key(const char *schema, const char *name)
{
	return psprintf("%s.%s", quote_identifier(schema), quote_identifier(name));
}

/* Keys and targets are copied in CurrentMemoryContext, which must outlive the map. */
void
bg_redirect_map_add(HTAB *map, const char *schema, const char *name, const char *target)
{
	char	   *key = redirect_key(schema, name);
	BgIndexEntry *e;
	bool		found;

	e = hash_search(map, &key, HASH_ENTER, &found);
	e->key = key;
	e->value = pstrdup(target);
}

static const char *
redirect_lookup(HTAB *map, const char *schema, const char *name)
{
	char	   *key = redirect_key(schema, name);
	BgIndexEntry *e = hash_search(map, &key, HASH_FIND, NULL);

	pfree(key);
	return e ? (const char *) e->value : NULL;
}

/* Where a reference to "schema"."name" goes, or NULL when it is not redirected. */
const char *
bg_redirect_target(HTAB *map, const char *schema, const char *name)
{
	return redirect_lookup(map, schema, name);
}

static bool
find_references(Node *node, WalkState *state)
{
	if (node == NULL)
		return false;
	if (IsA(node, InsertStmt) || IsA(node, UpdateStmt) || IsA(node, DeleteStmt) ||
		IsA(node, MergeStmt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: %s modifies data (a data-modifying WITH)", state->what, state->whose),
				 errdetail("A model's code is one SELECT; it is built beside production and must not write anywhere else.")));
	if (IsA(node, SelectStmt))
	{
		SelectStmt *s = (SelectStmt *) node;

		if (s->intoClause != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s: %s is a SELECT INTO", state->what, state->whose),
					 errdetail("A model's code is one SELECT; bluegreen creates the relation itself.")));
		if (s->lockingClause != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s: %s locks rows (FOR UPDATE/SHARE)", state->what, state->whose),
					 errdetail("Row locks would be taken on live relations while readers and writers use them.")));
	}
	if (IsA(node, ColumnRef) && state->redirects != NULL)
	{
		/*
		 * A column qualified with its relation's schema ("analytics"."orders".amount,
		 * or with the database too) names the relation as the FROM clause does: once
		 * that is pointed at shadow, so must the qualifier be.
		 */
		ColumnRef  *cr = (ColumnRef *) node;
		int			n = list_length(cr->fields);
		const char *target;

		bool		qualified = n == 3 || n == 4;

		/* every field but the last (a column, or *) is a name */
		for (int i = 0; qualified && i < n - 1; i++)
			qualified = IsA(list_nth(cr->fields, i), String);
		if (qualified)
		{
			const char *catalog = n == 4 ? strVal(linitial(cr->fields)) : NULL;
			const char *schema = strVal(list_nth(cr->fields, n - 3));
			const char *relname = strVal(list_nth(cr->fields, n - 2));

			if ((catalog == NULL || state->database == NULL ||
				 strcmp(catalog, state->database) == 0) &&
				(target = redirect_lookup(state->redirects, schema, relname)) != NULL)
			{
				Reference  *ref = palloc(sizeof(Reference));

				ref->location = cr->location;
				ref->parts = n - 1;
				ref->target = target;
				state->refs = lappend(state->refs, ref);
			}
		}
		return false;
	}
	if (IsA(node, RangeVar))
	{
		RangeVar   *rv = (RangeVar *) node;
		const char *target;

		if (state->redirects != NULL && rv->schemaname != NULL &&
			(rv->catalogname == NULL || state->database == NULL ||
			 strcmp(rv->catalogname, state->database) == 0) &&
			(target = redirect_lookup(state->redirects, rv->schemaname, rv->relname)) != NULL)
		{
			Reference  *ref = palloc(sizeof(Reference));

			ref->location = rv->location;
			ref->parts = rv->catalogname ? 3 : 2;
			ref->target = target;
			state->refs = lappend(state->refs, ref);
		}
	}
	return raw_expression_tree_walker(node, find_references, (void *) state);
}

/*
 * The byte length of one identifier at s: "quoted" (with "" inside) or plain, as the
 * PostgreSQL scanner reads them; 0 if there is none.
 */
static int
identifier_length(const char *s)
{
	int			i = 0;

	if (s[0] == '"')
	{
		for (i = 1; s[i]; i++)
			if (s[i] == '"')
			{
				if (s[i + 1] == '"')
					i++;
				else
					return i + 1;
			}
		return 0;
	}
	if (!(isalpha((unsigned char) s[0]) || s[0] == '_' || IS_HIGHBIT_SET(s[0])))
		return 0;
	for (i = 1; s[i]; i++)
		if (!(isalnum((unsigned char) s[i]) || s[i] == '_' || s[i] == '$' ||
			  IS_HIGHBIT_SET(s[i])))
			break;
	return i;
}

static int
skip_space(const char *s, int i)
{
	while (s[i] && scanner_isspace(s[i]))
		i++;
	return i;
}

/* The byte length of the qualified name of "parts" identifiers at s, or -1. */
static int
qualified_name_length(const char *s, int parts)
{
	int			i = 0;

	for (int p = 0; p < parts; p++)
	{
		int			len;

		if (p > 0)
		{
			i = skip_space(s, i);
			if (s[i] != '.')
				return -1;
			i = skip_space(s, i + 1);
		}
		len = identifier_length(s + i);
		if (len == 0)
			return -1;
		i += len;
	}
	return i;
}

/*
 * The name PostgreSQL reads from the identifier s starts with: a plain one folded to
 * lower case, a "quoted" one as written, either cut to NAMEDATALEN - 1 bytes; NULL if s
 * does not start with one. *len is its length in s, and *qualified whether a '.'
 * follows it (it is then the first part of a qualified name).
 */
char *
bg_identifier_at(const char *s, int *len, bool *qualified)
{
	int			n = identifier_length(s);
	char	   *name;

	if (n == 0)
		return NULL;
	if (s[0] == '"')
	{
		StringInfoData buf;

		initStringInfo(&buf);
		for (int i = 1; i < n - 1; i++)
		{
			appendStringInfoChar(&buf, s[i]);
			if (s[i] == '"')
				i++;			/* "" inside stands for one " */
		}
		if (buf.len == 0)
			return NULL;		/* "" is no identifier */
		name = buf.data;
		truncate_identifier(name, buf.len, false);
	}
	else
		name = downcase_truncate_identifier(s, n, false);
	if (len)
		*len = n;
	if (qualified)
		*qualified = s[skip_space(s, n)] == '.';
	return name;
}

static int
reference_cmp(const ListCell *a, const ListCell *b)
{
	const Reference *ra = lfirst(a);
	const Reference *rb = lfirst(b);

	return (ra->location > rb->location) - (ra->location < rb->location);
}

/*
 * raw_parser, with an error (a syntax error, mostly) reported as the node's: "whose"
 * says what failed to parse, and the position points into sql itself.
 */
List *
bg_raw_parse(const char *what, const char *sql, const char *whose)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *volatile stmts = NIL;

	PG_TRY();
	{
		stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(e->sqlerrcode),
				 errmsg("%s: %s does not parse: %s", what, whose, e->message),
				 e->cursorpos > 0 ? internalerrposition(e->cursorpos) : 0,
				 internalerrquery(sql)));
	}
	PG_END_TRY();
	return stmts;
}

static char *
redirect_select(const char *what, const char *sql, HTAB *redirects, const char *database,
				int *n_redirected, const char *whose)
{
	List	   *stmts;
	RawStmt    *raw;
	WalkState	state;
	const char *text;
	int			len;
	StringInfoData out;
	int			pos = 0;
	ListCell   *lc;

	stmts = bg_raw_parse(what, sql, whose);
	if (list_length(stmts) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: %s holds %d statements, not one SELECT", what, whose,
						list_length(stmts))));
	raw = linitial_node(RawStmt, stmts);
	if (!IsA(raw->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: %s is not a SELECT", what, whose),
				 errdetail("It is %s.", CreateCommandName(raw->stmt))));

	state.what = what;
	state.whose = whose;
	state.redirects = redirects;
	state.refs = NIL;
	state.database = database;
	(void) find_references(raw->stmt, &state);

	/* the statement's own text, without a trailing semicolon or anything after it */
	text = sql + raw->stmt_location;
	len = raw->stmt_len > 0 ? raw->stmt_len : (int) strlen(text);

	list_sort(state.refs, reference_cmp);
	initStringInfo(&out);
	foreach(lc, state.refs)
	{
		Reference  *ref = lfirst(lc);
		int			at = ref->location - raw->stmt_location;
		int			span = qualified_name_length(text + at, ref->parts);

		if (at < pos || span < 0 || at + span > len)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s: cannot redirect the reference at character %d to %s",
							what, ref->location + 1, ref->target),
					 errdetail("Only plain and double-quoted identifiers are read (not U&\"...\").")));
		appendBinaryStringInfo(&out, text + pos, at - pos);
		appendStringInfoString(&out, ref->target);
		pos = at + span;
	}
	appendBinaryStringInfo(&out, text + pos, len - pos);
	/* a trailing -- comment must not swallow what the caller appends */
	appendStringInfoChar(&out, '\n');
	if (n_redirected)
		*n_redirected = list_length(state.refs);
	return out.data;
}

char *
bg_redirect_select(const char *what, const char *sql, HTAB *redirects, const char *database,
				   int *n_redirected)
{
	return redirect_select(what, sql, redirects, database, n_redirected, "compiled code");
}

/*
 * Render the Jinja a hook may hold that bluegreen can render: {{ this }} and its parts,
 * as the relation being built. Anything else in {{ }} or {% %} cannot be rendered
 * without dbt, and is an error naming the hook.
 */
char *
bg_render_hook(const char *what, const char *hook, const char *schema, const char *name,
			   const char *database)
{
	StringInfoData out;
	const char *p = hook;

	initStringInfo(&out);
	while (*p)
	{
		const char *open = strstr(p, "{{");
		const char *stmt = strstr(p, "{%");
		const char *close;
		char	   *expr;
		int			a,
					b;

		if (stmt && (!open || stmt < open))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s: a hook holds a Jinja statement bluegreen cannot render", what),
					 errdetail("Hook: %s", hook),
					 errhint("Hooks may use {{ this }}, {{ this.schema }}, {{ this.identifier }}; build such a model with dbt%s.",
							 bg_with_dbt())));
		if (!open)
		{
			appendStringInfoString(&out, p);
			break;
		}
		appendBinaryStringInfo(&out, p, open - p);
		close = strstr(open + 2, "}}");
		if (!close)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("%s: a hook has an unclosed {{", what),
					 errdetail("Hook: %s", hook)));
		for (a = 2; open + a < close && scanner_isspace(open[a]); a++)
			;
		for (b = close - open; b > a && scanner_isspace(open[b - 1]); b--)
			;
		expr = pnstrdup(open + a, b - a);
		if (strcmp(expr, "this") == 0)
			appendStringInfoString(&out, quote_qualified_identifier(schema, name));
		else if (strcmp(expr, "this.schema") == 0)
			appendStringInfoString(&out, quote_identifier(schema));
		else if (strcmp(expr, "this.identifier") == 0 || strcmp(expr, "this.name") == 0 ||
				 strcmp(expr, "this.table") == 0)
			appendStringInfoString(&out, quote_identifier(name));
		else if (strcmp(expr, "this.database") == 0 && database != NULL)
			appendStringInfoString(&out, quote_identifier(database));
		else
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s: a hook uses {{ %s }}, which bluegreen cannot render", what, expr),
					 errdetail("Hook: %s", hook),
					 errhint("Hooks may use {{ this }}, {{ this.schema }}, {{ this.identifier }}; build such a model with dbt%s.",
							 bg_with_dbt())));
		p = close + 2;
	}
	return out.data;
}

/*
 * A CREATE TABLE assembled from an enforced contract: its foreign keys may reference
 * models being rebuilt, which must be their shadow copies (a foreign key binds to the
 * table it names when it is created, and follows it through promote).
 */
char *
bg_redirect_ddl(const char *what, const char *sql, HTAB *redirects, const char *database)
{
	List	   *stmts = bg_raw_parse(what, sql, "the CREATE TABLE of its contract");
	CreateStmt *create;
	List	   *constraints = NIL;
	ListCell   *lc;
	StringInfoData out;
	int			pos = 0;
	List	   *refs = NIL;

	if (list_length(stmts) != 1 || !IsA(linitial_node(RawStmt, stmts)->stmt, CreateStmt))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s: a contract constraint does not fit the CREATE TABLE bluegreen builds", what),
				 errdetail("Statement: %s", sql)));
	create = (CreateStmt *) linitial_node(RawStmt, stmts)->stmt;
	foreach(lc, create->tableElts)
	{
		Node	   *elt = lfirst(lc);

		if (IsA(elt, ColumnDef))
			constraints = list_concat(constraints, ((ColumnDef *) elt)->constraints);
		else if (IsA(elt, Constraint))
			constraints = lappend(constraints, elt);
	}
	constraints = list_concat(constraints, create->constraints);
	foreach(lc, constraints)
	{
		Constraint *c = lfirst(lc);
		RangeVar   *rv;
		const char *target;

		if (!IsA(c, Constraint) || c->contype != CONSTR_FOREIGN || c->pktable == NULL)
			continue;
		rv = c->pktable;
		if (rv->schemaname == NULL ||
			(rv->catalogname && database && strcmp(rv->catalogname, database) != 0) ||
			(target = redirect_lookup(redirects, rv->schemaname, rv->relname)) == NULL)
			continue;
		{
			Reference  *ref = palloc(sizeof(Reference));

			ref->location = rv->location;
			ref->parts = rv->catalogname ? 3 : 2;
			ref->target = target;
			refs = lappend(refs, ref);
		}
	}
	list_sort(refs, reference_cmp);
	initStringInfo(&out);
	foreach(lc, refs)
	{
		Reference  *ref = lfirst(lc);
		int			span = qualified_name_length(sql + ref->location, ref->parts);

		if (span < 0 || ref->location < pos)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s: cannot redirect the foreign key reference to %s", what, ref->target)));
		appendBinaryStringInfo(&out, sql + pos, ref->location - pos);
		appendStringInfoString(&out, ref->target);
		pos = ref->location + span;
	}
	appendStringInfoString(&out, sql + pos);
	return out.data;
}

/*
 * Check that sql (assembled by bluegreen around manifest fragments) is one SELECT that
 * modifies nothing, as bg_redirect_select does for a model. whose says what it was
 * assembled from, for messages.
 */
void
bg_check_single_select(const char *what, const char *sql, const char *whose)
{
	(void) redirect_select(what, sql, NULL, NULL, NULL, whose);
}

/* A relation named in a shadow schema: where every assembled statement writes. */
static bool
in_shadow(RangeVar *rv)
{
	size_t		len;

	if (rv == NULL || rv->schemaname == NULL || rv->relpersistence == RELPERSISTENCE_TEMP)
		return false;
	len = strlen(rv->schemaname);
	return len > 11 && strcmp(rv->schemaname + len - 11, "__bg_shadow") == 0;
}

/*
 * What in statement stmt is not the shape bluegreen builds: a clause that only a
 * manifest fragment can have put there (INHERITS, PARTITION OF, LIKE, WITH options, a
 * tablespace, RETURNING, a target outside shadow, ...), in words; NULL when it is the
 * statement intended.
 */
static const char *
extra_clause(Node *stmt)
{
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			{
				CreateStmt *c = (CreateStmt *) stmt;

				if (c->inhRelations != NIL)
					return "INHERITS";
				if (c->partbound != NULL)
					return "PARTITION OF";
				if (c->partspec != NULL)
					return "PARTITION BY";
				if (c->ofTypename != NULL)
					return "OF type";
				if (c->options != NIL)
					return "WITH (options)";
				if (c->tablespacename != NULL)
					return "TABLESPACE";
				if (c->accessMethod != NULL)
					return "USING (access method)";
				if (c->oncommit != ONCOMMIT_NOOP)
					return "ON COMMIT";
				if (c->if_not_exists)
					return "IF NOT EXISTS";
				foreach(lc, c->tableElts)
					if (IsA(lfirst(lc), TableLikeClause))
						return "LIKE";
				return in_shadow(c->relation) ? NULL : "a table outside shadow";
			}
		case T_CreateTableAsStmt:
			{
				IntoClause *into = ((CreateTableAsStmt *) stmt)->into;

				if (into->options != NIL)
					return "WITH (options)";
				if (into->tableSpaceName != NULL)
					return "TABLESPACE";
				if (into->accessMethod != NULL)
					return "USING (access method)";
				if (into->onCommit != ONCOMMIT_NOOP)
					return "ON COMMIT";
				if (into->skipData)
					return "WITH NO DATA";
				if (((CreateTableAsStmt *) stmt)->if_not_exists)
					return "IF NOT EXISTS";
				return in_shadow(into->rel) ? NULL : "a relation outside shadow";
			}
		case T_ViewStmt:
			{
				ViewStmt   *v = (ViewStmt *) stmt;

				if (v->options != NIL)
					return "WITH (options)";
				if (v->withCheckOption != NO_CHECK_OPTION)
					return "WITH CHECK OPTION";
				if (v->replace)
					return "OR REPLACE";
				return in_shadow(v->view) ? NULL : "a view outside shadow";
			}
		case T_IndexStmt:
			{
				IndexStmt  *ix = (IndexStmt *) stmt;

				if (ix->whereClause != NULL)
					return "WHERE";
				if (ix->tableSpace != NULL)
					return "TABLESPACE";
				if (ix->options != NIL)
					return "WITH (options)";
				if (ix->indexIncludingParams != NIL)
					return "INCLUDE";
				if (ix->concurrent)
					return "CONCURRENTLY";
				return in_shadow(ix->relation) ? NULL : "an index outside shadow";
			}
		case T_InsertStmt:
			{
				InsertStmt *ins = (InsertStmt *) stmt;

				if (ins->withClause != NULL)
					return "WITH";
				if (ins->onConflictClause != NULL)
					return "ON CONFLICT";
				if (ins->returningList != NIL)
					return "RETURNING";
				return in_shadow(ins->relation) ? NULL : "a table outside shadow";
			}
		case T_DeleteStmt:
			{
				DeleteStmt *del = (DeleteStmt *) stmt;

				if (del->withClause != NULL)
					return "WITH";
				if (del->usingClause != NIL)
					return "USING";
				if (del->returningList != NIL)
					return "RETURNING";
				return in_shadow(del->relation) ? NULL : "a table outside shadow";
			}
		case T_MergeStmt:
			{
				MergeStmt  *m = (MergeStmt *) stmt;

				if (m->withClause != NULL)
					return "WITH";
				return in_shadow(m->relation) ? NULL : "a table outside shadow";
			}
		case T_GrantStmt:
			{
				GrantStmt  *g = (GrantStmt *) stmt;

				if (!g->is_grant || g->targtype != ACL_TARGET_OBJECT || g->objtype != OBJECT_TABLE)
					return "another kind of GRANT";
				if (g->grant_option)
					return "WITH GRANT OPTION";
				if (g->grantor != NULL)
					return "GRANTED BY";
				if (list_length(g->objects) != 1)
					return "more than one relation";
				return in_shadow(linitial_node(RangeVar, g->objects)) ? NULL : "a relation outside shadow";
			}
		default:
			return "a statement of another kind";
	}
}

/*
 * Parse a statement bluegreen assembled around manifest fragments (constraints,
 * unique_key, predicates, test settings), insist it is one statement of the kind
 * expected and of exactly the shape bluegreen builds, then run it; all under the
 * settings pinned for manifest SQL, right before it runs. Returns SPI_processed.
 */
uint64
bg_run_checked(const char *what, const char *sql, NodeTag expected_tag, int expected_rc)
{
	List	   *stmts;
	const char *extra;

	bg_pin_manifest_settings();
	stmts = bg_raw_parse(what, sql,
						 "the statement bluegreen builds from its config (constraint, unique_key, predicate, index, grant)");
	if (list_length(stmts) != 1 ||
		nodeTag(linitial_node(RawStmt, stmts)->stmt) != expected_tag)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s: a config fragment (constraint, unique_key, predicate or test setting) does not fit the statement bluegreen builds", what),
				 errdetail("Statement: %s", sql)));
	extra = extra_clause(linitial_node(RawStmt, stmts)->stmt);
	if (extra != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s: a config fragment (constraint, unique_key, predicate or test setting) gives the statement bluegreen builds %s",
						what, extra),
				 errdetail("Statement: %s", sql)));
	bg_spi_exec(sql, expected_rc, 0, NULL, NULL, NULL);
	return SPI_processed;
}
