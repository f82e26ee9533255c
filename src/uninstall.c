/*
 * uninstall.c
 *		DROP EXTENSION bluegreen refused while it would orphan what bluegreen manages.
 *
 * Dropping the extension drops bluegreen's history and state, not the shadow, previous
 * and rollback schemas it keeps beside the live ones, which nothing would clean up
 * afterwards and which a new installation would trip over. An event trigger run at the
 * start of DROP EXTENSION and DROP SCHEMA reads the statement: when it names
 * bluegreen (or its schema bg) while such side schemas exist, it refuses and says how
 * to uninstall: CALL bg.uninstall() (src/sql/60_uninstall.sql) drops what deployments
 * left beside production, keeps every live relation, and then DROP EXTENSION goes
 * through.
 */
#include "postgres.h"

#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "spi.h"

PG_FUNCTION_INFO_V1(bg_guard_drop);

/* The side schemas a deployment leaves beside live ones, by their names' endings. */
#define SIDE_SCHEMAS_SQL \
	"SELECT pg_catalog.string_agg(pg_catalog.quote_ident(n.nspname), ', ' ORDER BY n.nspname)" \
	"  FROM pg_catalog.pg_namespace AS n JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) n.nspowner" \
	" WHERE r.rolname OPERATOR(pg_catalog.=) 'bluegreen'" \
	"   AND n.nspname OPERATOR(pg_catalog.~) '__bg_(shadow|p[0-9]+|r[0-9]+)$'"

/* Whether drop statement d names object "name" (an extension or schema: one identifier). */
static bool
names(DropStmt *d, const char *name)
{
	ListCell   *lc;

	foreach(lc, d->objects)
	{
		Node	   *o = lfirst(lc);

		if (IsA(o, String) && strcmp(strVal(o), name) == 0)
			return true;
	}
	return false;
}

Datum
bg_guard_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *d;
	char	   *left = NULL;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "bg_guard_drop is an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	d = (DropStmt *) trigdata->parsetree;
	if (!((d->removeType == OBJECT_EXTENSION && names(d, "bluegreen")) ||
		  (d->removeType == OBJECT_SCHEMA && names(d, "bg"))))
		PG_RETURN_VOID();

	SPI_connect();
	bg_spi_exec(SIDE_SCHEMAS_SQL, SPI_OK_SELECT, 0, NULL, NULL, NULL);
	if (SPI_processed == 1)
		left = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (left != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop bluegreen while it keeps schemas beside production: %s", left),
				 errdetail("Dropped, bluegreen would leave them behind, and its history with them."),
				 errhint("CALL bg.uninstall() drops them (every live relation stays), then DROP EXTENSION bluegreen.")));
	SPI_finish();
	PG_RETURN_VOID();
}
