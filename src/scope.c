/*
 * scope.c
 *		The managed scope: the schemas handed to bluegreen (bg.transfer_ownership) or that
 *		it created, and the relations the owner role owns in them. bluegreen acts nowhere
 *		else, whatever a manifest says.
 *
 * The rule, asked by every call that would act on a model's live relation (create_project,
 * plan, deploy, promote, rollback, cleanup): the relation's schema is owned by the owner
 * role, or does not exist yet and is not a name bluegreen or PostgreSQL reserves (then
 * promote may create it, owned by the owner role, when bluegreen.create_schemas allows);
 * and the relation, if it exists, is owned by the owner role. A manifest that names a
 * table in public, in bg, in a catalog schema, or one another role owns inside a managed
 * schema, is refused, naming the node and the relation. Being owned by the owner role is
 * the record: nobody but a superuser, the extension owner, or bg.transfer_ownership
 * (checking the caller's rights) can make a schema or relation the owner role's.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "bluegreen.h"
#include "catalog.h"
#include "privilege.h"
#include "scope.h"
#include "spi.h"
#include "util.h"

/* A shadow, previous or rollback schema of bluegreen's: never a live schema. */
bool
bg_schema_is_side(const char *schema)
{
	size_t		len = strlen(schema);
	const char *p;

	if (len >= 11 && strcmp(schema + len - 11, "__bg_shadow") == 0)
		return true;
	for (p = strstr(schema, "__bg_"); p != NULL; p = strstr(p + 1, "__bg_"))
		if ((p[5] == 'p' || p[5] == 'r') && p[6] != '\0' && strspn(p + 6, "0123456789") == strlen(p + 6))
			return true;
	return false;
}

static bool
reserved_schema(const char *schema)
{
	return strncmp(schema, "pg_", 3) == 0 || strcmp(schema, "information_schema") == 0 ||
		strcmp(schema, "bg") == 0 || bg_schema_is_side(schema);
}

/* Handing schema over to the owner role, as the caller would (a YAML string from dbt). */
static char *
transfer_hint(const char *schema)
{
	return bg_call_hint("transfer_ownership", quote_literal_cstr(schema),
						psprintf("schema: \"%s\"", schema));
}

/*
 * ERROR unless bluegreen may act on relation schema.name for node "what" (see the
 * file's comment).
 */
void
bg_scope_check(const char *what, const char *schema, const char *name)
{
	Oid			owner = bg_owner_role();
	Oid			nsp = get_namespace_oid(schema, true);
	Oid			relid;

	if (reserved_schema(schema))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s names %s, in schema \"%s\", which bluegreen never manages",
						what, bg_qualified_name(schema, name), schema),
				 errdetail("Schemas named pg_*, information_schema, bg and bluegreen's own side schemas are outside every project.")));
	if (!OidIsValid(nsp))
	{
		if (!bg_create_schemas)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("%s names %s, but schema \"%s\" does not exist and bluegreen.create_schemas is off",
							what, bg_qualified_name(schema, name), schema),
					 errhint("CREATE SCHEMA %s, then %s.", quote_identifier(schema), transfer_hint(schema))));
		return;
	}
	if (bg_namespace_owner(nsp) != owner)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s names %s, but schema \"%s\" is not managed by bluegreen",
						what, bg_qualified_name(schema, name), schema),
				 errdetail("A managed schema is owned by the owner role \"%s\"; this one is not.",
						   BG_OWNER_ROLE),
				 errhint("If it is the project's, hand it over: %s.", transfer_hint(schema))));
	if (bg_relation_exists(schema, name, &relid, NULL) && bg_relation_owner(relid) != owner)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s names %s, which exists and is not owned by the owner role \"%s\"",
						what, bg_qualified_name(schema, name), BG_OWNER_ROLE),
				 errdetail("bluegreen acts only on the relations the owner role owns."),
				 errhint("If it is the project's, hand it over: %s.", transfer_hint(schema))));
}

/*
 * Let the builder read live relation schema.name (and its schema), as every deployment
 * needs: it reads the live relations it does not rebuild. Runs as the extension owner
 * (it switches itself). Nothing happens outside the managed scope.
 */
void
bg_scope_grant_reads(const char *schema, const char *name)
{
	BgUserSwitch sw;
	Oid			relid;
	char		relkind;

	Oid			nsp = get_namespace_oid(schema, true);

	/* only in managed schemas: others are their owners' to grant */
	if (!OidIsValid(nsp) || bg_namespace_owner(nsp) != bg_owner_role())
		return;
	bg_become_extension_owner(&sw);
	bg_spi_exec(psprintf("GRANT USAGE ON SCHEMA %s TO %s", quote_identifier(schema),
						 quote_identifier(BG_BUILDER_ROLE)),
				SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	if (name && bg_relation_exists(schema, name, &relid, &relkind) &&
		bg_relation_owner(relid) == bg_owner_role())
		bg_spi_exec(psprintf("GRANT SELECT ON %s TO %s", bg_qualified_name(schema, name),
							 quote_identifier(BG_BUILDER_ROLE)),
					SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	bg_restore_user(&sw);
}
