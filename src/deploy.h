/*
 * deploy.h
 *		A deployment as deploy.c and deploy_check.c see it while it runs.
 */
#ifndef BLUEGREEN_DEPLOY_H
#define BLUEGREEN_DEPLOY_H

#include "postgres.h"

#include "lib/stringinfo.h"

#include "build.h"
#include "manifest.h"
#include "selection.h"
#include "state.h"

typedef struct Deployment
{
	BgProject  *project;
	BgManifest *live;
	BgManifest *next;
	BgPlan	   *plan;
	bool		refresh;
	bool		external;		/* dbt builds it: bg.deploy_begin / bg.deploy_finish */
	bool		full_refresh;
	bool		nonatomic;
	char	   *caller;
	int64		deployment_id;
	int64		manifest_id;
	int			n_steps;
	BgStep	   *steps;
	int			n_build;
	int			n_test;			/* unit tests included */
	int			n_unit_test;
	BgBuildContext ctx;
	List	   *shadow_schemas; /* char *, distinct */
} Deployment;

/* deploy_check.c */
extern void bg_deploy_collect_steps(Deployment *d);
extern List *bg_deploy_live_schemas(Deployment *d);
extern void bg_deploy_check(Deployment *d);
extern bool bg_deploy_verdicts(Deployment *d, StringInfo breaks, StringInfo compatible);
extern char *bg_deploy_verdict_detail(StringInfo breaks, StringInfo compatible);

#endif							/* BLUEGREEN_DEPLOY_H */
