/*
 * privilege.c
 *		Switching user around exactly the statements that need another identity.
 *
 * Deployers may call bluegreen's procedures but may not write bluegreen's own tables:
 * otherwise a deployer could forge history or the live state. So the bookkeeping
 * statements run as the extension's owner, with search_path pinned to pg_catalog, and
 * nothing else does. (Manifest SQL runs as the builder, never as the owner role or the
 * extension owner: see bg_become_builder.) A function that needs another identity switches itself, around exactly
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
#include "storage/latch.h"
#include "utils/timeout.h"
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

static const char *const output_settings[][2] = {
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
	{"standard_conforming_strings", "on"},
};

void
bg_switch_user(BgUserSwitch *s, Oid userid)
{
	GetUserIdAndSecContext(&s->saved_userid, &s->saved_sec_context);
	SetUserIdAndSecContext(userid, s->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	s->guc_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/*
	 * The settings that change how values print: a view's definition, a policy's or a
	 * constraint's expression read back (pg_get_viewdef, pg_get_expr) and run again by
	 * promote must mean what it meant, whatever the caller's session says.
	 */
	for (int i = 0; i < lengthof(output_settings); i++)
		(void) set_config_option(output_settings[i][0], output_settings[i][1], PGC_SUSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * ERROR if role (the owner role or the builder) holds more than its job needs. Each of
 * these lets what the role runs or owns reach past the schemas it was given, so an
 * administrator's slip (ALTER ROLE, GRANT) must stop every build rather than hand it to
 * deployers: a superuser, or the privileges of one (every object a superuser owns,
 * bluegreen's tables included); CREATEROLE (on PostgreSQL 15 it may grant itself any
 * role but superuser, such as pg_execute_server_program); the predefined roles that
 * run programs on the server, read or write its files, read or write every table, read
 * every session's statements or signal other backends; CREATE on the database
 * (CREATE EXTENSION of trusted extensions, new schemas). The owner role counts too,
 * though it runs no manifest SQL: the views a deployment builds read with its
 * privileges once they are live. And the builder must not have the owner role's
 * privileges, or manifest SQL could change production as its owner.
 */
static void
check_confined(Oid role, const char *name, const char *title)
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
		{ROLE_PG_READ_ALL_DATA, "pg_read_all_data", "read every table, outside the project too"},
		{ROLE_PG_READ_ALL_STATS, "pg_read_all_stats", "read every session's statements"},
		{ROLE_PG_SIGNAL_BACKEND, "pg_signal_backend", "cancel or end other sessions"},
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
				 errmsg("%s \"%s\" is a superuser; bluegreen runs no manifest SQL while it is",
						title, name),
				 errhint("ALTER ROLE %s NOSUPERUSER;", name)));
	if (rolcreaterole)
	{
		why = "has CREATEROLE";
		detail = "With CREATEROLE, manifest SQL could grant the role others, such as pg_execute_server_program.";
		fix = psprintf("ALTER ROLE %s NOCREATEROLE;", name);
	}
	for (int i = 0; why == NULL && i < lengthof(predefined); i++)
		if (has_privs_of_role(role, predefined[i].role))
		{
			why = psprintf("has the privileges of %s", predefined[i].name);
			detail = psprintf("With them, manifest SQL could %s.", predefined[i].power);
			fix = psprintf("REVOKE %s FROM %s; or revoke it from the role %s has it through.",
						   predefined[i].name, name, name);
		}
	if (why == NULL && strcmp(name, BG_BUILDER_ROLE) == 0 &&
		has_privs_of_role(role, get_role_oid(BG_OWNER_ROLE, false)))
	{
		why = psprintf("has the privileges of the owner role %s", BG_OWNER_ROLE);
		detail = "With them, manifest SQL could change production as its owner.";
		fix = psprintf("REVOKE %s FROM %s; or revoke it from the role %s has it through.",
					   BG_OWNER_ROLE, name, name);
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
							   quote_identifier(NameStr(su->rolname)), name, name);
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
					   db, name);
	}
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s \"%s\" %s; bluegreen runs no manifest SQL while it can reach past its schemas",
						title, name, why),
				 errdetail("%s", detail),
				 errhint("%s", fix)));
}

/*
 * The settings under which manifest SQL is checked and runs, set again before each
 * statement bluegreen parses for it: a hook's SET, or set_config() in a model's code,
 * must not change how the next statement is tokenised (standard_conforming_strings,
 * backslash_quote decide where a string literal ends) or resolved (search_path) between
 * its check and its run. Each is saved at the caller's GUC nest level, and ends with it.
 */
void
bg_pin_manifest_settings(void)
{
	static const char *const pinned[][2] = {
		{"standard_conforming_strings", "on"},
		{"backslash_quote", "safe_encoding"},
	};

	for (int i = 0; i < lengthof(pinned); i++)
		(void) set_config_option(pinned[i][0], pinned[i][1], PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("search_path", bg_model_search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (bg_temp_file_limit_kb >= 0)
		(void) set_config_option("temp_file_limit", psprintf("%d", bg_temp_file_limit_kb),
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Become the builder to run manifest SQL (model and test code, hooks). As a
 * security-restricted operation, as PostgreSQL runs index expressions and
 * REFRESH MATERIALIZED VIEW: the code cannot SET ROLE or SET SESSION AUTHORIZATION back
 * to the caller, create temporary tables or types that outlive it, or change the
 * session in ways that survive it. The settings are pinned (bg_pin_manifest_settings);
 * search_path is bluegreen.model_search_path. Both roles are checked first
 * (check_confined).
 */
void
bg_become_builder(BgUserSwitch *s)
{
	Oid			builder = bg_builder_role();

	check_confined(builder, BG_BUILDER_ROLE, "the builder role");
	check_confined(bg_owner_role(), BG_OWNER_ROLE, "the owner role");
	GetUserIdAndSecContext(&s->saved_userid, &s->saved_sec_context);
	SetUserIdAndSecContext(builder, s->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	s->guc_nestlevel = NewGUCNestLevel();
	bg_pin_manifest_settings();
}

/* ------------------------------------------------------------------------
 * The time one step of manifest SQL may take (bluegreen.statement_timeout)
 *
 * statement_timeout bounds what a client sends, not the statements a procedure runs
 * through SPI, so a step has a timer of its own: when it fires, the running statement
 * is cancelled as by a user's cancel request, and bg_step_timed_out() tells the caller
 * that this is why.
 * ------------------------------------------------------------------------
 */
static TimeoutId step_timeout = MAX_TIMEOUTS;
static volatile sig_atomic_t step_timeout_fired = false;

static void
step_timeout_handler(void)
{
	step_timeout_fired = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

void
bg_step_timer_start(void)
{
	if (step_timeout == MAX_TIMEOUTS)
		step_timeout = RegisterTimeout(USER_TIMEOUT, step_timeout_handler);
	step_timeout_fired = false;
	if (bg_statement_timeout_ms > 0)
		enable_timeout_after(step_timeout, bg_statement_timeout_ms);
}

/* Stop the step's timer; true if it fired. */
bool
bg_step_timer_stop(void)
{
	if (step_timeout != MAX_TIMEOUTS)
		disable_timeout(step_timeout, false);
	return step_timeout_fired;
}

Oid
bg_builder_role(void)
{
	return get_role_oid(BG_BUILDER_ROLE, false);
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
