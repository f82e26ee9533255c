{#-
    The run-operation macros: one per bluegreen procedure that makes sense from dbt.

        dbt run-operation bg_create_project                      register this project as the live baseline
        dbt run-operation bg_plan                                what deploying this project would do
        dbt run-operation bg_deploy --args '{promote: true}'     re-run the live project (a refresh)
        dbt run-operation bg_deploy_begin                        start a deployment that dbt builds
        dbt run-operation bg_deploy_begin --args '{refresh: true}'   ... a refresh that dbt builds
        dbt run-operation bg_deploy_finish                       ... after dbt built it into shadow
        dbt run-operation bg_promote --args '{dry_run: true}'    the switch, printed; nothing changes
        dbt run-operation bg_promote                             switch the built deployment live
        dbt run-operation bg_rollback                            switch back
        dbt run-operation bg_cleanup --args '{keep: 1}'          drop what promotes replaced
        dbt run-operation bg_abandon                             drop an unpromoted deployment
        dbt run-operation bg_status                              projects, deployments, steps
        dbt run-operation bg_transfer_ownership --args '{schema: analytics}'

    Each logs what bluegreen said and what it recorded, and fails the dbt command (exit
    code 1) when bluegreen raises an error. `project` defaults to var('bluegreen_project'),
    else this dbt project's name (bluegreen's default name for it).
-#}

{% macro bg_create_project(name=none) %}
    {%- do bluegreen._refuse_shadow('bg_create_project') -%}
    {%- set project = bluegreen._project(name) -%}
    {%- do bluegreen._run('call bg.create_project(%s::text, %s)', [bluegreen.manifest_json(), project]) -%}
    {%- do bluegreen._log_project(project) -%}
{% endmacro %}

{#- every node bluegreen would build, test, carry or remove; all: true lists skipped ones too -#}
{% macro bg_plan(project=none, all=false) %}
    {%- do bluegreen._refuse_shadow('bg_plan') -%}
    {%- set project = bluegreen._project(project) -%}
    {%- set rows = bluegreen._run(
            "select p.unique_id, p.action, pg_catalog.array_to_string(p.reasons, ', '),"
            "       coalesce(p.shadow_relation, p.live_relation), p.compatibility, p.selected"
            "  from bg.plan(%s::text, %s) as p"
            " order by case p.action when 'build' then 1 when 'test' then 2 when 'carry' then 3"
            "          when 'remove' then 4 when 'none' then 5 else 6 end, p.unique_id",
            [bluegreen.manifest_json(), project], fetch=true) -%}
    {%- set shown = [] -%}
    {%- set counts = {} -%}
    {%- set selected = namespace(count=0) -%}
    {%- for row in rows -%}
        {%- do counts.update({row[1]: counts.get(row[1], 0) + 1}) -%}
        {%- set selected.count = selected.count + (1 if row[5] else 0) -%}
        {%- if all or row[5] -%}
            {%- do shown.append(row) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do log('bluegreen: plan of project ' ~ project ~ ' against its live manifest: ' ~ selected.count ~ ' of '
               ~ (rows | length) ~ ' nodes selected (state:modified+): '
               ~ counts.get('build', 0) ~ ' to build, ' ~ counts.get('test', 0) ~ ' tests, '
               ~ counts.get('carry', 0) ~ ' carried, ' ~ counts.get('remove', 0) ~ ' to remove', info=true) -%}
    {%- if shown -%}
        {%- do bluegreen._log_table(['unique_id', 'action', 'reasons', 'relation', 'compatibility'], shown) -%}
    {%- endif -%}
{% endmacro %}

{#-
    bg.deploy() without a manifest: bluegreen re-runs the live project, every model built
    from the compiled code it holds, tests run, in shadow; promote: true switches it live
    when it built, passed and breaks nothing. A dbt macro cannot give bluegreen compiled
    code for new code (see README.md), so this refuses when the project in this directory
    differs from live: deploy a new version with bg_deploy_begin, dbt build, bg_deploy_finish.
    bluegreen holds compiled code only when dbt handed it over (the on-run-end hook, or
    psql); without it bluegreen refuses the refresh and names the one dbt builds instead
    (bg_deploy_begin with refresh: true).
-#}
{% macro bg_deploy(project=none, full_refresh=false, promote=false) %}
    {%- do bluegreen._refuse_shadow('bg_deploy') -%}
    {%- set project = bluegreen._project(project) -%}
    {%- do bluegreen._refuse_changed(project, 'bg_deploy') -%}
    {%- do log('bluegreen: deploying project ' ~ project ~ ': a refresh of the live project'
               ~ (', full refresh' if full_refresh else '') ~ (', promoted when it passes' if promote else ''), info=true) -%}
    {%- set before = bluegreen._latest_deployment_id(project) -%}
    {%- do bluegreen._run('call bg.deploy(null::text, %s, %s, %s)', [project, full_refresh, promote]) -%}
    {%- do bluegreen._log_deployment(project, after=before) -%}
{% endmacro %}

{#-
    start a deployment that dbt builds: plan, record, prepare the shadow schemas. With
    refresh: true, a refresh of the live project that dbt builds (every model and test, as
    bg_deploy would, but built by dbt: it needs no compiled code in bluegreen)
-#}
{% macro bg_deploy_begin(project=none, full_refresh=false, refresh=false) %}
    {%- do bluegreen._refuse_shadow('bg_deploy_begin') -%}
    {%- set project = bluegreen._project(project) -%}
    {%- set refresh = bluegreen._truthy(refresh) -%}
    {%- if refresh -%}
        {%- do bluegreen._refuse_changed(project, 'bg_deploy_begin with refresh: true') -%}
    {%- endif -%}
    {%- set before = bluegreen._latest_deployment_id(project) -%}
    {%- do bluegreen._run('call bg.deploy_begin(%s::text, %s, %s)',
                          [none if refresh else bluegreen.manifest_json(), project, full_refresh]) -%}
    {%- do bluegreen._log_deployment(project, after=before, steps='build') -%}
    {%- do log('bluegreen: next: dbt build '
               ~ ('--resource-type model test' if refresh else '--select state:modified+')
               ~ (' --full-refresh' if full_refresh else '')
               ~ ' --defer --state <live artifacts> --vars \'{bluegreen_shadow: true}\', then dbt run-operation bg_deploy_finish',
               info=true) -%}
{% endmacro %}

{#-
    refuse an operation that re-runs the live project when the project in this directory
    differs from it: dbt would build this directory's version, bluegreen would record the
    live one
-#}
{% macro _refuse_changed(project, operation) %}
    {%- set changed = bluegreen._query(
            "select pg_catalog.count(*), pg_catalog.string_agg(p.unique_id, ', ' order by p.unique_id)"
            "  from bg.plan(%s::text, %s) as p where p.selected and p.action in ('build', 'remove')",
            [bluegreen.manifest_json(), project])[0] -%}
    {%- if changed[0] > 0 -%}
        {{ exceptions.raise_compiler_error(
            'bluegreen: the dbt project here differs from live project "' ~ project ~ '" (' ~ changed[0]
            ~ ' model(s) to build or remove: ' ~ changed[1] ~ '). ' ~ operation ~ ' only re-runs what is live. '
            ~ 'Deploy this version with dbt run-operation bg_deploy_begin, then dbt build --select state:modified+ '
            ~ '--defer --state <live artifacts> --vars \'{bluegreen_shadow: true}\', then dbt run-operation bg_deploy_finish.') }}
    {%- endif -%}
{% endmacro %}

{#- after dbt built the selection into shadow: check, compare with live, mark built -#}
{% macro bg_deploy_finish(project=none) %}
    {%- set project = bluegreen._project(project) -%}
    {%- do bluegreen._run('call bg.deploy_finish(%s)', [project]) -%}
    {%- do bluegreen._log_deployment(project, steps='build') -%}
{% endmacro %}

{% macro bg_promote(dry_run=false, project=none, force=false) %}
    {%- set project = bluegreen._project(project) -%}
    {%- set result = bluegreen._run('call bg.promote(dry_run => %s, project => %s, force => %s)',
                                    [dry_run, project, force], fetch=true, log_notices=false) -%}
    {%- do bluegreen._log_switch(result[0][0][0] if result[0] else none, result[1]) -%}
    {%- if not dry_run -%}
        {%- do bluegreen._log_deployment(project, steps=false) -%}
    {%- endif -%}
{% endmacro %}

{% macro bg_rollback(project=none, dry_run=false) %}
    {%- set project = bluegreen._project(project) -%}
    {%- set result = bluegreen._run('call bg.rollback(project => %s, dry_run => %s)',
                                    [project, dry_run], fetch=true, log_notices=false) -%}
    {%- do bluegreen._log_switch(result[0][0][0] if result[0] else none, result[1]) -%}
    {%- if not dry_run -%}
        {%- do bluegreen._log_deployment(project, steps=false, status='rolled_back') -%}
    {%- endif -%}
{% endmacro %}

{#- older_than: an interval, e.g. '7 days' -#}
{% macro bg_cleanup(project=none, keep=1, older_than=none) %}
    {%- set project = bluegreen._project(project) -%}
    {%- do bluegreen._run('call bg.cleanup(%s, %s, %s::interval)', [project, keep, older_than]) -%}
    {%- set rows = bluegreen._query(
            "select d.deployment_id, d.status, pg_catalog.to_char(d.previous_dropped_at, 'YYYY-MM-DD HH24:MI:SS')"
            "  from bg.deployments as d where d.project = %s and d.previous_dropped_at is not null"
            " order by d.deployment_id desc limit 5", [project]) -%}
    {%- if rows -%}
        {%- do log('bluegreen: deployments whose replaced relations are dropped (latest 5):', info=true) -%}
        {%- do bluegreen._log_table(['deployment', 'status', 'previous dropped at'], rows) -%}
    {%- endif -%}
{% endmacro %}

{% macro bg_abandon(project=none) %}
    {%- set project = bluegreen._project(project) -%}
    {%- do bluegreen._run('call bg.abandon(%s)', [project]) -%}
    {%- do bluegreen._log_deployment(project, steps=false) -%}
{% endmacro %}

{#- projects, the latest deployments, and the steps of one (default: the latest) -#}
{% macro bg_status(project=none, deployments=5, deployment=none) %}
    {%- set project = bluegreen._project(project) -%}
    {%- set projects = bluegreen._query(
            "select p.project, p.live_manifest_id, p.dbt_version, p.node_count, p.models,"
            "       pg_catalog.to_char(p.live_since, 'YYYY-MM-DD HH24:MI:SS')"
            "  from bg.projects as p order by p.project", none) -%}
    {%- do log('bluegreen: projects', info=true) -%}
    {%- do bluegreen._log_table(['project', 'live manifest', 'dbt', 'nodes', 'models', 'live since'], projects) -%}
    {%- set rows = bluegreen._query(
            "select d.deployment_id, d.kind, d.status, d.models_built, d.tests_passed, d.tests_warned,"
            "       d.tests_failed, d.breaking, pg_catalog.to_char(d.started_at, 'YYYY-MM-DD HH24:MI:SS'),"
            "       d.started_by, coalesce(d.failed_node || ': ', '') || coalesce(d.error, '')"
            "  from bg.deployments as d where d.project = %s"
            " order by d.deployment_id desc limit %s", [project, deployments]) -%}
    {%- do log('bluegreen: deployments of project ' ~ project ~ ' (latest ' ~ deployments ~ ')', info=true) -%}
    {%- do bluegreen._log_table(['deployment', 'kind', 'status', 'models', 'passed', 'warned', 'failed',
                                 'breaking', 'started', 'by', 'error'], rows) -%}
    {%- set shown = deployment if deployment is not none else (rows[0][0] if rows else none) -%}
    {%- if shown is not none -%}
        {%- do bluegreen._log_steps(shown) -%}
    {%- endif -%}
{% endmacro %}

{% macro bg_transfer_ownership(schema, dry_run=false) %}
    {%- do bluegreen._run('call bg.transfer_ownership(%s, %s)', [schema, dry_run]) -%}
{% endmacro %}

{#- ------------------------------------------------------------------ reporting -#}

{% macro _latest_deployment_id(project) %}
    {%- set rows = bluegreen._query(
            'select pg_catalog.max(d.deployment_id) from bg.deployments as d where d.project = %s', [project]) -%}
    {{ return(rows[0][0] if rows and rows[0][0] is not none else 0) }}
{% endmacro %}

{% macro _log_project(project) %}
    {%- set rows = bluegreen._query(
            'select p.live_manifest_id, p.dbt_version, p.node_count, p.models from bg.projects as p where p.project = %s',
            [project]) -%}
    {%- for row in rows -%}
        {%- do log('bluegreen: project ' ~ project ~ ' is live at manifest ' ~ row[0] ~ ' (dbt ' ~ row[1] ~ ', '
                   ~ row[2] ~ ' nodes, ' ~ row[3] ~ ' models)', info=true) -%}
    {%- endfor -%}
{% endmacro %}

{#- the latest deployment of the project (newer than "after"), and its steps -#}
{% macro _log_deployment(project, after=none, steps='problems', status=none) %}
    {%- set rows = bluegreen._query(
            "select d.deployment_id, d.kind, d.status, d.models_built, d.tests_passed, d.tests_warned,"
            "       d.tests_failed, d.breaking, d.failed_node, d.error"
            "  from bg.deployments as d where d.project = %s and d.deployment_id > %s"
            "   and (%s::text is null or d.status = %s::text)"
            " order by coalesce(d.rolled_back_at, d.promoted_at, d.finished_at, d.built_at, d.started_at) desc,"
            "          d.deployment_id desc limit 1",
            [project, after if after is not none else 0, status, status]) -%}
    {%- if not rows -%}
        {%- do log('bluegreen: project ' ~ project ~ ' has no deployment to report', info=true) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set d = rows[0] -%}
    {%- do log('bluegreen: deployment ' ~ d[0] ~ ' (' ~ d[1] ~ ') of project ' ~ project ~ ' is ' ~ d[2]
               ~ ': ' ~ d[3] ~ ' model(s) built, ' ~ d[4] ~ ' test(s) passed, ' ~ d[5] ~ ' warned, ' ~ d[6] ~ ' failed'
               ~ ('; BREAKING' if d[7] else '; compatible with live' if d[7] is false else '')
               ~ (('; ' ~ (d[8] ~ ': ' if d[8] else '') ~ d[9]) if d[9] else ''), info=true) -%}
    {%- if steps -%}
        {%- do bluegreen._log_steps(d[0], steps) -%}
    {%- endif -%}
{% endmacro %}

{#- the steps of a deployment: all, its builds ('build'), or those that did not go well ('problems') -#}
{% macro _log_steps(deployment_id, which='all') %}
    {%- set rows = bluegreen._query(
            "select s.step, s.action, s.unique_id, s.relation, s.status,"
            "       coalesce(s.rows_affected::text, s.failures::text), s.breaking, s.message"
            "  from bg.deployment_steps as s where s.deployment_id = %s"
            "   and (%s = 'all' or (%s = 'build' and s.action = 'build')"
            "        or (%s = 'problems' and s.status in ('error', 'fail', 'warn')))"
            " order by s.step",
            [deployment_id, which, which, which]) -%}
    {%- if rows -%}
        {%- do log('bluegreen: ' ~ ('steps' if which == 'all' else 'models' if which == 'build'
                   else 'failed or warned steps') ~ ' of deployment ' ~ deployment_id, info=true) -%}
        {%- do bluegreen._log_table(['step', 'action', 'unique_id', 'relation', 'status', 'rows/failures',
                                     'breaking', 'message'], rows) -%}
    {%- endif -%}
{% endmacro %}

{#-
    what a promote or rollback said, then the statements of the plan it returns (INOUT
    plan): complete, where the driver keeps only the last 50 notices
-#}
{% macro _log_switch(plan, notices) %}
    {%- if plan is string -%}
        {%- set plan = fromjson(plan) -%}
    {%- endif -%}
    {%- set statements = (plan or {}).get('statements') or [] -%}
    {%- set skip = [] -%}
    {%- for statement in statements -%}
        {%- do skip.append(statement ~ ';') -%}
        {%- do skip.append('-- after commit: ' ~ statement ~ ';') -%}
    {%- endfor -%}
    {%- do bluegreen._log_notices(notices, skip) -%}
    {%- if plan is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- do log('bluegreen: ' ~ ('would run' if plan['dry_run'] else 'ran') ~ ' these ' ~ (statements | length)
               ~ ' statement(s) to ' ~ plan['action'] ~ ' deployment ' ~ plan['deployment_id']
               ~ (' (dry run: nothing changed)' if plan['dry_run'] else '') ~ ':', info=true) -%}
    {%- for statement in statements -%}
        {%- do log('  ' ~ statement ~ ';', info=true) -%}
    {%- endfor -%}
{% endmacro %}

{% macro _refuse_shadow(operation) %}
    {%- if bluegreen.shadow_mode() -%}
        {{ exceptions.raise_compiler_error(
            'bluegreen: run ' ~ operation ~ ' without bluegreen_shadow: with it, every schema of the '
            ~ 'project graph is a shadow schema, and bluegreen needs the live ones') }}
    {%- endif -%}
{% endmacro %}
