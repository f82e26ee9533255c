/*
 * selection.h
 *		What dbt's state:modified+ selects, and what a deployment does with each node
 *		(selection.c).
 */
#ifndef BLUEGREEN_SELECTION_H
#define BLUEGREEN_SELECTION_H

#include "postgres.h"

#include "manifest.h"

typedef enum BgAction
{
	BG_ACTION_SKIP,
	BG_ACTION_BUILD,
	BG_ACTION_CARRY,
	BG_ACTION_TEST,
	BG_ACTION_REMOVE,
	BG_ACTION_NONE
} BgAction;

/* state selector bits, in dbt's names */
#define BG_SEL_NEW					(1 << 0)
#define BG_SEL_MODIFIED				(1 << 1)
#define BG_SEL_BODY					(1 << 2)
#define BG_SEL_CONFIGS				(1 << 3)
#define BG_SEL_RELATION				(1 << 4)
#define BG_SEL_PERSISTED_DESCRIPTIONS (1 << 5)
#define BG_SEL_CONTRACT				(1 << 6)
#define BG_SEL_MACROS				(1 << 7)
#define BG_SEL_COUNT				8

typedef struct BgPlanItem
{
	BgNode	   *node;			/* the new node, or the removed old one */
	BgNode	   *old;			/* the live node, if any */
	bool		selected;		/* in state:modified+ */
	bool		removed;
	int			selectors;		/* BG_SEL_* bits */
	BgAction	action;
	char	   *compatibility;	/* the verdict, as bg.plan shows it (verdict.c) */
} BgPlanItem;

typedef struct BgPlan
{
	BgManifest *live;
	BgManifest *next;
	int			n_items;
	BgPlanItem *items;			/* new nodes in dependency order, then removed */
	int			n_selected;
} BgPlan;

extern BgPlan *bg_plan_compute(BgManifest *live, BgManifest *next);
extern const char *bg_action_name(BgAction action);
extern const char *bg_selector_name(int bit);
extern BgNode *bg_plan_item_removes(BgPlan *plan, BgPlanItem *item, char **reason,
									char **moved_to);

#endif							/* BLUEGREEN_SELECTION_H */
