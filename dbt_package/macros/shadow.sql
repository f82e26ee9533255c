{#-
    Schema names for `dbt build` into bluegreen's shadow schemas.

    With `--vars '{bluegreen_shadow: true}'` every node dbt builds goes to the shadow of its
    live schema, named exactly as bluegreen names it (src/selection.c, bg_shadow_schema_name):
    `<live>__bg_shadow`; a live name too long for that (over 52 bytes: PostgreSQL names
    have at most 63) keeps its first 43 bytes (cut at a character boundary), then `_`, the
    first 8 hex digits of the MD5 of the whole live name, and `__bg_shadow`.

    A project uses it with a macros/generate_schema_name.sql of its own:

        {% macro generate_schema_name(custom_schema_name, node) -%}
            {{ bluegreen.generate_schema_name(custom_schema_name, node) }}
        {%- endmacro %}

    or, when it already has its own naming rule, by passing the live name through
    `bluegreen.shadow_schema(...)`.
-#}

{#- dbt's default schema name, put in shadow when var('bluegreen_shadow') is true -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ bluegreen.shadow_schema(dbt.default__generate_schema_name(custom_schema_name, node) | trim) }}
{%- endmacro %}

{#- a live schema name, or its shadow when var('bluegreen_shadow') is true -#}
{% macro shadow_schema(live_schema) -%}
    {%- if bluegreen.shadow_mode() -%}
        {{ bluegreen.shadow_schema_name(live_schema) }}
    {%- else -%}
        {{ live_schema }}
    {%- endif -%}
{%- endmacro %}

{#- true when this dbt invocation builds into shadow: --vars '{bluegreen_shadow: true}' -#}
{% macro shadow_mode() -%}
    {{ return(bluegreen._truthy(var('bluegreen_shadow', false))) }}
{%- endmacro %}

{#- the shadow schema bluegreen builds into beside live schema "live" -#}
{% macro shadow_schema_name(live) -%}
    {%- set suffix = '__bg_shadow' -%}
    {%- set max_bytes = 63 -%}
    {%- set live_bytes = live.encode('utf-8') | length -%}
    {%- if live_bytes + (suffix | length) <= max_bytes -%}
        {{ return(live ~ suffix) }}
    {%- endif -%}
    {#- keep the longest prefix of at most 63 - 11 - 9 bytes that ends on a character -#}
    {%- set keep = max_bytes - (suffix | length) - 9 -%}
    {%- set cut = namespace(prefix='', bytes=0, full=false) -%}
    {%- for ch in live -%}
        {%- set width = ch.encode('utf-8') | length -%}
        {%- if not cut.full and cut.bytes + width <= keep -%}
            {%- set cut.prefix = cut.prefix ~ ch -%}
            {%- set cut.bytes = cut.bytes + width -%}
        {%- else -%}
            {%- set cut.full = true -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(cut.prefix ~ '_' ~ local_md5(live)[:8] ~ suffix) }}
{%- endmacro %}

{#- dbt run-operation bluegreen.print_shadow_schema_names --args '{names: [analytics, ...]}' -#}
{% macro print_shadow_schema_names(names) %}
    {%- for name in names %}
        {{- log(name ~ ' -> ' ~ bluegreen.shadow_schema_name(name), info=true) -}}
    {%- endfor %}
{% endmacro %}

{% macro _truthy(value) -%}
    {%- if value is string -%}
        {{ return(value | lower in ['true', 'yes', 'on', '1']) }}
    {%- endif -%}
    {{ return(value is true or value == 1) }}
{%- endmacro %}
