--
-- Uninstalling. DROP EXTENSION bluegreen would drop its history and state but not the
-- shadow, previous and rollback schemas it keeps beside production, so it is refused
-- while they exist, saying how to uninstall: CALL bg.uninstall() drops them and the
-- state, keeps every live relation, and then DROP EXTENSION goes through. Installed
-- again, bluegreen takes over the same live schemas.
--
-- This file works in a database of its own.
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_uninstall;
\c regress_bg_uninstall
CREATE EXTENSION bluegreen;
RESET client_min_messages;
SET bluegreen.show_timing = off;

\i sql/include/shop.sql

-- Live at version 2 (promoted), version 4 built beside it.
CREATE SCHEMA shop;
CREATE TABLE shop.orders AS SELECT id, amount, status FROM raw.orders;
SET client_min_messages = warning;
CALL bg.transfer_ownership('shop');
SELECT shop(1) AS v1 \gset
CALL bg.create_project(:'v1');
SELECT shop(2) AS v2 \gset
CALL bg.deploy(:'v2');
CALL bg.promote() \gset
SELECT shop(4) AS v4 \gset
CALL bg.deploy(:'v4');
RESET client_min_messages;
CREATE TEMP TABLE live_before AS
    SELECT 'shop.orders'::regclass::oid AS oid, string_agg(o::text, ',' ORDER BY id) AS rows FROM shop.orders o;
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'shop%' ORDER BY 1;

-- Refused, with what to do instead; nothing changes.
DROP EXTENSION bluegreen;
DROP SCHEMA bg CASCADE;
SELECT count(*) AS projects FROM bg.project;

-- Something outside the project still reads what promote replaced: bg.uninstall drops
-- nothing it reads, and refuses, naming the schema; then without it, it goes through.
CREATE SCHEMA reporting;
CREATE VIEW reporting.old_orders AS SELECT * FROM shop__bg_p1.orders;
CALL bg.uninstall();
DROP SCHEMA reporting CASCADE;
SELECT count(*) AS projects FROM bg.project;

-- bg.uninstall: the shadow and previous schemas go, the live relations stay.
CALL bg.uninstall();
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'shop%' ORDER BY 1;
SELECT 'shop.orders'::regclass::oid = oid AS same_table,
       (SELECT string_agg(o::text, ',' ORDER BY id) FROM shop.orders o) = rows AS same_rows,
       (SELECT relowner::regrole FROM pg_class WHERE oid = 'shop.orders'::regclass) AS owner
  FROM live_before;
DROP EXTENSION bluegreen;

-- Installed again, it registers the same live schema and deploys and promotes there.
SET client_min_messages = warning;
CREATE EXTENSION bluegreen;
CALL bg.create_project(:'v2');
CALL bg.deploy(:'v4');
CALL bg.promote() \gset
RESET client_min_messages;
SELECT count(*) AS refunds_live FROM shop.refunds;
SELECT deployment_id, status FROM bg.deployments;

-- Other extensions and schemas drop as ever.
CREATE SCHEMA scratch;
DROP SCHEMA scratch;

\c :regress_database
SET client_min_messages = warning;
DROP DATABASE regress_bg_uninstall;
