--
-- When bg.promote and bg.rollback refuse. Each refusal is an ERROR that says why, and
-- changes nothing: after each one, changed() compares every relation (by OID and
-- content), every schema and every row of bluegreen's history and live state with what
-- save() recorded just before, and lists what differs (nothing).
--
-- This file works in a database of its own, with one project (60_promote shows the
-- switch itself).
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_refusals;
\c regress_bg_refusals
CREATE EXTENSION bluegreen;
CREATE EXTENSION dblink;    -- a second session, for the locks
RESET client_min_messages;
SET bluegreen.show_timing = off;

CREATE ROLE regress_bg_refusals_ci;
CREATE ROLE regress_bg_refusals_stranger;
GRANT bluegreen_deployer TO regress_bg_refusals_ci;

CREATE SCHEMA raw;
CREATE TABLE raw.orders (id integer PRIMARY KEY, customer_id integer NOT NULL,
                         amount numeric NOT NULL);
INSERT INTO raw.orders VALUES (1, 1, 10), (2, 1, 5), (3, 2, 7), (4, 3, 0), (5, 3, 0);
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON ALL TABLES IN SCHEMA raw TO bluegreen_builder;
CREATE SCHEMA analytics AUTHORIZATION bluegreen;
CREATE SCHEMA reporting;

-- Manifests, as in 60_promote.
\set raw_sources '{orders}'
\i sql/include/raw_manifest.sql
CREATE FUNCTION model(name text, code text, materialized text DEFAULT 'table',
                      depends_on text[] DEFAULT '{}', config jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.shop.' || name, jsonb_build_object(
    'unique_id', 'model.shop.' || name, 'resource_type', 'model', 'package_name', 'shop',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('shop', name), 'database', current_database(),
    'schema', 'analytics', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized,
                                 'persist_docs', '{}'::jsonb, 'tags', '[]'::jsonb) || config,
    'unrendered_config', jsonb_build_object('materialized', materialized) || config,
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', to_jsonb(depends_on)),
    'contract', '{"enforced": false, "alias_types": true, "checksum": null}'::jsonb,
    'constraints', '[]'::jsonb, 'access', 'protected', 'version', NULL,
    'latest_version', NULL, 'deprecation_date', NULL))
$$;
-- positive(): a singular test: the amounts of orders are all above zero.
CREATE FUNCTION positive() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('test.shop.positive_amounts', jsonb_build_object(
    'unique_id', 'test.shop.positive_amounts', 'resource_type', 'test',
    'package_name', 'shop', 'name', 'positive_amounts',
    'fqn', '["shop", "positive_amounts"]'::jsonb, 'database', current_database(),
    'schema', 'analytics_dbt_test__audit', 'alias', 'positive_amounts',
    'config', '{"enabled": true, "materialized": "test", "severity": "ERROR"}'::jsonb,
    'unrendered_config', '{}'::jsonb,
    'raw_code', 'select * from {{ ref(''orders'') }} where amount <= 0',
    'compiled_code', 'select * from analytics.orders where amount <= 0',
    'depends_on', '{"macros": [], "nodes": ["model.shop.orders"]}'::jsonb))
$$;

-- The project: orders (with a unique index on order_id) and customers, two tables.
CREATE FUNCTION orders(code text DEFAULT 'select id as order_id, customer_id, amount from raw.orders where amount > 0',
                       indexes jsonb DEFAULT '[{"columns": ["order_id"], "unique": true}]')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('orders', code, depends_on => '{source.shop.raw.orders}',
             config => jsonb_build_object('indexes', indexes)) || positive()
$$;
CREATE FUNCTION customers(code text DEFAULT 'select customer_id, sum(amount) as lifetime_value, count(*) as orders from analytics.orders group by 1')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('customers', code, depends_on => '{model.shop.orders}')
$$;

-- save() and changed(): everything a promote or rollback could change.
CREATE FUNCTION checksum(relation text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s AS t',
                   relation) INTO result;
    RETURN result;
END
$$;
CREATE FUNCTION everything() RETURNS SETOF text LANGUAGE sql AS $$
SELECT format('%s %s %s %s %s', n.nspname, c.relname, c.relkind, c.oid,
              CASE WHEN c.relkind IN ('r', 'v', 'm') THEN checksum(c.oid::regclass::text) END)
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bg')
   AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
UNION ALL SELECT format('view %s: %s', oid::regclass, pg_get_viewdef(oid))
  FROM pg_class WHERE relnamespace = 'reporting'::regnamespace AND relkind IN ('v', 'm')
UNION ALL SELECT d::text FROM bg.deployment AS d
UNION ALL SELECT s::text FROM bg.deployment_step AS s
UNION ALL SELECT p::text FROM bg.project AS p
$$;
CREATE TEMP TABLE saved (line text);
CREATE FUNCTION save() RETURNS void LANGUAGE sql AS $$
DELETE FROM saved; INSERT INTO saved SELECT everything();
$$;
CREATE FUNCTION changed() RETURNS SETOF text LANGUAGE sql AS $$
(SELECT everything() EXCEPT SELECT line FROM saved)
UNION ALL
(SELECT line FROM saved EXCEPT SELECT everything())
$$;
CREATE VIEW history AS
SELECT deployment_id, status, failed_node, promoted_at IS NOT NULL AS promoted,
       rolled_back_at IS NOT NULL AS rolled_back
  FROM bg.deployments ORDER BY deployment_id;

--
-- Only deployers may switch
--
-- A role that is not a deployer may not even look into schema bg.
SET ROLE regress_bg_refusals_stranger;
CALL bg.promote();
CALL bg.rollback();
CALL bg.cleanup();
RESET ROLE;

--
-- Nothing to switch
--
SELECT manifest('{}') AS manifest \gset
CALL bg.create_project(:'manifest');
SELECT save();
SET ROLE regress_bg_refusals_ci;
-- No deployment yet: nothing to promote, dry run or not, and nothing to roll back.
CALL bg.promote();
CALL bg.promote(dry_run => true);
CALL bg.rollback();
CALL bg.rollback(dry_run => true);
-- A project that does not exist.
CALL bg.promote(project => 'nosuch');
-- keep counts deployments.
CALL bg.cleanup(keep => -1);
RESET ROLE;
SELECT * FROM changed();

-- Version 1 goes live.
SELECT manifest(orders() || customers()) AS manifest \gset
SET ROLE regress_bg_refusals_ci;
CALL bg.deploy(:'manifest', promote => true);
RESET ROLE;

-- Promote twice: it is live already.
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();

--
-- A deployment that failed
--
-- Version 2 lets orders of amount 0 through; the test positive_amounts fails, and the
-- deployment with it.
SELECT manifest(orders('select id as order_id, customer_id, amount from raw.orders') || customers()) AS manifest \gset
SET ROLE regress_bg_refusals_ci;
CALL bg.deploy(:'manifest');
RESET ROLE;
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
-- force does not promote what failed.
CALL bg.promote(force => true);
RESET ROLE;
SELECT * FROM changed();
SELECT * FROM history;

--
-- A breaking deployment
--
-- A report outside the project reads customers.lifetime_value, and a table of returns
-- references orders. Version 3 drops lifetime_value, and the unique index of orders.
CREATE VIEW reporting.customer_value AS
    SELECT customer_id, lifetime_value FROM analytics.customers;
CREATE TABLE reporting.returns (order_id integer REFERENCES analytics.orders (order_id));
SELECT manifest(orders(indexes => '[]')
                || customers('select customer_id, count(*) as orders from analytics.orders group by 1')) AS manifest \gset
SET ROLE regress_bg_refusals_ci;
-- deploy(promote => true) builds it, and does not promote it.
CALL bg.deploy(:'manifest', promote => true);
RESET ROLE;
SELECT save();
-- Promote refuses it, and says what breaks, object by object; so does the dry run.
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
CALL bg.promote(dry_run => true);
RESET ROLE;
SELECT * FROM changed();

-- force promotes it. The report cannot be pointed at the new customers (it has no
-- lifetime_value), nor the foreign key at the new orders (no unique index): they keep
-- reading the relations they read, now in the previous schema, and promote says so.
SET ROLE regress_bg_refusals_ci;
CALL bg.promote(force => true) \gset
RESET ROLE;
SELECT jsonb_array_elements_text(:'plan'::jsonb -> 'statements') AS statement;
SELECT * FROM analytics.customers ORDER BY customer_id;
SELECT * FROM reporting.customer_value ORDER BY customer_id;
SELECT DISTINCT refobjid::regclass AS customer_value_reads
  FROM pg_depend JOIN pg_rewrite ON pg_rewrite.oid = pg_depend.objid
 WHERE ev_class = 'reporting.customer_value'::regclass AND refobjid <> ev_class;
SELECT confrelid::regclass AS returns_references FROM pg_constraint
 WHERE conrelid = 'reporting.returns'::regclass AND contype = 'f';
SELECT * FROM history;
-- Rollback brings lifetime_value back; the report reads live customers again, and the
-- foreign key references live orders.
SET ROLE regress_bg_refusals_ci;
CALL bg.rollback() \gset
RESET ROLE;
SELECT DISTINCT refobjid::regclass AS customer_value_reads
  FROM pg_depend JOIN pg_rewrite ON pg_rewrite.oid = pg_depend.objid
 WHERE ev_class = 'reporting.customer_value'::regclass AND refobjid <> ev_class;
SELECT confrelid::regclass AS returns_references FROM pg_constraint
 WHERE conrelid = 'reporting.returns'::regclass AND contype = 'f';

--
-- A materialized view outside the project
--
-- A materialized view cannot be re-pointed without being dropped and refilled, and
-- bluegreen drops nothing it does not manage: it would go on reading the replaced
-- relation. So replacing what it reads is breaking, even where the change itself is
-- compatible, as version 4's is (it changes the filter of orders): the deploy says so,
-- and promote refuses and lists it.
CREATE MATERIALIZED VIEW reporting.order_count AS SELECT count(*) AS orders FROM analytics.orders;
SELECT manifest(orders('select id as order_id, customer_id, amount from raw.orders where amount > 1') || customers()) AS manifest \gset
SET ROLE regress_bg_refusals_ci;
CALL bg.deploy(:'manifest');
RESET ROLE;
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
-- force promotes past it, and the materialized view keeps reading the orders it read,
-- now in the previous schema; rollback puts it back with them.
SET ROLE regress_bg_refusals_ci;
CALL bg.promote(force => true) \gset
RESET ROLE;
SELECT DISTINCT refobjid::regclass AS order_count_reads
  FROM pg_depend JOIN pg_rewrite ON pg_rewrite.oid = pg_depend.objid
 WHERE ev_class = 'reporting.order_count'::regclass AND refobjid <> ev_class;
SET ROLE regress_bg_refusals_ci;
CALL bg.rollback() \gset
RESET ROLE;
SELECT DISTINCT refobjid::regclass AS order_count_reads
  FROM pg_depend JOIN pg_rewrite ON pg_rewrite.oid = pg_depend.objid
 WHERE ev_class = 'reporting.order_count'::regclass AND refobjid <> ev_class;
DROP MATERIALIZED VIEW reporting.order_count;

--
-- Live objects changed since the deployment was built
--
-- Version 5: version 4 and a new model, big_orders.
SELECT manifest(orders('select id as order_id, customer_id, amount from raw.orders where amount > 1')
                || customers()
                || model('big_orders', 'select * from analytics.orders where amount >= 7',
                         depends_on => '{model.shop.orders}')) AS manifest \gset
SET ROLE regress_bg_refusals_ci;
CALL bg.deploy(:'manifest');
RESET ROLE;

-- Someone moves live orders away ...
ALTER TABLE analytics.orders SET SCHEMA reporting;
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
-- ... or replaces it with a table of the same name ...
CREATE TABLE analytics.orders AS SELECT * FROM reporting.orders;
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
DROP TABLE analytics.orders;
ALTER TABLE reporting.orders SET SCHEMA analytics;
-- ... or creates a table where the new model goes.
CREATE TABLE analytics.big_orders (order_id integer);
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
DROP TABLE analytics.big_orders;
-- Or drops what the deployment built.
DROP TABLE analytics__bg_shadow.big_orders;
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();

-- Deployed again, and promoted.
SET ROLE regress_bg_refusals_ci;
CALL bg.deploy(:'manifest', promote => true);
RESET ROLE;

--
-- The live manifest changed since the deployment was built
--
-- Version 6 is built against version 5; then version 5 is rolled back.
SELECT manifest(orders('select id as order_id, customer_id, amount from raw.orders where amount > 2')
                || customers()
                || model('big_orders', 'select * from analytics.orders where amount >= 7',
                         depends_on => '{model.shop.orders}')) AS manifest \gset
SET ROLE regress_bg_refusals_ci;
CALL bg.deploy(:'manifest');
CALL bg.rollback() \gset
RESET ROLE;
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
SELECT * FROM history;

--
-- Rollback refusals
--
-- Version 6 again, promoted.
SET ROLE regress_bg_refusals_ci;
CALL bg.deploy(:'manifest', promote => true);
RESET ROLE;
-- A report created since reads a relation that rollback would take away ...
CREATE VIEW reporting.big AS SELECT order_id FROM analytics.big_orders;
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.rollback();
RESET ROLE;
SELECT * FROM changed();
DROP VIEW reporting.big;
-- ... or someone dropped a relation the deployment put live.
ALTER TABLE analytics.big_orders SET SCHEMA reporting;
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.rollback();
RESET ROLE;
SELECT * FROM changed();
ALTER TABLE reporting.big_orders SET SCHEMA analytics;

--
-- Other sessions
--
SELECT dblink_connect('other', format('host=%s port=%s dbname=%s user=%s',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database(), current_user));
-- The project's lock is bluegreen's own (an object lock on the project, which no SQL
-- function takes): another session that takes advisory locks, even with the key
-- 0.1.0 used, blocks nothing, and a dry run goes through. (50_deploy shows a second
-- caller refused while a deployment really holds the lock.)
SELECT * FROM dblink('other', format('SELECT pg_advisory_lock(%s, %s)', x'62676470'::integer,
                                    (SELECT project_id FROM bg.project))) AS t (locked text);
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.rollback(dry_run => true) \gset
RESET ROLE;
SELECT :'plan'::jsonb ->> 'action' AS planned;
SELECT * FROM changed();
SELECT * FROM dblink('other', 'SELECT pg_advisory_unlock_all()') AS t (unlocked text);

-- A long reader holds a lock on live customers: each attempt to take the locks of the
-- switch waits at most bluegreen.lock_timeout, then lets go so that queued readers go
-- on, and rollback (as promote) gives up at bluegreen.promote_deadline, having changed
-- nothing. (Its detail names the sessions holding the locks; not shown here, as their
-- process ids change from run to run.)
SELECT dblink_exec('other', 'BEGIN');
SELECT dblink_exec('other', 'LOCK TABLE analytics.customers IN ACCESS SHARE MODE');
SET bluegreen.lock_timeout = '20ms';
SET bluegreen.promote_deadline = '200ms';
SELECT save();
\set VERBOSITY terse
SET ROLE regress_bg_refusals_ci;
CALL bg.rollback();
RESET ROLE;
\set VERBOSITY default
SELECT * FROM changed();
SELECT dblink_exec('other', 'COMMIT');
SELECT dblink_disconnect('other');
-- Once the reader is done, it goes through.
SET ROLE regress_bg_refusals_ci;
CALL bg.rollback() \gset
RESET ROLE;
SELECT * FROM history;

--
-- One rule for what can back a foreign key
--
-- The compatibility report and promote ask one question (src/catalog.c) of the new
-- table that reporting.returns must reference: does a unique index, not partial, not
-- on expressions and not deferrable, have exactly the referenced columns as its key?
-- INCLUDE columns are not key columns: an index on (order_id) INCLUDE (amount) backs
-- it. The report says compatible, and promote re-points the foreign key.
SELECT manifest(model('orders', 'select id as order_id, customer_id, amount from raw.orders where amount > 0',
                      depends_on => '{source.shop.raw.orders}',
                      config => '{"post-hook": ["create unique index on {{ this }} (order_id) include (amount)"]}')
                || positive() || customers()) AS manifest \gset
SET ROLE regress_bg_refusals_ci;
CALL bg.deploy(:'manifest');
RESET ROLE;
SELECT relation, breaking, compatibility -> 'dependents' AS dependents
  FROM bg.deployment_steps
 WHERE deployment_id = (SELECT max(deployment_id) FROM bg.deployments) AND action = 'build'
 ORDER BY step;
SET ROLE regress_bg_refusals_ci;
CALL bg.promote() \gset
RESET ROLE;
SELECT confrelid::regclass AS returns_references,
       confrelid = 'analytics.orders'::regclass AS references_live_orders
  FROM pg_constraint WHERE conrelid = 'reporting.returns'::regclass AND contype = 'f';

-- A deferrable unique constraint cannot back a foreign key (ADD FOREIGN KEY refuses
-- one): the report calls it breaking, and promote refuses without force, changing
-- nothing.
SELECT manifest(model('orders', 'select id as order_id, customer_id, amount from raw.orders where amount > 0',
                      depends_on => '{source.shop.raw.orders}',
                      config => '{"post-hook": ["alter table {{ this }} add unique (order_id) deferrable"]}')
                || positive() || customers()) AS manifest \gset
SET ROLE regress_bg_refusals_ci;
CALL bg.deploy(:'manifest');
RESET ROLE;
SELECT relation, breaking, compatibility -> 'dependents' AS dependents
  FROM bg.deployment_steps
 WHERE deployment_id = (SELECT max(deployment_id) FROM bg.deployments) AND action = 'build'
 ORDER BY step;
SELECT save();
SET ROLE regress_bg_refusals_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
SET ROLE regress_bg_refusals_ci;
CALL bg.abandon();
RESET ROLE;

\c :regress_database
DROP DATABASE regress_bg_refusals;
DROP ROLE regress_bg_refusals_ci, regress_bg_refusals_stranger;
