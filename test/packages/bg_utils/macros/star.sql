{#-
    The columns of a relation, listed, but those in except: what `select *` would give,
    spelled out when the SQL is compiled. Compiled where the relation does not exist yet,
    it says * (as dbt_utils.star does under dbt compile).
-#}
{%- macro star(from, relation_alias=none, except=[]) -%}
    {{ return(adapter.dispatch('star', 'bg_utils')(from, relation_alias, except)) }}
{%- endmacro -%}

{%- macro default__star(from, relation_alias=none, except=[]) -%}
    {%- if not execute -%}
        {{ return('*') }}
    {%- endif -%}
    {%- set skip = except | map('lower') | list -%}
    {%- set columns = [] -%}
    {%- for column in adapter.get_columns_in_relation(from) -%}
        {%- if column.name | lower not in skip -%}
            {%- do columns.append(bg_utils._qualified_column(column.name, relation_alias)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not columns -%}
        {{ return('*') }}
    {%- endif -%}
    {{ return(columns | join(', ')) }}
{%- endmacro -%}

{%- macro _qualified_column(name, relation_alias) -%}
    {{ return((relation_alias ~ '.' if relation_alias else '') ~ adapter.quote(name)) }}
{%- endmacro -%}
