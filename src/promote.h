/*
 * promote.h
 *		The switch between what is live and what a deployment built: planned and run by
 *		switch.c, driven by bg.promote and bg.rollback (promote.c).
 */
#ifndef BLUEGREEN_PROMOTE_H
#define BLUEGREEN_PROMOTE_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/timestamp.h"

typedef enum BgMoveKind
{
	BG_MOVE_REPLACE,			/* live -> away, incoming -> live */
	BG_MOVE_ADD,				/* incoming -> live */
	BG_MOVE_REMOVE				/* live -> away */
} BgMoveKind;

/* One relation name that changes hands in the switch. */
typedef struct BgMove
{
	BgMoveKind	kind;
	char	   *unique_id;
	char	   *live_schema;
	char	   *name;
	char	   *from_schema;	/* where the incoming relation is now */
	char	   *away_schema;	/* where the outgoing one goes */
	Oid			out_oid;		/* the live relation that leaves */
	Oid			in_oid;			/* the relation that comes in */
	int			step;
} BgMove;

/* The statements of one switch, in the order they run. */
typedef struct BgSwitch
{
	bool		rollback;
	Oid			caller;			/* who called promote or rollback: sees what it may see */
	TimestampTz deadline;		/* bluegreen.promote_deadline from the start */
	int64		deployment_id;
	int64		manifest_id;	/* live manifest after the switch */
	List	   *moves;			/* BgMove * */
	List	   *prepare;		/* char *: statements that touch no live relation */
	List	   *swap;			/* char *: statements that need live locks */
	List	   *after;			/* char *: after the commit */
	List	   *locked;			/* Oid list: relations whose locks the swap needs */
	List	   *views;			/* Oid list: views outside the switch already handled */
	List	   *schemas;		/* char *: away schemas to create */
	List	   *notes;			/* char *: reported, changing nothing */
} BgSwitch;

/* switch.c */
extern void bg_switch_plan(BgSwitch *sw, bool force);
extern void bg_switch_wait_for_snapshots(BgSwitch *sw, TransactionId horizon);
extern int64 bg_switch_locks_needed(BgSwitch *sw);
extern void bg_switch_run(BgSwitch *sw);
extern pg_attribute_noreturn() void bg_switch_gave_up(BgSwitch *sw, int attempts);

/* promote.c */
extern Datum bg_switch_deployment(const char *project_name, bool rollback, bool dry_run,
								  bool force, bool nonatomic);

#endif							/* BLUEGREEN_PROMOTE_H */
