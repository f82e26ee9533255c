with payments as (
    select
        order_id,
        count(*) as payment_count,
        sum(amount) as amount
    from {{ ref('stg_payments') }}
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    o.ordered_at,
    o.order_date,
    o.status,
    coalesce(p.payment_count, 0) as payment_count,
    coalesce(p.amount, 0) as amount,
    row_number() over (
        partition by o.customer_id order by o.ordered_at, o.order_id
    ) as customer_order_number
from {{ ref('stg_orders') }} as o
left join payments as p using (order_id)
