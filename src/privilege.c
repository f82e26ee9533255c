/*
 * privilege.c
 *		Switching user around exactly the statements that need another identity.
 *
 * Deployers may call bluegreen's procedures but may not write bluegreen's own tables:
 * otherwise a deployer could forge history or the live state. So the bookkeeping
 * statements run as the extension's owner, with search_path pinned to pg_catalog, and
 * nothing else does. (Manifest SQL runs as the owner role, never as the extension owner:
 * see build.c.) A function that needs another identity switches itself, around exactly
 * its own statements, and says so.
 *
 * The switch is SetUserIdAndSecContext, as pg_cron does for its jobs, rather than
 * SECURITY DEFINER: a SECURITY DEFINER procedure cannot commit, and the deploy and
 * promote procedures need their own transactions. On error, transaction abort restores
 * the user and the GUCs by itself.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "bluegreen.h"
#include "privilege.h"
#include "util.h"

Oid
bg_extension_owner(void)
{
	Oid			extoid = get_extension_oid("bluegreen", false);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		elog(ERROR, "extension bluegreen has no owner");
	return owner;
}

void
bg_switch_user(BgUserSwitch *s, Oid userid)
{
	GetUserIdAndSecContext(&s->saved_userid, &s->saved_sec_context);
	SetUserIdAndSecContext(userid, s->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	s->guc_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * ERROR if the owner role holds more than owning its schemas needs. Each of these lets
 * manifest SQL reach past the schemas it was given, so an administrator's slip (ALTER
 * ROLE, GRANT) must stop every build rather than hand it to deployers: a superuser, or
 * the privileges of one (every object a superuser owns, bluegreen's tables included);
 * CREATEROLE (on PostgreSQL 15 it may grant itself any role but superuser, such as
 * pg_execute_server_program); the predefined roles that run programs on the server,
 * read or write its files, or write every table (bluegreen's history included); CREATE
 * on the database (CREATE EXTENSION of trusted extensions, new schemas).
 */
static void
check_owner_role(Oid role)
{
	static const struct
	{
		Oid			role;
		const char *name;
		const char *power;
	}			predefined[] = {
		{ROLE_PG_EXECUTE_SERVER_PROGRAM, "pg_execute_server_program", "run programs on the server"},
		{ROLE_PG_READ_SERVER_FILES, "pg_read_server_files", "read files on the server"},
		{ROLE_PG_WRITE_SERVER_FILES, "pg_write_server_files", "write files on the server"},
		{ROLE_PG_WRITE_ALL_DATA, "pg_write_all_data", "write every table, bluegreen's own included"},
	};
	HeapTuple	tup;
	bool		rolsuper;
	bool		rolcreaterole;
	char	   *why = NULL;
	char	   *detail = NULL;
	char	   *fix = NULL;

	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for role %u", role);
	rolsuper = ((Form_pg_authid) GETSTRUCT(tup))->rolsuper;
	rolcreaterole = ((Form_pg_authid) GETSTRUCT(tup))->rolcreaterole;
	ReleaseSysCache(tup);

	if (rolsuper)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner role \"%s\" is a superuser; bluegreen runs no manifest SQL as a superuser",
						BG_OWNER_ROLE),
				 errhint("ALTER ROLE %s NOSUPERUSER;", BG_OWNER_ROLE)));
	if (rolcreaterole)
	{
		why = "has CREATEROLE";
		detail = "With CREATEROLE, manifest SQL could grant the role others, such as pg_execute_server_program.";
		fix = psprintf("ALTER ROLE %s NOCREATEROLE;", BG_OWNER_ROLE);
	}
	for (int i = 0; why == NULL && i < lengthof(predefined); i++)
		if (has_privs_of_role(role, predefined[i].role))
		{
			why = psprintf("has the privileges of %s", predefined[i].name);
			detail = psprintf("With them, manifest SQL could %s.", predefined[i].power);
			fix = psprintf("REVOKE %s FROM %s; or revoke it from the role %s has it through.",
						   predefined[i].name, BG_OWNER_ROLE, BG_OWNER_ROLE);
		}
	if (why == NULL)
	{
		Relation	rel = table_open(AuthIdRelationId, AccessShareLock);
		SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);

		while (why == NULL && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_authid su = (Form_pg_authid) GETSTRUCT(tup);

			if (su->rolsuper && has_privs_of_role(role, su->oid))
			{
				why = psprintf("has the privileges of superuser %s", NameStr(su->rolname));
				detail = "With them, manifest SQL could change everything that superuser owns, bluegreen's own tables included.";
				fix = psprintf("REVOKE %s FROM %s; or revoke it from the role %s has it through.",
							   quote_identifier(NameStr(su->rolname)), BG_OWNER_ROLE,
							   BG_OWNER_ROLE);
			}
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	if (why == NULL &&
		DatumGetBool(DirectFunctionCall3(has_database_privilege_id_id, ObjectIdGetDatum(role),
										 ObjectIdGetDatum(MyDatabaseId),
										 CStringGetTextDatum("CREATE"))))
	{
		const char *db = quote_identifier(get_database_name(MyDatabaseId));

		why = psprintf("has CREATE on database %s", db);
		detail = "With it, manifest SQL could create extensions and schemas.";
		fix = psprintf("REVOKE CREATE ON DATABASE %s FROM %s; or from PUBLIC, if it has it through PUBLIC.",
					   db, BG_OWNER_ROLE);
	}
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner role \"%s\" %s; bluegreen runs no manifest SQL as a role that can reach past its schemas",
						BG_OWNER_ROLE, why),
				 errdetail("%s", detail),
				 errhint("%s", fix)));
}

/*
 * Become the owner role to run manifest SQL (model and test code, hooks). As a
 * security-restricted operation, as PostgreSQL runs index expressions and
 * REFRESH MATERIALIZED VIEW: the code cannot SET ROLE or SET SESSION AUTHORIZATION back
 * to the caller, create temporary tables or types that outlive it, or change the
 * session in ways that survive it. search_path is bluegreen.model_search_path. The role
 * is checked first (check_owner_role).
 */
void
bg_become_owner_role(BgUserSwitch *s)
{
	Oid			role = get_role_oid(BG_OWNER_ROLE, false);

	check_owner_role(role);
	GetUserIdAndSecContext(&s->saved_userid, &s->saved_sec_context);
	SetUserIdAndSecContext(role, s->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	s->guc_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", bg_model_search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

Oid
bg_owner_role(void)
{
	return get_role_oid(BG_OWNER_ROLE, false);
}

void
bg_become_extension_owner(BgUserSwitch *s)
{
	bg_switch_user(s, bg_extension_owner());
}

void
bg_restore_user(BgUserSwitch *s)
{
	AtEOXact_GUC(true, s->guc_nestlevel);
	SetUserIdAndSecContext(s->saved_userid, s->saved_sec_context);
}
