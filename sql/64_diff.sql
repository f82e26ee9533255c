--
-- Blue against green: how the rows of each table a deployment replaces differ from
-- the live ones. bg.diff_relations compares any two relations; a deployment records the
-- diff of every table it replaces (bg.deployment_diffs), prints it in its summary and in
-- promote's dry run, and bg.diff computes it again on demand. Rows are matched by the
-- model's key (unique_key, the live table's primary key or unique index, a unique test)
-- or, without one, compared as multisets of whole rows. An optional bound on the share of
-- rows changed or removed makes promote refuse a deployment past it unless forced.
--
-- This file works in a database of its own.
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_diff;
\c regress_bg_diff
CREATE EXTENSION bluegreen;
RESET client_min_messages;
SET bluegreen.show_timing = off;

-- ---------------------------------------------------------------------------------
-- Two relations, keyed: live.orders has a primary key; the new version drops order 1,
-- adds order 6, and changes the amount of two orders and the status of one of those.
-- ---------------------------------------------------------------------------------
CREATE SCHEMA cmp;
CREATE TABLE cmp.live_orders (id integer PRIMARY KEY, status text, amount numeric, extra json);
INSERT INTO cmp.live_orders VALUES (1, 'new', 10, '{"a": 1}'), (2, 'new', 20, '{"a": 1}'),
    (3, 'paid', 30, '{"a": 1}'), (4, 'paid', 40, '{"a": 1}'), (5, 'paid', 50, '{"a": 1}');
CREATE TABLE cmp.new_orders (id integer, status text, amount numeric, extra json);
INSERT INTO cmp.new_orders VALUES (2, 'paid', 21, '{"a": 1}'), (3, 'paid', 31, '{"a": 1}'),
    (4, 'paid', 40, '{"a": 1}'), (5, 'paid', 50, '{"a":1}'), (6, 'new', 60, '{"a": 1}');

-- matched by the primary key; json has no equality operator, so it is compared as text
-- (order 5's spacing differs); only the examples name rows
SELECT key, key_source, rows_live, rows_shadow, only_in_live, only_in_shadow, changed,
       changed_share, changed_columns, examples
  FROM bg.diff_columns(bg.diff_relations('cmp.live_orders', 'cmp.new_orders'));

-- a key given by name (any column both have), and whole rows ('{}'): without a key a
-- changed row is one row only in live and one only in shadow
SELECT key, only_in_live, only_in_shadow, changed, changed_columns
  FROM bg.diff_columns(bg.diff_relations('cmp.live_orders', 'cmp.new_orders', '{status}'));
SELECT key, only_in_live, only_in_shadow, changed, changed_columns, note
  FROM bg.diff_columns(bg.diff_relations('cmp.live_orders', 'cmp.new_orders', '{}'));

-- ---------------------------------------------------------------------------------
-- Duplicate rows: a multiset comparison counts each copy.
-- ---------------------------------------------------------------------------------
CREATE TABLE cmp.live_log (event text, n integer);
CREATE TABLE cmp.new_log (event text, n integer);
INSERT INTO cmp.live_log VALUES ('a', 1), ('a', 1), ('a', 1), ('b', 2), ('c', 3);
INSERT INTO cmp.new_log VALUES ('a', 1), ('b', 2), ('b', 2), ('c', 3), ('d', 4);
SELECT key, rows_live, rows_shadow, only_in_live, only_in_shadow, changed, examples
  FROM bg.diff_columns(bg.diff_relations('cmp.live_log', 'cmp.new_log'));

-- A key that is not unique where rows match would count pairs: whole rows instead.
SELECT key, only_in_live, only_in_shadow, note
  FROM bg.diff_columns(bg.diff_relations('cmp.live_log', 'cmp.new_log', '{event}'));

-- ---------------------------------------------------------------------------------
-- NULL keys: a NULL matches nothing by key, so those rows are compared as whole rows
-- among themselves. One NULL-key row is the same on both sides, one differs.
-- ---------------------------------------------------------------------------------
CREATE TABLE cmp.live_people (email text UNIQUE, name text);
CREATE TABLE cmp.new_people (email text, name text);
INSERT INTO cmp.live_people VALUES ('ada@x', 'Ada'), (NULL, 'anonymous'), (NULL, 'ghost');
INSERT INTO cmp.new_people VALUES ('ada@x', 'Ada L.'), (NULL, 'anonymous'), (NULL, 'guest');
SELECT key, key_source, rows_live, rows_shadow, only_in_live, only_in_shadow, changed,
       changed_columns, examples, note
  FROM bg.diff_columns(bg.diff_relations('cmp.live_people', 'cmp.new_people'));

-- A column retyped (integer to numeric) or added is compared as text, and reported.
CREATE TABLE cmp.new_orders2 AS SELECT id, status, amount::integer AS amount, 1 AS added FROM cmp.live_orders;
SELECT only_in_live, only_in_shadow, changed, columns_added, columns_removed
  FROM bg.diff_columns(bg.diff_relations('cmp.live_orders', 'cmp.new_orders2'));

-- Nothing in common: every row is only on its side.
CREATE TABLE cmp.other (x integer);
INSERT INTO cmp.other VALUES (1), (2);
SELECT rows_live, rows_shadow, only_in_live, only_in_shadow, changed
  FROM bg.diff_columns(bg.diff_relations('cmp.live_orders', 'cmp.other', '{}'));

-- Bad input: a key column one side lacks.
SELECT bg.diff_relations('cmp.live_orders', 'cmp.new_orders', '{id,nope}');
-- It runs as its caller, who must be able to read both.
CREATE ROLE regress_bg_diff_stranger;
GRANT bluegreen_deployer TO regress_bg_diff_stranger;
SET ROLE regress_bg_diff_stranger;
SELECT bg.diff_relations('cmp.live_orders', 'cmp.new_orders');
RESET ROLE;

-- ---------------------------------------------------------------------------------
-- A deployment. The shop has three tables: orders (the DBA gave it a primary key),
-- customers (a unique test on customer_id), daily (no key at all).
-- ---------------------------------------------------------------------------------
CREATE SCHEMA raw;
CREATE TABLE raw.orders (id integer, customer_id integer, amount numeric, day integer);
INSERT INTO raw.orders SELECT i, i % 4, i * 10, i % 3 FROM generate_series(1, 20) AS i;
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON raw.orders TO bluegreen_builder;

CREATE FUNCTION model(name text, code text, config jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.shop.' || name, jsonb_build_object(
    'unique_id', 'model.shop.' || name, 'resource_type', 'model', 'package_name', 'shop',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('shop', name), 'database', current_database(),
    'schema', 'analytics', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', 'table') || config,
    'unrendered_config', jsonb_build_object('materialized', 'table') || config,
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', '[]'::jsonb),
    'contract', '{"enforced": false, "checksum": null}'::jsonb, 'constraints', '[]'::jsonb,
    'access', 'protected', 'version', NULL, 'latest_version', NULL, 'deprecation_date', NULL))
$$;
CREATE FUNCTION unique_test(model text, column_name text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(format('test.shop.unique_%s_%s', model, column_name), jsonb_build_object(
    'unique_id', format('test.shop.unique_%s_%s', model, column_name),
    'resource_type', 'test', 'package_name', 'shop',
    'name', format('unique_%s_%s', model, column_name),
    'fqn', jsonb_build_array('shop', format('unique_%s_%s', model, column_name)),
    'database', current_database(), 'schema', 'analytics_dbt_test__audit',
    'alias', format('unique_%s_%s', model, column_name),
    'config', '{"enabled": true, "materialized": "test", "severity": "ERROR"}'::jsonb,
    'unrendered_config', '{}'::jsonb,
    'raw_code', '{{ test_unique(**_dbt_generic_test_kwargs) }}',
    'compiled_code', format('select %I from analytics.%I group by 1 having count(*) > 1', column_name, model),
    'test_metadata', jsonb_build_object('name', 'unique', 'namespace', NULL,
        'kwargs', jsonb_build_object('column_name', column_name,
                                     'model', format('{{ get_where_subquery(ref(''%s'')) }}', model))),
    'column_name', column_name, 'attached_node', 'model.shop.' || model,
    'depends_on', jsonb_build_object('macros', '["macro.dbt.test_unique"]'::jsonb,
                                     'nodes', jsonb_build_array('model.shop.' || model))))
$$;
CREATE FUNCTION manifest(nodes jsonb) RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'shop', 'adapter_type', 'postgres'),
    'nodes', nodes, 'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb,
    'docs', '{}'::jsonb, 'exposures', '{}'::jsonb, 'metrics', '{}'::jsonb, 'groups', '{}'::jsonb,
    'selectors', '{}'::jsonb, 'semantic_models', '{}'::jsonb, 'unit_tests', '{}'::jsonb,
    'saved_queries', '{}'::jsonb)::text
$$;
-- version 1; version 2 refunds order 20, skips order 1, and counts a customer's orders
-- as a set of days; daily's bound (meta) allows a quarter of its rows to change
CREATE FUNCTION shop(version integer, daily_bound numeric DEFAULT NULL) RETURNS text LANGUAGE sql STABLE AS $$
SELECT manifest(
       model('orders', CASE version WHEN 1 THEN 'select id, customer_id, amount from raw.orders'
                       ELSE 'select id, customer_id, case when id = 20 then 0 else amount end as amount from raw.orders where id > 1' END)
    || model('customers', CASE version WHEN 1 THEN 'select customer_id, count(*) as orders from raw.orders group by 1'
                          ELSE 'select customer_id, count(distinct day) as orders from raw.orders group by 1' END)
    || unique_test('customers', 'customer_id')
    || model('daily', CASE version WHEN 1 THEN 'select day, sum(amount) as total from raw.orders group by 1'
                      ELSE 'select day, sum(amount) as total from raw.orders where id > 1 group by 1' END,
             CASE WHEN daily_bound IS NULL THEN '{}'::jsonb
                  ELSE jsonb_build_object('meta', jsonb_build_object('bluegreen',
                           jsonb_build_object('max_changed_share', daily_bound))) END))
$$;

-- version 1 live, as dbt would have built it, and handed to bluegreen
CREATE SCHEMA analytics;
CREATE TABLE analytics.orders AS SELECT id, customer_id, amount FROM raw.orders;
ALTER TABLE analytics.orders ADD PRIMARY KEY (id);
CREATE TABLE analytics.customers AS SELECT customer_id, count(*) AS orders FROM raw.orders GROUP BY 1;
CREATE TABLE analytics.daily AS SELECT day, sum(amount) AS total FROM raw.orders GROUP BY 1;
SET client_min_messages = warning;
CALL bg.transfer_ownership('analytics');
RESET client_min_messages;
SELECT shop(1) AS v1 \gset
CALL bg.create_project(:'v1');

-- Deploying version 2 prints each replaced table's diff before the summary.
SELECT shop(2) AS v2 \gset
CALL bg.deploy(:'v2');

-- bg.deployment_diffs keeps them; the key says how rows were matched.
SELECT unique_id, relation, key, key_source, rows_live, rows_shadow, only_in_live,
       only_in_shadow, changed, changed_share, changed_columns, examples, note
  FROM bg.deployment_diffs ORDER BY step;

-- bg.diff computes them again now, for one model or all.
SELECT relation, key, only_in_live, only_in_shadow, changed, changed_columns
  FROM bg.diff('customers');
SELECT count(*) AS tables_compared FROM bg.diff();
SELECT * FROM bg.diff('nope');

-- The dry run lists them too.
CALL bg.promote(dry_run => true);

-- ---------------------------------------------------------------------------------
-- The gate. bluegreen.max_changed_share bounds the share of a table's rows a
-- deployment changes or removes (customers: all 4 changed); promote refuses past it,
-- naming the model and by how much, and changes nothing.
-- ---------------------------------------------------------------------------------
SET bluegreen.max_changed_share = 0.5;
CALL bg.promote();
SELECT status FROM bg.deployments ORDER BY deployment_id DESC LIMIT 1;
-- a model's own bound (meta.bluegreen.max_changed_share) takes the setting's place for it
RESET bluegreen.max_changed_share;
SELECT shop(2, daily_bound => 0.25) AS v2_bounded \gset
CALL bg.deploy(:'v2_bounded');
SELECT relation, changed_share, max_changed_share FROM bg.deployment_diffs
 WHERE deployment_id = 2 ORDER BY step;
CALL bg.promote();
-- a bound that is not a share is bad input, named
SELECT shop(2, daily_bound => 2) AS v2_bad \gset
CALL bg.deploy(:'v2_bad');
-- force promotes past the bound, and says so
CALL bg.deploy(:'v2_bounded');
CALL bg.promote(force => true);
SELECT count(*) AS orders_live, sum(amount) AS amount_live FROM analytics.orders;

-- A table whose diff cannot be recorded (row-level security hides rows from the builder)
-- cannot be held to the bound either: promote says so rather than let it pass.
ALTER TABLE analytics.daily ENABLE ROW LEVEL SECURITY;
CALL bg.deploy(:'v2');
SET bluegreen.max_changed_share = 1;
CALL bg.promote();
RESET bluegreen.max_changed_share;
CALL bg.abandon();
ALTER TABLE analytics.daily DISABLE ROW LEVEL SECURITY;

-- A test whose test_metadata has no name is no key (and no crash).
SELECT manifest(jsonb_set(shop(1)::jsonb -> 'nodes', '{test.shop.unique_customers_customer_id,test_metadata,name}', 'null'))
    AS v2_nameless \gset
CALL bg.deploy(:'v2_nameless');
SELECT relation, key FROM bg.diff('customers');
CALL bg.abandon();

\c :regress_database
SET client_min_messages = warning;
DROP DATABASE regress_bg_diff;
DROP ROLE regress_bg_diff_stranger;
