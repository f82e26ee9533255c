{#-
    A manifest for bluegreen, built from what a macro can see: dbt's `graph`.

    A macro cannot read target/manifest.json, and a command-line argument cannot carry a
    manifest of real size. So the package hands bluegreen a manifest-shaped JSON document
    made in memory from the parsed project:

      metadata  dbt_schema_version (from dbt's version), dbt_version, project_name,
                adapter_type, invocation_id, generated_at
      nodes     graph.nodes: every enabled model, seed, snapshot, test, analysis and hook,
                as dbt serialises them into manifest.json (raw code, checksums, config and
                unrendered config, depends_on, contract, columns, ...)
      sources   graph.sources
      macros    every macro of dbt's macro namespaces (dbt's, the adapter's, this project's,
                each package's) with its SQL and its own depends_on, as in manifest.json,
                so that state:modified.macros sees macro changes as dbt does

    What it lacks against dbt's manifest.json:
      - compiled code: in a run-operation nothing is compiled. bluegreen plans and
        registers without it; it needs it only to build models itself. The on-run-end hook
        (hooks.sql) adds the compiled code of every node the dbt command ran.
      - disabled nodes: a model disabled in the new version is absent, so bg.plan lists it
        with the reason "removed" instead of "disabled" (the action, remove, is the same).
      - macros of a package whose name is also the name of one of its macros, or of a
        context variable (dbt's namespaces cannot be told apart there); a node that
        reaches such a macro still brings it in through depends_on.

    compiled: optional dict unique_id -> compiled code, merged into the nodes.
-#}
{% macro manifest_json(compiled=none) %}
    {%- set parts = dbt_version.split('.') -%}
    {%- set major = parts[0] | int -%}
    {%- set minor = parts[1] | int -%}
    {%- if major > 1 or minor >= 8 -%}
        {%- set schema_version = 12 -%}
    {%- elif minor == 7 -%}
        {%- set schema_version = 11 -%}
    {%- elif minor == 6 -%}
        {%- set schema_version = 10 -%}
    {%- else -%}
        {%- set schema_version = 9 -%}
    {%- endif -%}

    {%- set nodes = {} -%}
    {%- for unique_id, node in graph.nodes.items() -%}
        {%- if compiled is not none and unique_id in compiled -%}
            {%- set node = node.copy() -%}
            {%- do node.update({'compiled': true, 'compiled_code': compiled[unique_id]}) -%}
        {%- endif -%}
        {%- do nodes.update({unique_id: node}) -%}
    {%- endfor -%}

    {#-
        Every macro in dbt's macro namespaces (dbt's own, the adapter's, this project's and
        each package's), as in manifest.json: dbt adds the macros a node calls while it runs
        (statement, get_limit_subquery_sql, ...) to the depends_on of the manifest it writes
        after dbt build, so a manifest from a run and one from a parse agree only when both
        hold them all. Then the macros the nodes reach that no namespace listed.
    -#}
    {%- set macros = {} -%}
    {%- for key, namespace in context.items() -%}
        {%- if namespace is mapping and key not in ['graph', 'model', 'target', 'env', 'flags', 'builtins',
                                                    'context', 'validation', 'api', 'modules', 'exceptions'] -%}
            {%- for generator in namespace.values() -%}
                {%- if generator.macro is defined and generator.macro.unique_id is defined
                      and generator.macro.macro_sql is defined -%}
                    {%- do macros.update({generator.macro.unique_id: bluegreen._macro_entry(generator.macro)}) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set queue = [] -%}
    {%- set queued = {} -%}
    {%- for node in graph.nodes.values() -%}
        {%- for macro_id in ((node.get('depends_on') or {}).get('macros') or []) -%}
            {%- if macro_id not in queued -%}
                {%- do queued.update({macro_id: true}) -%}
                {%- do queue.append(macro_id) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set missing = [] -%}
    {%- for macro_id in queue -%}
        {%- if macro_id not in macros -%}
            {%- set found = bluegreen._find_macro(macro_id) -%}
            {%- if found is none -%}
                {%- do missing.append(macro_id) -%}
            {%- else -%}
                {%- do macros.update({macro_id: bluegreen._macro_entry(found)}) -%}
            {%- endif -%}
        {%- endif -%}
        {%- for dep in (macros[macro_id].depends_on.macros if macro_id in macros else []) -%}
            {%- if dep not in queued -%}
                {%- do queued.update({dep: true}) -%}
                {%- do queue.append(dep) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if missing -%}
        {%- do log('bluegreen: ' ~ (missing | length) ~ ' macro(s) the project uses were not found through dbt\'s macro namespaces, so a change to them is not seen by state:modified.macros: ' ~ (missing | join(', ')), info=true) -%}
    {%- endif -%}

    {%- set document = {
        'metadata': {
            'dbt_schema_version': 'https://schemas.getdbt.com/dbt/manifest/v' ~ schema_version ~ '.json',
            'dbt_version': dbt_version,
            'project_name': project_name,
            'adapter_type': adapter.type(),
            'invocation_id': invocation_id,
            'generated_at': run_started_at.isoformat(),
            'generated_by': 'bluegreen dbt package, from dbt\'s graph'},
        'nodes': nodes,
        'sources': graph.sources,
        'macros': macros} -%}
    {%- set text = tojson(document) -%}
    {%- if text is none -%}
        {{ exceptions.raise_compiler_error('bluegreen: the project graph could not be serialised as JSON') }}
    {%- endif -%}
    {{ return(text) }}
{% endmacro %}

{% macro _macro_entry(macro) %}
    {{ return({'unique_id': macro.unique_id,
               'name': macro.name,
               'package_name': macro.package_name,
               'original_file_path': macro.original_file_path,
               'macro_sql': macro.macro_sql,
               'depends_on': {'macros': macro.depends_on.macros | list}}) }}
{% endmacro %}

{#- the parsed macro with this unique_id (macro.<package>.<name>), or none -#}
{% macro _find_macro(macro_id) %}
    {%- set parts = macro_id.split('.') -%}
    {%- if parts | length != 3 or parts[0] != 'macro' -%}
        {{ return(none) }}
    {%- endif -%}
    {#- a package's namespace; dbt's own and its adapters' macros are all under "dbt" -#}
    {%- for namespace_name in [parts[1], 'dbt'] -%}
        {%- set namespace = context.get(namespace_name) -%}
        {%- if namespace is not none and namespace is not string and namespace is not number
              and parts[2] in namespace -%}
            {%- set generator = namespace[parts[2]] -%}
            {%- if generator.macro is defined and generator.macro.unique_id == macro_id -%}
                {{ return(generator.macro) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}
