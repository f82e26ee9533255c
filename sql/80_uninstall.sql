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

CREATE SCHEMA raw;
CREATE TABLE raw.orders (id integer, amount numeric, status text);
INSERT INTO raw.orders SELECT i, i * 10, CASE WHEN i % 4 = 0 THEN 'refunded' ELSE 'paid' END
  FROM generate_series(1, 8) AS i;
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON raw.orders TO bluegreen_builder;
CREATE FUNCTION model(name text, code text, materialized text DEFAULT 'table')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.shop.' || name, jsonb_build_object(
    'unique_id', 'model.shop.' || name, 'resource_type', 'model', 'package_name', 'shop',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('shop', name), 'database', current_database(),
    'schema', 'shop', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized),
    'unrendered_config', jsonb_build_object('materialized', materialized),
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', '[]'::jsonb),
    'contract', '{"enforced": false, "checksum": null}'::jsonb, 'constraints', '[]'::jsonb,
    'access', 'protected', 'version', NULL, 'latest_version', NULL, 'deprecation_date', NULL))
$$;
CREATE FUNCTION shop(version integer) RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'shop', 'adapter_type', 'postgres'),
    'nodes', model('orders', CASE version
                     WHEN 1 THEN 'select id, amount, status from raw.orders'
                     WHEN 3 THEN 'select id, amount, status, amount > 50 as big from raw.orders'
                     ELSE 'select id, case when status = ''refunded'' then 0 else amount end as amount, status from raw.orders where id > 1' END)
             || CASE WHEN version = 4 THEN model('refunds', 'select id from raw.orders where status = ''refunded''')
                     ELSE '{}'::jsonb END,
    'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb, 'docs', '{}'::jsonb,
    'exposures', '{}'::jsonb, 'metrics', '{}'::jsonb, 'groups', '{}'::jsonb,
    'selectors', '{}'::jsonb, 'semantic_models', '{}'::jsonb, 'unit_tests', '{}'::jsonb,
    'saved_queries', '{}'::jsonb)::text
$$;

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
