--
-- bg.create_project and bg.plan: register what is live, then ask what a new manifest
-- would change. The manifests are built in SQL by the helpers below, in the shape of the
-- target/manifest.json that dbt writes (schema v12), reduced to the fields that matter.
--
SET client_min_messages = notice;

-- manifest(): a whole manifest.json, as text, from its nodes, sources, macros and
-- disabled nodes (each an object keyed by unique_id).
CREATE FUNCTION manifest(nodes jsonb,
                         macros jsonb DEFAULT '{}',
                         sources jsonb DEFAULT '{}',
                         disabled jsonb DEFAULT '{}',
                         metadata jsonb DEFAULT '{}',
                         project_name text DEFAULT 'shop')
RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4',
        'generated_at', '2025-01-01T00:00:00.000000Z',
        'invocation_id', '00000000-0000-0000-0000-000000000001',
        'project_name', project_name,
        'adapter_type', 'postgres') || metadata,
    'nodes', nodes,
    'sources', sources,
    'macros', macros,
    'disabled', disabled,
    'docs', '{}'::jsonb, 'exposures', '{}'::jsonb, 'metrics', '{}'::jsonb,
    'groups', '{}'::jsonb, 'selectors', '{}'::jsonb, 'semantic_models', '{}'::jsonb,
    'unit_tests', '{}'::jsonb, 'saved_queries', '{}'::jsonb)::text
$$;

-- model(): one model node, keyed by its unique_id. Config set in the model (config(...)
-- or dbt_project.yml) goes into both "config" and "unrendered_config", as dbt writes it.
CREATE FUNCTION model(name text,
                      raw_code text,
                      materialized text DEFAULT 'view',
                      schema text DEFAULT 'analytics',
                      alias text DEFAULT NULL,
                      depends_on text[] DEFAULT '{}',
                      macros text[] DEFAULT '{}',
                      config jsonb DEFAULT '{}',
                      extra jsonb DEFAULT '{}',
                      project text DEFAULT 'shop')
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_build_object(format('model.%s.%s', project, name),
    jsonb_build_object(
        'unique_id', format('model.%s.%s', project, name),
        'resource_type', 'model',
        'package_name', project,
        'name', name,
        'path', name || '.sql',
        'original_file_path', 'models/' || name || '.sql',
        'fqn', jsonb_build_array(project, name),
        'database', 'contrib_regression',
        'schema', schema,
        'alias', coalesce(alias, name),
        'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(raw_code)),
        'config', jsonb_build_object('enabled', true, 'materialized', materialized,
                                     'persist_docs', '{}'::jsonb, 'tags', '[]'::jsonb)
                  || config
                  || CASE WHEN alias IS NULL THEN '{}' ELSE jsonb_build_object('alias', alias) END,
        'unrendered_config', jsonb_build_object('materialized', materialized)
                  || config
                  || CASE WHEN alias IS NULL THEN '{}' ELSE jsonb_build_object('alias', alias) END,
        'raw_code', raw_code,
        'compiled_code', raw_code,
        'language', 'sql',
        'description', '',
        'columns', '{}'::jsonb,
        'depends_on', jsonb_build_object('macros', to_jsonb(macros), 'nodes', to_jsonb(depends_on)),
        'contract', jsonb_build_object('enforced', false, 'alias_types', true, 'checksum', NULL),
        'constraints', '[]'::jsonb,
        'access', 'protected',
        'version', NULL,
        'latest_version', NULL,
        'deprecation_date', NULL) || extra)
$$;

-- source(): one source table of a dbt sources.yml.
CREATE FUNCTION source(source_name text, name text, schema text DEFAULT 'raw',
                       extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_build_object(format('source.shop.%s.%s', source_name, name),
    jsonb_build_object(
        'unique_id', format('source.shop.%s.%s', source_name, name),
        'resource_type', 'source',
        'package_name', 'shop',
        'source_name', source_name,
        'name', name,
        'fqn', jsonb_build_array('shop', 'staging', source_name, name),
        'database', 'contrib_regression',
        'schema', schema,
        'identifier', name,
        'loaded_at_field', NULL,
        'freshness', jsonb_build_object('warn_after', NULL, 'error_after', NULL),
        'quoting', jsonb_build_object('database', NULL, 'schema', NULL, 'identifier', NULL),
        'external', NULL,
        'description', '',
        'columns', '{}'::jsonb,
        'config', jsonb_build_object('enabled', true),
        'unrendered_config', '{}'::jsonb) || extra)
$$;

-- macro(): one macro, with the macros it calls.
CREATE FUNCTION macro(unique_id text, macro_sql text, calls text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_build_object(unique_id, jsonb_build_object(
    'unique_id', unique_id,
    'name', split_part(unique_id, '.', 3),
    'package_name', split_part(unique_id, '.', 2),
    'resource_type', 'macro',
    'macro_sql', macro_sql,
    'depends_on', jsonb_build_object('macros', to_jsonb(calls))))
$$;

-- generic_test(): a generic test (schema.yml "tests:") attached to a model column.
CREATE FUNCTION generic_test(test text, model text, column_name text,
                             config jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_build_object(format('test.shop.%s_%s_%s', test, model, column_name),
    jsonb_build_object(
        'unique_id', format('test.shop.%s_%s_%s', test, model, column_name),
        'resource_type', 'test',
        'package_name', 'shop',
        'name', format('%s_%s_%s', test, model, column_name),
        'fqn', jsonb_build_array('shop', format('%s_%s_%s', test, model, column_name)),
        'database', 'contrib_regression',
        'schema', 'analytics_dbt_test__audit',
        'alias', format('%s_%s_%s', test, model, column_name),
        'config', jsonb_build_object('enabled', true, 'materialized', 'test',
                                     'severity', 'ERROR') || config,
        'unrendered_config', config,
        'raw_code', format('{{ test_%s(**_dbt_generic_test_kwargs) }}', test),
        'test_metadata', jsonb_build_object('name', test, 'namespace', NULL,
            'kwargs', jsonb_build_object('column_name', column_name,
                                         'model', format('{{ get_where_subquery(ref(''%s'')) }}', model))),
        'column_name', column_name,
        'attached_node', 'model.shop.' || model,
        'depends_on', jsonb_build_object('macros', jsonb_build_array('macro.dbt.test_' || test),
                                         'nodes', jsonb_build_array('model.shop.' || model))))
$$;

-- merge(): a JSON merge patch (RFC 7396) -- objects merge key by key, null removes a
-- key -- to describe an edit by what it changes.
CREATE FUNCTION merge(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN jsonb_typeof(b) <> 'object' THEN b
       ELSE (SELECT coalesce(jsonb_object_agg(key, value), '{}')
               FROM (SELECT key, value
                       FROM jsonb_each(CASE WHEN jsonb_typeof(a) = 'object' THEN a ELSE '{}' END)
                      WHERE NOT b ? key
                     UNION ALL
                     SELECT key, merge(a -> key, value)
                       FROM jsonb_each(b)
                      WHERE jsonb_typeof(value) <> 'null') AS m)
       END
$$;

--
-- The project "shop": three sources, a seed, six models, three tests, four macros.
--
--   raw.customers -> stg_customers ------------------------> customers (contract)
--   raw.orders    -> stg_orders    --> orders -------------^    |
--   raw.payments  -> stg_payments  --^       \-> daily_revenue   (incremental)
--                         \------------------------^
--   stg_payments calls cents_to_dollars, which calls round_money
--
CREATE TABLE shop_baseline AS
SELECT model('stg_customers', 'select id as customer_id, first_name from {{ source(''raw'', ''customers'') }}',
             schema => 'staging', depends_on => '{source.shop.raw.customers}')
    || model('stg_orders', 'select id as order_id, customer_id, ordered_at from {{ source(''raw'', ''orders'') }}',
             schema => 'staging', depends_on => '{source.shop.raw.orders}')
    || model('stg_payments', 'select order_id, {{ cents_to_dollars(''amount'') }} as amount from {{ source(''raw'', ''payments'') }}',
             schema => 'staging', depends_on => '{source.shop.raw.payments}',
             macros => '{macro.shop.cents_to_dollars}')
    || model('orders', 'select o.order_id, o.customer_id, o.ordered_at, p.amount from {{ ref(''stg_orders'') }} o join {{ ref(''stg_payments'') }} p using (order_id)',
             materialized => 'table', depends_on => '{model.shop.stg_orders,model.shop.stg_payments}')
    || model('customers', 'select c.customer_id, c.first_name, sum(o.amount) as lifetime_value from {{ ref(''stg_customers'') }} c left join {{ ref(''orders'') }} o using (customer_id) group by 1, 2',
             materialized => 'table', depends_on => '{model.shop.stg_customers,model.shop.orders}',
             config => '{"contract": {"enforced": true}, "persist_docs": {"relation": true, "columns": true}}',
             extra => '{"description": "One row per customer.",
                        "contract": {"enforced": true, "alias_types": true, "checksum": "c1"},
                        "columns": {"customer_id": {"name": "customer_id", "data_type": "integer", "description": "The customer."},
                                    "first_name": {"name": "first_name", "data_type": "text", "description": ""},
                                    "lifetime_value": {"name": "lifetime_value", "data_type": "numeric(12,2)", "description": "Dollars paid."}}}')
    || model('daily_revenue', 'select o.ordered_at::date as order_date, sum(p.amount) as revenue from {{ ref(''orders'') }} o join {{ ref(''stg_payments'') }} p using (order_id) {% if is_incremental() %} where o.ordered_at >= (select max(order_date) from {{ this }}) {% endif %} group by 1',
             materialized => 'incremental', depends_on => '{model.shop.orders,model.shop.stg_payments}',
             macros => '{macro.dbt.is_incremental}',
             config => '{"unique_key": "order_date", "incremental_strategy": "delete+insert"}')
    || jsonb_build_object('seed.shop.payment_methods', jsonb_build_object(
           'unique_id', 'seed.shop.payment_methods', 'resource_type', 'seed', 'package_name', 'shop',
           'name', 'payment_methods', 'fqn', '["shop", "payment_methods"]'::jsonb,
           'database', 'contrib_regression', 'schema', 'analytics', 'alias', 'payment_methods',
           'checksum', '{"name": "sha256", "checksum": "5e1f"}'::jsonb,
           'config', '{"enabled": true, "materialized": "seed"}'::jsonb, 'unrendered_config', '{}'::jsonb,
           'raw_code', '', 'depends_on', '{"macros": [], "nodes": []}'::jsonb))
    || generic_test('not_null', 'orders', 'order_id')
    || generic_test('unique', 'customers', 'customer_id')
    || jsonb_build_object('test.shop.assert_order_amounts_not_negative', jsonb_build_object(
           'unique_id', 'test.shop.assert_order_amounts_not_negative', 'resource_type', 'test',
           'package_name', 'shop', 'name', 'assert_order_amounts_not_negative',
           'fqn', '["shop", "assert_order_amounts_not_negative"]'::jsonb,
           'database', 'contrib_regression', 'schema', 'analytics_dbt_test__audit',
           'config', '{"enabled": true, "materialized": "test", "severity": "ERROR"}'::jsonb,
           'unrendered_config', '{}'::jsonb,
           'raw_code', 'select * from {{ ref(''orders'') }} where amount < 0',
           'depends_on', '{"macros": [], "nodes": ["model.shop.orders"]}'::jsonb))
       AS nodes,
       source('raw', 'customers') || source('raw', 'orders') || source('raw', 'payments') AS sources,
       macro('macro.shop.cents_to_dollars', '{% macro cents_to_dollars(c) %}{{ round_money(c ~ '' / 100.0'') }}{% endmacro %}',
             '{macro.shop.round_money}')
    || macro('macro.shop.round_money', '{% macro round_money(x) %}round({{ x }}, 2){% endmacro %}')
    || macro('macro.dbt.is_incremental', '{% macro is_incremental() %}{{ return(model.config.materialized == ''incremental'') }}{% endmacro %}')
    || macro('macro.dbt.test_not_null', '{% test not_null(model, column_name) %}select * from {{ model }} where {{ column_name }} is null{% endtest %}')
    || macro('macro.dbt.test_unique', '{% test unique(model, column_name) %}select {{ column_name }} from {{ model }} group by 1 having count(*) > 1{% endtest %}')
       AS macros;

-- node(): a node of the baseline; edit(): that node with some fields changed.
CREATE FUNCTION node(unique_id text) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT coalesce(nodes, '{}') -> unique_id FROM shop_baseline
$$;
CREATE FUNCTION edit(unique_id text, change jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(unique_id, merge(node(unique_id), change))
$$;

-- shop(): the shop manifest with some nodes, sources or macros added or replaced, some
-- removed, some disabled.
CREATE FUNCTION shop(nodes jsonb DEFAULT '{}',
                     sources jsonb DEFAULT '{}',
                     macros jsonb DEFAULT '{}',
                     removed text[] DEFAULT '{}',
                     disabled jsonb DEFAULT '{}',
                     metadata jsonb DEFAULT '{}')
RETURNS text LANGUAGE sql STABLE AS $$
SELECT manifest(nodes => (b.nodes - removed) || shop.nodes,
                macros => b.macros || shop.macros,
                sources => (b.sources - removed) || shop.sources,
                disabled => shop.disabled,
                metadata => shop.metadata)
  FROM shop_baseline AS b
$$;

-- changes(): what a plan would do, without the nodes it skips.
CREATE FUNCTION changes(manifest text)
RETURNS TABLE (unique_id text, action text, reasons text[], compatibility text)
LANGUAGE sql AS $$
SELECT p.unique_id, p.action, p.reasons, p.compatibility
  FROM bg.plan(manifest) AS p
 WHERE p.action <> 'skip'
 ORDER BY p.unique_id
$$;

--
-- Registering the baseline
--

-- Before any project is registered there is nothing to plan against.
SELECT * FROM bg.plan(shop());

-- What dbt built live from that version: here, stand-ins with the same columns, in
-- schemas the owner role owns (as after bg.transfer_ownership). The compatibility
-- column of a plan judges a change against what is live.
CREATE SCHEMA staging AUTHORIZATION bluegreen;
CREATE SCHEMA analytics AUTHORIZATION bluegreen;
SET ROLE bluegreen;
CREATE VIEW staging.stg_customers AS SELECT NULL::integer AS customer_id, NULL::text AS first_name;
CREATE VIEW staging.stg_orders AS
    SELECT NULL::integer AS order_id, NULL::integer AS customer_id, NULL::timestamp AS ordered_at;
CREATE VIEW staging.stg_payments AS SELECT NULL::integer AS order_id, NULL::numeric AS amount;
CREATE TABLE analytics.orders (order_id integer, customer_id integer, ordered_at timestamp,
                               amount numeric);
-- (customers in its contract's column order, as dbt creates it: the manifest lists
-- first_name first)
CREATE TABLE analytics.customers (first_name text, customer_id integer,
                                  lifetime_value numeric(12,2));
CREATE TABLE analytics.daily_revenue (order_date date, revenue numeric);
CREATE TABLE analytics.payment_methods (method text, name text);
RESET ROLE;

-- A deployer ("GRANT bluegreen_deployer TO ci") registers what is live now. This reads
-- the manifest and records it; it creates, drops and reads no relation.
CREATE ROLE regress_bg_ci;
GRANT bluegreen_deployer TO regress_bg_ci;
SELECT shop() AS manifest \gset
SET ROLE regress_bg_ci;
CALL bg.create_project(:'manifest');
SELECT project, dbt_version, manifest_schema_version, node_count, models FROM bg.projects;
RESET ROLE;

-- What was recorded: the compact state of each node, not the document.
SELECT unique_id, resource_type, schema_name, alias, materialized,
       depends_on_nodes, depends_on_macros
  FROM bg.node
 ORDER BY unique_id;
SELECT unique_id, depends_on_macros FROM bg.macro ORDER BY unique_id;

-- Remember how much is recorded: planning must not change it.
CREATE TEMP TABLE recorded AS
SELECT (SELECT count(*) FROM bg.project) AS projects,
       (SELECT count(*) FROM bg.manifest) AS manifests,
       (SELECT count(*) FROM bg.node) AS nodes,
       (SELECT count(*) FROM bg.macro) AS macros;

--
-- Plans
--

-- The same manifest again: nothing is selected, every node is skipped.
SELECT unique_id, resource_type, selected, action, reasons, materialization,
       live_relation, shadow_relation, compatibility
  FROM bg.plan(shop())
 ORDER BY unique_id;

-- A new `dbt compile` of unchanged code (new invocation_id and generated_at): nothing.
SELECT count(*) FILTER (WHERE selected) AS selected, count(*) AS nodes
  FROM bg.plan(shop(metadata => '{"invocation_id": "00000000-0000-0000-0000-000000000002",
                                  "generated_at": "2025-01-02T00:00:00.000000Z"}'));

-- The SQL of stg_orders changed: it is selected (modified.body), and so is everything
-- downstream of it, tests included; models are built in shadow, tests run there.
SELECT unique_id, action, reasons, live_relation, shadow_relation
  FROM bg.plan(shop(nodes => edit('model.shop.stg_orders',
       '{"raw_code": "select id as order_id, customer_id, ordered_at, status from {{ source(''raw'', ''orders'') }}"}')))
 WHERE selected
 ORDER BY unique_id;

-- A diamond: daily_revenue reads stg_payments both directly and through orders. It is
-- selected once.
SELECT * FROM changes(shop(nodes => edit('model.shop.stg_payments',
       '{"raw_code": "select order_id, {{ cents_to_dollars(''amount'') }} as amount from {{ source(''raw'', ''payments'') }} where amount > 0"}')));

-- A change in whitespace is a change of the body too: dbt compares the raw code.
SELECT * FROM changes(shop(nodes => edit('model.shop.stg_customers',
       jsonb_build_object('raw_code', node('model.shop.stg_customers') ->> 'raw_code' || E'\n'))));

-- A config change (modified.configs): daily_revenue gets a new unique_key.
SELECT * FROM changes(shop(nodes => edit('model.shop.daily_revenue',
       '{"config": {"unique_key": ["order_date", "currency"]},
         "unrendered_config": {"unique_key": ["order_date", "currency"]}}')));

-- A materialization change is a config change: a view becomes a table. Whether that
-- breaks anything only the built table can tell (its columns, what reads it).
SELECT * FROM changes(shop(nodes => edit('model.shop.stg_customers',
       '{"config": {"materialized": "table"}, "unrendered_config": {"materialized": "table"}}')));

-- Tags are not compared (dbt's config comparison leaves them out): nothing is selected.
SELECT * FROM changes(shop(nodes => edit('model.shop.orders',
       '{"config": {"tags": ["nightly"]}, "unrendered_config": {"tags": ["nightly"]}}')));

-- A new alias moves the relation (modified.relation): the old relation is dropped at
-- promote (kept for rollback) and the new one added. Nothing outside the project reads
-- the old one, so that breaks nothing.
SELECT * FROM changes(shop(nodes => edit('model.shop.orders',
       '{"alias": "fct_orders", "config": {"alias": "fct_orders"},
         "unrendered_config": {"alias": "fct_orders"}}')));

-- customers persists its docs (persist_docs: relation and columns), so a new description
-- is a change (modified.persisted_descriptions) ...
SELECT * FROM changes(shop(nodes => edit('model.shop.customers',
       '{"description": "One row per customer, with what they paid."}')));
-- ... and so is a new column description ...
SELECT * FROM changes(shop(nodes => edit('model.shop.customers',
       '{"columns": {"first_name": {"description": "As the customer typed it."}}}')));
-- ... while orders does not persist its docs: its description changes nothing.
SELECT * FROM changes(shop(nodes => edit('model.shop.orders',
       '{"description": "One row per order."}')));

-- customers has an enforced contract, so the plan knows the columns it will have.
-- Dropping a column changes its code and its contract, and is breaking: readers of
-- lifetime_value would fail.
SELECT * FROM changes(shop(nodes => edit('model.shop.customers',
       '{"raw_code": "select customer_id, first_name from {{ ref(''stg_customers'') }}",
         "contract": {"checksum": "c2"},
         "columns": {"lifetime_value": null}}')));

-- A column widened (integer to bigint) holds every value it held: nothing certain
-- breaks, and the built table tells the rest ...
SELECT * FROM changes(shop(nodes => edit('model.shop.customers',
       '{"contract": {"checksum": "c3"},
         "columns": {"customer_id": {"data_type": "bigint"}}}')));
-- ... as for a numeric that holds more digits ...
SELECT * FROM changes(shop(nodes => edit('model.shop.customers',
       '{"contract": {"checksum": "c4"},
         "columns": {"lifetime_value": {"data_type": "numeric(18,2)"}}}')));
-- ... but a numeric with fewer digits does not hold every value: breaking ...
SELECT * FROM changes(shop(nodes => edit('model.shop.customers',
       '{"contract": {"checksum": "c6"},
         "columns": {"lifetime_value": {"data_type": "numeric(8,2)"}}}')));
-- ... and a DBA may make every column-level change breaking (a superuser's setting):
SET bluegreen.strict_compatibility = on;
SELECT * FROM changes(shop(nodes => edit('model.shop.customers',
       '{"contract": {"checksum": "c3"},
         "columns": {"customer_id": {"data_type": "bigint"}}}')));
RESET bluegreen.strict_compatibility;
-- Adding a column: the contract changed, and nothing is certain to break.
SELECT * FROM changes(shop(nodes => edit('model.shop.customers',
       '{"raw_code": "select c.customer_id, c.first_name, sum(o.amount) as lifetime_value, count(o.order_id) as orders from {{ ref(''stg_customers'') }} c left join {{ ref(''orders'') }} o using (customer_id) group by 1, 2",
         "contract": {"checksum": "c5"},
         "columns": {"orders": {"name": "orders", "data_type": "bigint", "description": ""}}}')));
-- Turning the contract off says nothing of the columns: the build tells.
SELECT * FROM changes(shop(nodes => edit('model.shop.customers',
       '{"contract": {"enforced": false, "checksum": null},
         "config": {"contract": {"enforced": false}},
         "unrendered_config": {"contract": {"enforced": false}}}')));

-- A macro changed: the models that call it are selected (modified.macros) ...
SELECT * FROM changes(shop(macros => macro('macro.shop.cents_to_dollars',
       '{% macro cents_to_dollars(c) %}{{ round_money(c ~ '' / 100'') }}{% endmacro %}',
       '{macro.shop.round_money}')));
-- ... and so are the models that reach it through another macro: stg_payments calls
-- cents_to_dollars, which calls round_money.
SELECT * FROM changes(shop(macros => macro('macro.shop.round_money',
       '{% macro round_money(x) %}round(({{ x }})::numeric, 2){% endmacro %}')));
-- Upgrading dbt changes its own macros: daily_revenue calls is_incremental().
SELECT * FROM changes(shop(macros => macro('macro.dbt.is_incremental',
       '{% macro is_incremental() %}{{ return(adapter.dispatch(''is_incremental'')()) }}{% endmacro %}')));
-- A new macro that no node calls selects nothing.
SELECT * FROM changes(shop(macros => macro('macro.shop.unused', '{% macro unused() %}1{% endmacro %}')));

-- A new model is selected (new) and built; its relation is new.
SELECT unique_id, action, reasons, materialization, live_relation, shadow_relation,
       compatibility, state_selectors
  FROM bg.plan(shop(nodes => model('revenue_by_payment_method',
       'select m.name, sum(p.amount) from {{ ref(''stg_payments'') }} p join {{ ref(''payment_methods'') }} m using (method) group by 1',
       materialized => 'table', depends_on => '{model.shop.stg_payments,seed.shop.payment_methods}')))
 WHERE selected;

-- A model deleted from the project: its relation is dropped at promote (and kept for
-- rollback), which would break whatever outside the project reads it: nothing does.
SELECT * FROM changes(shop(removed => '{model.shop.daily_revenue}'));

-- A model disabled (config enabled: false) is dropped the same way.
SELECT * FROM changes(shop(removed => '{model.shop.daily_revenue}',
       disabled => jsonb_build_object('model.shop.daily_revenue', jsonb_build_array(
           merge(node('model.shop.daily_revenue'),
                 '{"config": {"enabled": false}, "unrendered_config": {"enabled": false}}')))));

-- A source now reads another table (modified.relation): the models reading it are rebuilt.
-- A source itself builds nothing.
SELECT * FROM changes(shop(sources => source('raw', 'orders', extra => '{"identifier": "orders_v2"}')));
-- A source's freshness changed (modified): the same.
SELECT * FROM changes(shop(sources => source('raw', 'orders',
       extra => '{"loaded_at_field": "ordered_at", "freshness": {"warn_after": {"count": 1, "period": "day"}, "error_after": null}}')));

-- A generic test's severity changed: only the test is selected, and it runs.
SELECT * FROM changes(shop(nodes => edit('test.shop.not_null_orders_order_id',
       '{"config": {"severity": "warn"}, "unrendered_config": {"severity": "warn"}}')));

-- A seed's file changed: seeds are carried forward from live, never rebuilt from a manifest.
SELECT * FROM changes(shop(nodes => edit('seed.shop.payment_methods',
       '{"checksum": {"checksum": "77aa"}}')));

-- Several changes at once.
SELECT * FROM changes(shop(
       nodes => edit('test.shop.not_null_orders_order_id',
                     '{"config": {"severity": "warn"}, "unrendered_config": {"severity": "warn"}}')
             || edit('model.shop.stg_customers',
                     '{"config": {"materialized": "table"}, "unrendered_config": {"materialized": "table"}}'),
       removed => '{model.shop.daily_revenue}'));

--
-- The jsonb overload and the JSON form
--

-- bg.plan takes the manifest as jsonb too, with the same result.
SELECT count(*) AS differences FROM (
    (SELECT * FROM bg.plan(shop(removed => '{model.shop.daily_revenue}'))
     EXCEPT ALL
     SELECT * FROM bg.plan(shop(removed => '{model.shop.daily_revenue}')::jsonb))
    UNION ALL
    (SELECT * FROM bg.plan(shop(removed => '{model.shop.daily_revenue}')::jsonb)
     EXCEPT ALL
     SELECT * FROM bg.plan(shop(removed => '{model.shop.daily_revenue}')))) AS d;

-- bg.plan_json: the plan as one document, for machines.
SELECT j - 'nodes' AS summary, jsonb_array_length(j -> 'nodes') AS nodes
  FROM bg.plan_json(shop(nodes => edit('model.shop.stg_payments', '{"raw_code": "select 1"}'),
                         removed => '{model.shop.daily_revenue}')) AS j;
SELECT jsonb_pretty(n) AS node
  FROM bg.plan_json(shop(nodes => edit('model.shop.stg_payments', '{"raw_code": "select 1"}'))) AS j,
       jsonb_array_elements(j -> 'nodes') AS n
 WHERE n ->> 'unique_id' = 'model.shop.stg_payments';

--
-- Where the live side comes from
--

-- The live manifest is read back from the compact state stored with it
-- (bg.manifest_state: its nodes and macros as one value, in parts); a manifest without
-- one (stored by 0.1.0) is read from its rows in bg.node and bg.macro. Both plan the same.
CREATE TEMP TABLE kept_state AS
SELECT s.* FROM bg.manifest_state AS s
 WHERE manifest_id = (SELECT live_manifest_id FROM bg.project WHERE name = 'shop');
-- It has two sections, each in parts of its own: what a plan compares (parts from 0), and
-- the JSON texts only a deployment reads (config, columns, constraints, test metadata;
-- parts from 1000000), which a plan leaves unread.
SELECT part >= 1000000 AS texts, count(*) AS parts, sum(octet_length(data)) > 0 AS not_empty
  FROM kept_state GROUP BY 1 ORDER BY 1;
CREATE TEMP TABLE plan_from_state AS
SELECT * FROM bg.plan(shop(nodes => edit('model.shop.stg_orders', '{"raw_code": "select 2"}'),
                           removed => '{model.shop.daily_revenue}'));
DELETE FROM bg.manifest_state WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state);
-- differences_from_state(): rows by which the plan now differs from plan_from_state.
CREATE FUNCTION pg_temp.differences_from_state() RETURNS bigint LANGUAGE sql AS $$
SELECT count(*) FROM (
    (SELECT * FROM plan_from_state
     EXCEPT ALL
     SELECT * FROM bg.plan(shop(nodes => edit('model.shop.stg_orders', '{"raw_code": "select 2"}'),
                                removed => '{model.shop.daily_revenue}')))
    UNION ALL
    (SELECT * FROM bg.plan(shop(nodes => edit('model.shop.stg_orders', '{"raw_code": "select 2"}'),
                                removed => '{model.shop.daily_revenue}'))
     EXCEPT ALL
     SELECT * FROM plan_from_state)) AS d
$$;
SELECT count(*) AS rows_planned, pg_temp.differences_from_state() AS differences FROM plan_from_state;
-- The state also keeps a digest of each entry: of every value intake reads of it, as the
-- document has them. A plan takes an entry of the same digest as the live node it was,
-- without reading it again -- here all but the edited model and the removed one. Read
-- from the rows, which keep no digests, every entry is read, with the plan above.
INSERT INTO bg.manifest_state SELECT * FROM kept_state;
SET client_min_messages = debug1;
SELECT count(*) FROM bg.plan(shop(nodes => edit('model.shop.stg_orders', '{"raw_code": "select 2"}'),
                                  removed => '{model.shop.daily_revenue}'));
DELETE FROM bg.manifest_state WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state);
SELECT count(*) FROM bg.plan(shop(nodes => edit('model.shop.stg_orders', '{"raw_code": "select 2"}'),
                                  removed => '{model.shop.daily_revenue}'));
RESET client_min_messages;
-- An entry is checked all the same, whether it is taken from live or not: a fault in a
-- value intake passes over (here the path of an unchanged model, a number JSON does not
-- allow) is refused as anywhere else.
INSERT INTO bg.manifest_state SELECT * FROM kept_state;
SELECT count(*) FROM bg.plan(replace(shop(), '"path": "stg_orders.sql"', '"path": 01'));
DELETE FROM bg.manifest_state WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state);

-- A state this build did not write (another version's field list, the other byte order)
-- is passed over for the rows, with the same plan.
DELETE FROM bg.manifest_state WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state);
INSERT INTO bg.manifest_state
SELECT manifest_id, part, CASE WHEN part = 0 THEN overlay(data PLACING '\x00000000' FROM 5 FOR 4) ELSE data END
  FROM kept_state;
SELECT pg_temp.differences_from_state() AS differences;

-- A damaged state is refused, naming the manifest and the way out; it is never guessed at.
DELETE FROM bg.manifest_state WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state);
INSERT INTO bg.manifest_state SELECT manifest_id, part, substr(data, 1, 200) FROM kept_state;
SELECT count(*) FROM bg.plan(shop());
-- So is one whose nodes read as plausible but are not what was stored: a byte of the
-- first node's unique_id flipped (the value's checksum tells), or its resource_type, which
-- bg.node holds NOT NULL and every stage reads unchecked, given as none (length -1).
DELETE FROM bg.manifest_state WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state);
INSERT INTO bg.manifest_state
SELECT manifest_id, part, CASE WHEN part = 0 THEN set_byte(data, 20, get_byte(data, 20) # 1) ELSE data END
  FROM kept_state;
SELECT count(*) FROM bg.plan(shop());
DELETE FROM bg.manifest_state WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state);
INSERT INTO bg.manifest_state
SELECT manifest_id, part,
       CASE WHEN part = 0 THEN overlay(data PLACING '\xffffffff' FROM at + 1 FOR 4 + get_byte(data, at) + 1)
       ELSE data END
  FROM kept_state, LATERAL (SELECT 16 + 4 + get_byte(data, 16) + 1 AS at) AS resource_type;
SELECT count(*) FROM bg.plan(shop());
DELETE FROM bg.manifest_state WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state);
INSERT INTO bg.manifest_state SELECT * FROM kept_state;
SELECT count(*) > 0 AS plans_again FROM bg.plan(shop());
-- The texts section is never read by a plan: damaged, it leaves the plan as it was.
UPDATE bg.manifest_state SET data = set_byte(data, 20, get_byte(data, 20) # 1)
 WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state) AND part >= 1000000;
SELECT pg_temp.differences_from_state() AS differences;
DELETE FROM bg.manifest_state WHERE manifest_id = (SELECT DISTINCT manifest_id FROM kept_state);
INSERT INTO bg.manifest_state SELECT * FROM kept_state;

-- Planning changed nothing.
SELECT (SELECT count(*) FROM bg.project) = projects AS same_projects,
       (SELECT count(*) FROM bg.manifest) = manifests AS same_manifests,
       (SELECT count(*) FROM bg.node) = nodes AS same_nodes,
       (SELECT count(*) FROM bg.macro) = macros AS same_macros
  FROM recorded;

--
-- A second project
--

-- analysis(): an analysis of project crm (analyses/*.sql): compiled by dbt, built by
-- nobody.
CREATE FUNCTION analysis(name text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_build_object('analysis.crm.' || name, jsonb_build_object(
    'unique_id', 'analysis.crm.' || name, 'resource_type', 'analysis', 'package_name', 'crm',
    'name', name, 'path', 'analysis/' || name || '.sql',
    'original_file_path', 'analyses/' || name || '.sql', 'fqn', jsonb_build_array('crm', 'analysis', name),
    'database', 'contrib_regression', 'schema', 'marketing', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(name)),
    'config', '{"enabled": true, "materialized": "view"}'::jsonb, 'unrendered_config', '{}'::jsonb,
    'raw_code', 'select * from {{ ref(''leads'') }}',
    'depends_on', '{"macros": [], "nodes": ["model.crm.leads"]}'::jsonb))
$$;

-- A project name other than the manifest's, with the jsonb overload. The notice counts
-- what the project has, analyses too.
CALL bg.create_project(manifest(
         model('leads', 'select 1 as lead_id', schema => 'marketing', project => 'crm')
      || analysis('lead_funnel') || analysis('lead_sources'),
         project_name => 'crm')::jsonb,
     name => 'crm_marketing');
SELECT project, manifest_schema_version, node_count, models FROM bg.projects ORDER BY project;

-- With two projects, a plan names its project.
SELECT unique_id, action, reasons, live_relation, compatibility
  FROM bg.plan(manifest(
         model('leads', 'select 1 as lead_id', schema => 'marketing', project => 'crm')
      || model('lead_scores', 'select lead_id, 0 as score from {{ ref(''leads'') }}',
               schema => 'marketing', depends_on => '{model.crm.leads}', project => 'crm')
      || analysis('lead_funnel') || analysis('lead_sources'),
         project_name => 'crm'), project => 'crm_marketing')
 ORDER BY unique_id;

DROP SCHEMA staging, analytics CASCADE;
DROP OWNED BY regress_bg_ci;
DROP ROLE regress_bg_ci;
