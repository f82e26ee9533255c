select
    m.method as payment_method,
    m.label,
    m.is_instant,
    count(p.payment_id) as payments,
    coalesce(sum(p.amount), 0) as revenue
from {{ ref('payment_methods') }} as m
left join {{ ref('stg_payments') }} as p on p.payment_method = m.method
group by m.method, m.label, m.is_instant
