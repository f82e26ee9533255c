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
	BG_MOVE_REMOVE,				/* live -> away */
	BG_MOVE_APPLY				/* an increment applied to the live table (apply.c) */
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
	char	   *reason;			/* a removal's, as the deployment recorded it */
	/* BG_MOVE_APPLY: the live table, which stays; the shadow view (promote); the rows
	 * to insert and to delete (promote), or inserted and deleted (rollback) */
	Oid			apply_oid;
	Oid			view_oid;
	Oid			rows_oid;
	Oid			delete_oid;
} BgMove;

/* A live schema switched by renaming schemas (schema_swap.c). */
typedef struct BgSchemaSwap
{
	char	   *live;			/* the live schema's name */
	char	   *from;			/* the schema that takes its name */
	char	   *away;			/* the name the live one takes; NULL if none is live */
	Oid			live_nsp;		/* InvalidOid when no schema of that name is live */
	Oid			from_nsp;
	List	   *unselected;		/* Oid list: relations left in live, moved across */
} BgSchemaSwap;

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
	List	   *apply;			/* increments applied after the moves (apply.c) */
	List	   *apply_rows_sql;	/* char *: their statements that write rows, which run
								 * before the moves, to show */
	List	   *apply_sql;		/* char *: the others, after the moves */
	List	   *after;			/* char *: after the commit */
	List	   *locked;			/* Oid list: relations whose locks the swap needs */
	List	   *views;			/* Oid list: views outside the switch already handled */
	List	   *schemas;		/* char *: away schemas to create */
	List	   *swaps;			/* BgSchemaSwap *: live schemas switched by renaming */
	List	   *notes;			/* char *: reported, changing nothing */
} BgSwitch;

/* apply.c */
extern void bg_apply_plan(BgSwitch *sw, List **refused);
extern int64 bg_apply_locks(BgSwitch *sw);
extern void bg_apply_run(BgSwitch *sw, bool rows);

/* carry.c */
extern void bg_carry_over(BgSwitch *sw, BgMove *m);
extern List *bg_with_something_to_carry(List *out);
extern int	bg_switch_hand_over(List *relids, bool nonatomic);

/* schema_swap.c */
extern BgSchemaSwap *bg_schema_swap_plan(BgSwitch *sw, const char *live);
extern void bg_schema_swap_statements(BgSwitch *sw, BgSchemaSwap *swap);
extern BgSchemaSwap *bg_schema_swap_of(BgSwitch *sw, const char *live);
extern void bg_schema_swap_lock(BgSwitch *sw);

/* switch.c */
extern void bg_switch_plan(BgSwitch *sw, bool force);
extern void bg_switch_wait_for_snapshots(BgSwitch *sw, TransactionId horizon,
										 TransactionId standby_horizon);
extern int64 bg_switch_locks_needed(BgSwitch *sw);
extern void bg_switch_run(BgSwitch *sw);
extern pg_attribute_noreturn() void bg_switch_gave_up(BgSwitch *sw, int attempts);

/* promote.c */
extern Datum bg_switch_deployment(const char *project_name, bool rollback, bool dry_run,
								  bool force, bool nonatomic);

#endif							/* BLUEGREEN_PROMOTE_H */
