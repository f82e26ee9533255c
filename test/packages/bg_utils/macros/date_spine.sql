{#- one row per datepart from start_date up to, not including, end_date (SQL expressions) -#}
{%- macro date_spine(datepart, start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'bg_utils')(datepart, start_date, end_date)) }}
{%- endmacro -%}

{%- macro default__date_spine(datepart, start_date, end_date) -%}
select cast(spine.d as date) as date_{{ datepart }}
from generate_series(cast({{ start_date }} as timestamp),
                     {{ dbt.dateadd(datepart, -1, 'cast(' ~ end_date ~ ' as timestamp)') }},
                     interval '1 {{ datepart }}') as spine (d)
{%- endmacro -%}
