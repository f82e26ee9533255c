/*
 * search_path.c
 *		What manifest SQL misses under bluegreen.model_search_path: when code names a
 *		function, operator or type without its schema and PostgreSQL finds none, the
 *		error's hint says in which schema one is, and how to add it to the setting.
 *
 * Model, test and hook code runs with search_path set to bluegreen.model_search_path
 * (privilege.c), "pg_catalog, pg_temp" by default. dbt qualifies every relation it
 * renders, but not the functions and types the code calls: shims installed in public
 * resolve for dbt, whose connection searches public, and do not here, and PostgreSQL's
 * "function ... does not exist" does not say why. The name looked up is the one at the
 * error's position in the failing statement (PostgreSQL points at what it could not
 * resolve), read as its scanner reads an identifier; a qualified name does not depend
 * on the path and gets no hint, nor does a name no schema holds. Lookups are by name
 * alone, in the system caches: the hint says where such an object is, not that it fits
 * the call's arguments.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "bluegreen.h"
#include "privilege.h"
#include "redirect.h"
#include "search_path.h"
#include "util.h"

static const char *const kind_words[] = {"function", "operator", "type"};

/* The schemas bluegreen.model_search_path names, and pg_catalog, which is always searched. */
static List *
path_schemas(void)
{
	char	   *raw = pstrdup(bg_model_search_path);
	List	   *names;
	List	   *out = list_make1_oid(PG_CATALOG_NAMESPACE);
	ListCell   *lc;

	if (!SplitIdentifierString(raw, ',', &names))
		return out;
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		Oid			nsp;

		/* "$user" is the schema named as the role the code runs as */
		nsp = get_namespace_oid(strcmp(name, "$user") == 0 ? BG_BUILDER_ROLE : name, true);
		if (OidIsValid(nsp))
			out = lappend_oid(out, nsp);
	}
	return out;
}

/*
 * No one should be told to put these on the path: temporary and TOAST schemas,
 * bluegreen's own (bg, fixed by bluegreen.control) and its side schemas.
 */
static bool
never_suggested(Oid nsp)
{
	const char *name = get_namespace_name(nsp);

	return isAnyTempNamespace(nsp) || IsToastNamespace(nsp) || strcmp(name, "bg") == 0 ||
		bg_is_side_schema_name(name);
}

static int
name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/* The names of the schemas holding an object of this kind and name, sorted. */
static List *
holders(BgPathObject kind, const char *name, List *path, bool on_path)
{
	int			cache = kind == BG_PATH_FUNCTION ? PROCNAMEARGSNSP :
		kind == BG_PATH_OPERATOR ? OPERNAMENSP : TYPENAMENSP;
	CatCList   *list = SearchSysCacheList1(cache, CStringGetDatum(name));
	List	   *seen = NIL;
	List	   *out = NIL;

	for (int i = 0; i < list->n_members; i++)
	{
		HeapTuple	tup = &list->members[i]->tuple;
		Oid			nsp = kind == BG_PATH_FUNCTION ? ((Form_pg_proc) GETSTRUCT(tup))->pronamespace :
			kind == BG_PATH_OPERATOR ? ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace :
			((Form_pg_type) GETSTRUCT(tup))->typnamespace;

		if (list_member_oid(seen, nsp) || list_member_oid(path, nsp) != on_path ||
			never_suggested(nsp))
			continue;
		seen = lappend_oid(seen, nsp);
		out = lappend(out, get_namespace_name(nsp));
	}
	ReleaseSysCacheList(list);
	list_sort(out, name_cmp);
	return out;
}

/* bluegreen.model_search_path with schema added before pg_temp (or at the end). */
static char *
path_with(const char *schema)
{
	char	   *raw = pstrdup(bg_model_search_path);
	List	   *names;
	StringInfoData buf;
	bool		added = false;
	ListCell   *lc;

	initStringInfo(&buf);
	if (!SplitIdentifierString(raw, ',', &names))
		names = NIL;
	foreach(lc, names)
	{
		const char *name = lfirst(lc);

		if (!added && strcmp(name, "pg_temp") == 0)
		{
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", quote_identifier(schema));
			added = true;
		}
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", quote_identifier(name));
	}
	if (!added)
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", quote_identifier(schema));
	return buf.data;
}

static char *
qualified(BgPathObject kind, const char *schema, const char *name)
{
	if (kind == BG_PATH_OPERATOR)
		return psprintf("OPERATOR(%s.%s)", quote_identifier(schema), name);
	return psprintf("%s.%s", quote_identifier(schema), quote_identifier(name));
}

static char *
join_names(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", quote_identifier(lfirst(lc)));
	return buf.data;
}

/*
 * The hint for code that names an object of this kind without a schema and finds
 * none: where one is, and how to reach it; NULL when no schema holds one, or one on
 * the path does and the builder may use it (the call's arguments do not fit, then).
 */
char *
bg_search_path_hint(BgPathObject kind, const char *name)
{
	List	   *path = path_schemas();
	List	   *outside = holders(kind, name, path, false);
	List	   *inside;
	ListCell   *lc;

	if (outside != NIL)
	{
		char	   *schema = linitial(outside);
		char	   *value = quote_literal_cstr(path_with(schema));

		return psprintf("%s %s exists in schema%s %s, which bluegreen.model_search_path (%s) leaves out. "
						"If no untrusted role can create objects there, a superuser can add it: "
						"SET bluegreen.model_search_path = %s (this session), or "
						"ALTER DATABASE %s SET bluegreen.model_search_path = %s (new sessions). "
						"Or the code can name it %s.",
						kind_words[kind], name, list_length(outside) > 1 ? "s" : "",
						join_names(outside), bg_model_search_path, value,
						quote_identifier(get_database_name(MyDatabaseId)), value,
						qualified(kind, schema, name));
	}
	inside = holders(kind, name, path, true);
	foreach(lc, inside)
	{
		const char *schema = lfirst(lc);

		if (pg_namespace_aclcheck(get_namespace_oid(schema, false), bg_builder_role(),
								  ACL_USAGE) != ACLCHECK_OK)
			return psprintf("%s %s exists in schema %s, which bluegreen.model_search_path names, "
							"but the role model code runs as may not use it: "
							"GRANT USAGE ON SCHEMA %s TO %s.",
							kind_words[kind], name, quote_identifier(schema),
							quote_identifier(schema), BG_BUILDER_ROLE);
	}
	return NULL;
}

/* The operator at s, ended as PostgreSQL's scanner ends one: before a comment, and
 * not in + or - unless it holds one of ~!@#^&|`?%; NULL if s starts with none. */
static char *
operator_at(const char *s)
{
	int			n = 0;
	bool		special = false;

	while (s[n] && strchr("+-*/<>=~!@#%^&|`?", s[n]))
		n++;
	for (int i = 0; i + 1 < n; i++)
		if ((s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*'))
		{
			n = i;
			break;
		}
	for (int i = 0; i < n; i++)
		special |= strchr("~!@#^&|`?%", s[i]) != NULL;
	while (n > 1 && !special && (s[n - 1] == '+' || s[n - 1] == '-'))
		n--;
	return n > 0 ? pnstrdup(s, n) : NULL;
}

/*
 * A step of manifest SQL failed: if it is because the code names a function, operator
 * or type the path does not reach, replace the error's hint by one that says where it
 * is (PostgreSQL's own, about argument types, would mislead then).
 */
void
bg_hint_search_path(ErrorData *e)
{
	const char *sql = e->internalquery;
	int			offset = 0;
	BgPathObject kind;
	char	   *name = NULL;
	char	   *hint;
	bool		is_qualified = false;

	if ((e->sqlerrcode != ERRCODE_UNDEFINED_FUNCTION && e->sqlerrcode != ERRCODE_UNDEFINED_OBJECT) ||
		sql == NULL || e->internalpos <= 0)
		return;
	/* the position counts characters from 1 */
	for (int i = 1; i < e->internalpos && sql[offset]; i++)
		offset += pg_mblen(sql + offset);
	if (e->sqlerrcode == ERRCODE_UNDEFINED_OBJECT)
		kind = BG_PATH_TYPE;
	else if ((name = operator_at(sql + offset)) != NULL)
		kind = BG_PATH_OPERATOR;
	else
		kind = BG_PATH_FUNCTION;
	if (kind != BG_PATH_OPERATOR)
		name = bg_identifier_at(sql + offset, NULL, &is_qualified);
	if (name == NULL || is_qualified)
		return;
	hint = bg_search_path_hint(kind, name);
	if (hint != NULL)
		e->hint = hint;
}
