{#- rows of the model for which expression is not true -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({{ column_name ~ ' ' if column_name else '' }}{{ expression }})
{% endtest %}
