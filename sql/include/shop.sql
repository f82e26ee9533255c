-- The shop project of sql/66_published, sql/80_uninstall and test/dump: its source
-- raw.orders, readable by the builder; model(), and shop(version): version 1; 2 refunds
-- at 0; 3 adds a column; 4 adds a table beside.
CREATE SCHEMA raw;
CREATE TABLE raw.orders (id integer, amount numeric, status text);
INSERT INTO raw.orders SELECT i, i * 10, CASE WHEN i % 4 = 0 THEN 'refunded' ELSE 'paid' END
  FROM generate_series(1, 8) AS i;
-- Read by bluegreen_builder, or by the role in :shop_reader when the includer sets it
-- (test/upgrade: the owner role bluegreen, which read sources in 0.1.0).
\if :{?shop_reader}
\else
\set shop_reader bluegreen_builder
\endif
GRANT USAGE ON SCHEMA raw TO :shop_reader;
GRANT SELECT ON raw.orders TO :shop_reader;
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
