{#-
    Incremental: each run recomputes only the last three days it already holds (late
    payments can still change them) and any day after; delete+insert by order_date
    replaces those days as a whole.
-#}
{{
    config(
        materialized='incremental',
        unique_key='order_date',
        incremental_strategy='delete+insert'
    )
}}

select
    order_date,
    count(*) as orders,
    sum(amount) as revenue
from {{ ref('orders') }}
{% if is_incremental() %}
where order_date >= (select max(order_date) - 2 from {{ this }})
{% endif %}
group by order_date
