-- An order can be unpaid (amount 0) but never owe the customer money.
select order_id, amount
from {{ ref('orders') }}
where amount < 0
