select
    id as order_id,
    customer_id,
    ordered_at,
    ordered_at::date as order_date,
    status
from {{ source('shop', 'orders') }}
