/*
 * state.h
 *		bluegreen's own tables: projects, the project lock, manifests, deployments and
 *		their steps. state.c, state_manifest.c and state_restore.c are the only files that read or write
 *		them, and each of their functions switches to the extension owner itself.
 */
#ifndef BLUEGREEN_STATE_H
#define BLUEGREEN_STATE_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "manifest.h"

typedef struct BgProject
{
	int64		project_id;
	char	   *name;
	int64		live_manifest_id;
} BgProject;

/* projects */
extern BgProject *bg_project_lookup(const char *name, bool missing_ok);
extern BgProject *bg_project_create(const char *name, BgManifest *baseline);
extern void bg_check_unclaimed(int64 project_id, BgManifest *m);

/* one deployment, promote, rollback, abandon or cleanup of a project at a time */
extern void bg_lock_project(BgProject *project, const char *operation);
extern void bg_unlock_project(BgProject *project);

/* a project restored from a dump, or moved to another cluster (state_restore.c) */
extern void bg_project_mark_database(int64 project_id);
extern void bg_project_relink_if_restored(int64 project_id, const char *project_name);

/* manifests (state_manifest.c) */
extern int64 bg_manifest_store(BgManifest *m, int64 project_id);
/*
 * What of a stored manifest to read: what a plan compares (the JSON texts only for
 * enforced contracts' columns); everything but compiled code; everything.
 */
typedef enum BgManifestLoad
{
	BG_LOAD_COMPARED,
	BG_LOAD_TEXTS,
	BG_LOAD_CODE
} BgManifestLoad;

extern BgManifest *bg_manifest_load(int64 manifest_id, BgManifestLoad what);

/* deployments */
typedef struct BgDeploymentRow
{
	int64		id;
	char	   *kind;			/* deploy, refresh, dbt */
	char	   *status;
	int64		manifest_id;
	int64		base_manifest_id;
	char	   *failed_node;
	char	   *error;
	bool		previous_dropped;
	TransactionId built_horizon;	/* snapshots older than this may not see its data */
} BgDeploymentRow;

typedef enum BgStepKind
{
	BG_STEP_BUILD,
	BG_STEP_TEST,
	BG_STEP_CARRY,
	BG_STEP_REMOVE
} BgStepKind;

/* One step of a deployment: what it is, and how it went. */
/*
 * An increment applied in place (incremental.c): beside the shadow view that shows the
 * table as it will be, the rows promote inserts and the live rows it deletes, in the
 * model's shadow schema, named by its step; promote keeps what it deleted and what it
 * inserted in the previous schema, for rollback.
 */
#define BG_IN_PLACE_ROWS		"__bg_rows_%d"
#define BG_IN_PLACE_DELETE		"__bg_delete_%d"
#define BG_IN_PLACE_DELETED		"__bg_deleted_%d"
#define BG_IN_PLACE_INSERTED	"__bg_inserted_%d"
/* under FOR ALL TABLES those tables are unlogged, and the deletions hold this marker row */
#define BG_IN_PLACE_MARKER		"'(0,0)'::pg_catalog.tid"

typedef struct BgStep
{
	int			number;			/* 1-based */
	BgStepKind	kind;
	BgNode	   *node;			/* loaded steps: a node with only its identity */
	BgNode	   *old;
	BgUnitTest *unit_test;		/* a test step that runs a dbt unit test */
	char	   *shadow_schema;	/* builds */
	char	   *previous_schema;	/* where promote moved the live relation */
	Oid			promoted_oid;	/* the relation promote put live */
	bool		live_exists;
	Oid			live_oid;
	char		live_relkind;
	/* outcome */
	const char *status;
	int64		rows;
	int64		failures;
	const char *severity;
	double		seconds;
	char	   *message;
	char	   *compatibility;
	bool		breaking;
	char		relkind;
	bool		in_place;		/* an increment promote applies to the live table */
	char	   *diff;			/* diff.c: how its rows differ from live, JSON */
} BgStep;

/* A diff recorded for a step (bg.deployment_step.diff). */
typedef struct BgStepDiff
{
	char	   *unique_id;
	char	   *relation;		/* the live relation, qualified */
	char	   *diff;			/* JSON */
} BgStepDiff;

typedef struct BgDeploymentTotals
{
	int			built;
	int			passed;
	int			warned;
	int			failed_tests;
	bool		breaking;
} BgDeploymentTotals;

extern int64 bg_deployment_insert(BgProject *project, int64 manifest_id, const char *kind,
								  bool full_refresh, const char *caller,
								  BgStep *steps, int n_steps);
extern void bg_step_update(int64 deployment_id, BgStep *s, TimestampTz started);
extern void bg_deployment_skip_pending(int64 deployment_id, const char *action,
									   const char *why);
extern void bg_deployment_finish(int64 deployment_id, const char *status,
								 const char *failed_node, const char *error,
								 BgDeploymentTotals *totals);
extern BgDeploymentRow *bg_deployment_latest(BgProject *project, const char *status);
extern List *bg_deployment_step_diffs(int64 deployment_id);
extern BgStep *bg_deployment_steps(int64 deployment_id, bool relations_only, int *n);
extern void bg_deployment_switched(BgProject *project, int64 deployment_id, bool rollback,
								   int64 live_manifest_id, List *moved);

/* what bg.abandon and a new deployment drop: shadow relations not promoted */
typedef struct BgShadowRelation
{
	char	   *schema;
	char	   *name;
} BgShadowRelation;

extern List *bg_unpromoted_shadow_relations(BgProject *project, const char *why);
extern void bg_unpromoted_dropped(BgProject *project, const char *new_status, const char *why);

/* what bg.cleanup drops: the side schemas of deployments past retention */
typedef struct BgRetired
{
	int64		deployment_id;
	bool		rolled_back;
	List	   *live_schemas;	/* char * */
} BgRetired;

extern List *bg_deployments_past_retention(BgProject *project, int keep, Datum older_than,
										   bool older_than_null);
extern void bg_deployment_previous_dropped(int64 deployment_id);

#endif							/* BLUEGREEN_STATE_H */
