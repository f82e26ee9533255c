/*
 * privilege.c
 *		Switching user around exactly the statements that need another identity.
 *
 * Deployers may call bluegreen's procedures but may not write bluegreen's own tables:
 * otherwise a deployer could forge history or the live state. So the bookkeeping
 * statements run as the extension's owner, with search_path pinned to pg_catalog, and
 * nothing else does. (Manifest SQL runs as the owner role, never as the extension owner:
 * see build.c.)
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
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "bluegreen.h"
#include "privilege.h"

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
 * Become the owner role to run manifest SQL (model and test code, hooks). As a
 * security-restricted operation, as PostgreSQL runs index expressions and
 * REFRESH MATERIALIZED VIEW: the code cannot SET ROLE or SET SESSION AUTHORIZATION back
 * to the caller, create temporary objects that outlive it, or change the session in
 * ways that survive it. search_path is bluegreen.model_search_path.
 */
void
bg_become_owner_role(BgUserSwitch *s)
{
	Oid			role = get_role_oid(BG_OWNER_ROLE, false);

	if (superuser_arg(role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner role \"%s\" is a superuser; bluegreen runs no manifest SQL as a superuser",
						BG_OWNER_ROLE),
				 errhint("ALTER ROLE %s NOSUPERUSER;", BG_OWNER_ROLE)));
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
