with order_summary as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as most_recent_order_at,
        count(*) as number_of_orders,
        sum(amount) as lifetime_value
    from {{ ref('orders') }}
    group by customer_id
)

select
    c.customer_id,
    c.first_name,
    c.last_name,
    c.email,
    s.first_order_at,
    s.most_recent_order_at,
    coalesce(s.number_of_orders, 0) as number_of_orders,
    coalesce(s.lifetime_value, 0) as lifetime_value
from {{ ref('stg_customers') }} as c
left join order_summary as s using (customer_id)
