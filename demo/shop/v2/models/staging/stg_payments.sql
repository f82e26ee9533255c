select
    id as payment_id,
    order_id,
    method as payment_method,
    status,
    {{ cents_to_dollars('amount_cents') }} as amount,
    paid_at
from {{ source('shop', 'payments') }}
-- A failed payment attempt moved no money: counting it overstated revenue.
where status = 'success'
