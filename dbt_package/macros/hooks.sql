{#-
    Registering a live project with dbt's compiled code, at the end of a dbt command.

    bluegreen builds models from compiled code, and a macro run by `dbt run-operation` has
    none (dbt compiles nothing for it). dbt does run on-run-end hooks after `dbt run`,
    `dbt build`, `dbt seed`, `dbt snapshot` and `dbt test` (not after `dbt compile`), and
    their `results` carry every node the command compiled. With this line in the
    project's dbt_project.yml

        on-run-end: ["{{ bluegreen.on_run_end(results) }}"]

    the run that builds the project live registers it as bluegreen's live baseline,
    compiled code included, so that bluegreen can later re-run it (bg.deploy() without a
    manifest, a scheduled refresh):

        dbt build --vars '{bluegreen_create_project: true}'

    Without that var the hook does nothing. The registration is refused when a node of the
    run did not succeed, by dbt's own measure: the statuses `dbt retry` runs again (error,
    fail, runtime error, partial success, and skipped, which dbt reports for the nodes
    downstream of a failure). A `no-op` is no failure: it is what dbt reports for the
    nodes it has nothing to run for (saved queries, exposures). Models the command did
    not run have no compiled code, and a refresh refuses them: register after a run of
    the whole project.
-#}
{% macro on_run_end(results) %}
    {%- if execute and bluegreen._truthy(var('bluegreen_create_project', false)) -%}
        {%- do bluegreen._refuse_shadow('the on-run-end registration (bluegreen_create_project)') -%}
        {%- set compiled = {} -%}
        {%- set failed = [] -%}
        {%- for result in results -%}
            {%- set status = result.status | string | lower -%}
            {%- if status in ['error', 'fail', 'runtime error', 'partial success', 'skipped'] -%}
                {%- do failed.append(result.node.unique_id ~ ' (' ~ status ~ ')') -%}
            {%- endif -%}
            {%- if result.node.compiled_code is string and result.node.compiled_code -%}
                {%- do compiled.update({result.node.unique_id: result.node.compiled_code}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if failed -%}
            {{ exceptions.raise_compiler_error(
                'bluegreen: project not registered: ' ~ (failed | length) ~ ' node(s) of this run did not succeed: '
                ~ (failed | join(', '))) }}
        {%- endif -%}
        {%- set uncompiled = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.config.materialized != 'ephemeral'
                  and node.unique_id not in compiled -%}
                {%- do uncompiled.append(node.unique_id) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if uncompiled -%}
            {%- do log('bluegreen: ' ~ (uncompiled | length) ~ ' model(s) did not run in this command and are registered '
                       ~ 'without compiled code (a refresh refuses them): ' ~ (uncompiled | join(', ')), info=true) -%}
        {%- endif -%}
        {#- bluegreen manages only the schemas handed to it: hand over those this run built in,
            as the role that built them -#}
        {%- set live_schemas = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.config.materialized != 'ephemeral'
                  and node.unique_id in compiled and node.schema not in live_schemas -%}
                {%- do live_schemas.append(node.schema) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for schema in live_schemas | sort -%}
            {%- do bluegreen._run('call bg.transfer_ownership(%s)', [schema]) -%}
        {%- endfor -%}
        {%- set project = bluegreen._project(none) -%}
        {%- do bluegreen._run('call bg.create_project(%s::text, %s)', [bluegreen.manifest_json(compiled), project]) -%}
        {%- do bluegreen._log_project(project) -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
