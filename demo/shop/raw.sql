-- The shop's source system, as an extract-load tool would leave it in schema "raw".
--
-- Generated with generate_series and plain arithmetic (no random()) so that every run of
-- the demo, and every checksum a test takes of it, sees exactly the same rows:
-- 120 customers, 600 orders, 750 payments (every 4th order is paid in two parts, and
-- every 13th payment failed).
--
--   psql -v ON_ERROR_STOP=1 -f demo/shop/raw.sql

SET client_min_messages = warning;

BEGIN;

DROP SCHEMA IF EXISTS raw CASCADE;
CREATE SCHEMA raw;

CREATE TABLE raw.customers (
    id          integer PRIMARY KEY,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    email       text NOT NULL,
    created_at  timestamp NOT NULL
);

INSERT INTO raw.customers
SELECT i,
       (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara',
              'Donald', 'Frances', 'Ken', 'Margaret', 'Niklaus'])[1 + i % 10],
       (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov',
              'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Wirth'])[1 + (i * 7) % 10],
       'customer' || i || '@example.com',
       timestamp '2024-01-01' + i * interval '17 hours'
FROM generate_series(1, 120) AS i;

CREATE TABLE raw.orders (
    id           integer PRIMARY KEY,
    customer_id  integer NOT NULL,
    ordered_at   timestamp NOT NULL,
    status       text NOT NULL
);

-- 37 and 120 are coprime, so every customer has orders.
INSERT INTO raw.orders
SELECT i,
       1 + (i * 37) % 120,
       timestamp '2024-03-01' + i * interval '3 hours 11 minutes',
       (ARRAY['placed', 'shipped', 'completed', 'completed', 'completed', 'returned'])[1 + i % 6]
FROM generate_series(1, 600) AS i;

CREATE TABLE raw.payments (
    id            integer PRIMARY KEY,
    order_id      integer NOT NULL,
    method        text NOT NULL,
    status        text NOT NULL,
    amount_cents  integer NOT NULL,
    paid_at       timestamp NOT NULL
);

INSERT INTO raw.payments
SELECT row_number() OVER (ORDER BY o.id, part),
       o.id,
       (ARRAY['card', 'card', 'bank_transfer', 'gift_card', 'paypal'])[1 + (o.id + part) % 5],
       'success',
       500 + (o.id * 7919 + part * 104729) % 20000,
       o.ordered_at + (part + 1) * interval '10 minutes'
FROM raw.orders AS o
CROSS JOIN generate_series(0, 1) AS part
WHERE part = 0 OR o.id % 4 = 0;

UPDATE raw.payments SET status = 'failed' WHERE id % 13 = 0;

COMMIT;
