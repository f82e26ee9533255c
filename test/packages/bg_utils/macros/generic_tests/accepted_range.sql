{#- rows whose column is outside [min_value, max_value] (bounds left out are open) -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {{ return(adapter.dispatch('test_accepted_range', 'bg_utils')(model, column_name, min_value, max_value, inclusive)) }}
{% endtest %}

{% macro default__test_accepted_range(model, column_name, min_value, max_value, inclusive) %}
select *
from {{ model }}
where not (true
    {%- if min_value is not none %} and {{ column_name }} {{ '>=' if inclusive else '>' }} {{ min_value }}{% endif %}
    {%- if max_value is not none %} and {{ column_name }} {{ '<=' if inclusive else '<' }} {{ max_value }}{% endif %})
{% endmacro %}
