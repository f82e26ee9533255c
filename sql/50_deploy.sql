--
-- bg.deploy: build what a new manifest changes (dbt's state:modified+) beside production,
-- in the shadow schema analytics__bg_shadow, as the builder role bluegreen_builder; run the
-- project's dbt tests there; compare every relation it would replace with live; record
-- it all in bg.deployments and bg.deployment_steps. Production is never written.
-- bg.abandon drops what a deployment built.
--
-- The dbt project "jaffle" below was built by `dbt run` (version 1). Each section deploys
-- a version 2 that changes something. Nothing here promotes, so every deployment is made
-- against the same live version 1, and each new deployment first drops what the one
-- before it left in shadow.
--
-- This file works in a database of its own (55_deploy_bad_input.sql goes on in it), with
-- one project, so the calls leave the project out as a team with one dbt project does.
--
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_bg_deploy;
DROP ROLE IF EXISTS regress_bg_deploy_ci, regress_bg_deploy_analyst;
CREATE DATABASE regress_bg_deploy;
\c regress_bg_deploy
CREATE EXTENSION bluegreen;
RESET client_min_messages;
-- Progress lines without durations, so that this file's output is the same on every run.
SET bluegreen.show_timing = off;

-- The cast: ci deploys (a deployer, not a superuser); analyst reads analytics.
CREATE ROLE regress_bg_deploy_ci;
CREATE ROLE regress_bg_deploy_analyst;
GRANT bluegreen_deployer TO regress_bg_deploy_ci;

--
-- Sources: raw.customers and raw.orders, loaded by someone else; bluegreen may read them.
--
CREATE SCHEMA raw;
CREATE TABLE raw.customers (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE raw.orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL,
    ordered_at date NOT NULL,
    amount numeric(10, 2) NOT NULL,
    status text NOT NULL,
    updated_at date NOT NULL
);
INSERT INTO raw.customers VALUES (1, 'Ann'), (2, 'Bob'), (3, 'Cy');
INSERT INTO raw.orders VALUES
    (1, 1, '2025-01-01', 10.00, 'shipped', '2025-01-01'),
    (2, 2, '2025-01-01', 20.00, 'shipped', '2025-01-01'),
    (3, 1, '2025-01-02', 30.00, 'placed',  '2025-01-02'),
    (4, 3, '2025-01-02', 40.00, 'placed',  '2025-01-02'),
    (5, 2, '2025-01-03', 50.00, 'placed',  '2025-01-03');
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON ALL TABLES IN SCHEMA raw TO bluegreen_builder;

--
-- Manifests, built in SQL in the shape of the target/manifest.json dbt writes (schema
-- v12, reduced to the fields that matter). Models and tests are written as in the dbt
-- project, with {{ ref() }}, {{ source() }}, {{ this }} and is_incremental();
-- dbt_compile() then renders compiled_code as `dbt compile` would against this
-- database, and fills depends_on.
--

-- merge(): a JSON merge patch (RFC 7396): objects merge key by key, null removes a key.
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

-- model(): a model of project jaffle, in schema analytics unless its config says
-- otherwise. Config goes into "config" and "unrendered_config", as dbt writes it; extra
-- sets any other field.
CREATE FUNCTION model(name text, raw_code text, materialized text DEFAULT 'view',
                      config jsonb DEFAULT '{}', extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.jaffle.' || name, jsonb_build_object(
    'unique_id', 'model.jaffle.' || name, 'resource_type', 'model', 'package_name', 'jaffle',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('jaffle', name),
    'database', current_database(),
    'schema', coalesce(config ->> 'schema', 'analytics'),
    'alias', coalesce(config ->> 'alias', name),
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(raw_code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized,
                                 'persist_docs', '{}'::jsonb, 'tags', '[]'::jsonb) || config,
    'unrendered_config', jsonb_build_object('materialized', materialized) || config,
    'raw_code', raw_code, 'language', 'sql', 'description', '', 'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', '[]'::jsonb),
    'contract', jsonb_build_object('enforced', false, 'alias_types', true, 'checksum', NULL),
    'constraints', '[]'::jsonb, 'access', 'protected', 'version', NULL,
    'latest_version', NULL, 'deprecation_date', NULL) || extra)
$$;

-- dbt_test(): a singular test, or a generic one (generic names its test macro).
CREATE FUNCTION dbt_test(name text, raw_code text, config jsonb DEFAULT '{}',
                         generic text DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('test.jaffle.' || name, jsonb_build_object(
    'unique_id', 'test.jaffle.' || name, 'resource_type', 'test', 'package_name', 'jaffle',
    'name', name, 'fqn', jsonb_build_array('jaffle', name),
    'database', current_database(), 'schema', 'analytics_dbt_test__audit', 'alias', name,
    'config', jsonb_build_object('enabled', true, 'materialized', 'test', 'severity', 'ERROR') || config,
    'unrendered_config', config, 'raw_code', raw_code,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', '[]'::jsonb))
    || CASE WHEN generic IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('test_metadata', jsonb_build_object(
                     'name', generic, 'namespace', NULL, 'kwargs', '{}'::jsonb)) END)
$$;

-- seed(), snapshot(): built by `dbt seed` and `dbt snapshot`. A seed changes with its
-- file's checksum, a snapshot with its code.
CREATE FUNCTION seed(name text, checksum text DEFAULT 'v1', resource_type text DEFAULT 'seed',
                     raw_code text DEFAULT '')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(format('%s.jaffle.%s', resource_type, name), jsonb_build_object(
    'unique_id', format('%s.jaffle.%s', resource_type, name), 'resource_type', resource_type,
    'package_name', 'jaffle', 'name', name, 'fqn', jsonb_build_array('jaffle', name),
    'database', current_database(), 'schema', 'analytics', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', checksum),
    'config', jsonb_build_object('enabled', true, 'materialized', resource_type),
    'unrendered_config', '{}'::jsonb, 'raw_code', raw_code,
    'depends_on', '{"macros": [], "nodes": []}'::jsonb))
$$;
CREATE FUNCTION snapshot(name text, raw_code text) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT seed(name, md5(raw_code), 'snapshot', raw_code)
$$;

-- source(): a table of the dbt source "raw".
CREATE FUNCTION source(name text) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('source.jaffle.raw.' || name, jsonb_build_object(
    'unique_id', 'source.jaffle.raw.' || name, 'resource_type', 'source',
    'package_name', 'jaffle', 'source_name', 'raw', 'name', name,
    'fqn', jsonb_build_array('jaffle', 'raw', name),
    'database', current_database(), 'schema', 'raw', 'identifier', name,
    'loaded_at_field', NULL, 'freshness', '{"warn_after": null, "error_after": null}'::jsonb,
    'quoting', '{"database": null, "schema": null, "identifier": null}'::jsonb,
    'external', NULL, 'description', '', 'columns', '{}'::jsonb,
    'config', '{"enabled": true}'::jsonb, 'unrendered_config', '{}'::jsonb))
$$;

-- render(): one node's code as `dbt compile` renders it: every ref() and source() as
-- "database"."schema"."name" (an ephemeral model inlined as a __dbt__cte__ CTE),
-- {{ this }} as the node's own relation, and the is_incremental() branch kept or
-- dropped; with the unique_ids the code depends on.
CREATE FUNCTION relation_of(node jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT format('"%s"."%s"."%s"', node ->> 'database', node ->> 'schema',
              coalesce(node ->> 'alias', node ->> 'identifier'))
$$;
CREATE FUNCTION render(code text, nodes jsonb, this jsonb, is_incremental boolean,
                       OUT compiled text, OUT depends_on text[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m text[];
    args text[];
    target_id text;
    target jsonb;
    inlined record;
    ctes text[] := '{}';
BEGIN
    compiled := regexp_replace(code, '{% if is_incremental\(\) %}(.*?){% endif %}',
                               CASE WHEN is_incremental THEN '\1' ELSE '' END, 'g');
    IF this IS NOT NULL THEN
        compiled := replace(compiled, '{{ this }}', relation_of(this));
    END IF;
    depends_on := '{}';
    FOR m IN SELECT regexp_matches(compiled, '{{ (ref|source)\(([^)]*)\) }}', 'g') LOOP
        args := regexp_split_to_array(replace(m[2], '''', ''), ',\s*');
        IF m[1] = 'source' THEN
            target_id := format('source.jaffle.%s.%s', args[1], args[2]);
        ELSE
            SELECT key INTO target_id FROM jsonb_each(nodes)
             WHERE value ->> 'name' = args[1]
               AND value ->> 'resource_type' IN ('model', 'seed', 'snapshot');
        END IF;
        target := nodes -> target_id;
        IF target IS NULL THEN
            RAISE EXCEPTION 'render: % does not exist', m[2];
        END IF;
        IF target -> 'config' ->> 'materialized' = 'ephemeral' THEN
            inlined := render(target ->> 'raw_code', nodes, target, false);
            ctes := ctes || format(E'__dbt__cte__%s as (\n%s\n)', args[1], inlined.compiled);
            compiled := replace(compiled, format('{{ %s(%s) }}', m[1], m[2]), '__dbt__cte__' || args[1]);
        ELSE
            compiled := replace(compiled, format('{{ %s(%s) }}', m[1], m[2]), relation_of(target));
        END IF;
        IF NOT target_id = ANY (depends_on) THEN
            depends_on := depends_on || target_id;
        END IF;
    END LOOP;
    IF cardinality(ctes) > 0 THEN
        compiled := 'with ' || array_to_string(ctes, ', ') || E'\n' || compiled;
    END IF;
END
$$;

-- render_to(): a contract's foreign_key constraint, its "to" (ref() or source())
-- rendered as `dbt compile` renders it.
CREATE FUNCTION render_to(c jsonb, nodes jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT CASE WHEN c ? 'to'
            THEN c || jsonb_build_object('to', (render('{{ ' || (c ->> 'to') || ' }}', nodes, NULL, false)).compiled)
            ELSE c END
$$;

-- dbt_compile(): what `dbt compile` adds to the nodes of models and tests: their
-- compiled_code, the "to" of their foreign keys, and depends_on. is_incremental() is
-- true for an incremental model whose table exists, unless it is a full refresh (or its
-- config says full_refresh: true).
CREATE FUNCTION dbt_compile(nodes jsonb, sources jsonb, full_refresh boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    n record;
    code record;
    fk record;
    is_incremental boolean;
    out jsonb := '{}';
BEGIN
    FOR n IN SELECT key, value FROM jsonb_each(nodes) LOOP
        IF n.value ->> 'resource_type' IN ('model', 'test') AND NOT n.value ? 'compiled_code' THEN
            is_incremental := n.value -> 'config' ->> 'materialized' = 'incremental'
                AND to_regclass(format('%I.%I', n.value ->> 'schema', n.value ->> 'alias')) IS NOT NULL
                AND NOT full_refresh
                AND NOT coalesce((n.value -> 'config' ->> 'full_refresh')::boolean, false);
            code := render(n.value ->> 'raw_code', nodes || sources, n.value, is_incremental);
            -- what the foreign keys of its contract reference, for depends_on
            fk := render(coalesce((SELECT string_agg('{{ ' || (k ->> 'to') || ' }}', ' ')
                                     FROM (SELECT jsonb_array_elements(c.value -> 'constraints') AS k
                                             FROM jsonb_each(n.value -> 'columns') AS c
                                           UNION ALL
                                           SELECT jsonb_array_elements(n.value -> 'constraints')) AS f
                                    WHERE k ? 'to'), ''),
                         nodes || sources, NULL, false);
            out := out || jsonb_build_object(n.key, n.value || jsonb_build_object(
                'compiled_code', code.compiled,
                'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes',
                    to_jsonb(code.depends_on || ARRAY(SELECT unnest(fk.depends_on)
                                                      EXCEPT SELECT unnest(code.depends_on)))),
                'columns', coalesce((SELECT jsonb_object_agg(c.key, c.value || CASE WHEN c.value ? 'constraints'
                              THEN jsonb_build_object('constraints', (SELECT jsonb_agg(render_to(k, nodes || sources))
                                                                        FROM jsonb_array_elements(c.value -> 'constraints') AS k))
                              ELSE '{}' END)
                                       FROM jsonb_each(n.value -> 'columns') AS c), '{}'),
                'constraints', coalesce((SELECT jsonb_agg(render_to(k, nodes || sources))
                                           FROM jsonb_array_elements(n.value -> 'constraints') AS k), '[]'))
                || CASE WHEN n.value ? 'test_metadata'
                        THEN jsonb_build_object('attached_node', code.depends_on[1]) ELSE '{}' END);
        ELSE
            out := out || jsonb_build_object(n.key, n.value);
        END IF;
    END LOOP;
    RETURN out;
END
$$;

-- manifest(): the whole manifest.json, as text.
CREATE FUNCTION manifest(nodes jsonb, sources jsonb) RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'jaffle', 'adapter_type', 'postgres',
        'generated_at', '2025-01-01T00:00:00.000000Z',
        'invocation_id', '00000000-0000-0000-0000-000000000001'),
    'nodes', nodes, 'sources', sources, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb,
    'docs', '{}'::jsonb, 'exposures', '{}'::jsonb, 'metrics', '{}'::jsonb,
    'groups', '{}'::jsonb, 'selectors', '{}'::jsonb, 'semantic_models', '{}'::jsonb,
    'unit_tests', '{}'::jsonb, 'saved_queries', '{}'::jsonb)::text
$$;

--
-- Version 1 of the project
--
--   raw.customers -> stg_customers -------------------------------------> customers
--   raw.orders    -> stg_orders -> orders -> customer_orders (ephemeral) --^
--                        |           +-> daily_revenue (incremental, delete+insert)
--                        |           +-> revenue_by_customer (materialized view)
--                        +-> order_log (incremental, append)
--                        +-> order_status (incremental, merge)
--   payment_methods (seed) -> payment_labels;  orders_snapshot (snapshot)
--   tests: not_null_orders_order_id, unique_customers_customer_id,
--          accepted_values_orders_status (severity warn), assert_revenue_positive
--
CREATE TABLE v1 AS
SELECT model('stg_customers', $$select id as customer_id, name from {{ source('raw', 'customers') }}$$)
    || model('stg_orders', $$select id as order_id, customer_id, ordered_at, amount, status, updated_at
from {{ source('raw', 'orders') }}$$)
    || model('orders', $$select order_id, customer_id, ordered_at, amount, status
from {{ ref('stg_orders') }}$$, 'table')
    || model('customer_orders', $$select customer_id, count(*) as order_count, sum(amount) as lifetime_value
from {{ ref('orders') }} group by 1$$, 'ephemeral')
    || model('customers', $$select c.customer_id, c.name, coalesce(o.order_count, 0) as order_count,
       coalesce(o.lifetime_value, 0) as lifetime_value
from {{ ref('stg_customers') }} as c left join {{ ref('customer_orders') }} as o using (customer_id)$$, 'table')
    || model('daily_revenue', $$select ordered_at as order_date, customer_id, sum(amount) as revenue
from {{ ref('orders') }}
{% if is_incremental() %}where ordered_at >= (select max(order_date) from {{ this }}){% endif %}
group by 1, 2$$, 'incremental',
             '{"incremental_strategy": "delete+insert", "unique_key": ["order_date", "customer_id"]}')
    || model('order_log', $$select order_id, ordered_at, amount from {{ ref('stg_orders') }}
{% if is_incremental() %}where order_id > (select max(order_id) from {{ this }}){% endif %}$$,
             'incremental', '{"incremental_strategy": "append"}')
    || model('order_status', $$select order_id, status, amount, updated_at from {{ ref('stg_orders') }}
{% if is_incremental() %}where updated_at > (select max(updated_at) from {{ this }}){% endif %}$$,
             'incremental', '{"incremental_strategy": "merge", "unique_key": "order_id"}')
    || model('revenue_by_customer', $$select customer_id, sum(amount) as revenue
from {{ ref('orders') }} group by 1$$, 'materialized_view')
    || model('payment_labels', $$select method, upper(label) as label from {{ ref('payment_methods') }}$$)
    || seed('payment_methods')
    || snapshot('orders_snapshot', $$select * from {{ source('raw', 'orders') }}$$)
    || dbt_test('not_null_orders_order_id',
                $$select order_id from {{ ref('orders') }} where order_id is null$$,
                generic => 'not_null')
    || dbt_test('unique_customers_customer_id',
                $$select customer_id as unique_field, count(*) as n_records from {{ ref('customers') }}
where customer_id is not null group by customer_id having count(*) > 1$$,
                generic => 'unique')
    || dbt_test('accepted_values_orders_status',
                $$with all_values as (select status as value_field, count(*) as n_records
from {{ ref('orders') }} group by status)
select * from all_values where value_field not in ('placed', 'shipped')$$,
                config => '{"severity": "warn"}', generic => 'accepted_values')
    || dbt_test('assert_revenue_positive',
                $$select * from {{ ref('daily_revenue') }} where revenue <= 0$$)
       AS nodes,
       source('customers') || source('orders') AS sources;

-- jaffle(): the manifest of `dbt compile` of version 1 with some nodes (and sources)
-- added or replaced and some removed; full_refresh: of `dbt compile --full-refresh`.
CREATE FUNCTION jaffle(nodes jsonb DEFAULT '{}', removed text[] DEFAULT '{}',
                       full_refresh boolean DEFAULT false, sources jsonb DEFAULT '{}')
RETURNS text LANGUAGE sql STABLE AS $$
SELECT manifest(dbt_compile((v1.nodes - removed) || jaffle.nodes, v1.sources || jaffle.sources,
                            full_refresh),
                v1.sources || jaffle.sources)
  FROM v1
$$;

-- edit(): a node of version 1 (a model by name, anything by unique_id) with a change (a
-- JSON merge patch; its config goes to unrendered_config too) and, optionally, new code.
CREATE FUNCTION edit(name text, change jsonb DEFAULT '{}', code text DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(id, merge(v1.nodes -> id,
    change
    || CASE WHEN change ? 'config'
            THEN jsonb_build_object('unrendered_config', change -> 'config') ELSE '{}' END
    || CASE WHEN code IS NOT NULL
            THEN jsonb_build_object('raw_code', code,
                                    'checksum', jsonb_build_object('checksum', md5(code)))
            ELSE '{}' END))
  FROM v1, (SELECT CASE WHEN strpos(name, '.') > 0 THEN name ELSE 'model.jaffle.' || name END) AS i (id)
$$;

-- What `dbt seed`, `dbt snapshot` and `dbt run` built from version 1. The first run of an
-- incremental model builds it in full: its table does not exist yet.
CREATE SCHEMA analytics;
CREATE TABLE analytics.payment_methods (method text PRIMARY KEY, label text);
INSERT INTO analytics.payment_methods VALUES ('card', 'Card'), ('cash', 'Cash');
CREATE TABLE analytics.orders_snapshot AS
SELECT *, updated_at AS dbt_valid_from, NULL::date AS dbt_valid_to FROM raw.orders;
CREATE FUNCTION dbt_run(name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n jsonb := jaffle()::jsonb -> 'nodes' -> ('model.jaffle.' || name);
BEGIN
    EXECUTE format('CREATE %s analytics.%I AS %s',
                   CASE n -> 'config' ->> 'materialized' WHEN 'view' THEN 'VIEW'
                        WHEN 'materialized_view' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                   name, n ->> 'compiled_code');
    RETURN name;
END
$$;
SELECT dbt_run(name)
  FROM unnest('{stg_customers, stg_orders, orders, customers, daily_revenue, order_log,
                order_status, revenue_by_customer, payment_labels}'::text[]) AS name;

-- bluegreen takes the live schema (quietly here: 40_transfer_ownership.sql shows how),
-- and version 1, compiled against this database, becomes the project's live baseline.
SET client_min_messages = warning;
CALL bg.transfer_ownership('analytics');
RESET client_min_messages;
CALL bg.create_project(jaffle());

-- What two of the models compile to: refs rendered, the ephemeral customer_orders
-- inlined, the incremental branch kept now that the table exists.
SELECT n.key AS unique_id, n.value ->> 'compiled_code' AS compiled_code
  FROM jsonb_each(jaffle()::jsonb -> 'nodes') AS n
 WHERE n.key IN ('model.jaffle.customers', 'model.jaffle.daily_revenue')
 ORDER BY 1;

-- live_digest(): every live relation: a table or materialized view with its row count
-- and a digest of its rows, a view with a digest of its definition; each with its OID.
-- It shows that a deployment leaves production exactly as it was.
CREATE FUNCTION live_digest() RETURNS TABLE (relation text, kind "char", row_count bigint, digest text)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid, c.oid::regclass AS rel, c.relkind FROM pg_class AS c
              WHERE c.relnamespace = 'analytics'::regnamespace AND c.relkind IN ('r', 'v', 'm')
              ORDER BY c.relname
    LOOP
        relation := r.rel::text;
        kind := r.relkind;
        IF r.relkind = 'v' THEN
            row_count := NULL;
            digest := md5(r.oid || pg_get_viewdef(r.oid));
        ELSE
            EXECUTE format('SELECT count(*), md5(%L || coalesce(string_agg(t::text, '','' ORDER BY t::text), '''')) FROM %s AS t',
                           r.oid, r.rel)
               INTO row_count, digest;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
CREATE TABLE live_v1 AS SELECT * FROM live_digest();
SELECT relation, kind, row_count FROM live_v1;
-- production_untouched(): the live relations are those of version 1, row for row.
CREATE FUNCTION production_untouched() RETURNS boolean LANGUAGE sql AS $$
SELECT NOT EXISTS (SELECT * FROM live_v1 EXCEPT SELECT * FROM live_digest())
   AND NOT EXISTS (SELECT * FROM live_digest() EXCEPT SELECT * FROM live_v1)
$$;
-- latest, latest_steps: the latest deployment and its steps.
CREATE VIEW latest AS SELECT * FROM bg.deployments ORDER BY deployment_id DESC LIMIT 1;
CREATE VIEW latest_steps AS
SELECT * FROM bg.deployment_steps WHERE deployment_id = (SELECT deployment_id FROM latest);
-- in_shadow: what the shadow schema holds.
CREATE VIEW in_shadow AS
SELECT c.relname AS relation, c.relkind AS kind, pg_get_userbyid(c.relowner) AS owner
  FROM pg_class AS c
 WHERE c.relnamespace = to_regnamespace('analytics__bg_shadow') AND c.relkind IN ('r', 'v', 'm')
 ORDER BY 1;

--
-- A first deployment
--

-- stg_customers gains a column. bg.plan says what a deployment would do: build the
-- changed view and the table downstream of it, and run that table's test.
SELECT unique_id, action, reasons, shadow_relation
  FROM bg.plan(jaffle(edit('stg_customers', code => $$select id as customer_id, name, left(name, 1) as initial
from {{ source('raw', 'customers') }}$$)))
 WHERE selected
 ORDER BY unique_id;

-- A deployer deploys it, from psql as the README shows, the manifest in a psql variable.
-- The models are built into analytics__bg_shadow in dependency order, then the tests
-- run there: a NOTICE per step in dbt's style, then a summary.
SELECT jaffle(edit('stg_customers', code => $$select id as customer_id, name, left(name, 1) as initial
from {{ source('raw', 'customers') }}$$)) AS manifest \gset
SET ROLE regress_bg_deploy_ci;
CALL bg.deploy(:'manifest');

-- The history: the deployment, built and waiting for bg.promote; and its steps. A view
-- has no rows to count.
SELECT deployment_id, project, kind, status, models_built, tests_passed, tests_warned,
       tests_failed, breaking, failed_node, error, started_by
  FROM bg.deployments;
SELECT step, unique_id, action, materialization, relation, shadow_relation, status,
       rows_affected, failures, severity, message
  FROM bg.deployment_steps
 ORDER BY step;
-- Each relation that would replace a live one is compared with it: an added column is
-- compatible (the deploy's summary lists it, and the step's verdict says so).
SELECT step, relation, breaking, compatibility
  FROM bg.deployment_steps
 WHERE action = 'build'
 ORDER BY step;
RESET ROLE;

-- Once built and tested, what the builder built is handed to the owner role, still in
-- shadow (the builder keeps a read): the builder can no longer change what promote will
-- check and switch, and the switch itself changes no owner. Production is untouched.
SELECT * FROM in_shadow;
SELECT * FROM analytics__bg_shadow.stg_customers ORDER BY customer_id;
SELECT * FROM analytics.stg_customers ORDER BY customer_id;
SELECT production_untouched();

--
-- References: rebuilt models are read in shadow, everything else live
--

-- The deployment below changes stg_customers again, so stg_customers and customers are
-- rebuilt, and adds a view, lineage, that reads them and what is not rebuilt: the
-- models stg_orders and orders, the source raw.customers and the seed payment_methods.
-- Its code names them in every way PostgreSQL reads a relation name (dbt's quoted
-- three-part names, two parts, unquoted, upper case, spaces around the dots, a column
-- qualified with its relation), and also in a comment, a string, a column alias and a
-- CTE, which are left alone. (The "depends_on" comment is dbt's way of declaring a
-- dependency the code does not ref(): the models it names are built first.)
CALL bg.deploy(jaffle(
    edit('stg_customers', code => $$select id as customer_id, name, left(name, 1) as initial
from {{ source('raw', 'customers') }}$$)
 || model('lineage', $$-- depends_on: {{ ref('customers') }}, {{ ref('orders') }}
/* reads analytics.stg_customers */
with stg_customers as (select 'a CTE named like a model' as what)
select 'analytics.customers' as a_string,
       (select count(*) from {{ ref('stg_customers') }}) as rebuilt_quoted,
       (select count(*) from analytics.customers) as rebuilt_two_parts,
       (select count(*) from ANALYTICS . CUSTOMERS) as rebuilt_upper_case,
       (select max(analytics.customers.name) from analytics.customers) as rebuilt_qualified_column,
       (select count(*) from {{ ref('stg_orders') }}) as not_rebuilt,
       (select count(*) from analytics.orders) as not_rebuilt_two_parts,
       (select count(*) from {{ source('raw', 'customers') }}) as source,
       (select count(*) from {{ ref('payment_methods') }}) as seed,
       (select what from stg_customers) as cte,
       1 as "analytics.stg_customers"$$)));

-- The relations the shadow view reads ...
SELECT DISTINCT d.refobjid::regclass::text AS reads
  FROM pg_depend AS d JOIN pg_rewrite AS r ON r.oid = d.objid
 WHERE r.ev_class = 'analytics__bg_shadow.lineage'::regclass AND d.refobjid <> r.ev_class
 ORDER BY 1;
-- ... its definition, and what it returns.
SELECT pg_get_viewdef('analytics__bg_shadow.lineage');
\x on
SELECT * FROM analytics__bg_shadow.lineage;
\x off

--
-- Materializations
--

-- orders (a table) changes; what is downstream of it is rebuilt too: daily_revenue (an
-- incremental model: see below), revenue_by_customer (a materialized view), and
-- customers, through the ephemeral customer_orders. An ephemeral model is never built:
-- dbt inlined it into customers' code, which reads orders, so customers is rebuilt.
CALL bg.deploy(jaffle(edit('orders', code => $$select order_id, customer_id, ordered_at, amount, status
from {{ ref('stg_orders') }} where status <> 'cancelled'$$)));
SELECT unique_id, action, reasons, materialization, shadow_relation
  FROM bg.plan(jaffle(edit('orders', code => $$select order_id, customer_id, ordered_at, amount, status
from {{ ref('stg_orders') }} where status <> 'cancelled'$$)))
 WHERE unique_id = 'model.jaffle.customer_orders';
SELECT step, unique_id, materialization, status, rows_affected, message
  FROM latest_steps
 ORDER BY step;
SELECT * FROM in_shadow;

-- Seeds and snapshots are carried forward from live: their data comes from dbt seed and
-- dbt snapshot, not from a manifest. A changed seed is reported and not rebuilt; the
-- model downstream of it is rebuilt, reading the live seed.
CALL bg.deploy(jaffle(seed('payment_methods', checksum => 'v2')
                   || snapshot('orders_snapshot', $$select *, 1 as version from {{ source('raw', 'orders') }}$$)));
SELECT step, unique_id, resource_type, action, relation, status, message
  FROM latest_steps
 ORDER BY step;
SELECT pg_get_viewdef('analytics__bg_shadow.payment_labels');

--
-- Incremental models
--

-- New data arrives after the last `dbt run`: two new orders, and order 3 is shipped and
-- its amount corrected.
INSERT INTO raw.orders VALUES
    (6, 3, '2025-01-03', 60.00, 'placed', '2025-01-04'),
    (7, 1, '2025-01-04', 70.00, 'placed', '2025-01-04');
UPDATE raw.orders SET status = 'shipped', amount = 35.00, updated_at = '2025-01-04' WHERE id = 3;

-- stg_orders changes. Its incremental models downstream are unchanged, and each starts
-- from a copy of its live table, the latest live data, and applies its increment (its
-- compiled is_incremental() branch, reading {{ this }} as that copy) by its strategy,
-- as `dbt run` would: order_log appends, order_status merges on order_id,
-- daily_revenue deletes and inserts on (order_date, customer_id).
CALL bg.deploy(jaffle(edit('stg_orders', code => $$select id as order_id, customer_id, ordered_at, amount, status, updated_at
from {{ source('raw', 'orders') }} where amount > 0$$)));
SELECT step, unique_id, rows_affected, message
  FROM latest_steps
 WHERE materialization = 'incremental'
 ORDER BY step;

-- order_log: the live rows, and orders 6 and 7 appended.
SELECT * FROM analytics__bg_shadow.order_log ORDER BY order_id;
-- order_status: order 3 updated, orders 6 and 7 inserted.
SELECT * FROM analytics__bg_shadow.order_status ORDER BY order_id;
-- daily_revenue: the increment covers the days from the latest one loaded (January 3)
-- on; its rows for January 3 replace the live one. January 2 keeps the live 30.00 of
-- order 3: its correction is on a day the increment does not cover, as with `dbt run`.
SELECT * FROM analytics__bg_shadow.daily_revenue ORDER BY order_date, customer_id;
-- The live tables are as they were.
SELECT production_untouched();

-- delete+insert with one unique_key column (a string, not a list): every row of a day
-- the increment has is replaced. Here daily_revenue is selected alone (its config
-- changed), so its increment reads the live orders, which have no new rows.
CALL bg.deploy(jaffle(edit('daily_revenue', '{"config": {"unique_key": "order_date"}}')));
SELECT * FROM analytics__bg_shadow.daily_revenue ORDER BY order_date, customer_id;

-- merge with merge_update_columns: a matched row has only those columns updated
-- (order 3's status, not its amount) ...
CALL bg.deploy(jaffle(edit('order_status', '{"config": {"merge_update_columns": ["status", "updated_at"]}}')));
SELECT * FROM analytics__bg_shadow.order_status WHERE order_id IN (3, 6) ORDER BY order_id;
-- ... and with merge_exclude_columns, every column but those.
CALL bg.deploy(jaffle(edit('order_status', '{"config": {"merge_exclude_columns": ["amount"]}}')));
SELECT * FROM analytics__bg_shadow.order_status WHERE order_id IN (3, 6) ORDER BY order_id;

-- on_schema_change: the increment of order_log gains a column, status.
-- ignore (dbt's default): the table keeps its columns; the new one is not written.
CALL bg.deploy(jaffle(edit('order_log', code => $$select order_id, ordered_at, amount, status from {{ ref('stg_orders') }}
{% if is_incremental() %}where order_id > (select max(order_id) from {{ this }}){% endif %}$$)));
SELECT * FROM analytics__bg_shadow.order_log ORDER BY order_id;
-- append_new_columns: the column is added, and filled for the new rows.
CALL bg.deploy(jaffle(edit('order_log', '{"config": {"on_schema_change": "append_new_columns"}}',
    code => $$select order_id, ordered_at, amount, status from {{ ref('stg_orders') }}
{% if is_incremental() %}where order_id > (select max(order_id) from {{ this }}){% endif %}$$)));
SELECT * FROM analytics__bg_shadow.order_log ORDER BY order_id;
-- sync_all_columns, with amount gone from the increment: status is added and amount
-- dropped. A dropped column is a breaking change (see Compatibility below).
CALL bg.deploy(jaffle(edit('order_log', '{"config": {"on_schema_change": "sync_all_columns"}}',
    code => $$select order_id, ordered_at, status from {{ ref('stg_orders') }}
{% if is_incremental() %}where order_id > (select max(order_id) from {{ this }}){% endif %}$$)));
SELECT * FROM analytics__bg_shadow.order_log ORDER BY order_id;
-- fail: the deployment fails, naming the columns.
CALL bg.deploy(jaffle(edit('order_log', '{"config": {"on_schema_change": "fail"}}',
    code => $$select order_id, ordered_at, status from {{ ref('stg_orders') }}
{% if is_incremental() %}where order_id > (select max(order_id) from {{ this }}){% endif %}$$)));
-- ignore, with amount gone from the increment: the table's amount cannot be written,
-- and the deployment fails, as `dbt run` would.
CALL bg.deploy(jaffle(edit('order_log',
    code => $$select order_id, ordered_at, status from {{ ref('stg_orders') }}
{% if is_incremental() %}where order_id > (select max(order_id) from {{ this }}){% endif %}$$)));

-- A pre-hook of an incremental model runs on the copy of the live table before the
-- increment is computed ({{ this }} is the shadow relation): here it prunes old rows.
CALL bg.deploy(jaffle(edit('order_log', '{"config": {"pre-hook": ["delete from {{ this }} where ordered_at < ''2025-01-02''"]}}')));
SELECT * FROM analytics__bg_shadow.order_log ORDER BY order_id;

-- A full refresh: `dbt compile --full-refresh` compiles every incremental model to its
-- full query, and bg.deploy(..., full_refresh => true) rebuilds each selected one in
-- full, as `dbt run --full-refresh --select state:modified+` would. daily_revenue now
-- has order 3's corrected amount.
SELECT n.value ->> 'compiled_code' AS daily_revenue_compiled_for_a_full_refresh
  FROM jsonb_each(jaffle(full_refresh => true)::jsonb -> 'nodes') AS n
 WHERE n.key = 'model.jaffle.daily_revenue';
CALL bg.deploy(jaffle(edit('stg_orders', code => $$select id as order_id, customer_id, ordered_at, amount, status, updated_at
from {{ source('raw', 'orders') }} where amount > 0$$), full_refresh => true), full_refresh => true);
SELECT * FROM analytics__bg_shadow.daily_revenue ORDER BY order_date, customer_id;
SELECT deployment_id, kind, full_refresh, status FROM bg.deployments WHERE full_refresh;
-- A full refresh of a manifest compiled for incremental runs is refused before anything
-- is built: the code of an incremental model reads its own table.
CALL bg.deploy(jaffle(edit('stg_orders', code => $$select id as order_id, customer_id, ordered_at, amount, status, updated_at
from {{ source('raw', 'orders') }} where amount > 0$$)), full_refresh => true);

-- full_refresh: true in a model's config rebuilds that model in full, even without the
-- flag (dbt compiles its full query); the others run their increments.
CALL bg.deploy(jaffle(edit('stg_orders', code => $$select id as order_id, customer_id, ordered_at, amount, status, updated_at
from {{ source('raw', 'orders') }} where amount > 0$$)
                   || edit('daily_revenue', '{"config": {"full_refresh": true}}')));

-- A new incremental model has no table yet: dbt compiled its full query, and it is built
-- in full.
CALL bg.deploy(jaffle(model('first_orders', $$select customer_id, min(ordered_at) as first_ordered_at
from {{ ref('orders') }}
{% if is_incremental() %}where customer_id not in (select customer_id from {{ this }}){% endif %}
group by 1$$, 'incremental', '{"incremental_strategy": "append"}')));
SELECT * FROM analytics__bg_shadow.first_orders ORDER BY customer_id;

--
-- Config that dbt-postgres honours
--

-- customers gets indexes (a unique one, one of another access method), a grant,
-- persisted docs (the relation's description and its columns'; a documented column the
-- code does not produce is skipped, as dbt-postgres does), and hooks. {{ this }} and its
-- parts are the shadow relation. A hook's SET ends with the model's build: it does not
-- reach the session that called bg.deploy.
SELECT current_setting('work_mem') AS work_mem_before \gset
CALL bg.deploy(jaffle(edit('customers', '{
    "config": {
        "indexes": [{"columns": ["customer_id"], "unique": true},
                    {"columns": ["name"], "type": "hash"},
                    {"columns": ["order_count", "lifetime_value"]}],
        "grants": {"select": ["regress_bg_deploy_analyst"]},
        "persist_docs": {"relation": true, "columns": true},
        "pre-hook": ["set work_mem = ''64MB''"],
        "post-hook": ["comment on column {{ this }}.order_count is ''set by a post-hook''",
                      {"sql": "analyze {{ this.schema }}.{{ this.identifier }}", "transaction": true}]},
    "description": "One row per customer.",
    "columns": {"customer_id": {"name": "customer_id", "description": "The customer."},
                "lifetime_value": {"name": "lifetime_value", "description": "What they paid, in dollars."},
                "email": {"name": "email", "description": "Not in the code."}}}')));
SELECT indexdef FROM pg_indexes
 WHERE schemaname = 'analytics__bg_shadow' AND tablename = 'customers'
 ORDER BY indexname;
SELECT relacl FROM pg_class WHERE oid = 'analytics__bg_shadow.customers'::regclass;
SELECT obj_description('analytics__bg_shadow.customers'::regclass, 'pg_class') AS description;
SELECT attname, col_description(attrelid, attnum) AS description
  FROM pg_attribute
 WHERE attrelid = 'analytics__bg_shadow.customers'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT current_setting('work_mem') = :'work_mem_before' AS work_mem_as_it_was;

-- An enforced contract: the table is created with the contract's columns, types and
-- constraints (not_null, unique, primary_key, check; a model-level check), then filled.
-- The columns are in the contract's order (this file writes manifests with jsonb, which
-- orders an object's keys shortest first; a real manifest keeps the YAML's order). A new
-- model's foreign_key to customers, which is rebuilt, references its shadow copy.
CALL bg.deploy(jaffle(edit('customers', '{
    "config": {"contract": {"enforced": true}},
    "contract": {"enforced": true, "checksum": "c1"},
    "columns": {
        "customer_id": {"name": "customer_id", "data_type": "integer",
                        "constraints": [{"type": "primary_key"}]},
        "name": {"name": "name", "data_type": "text",
                 "constraints": [{"type": "not_null"}, {"type": "unique"}]},
        "order_count": {"name": "order_count", "data_type": "bigint",
                        "constraints": [{"type": "check", "expression": "order_count >= 0"}]},
        "lifetime_value": {"name": "lifetime_value", "data_type": "numeric"}},
    "constraints": [{"type": "check", "name": "value_needs_orders",
                     "expression": "lifetime_value = 0 or order_count > 0"}]}')
 || model('customer_notes', $$select c.customer_id, 'VIP' as note from {{ ref('customers') }} as c where c.lifetime_value > 40$$,
          'table', '{"contract": {"enforced": true}}', '{
    "contract": {"enforced": true, "checksum": "n1"},
    "columns": {
        "note": {"name": "note", "data_type": "text"},
        "customer_id": {"name": "customer_id", "data_type": "integer",
                        "constraints": [{"type": "foreign_key", "to": "ref(''customers'')",
                                         "to_columns": ["customer_id"]}]}}}')));
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute
 WHERE attrelid = 'analytics__bg_shadow.customers'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT conrelid::regclass AS relation, conname, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint
 WHERE connamespace = 'analytics__bg_shadow'::regnamespace
 ORDER BY conrelid::regclass::text, conname;

-- Code that does not match its contract is refused, naming each difference; the
-- deployment fails before customers exists in shadow.
CALL bg.deploy(jaffle(edit('customers', '{
    "config": {"contract": {"enforced": true}},
    "contract": {"enforced": true, "checksum": "c2"},
    "columns": {
        "customer_id": {"name": "customer_id", "data_type": "bigint"},
        "name": {"name": "name", "data_type": "text"},
        "order_count": {"name": "order_count", "data_type": "bigint"},
        "ltv": {"name": "ltv", "data_type": "numeric"}}}')));
SELECT * FROM in_shadow;
-- A view's contract is checked against its code too, and the view created.
CALL bg.deploy(jaffle(edit('stg_customers', '{
    "config": {"contract": {"enforced": true}},
    "contract": {"enforced": true, "checksum": "s1"},
    "columns": {"customer_id": {"name": "customer_id", "data_type": "int"},
                "name": {"name": "name", "data_type": "text"}}}')));

--
-- Tests
--

-- orders now has a row without an order_id, with a status outside the accepted values,
-- and a negative amount that reaches daily_revenue. Every selected test runs against
-- the shadow build: not_null fails (severity error), accepted_values warns (severity
-- warn), and assert_revenue_positive, given warn_if and error_if thresholds, has one
-- failing row: over warn_if, not over error_if, so it warns. A failing error-severity
-- test fails the deployment; the failure counts are kept.
CALL bg.deploy(jaffle(
    edit('orders', code => $$select order_id, customer_id, ordered_at, amount, status from {{ ref('stg_orders') }}
union all select null, 1, date '2025-01-05', -5.00, 'lost'$$)
 || edit('test.jaffle.assert_revenue_positive', '{"config": {"warn_if": "!= 0", "error_if": "> 5"}}')));
SELECT deployment_id, status, models_built, tests_passed, tests_warned, tests_failed,
       breaking, failed_node, error
  FROM latest;
SELECT step, unique_id, status, failures, severity
  FROM latest_steps
 WHERE action = 'test'
 ORDER BY step;
-- What failed stays in shadow, to look at: the row without an order_id.
SELECT * FROM analytics__bg_shadow.orders WHERE order_id IS NULL;

--
-- Compatibility with live
--

-- Objects outside the project that depend on it: two views of a reporting schema, a
-- foreign key to orders (a DBA gave orders a unique index for it), and a publication of
-- daily_revenue (with a replica identity, so that its rows can be sent as changes).
CREATE SCHEMA reporting;
CREATE VIEW reporting.customer_names AS SELECT customer_id, name FROM analytics.customers;
CREATE VIEW reporting.big_spenders AS SELECT customer_id FROM analytics.customers WHERE lifetime_value > 40;
CREATE UNIQUE INDEX orders_order_id ON analytics.orders (order_id);
CREATE TABLE reporting.refunds (order_id integer REFERENCES analytics.orders (order_id));
SET client_min_messages = error;  -- no warning that wal_level is not logical
CREATE PUBLICATION regress_bg_deploy_pub FOR TABLE analytics.daily_revenue;
RESET client_min_messages;
ALTER TABLE analytics.daily_revenue REPLICA IDENTITY FULL;

-- customers loses lifetime_value and order_count becomes an integer: both are breaking.
-- reporting.big_spenders reads lifetime_value and would break; customer_names would not.
CALL bg.deploy(jaffle(edit('customers', code => $$select c.customer_id, c.name, 0 as order_count
from {{ ref('stg_customers') }} as c$$)));
SELECT step, relation, breaking, jsonb_pretty(compatibility) AS compatibility
  FROM latest_steps
 WHERE action = 'build';
SELECT deployment_id, status, breaking FROM latest;

-- orders rebuilt without a unique index on order_id breaks the foreign key that
-- references it ...
CALL bg.deploy(jaffle(edit('orders', code => $$select order_id, customer_id, ordered_at, amount, status
from {{ ref('stg_orders') }} where status <> 'cancelled'$$)));
-- ... and with one (config indexes), it does not.
CALL bg.deploy(jaffle(edit('orders', '{"config": {"indexes": [{"columns": ["order_id"], "unique": true}]}}',
    code => $$select order_id, customer_id, ordered_at, amount, status
from {{ ref('stg_orders') }} where status <> 'cancelled'$$)));
SELECT step, relation, breaking, compatibility
  FROM latest_steps
 WHERE relation = 'analytics.orders';

-- daily_revenue becomes a view. A change of relation kind breaks what depends on the
-- kind, and here something does: a publication holds only tables.
CALL bg.deploy(jaffle(edit('daily_revenue', '{"config": {"materialized": "view"}}')));
SELECT step, relation, breaking, compatibility
  FROM latest_steps
 WHERE action = 'build';

-- A model removed from the project: its relation is dropped at promote (and kept for
-- rollback), which breaks whatever reads it.
CALL bg.deploy(jaffle(removed => '{model.jaffle.customers,test.jaffle.unique_customers_customer_id}'));
SELECT step, unique_id, action, relation, status, breaking, compatibility
  FROM latest_steps;

--
-- A model that fails
--

-- stg_customers builds, then customers fails (a division by zero on one row). The
-- deployment is recorded failed with the model and the error; the CALL ends with an
-- ERROR naming them; the test that was not reached is skipped, and says why.
CALL bg.deploy(jaffle(
    edit('stg_customers', code => $$select id as customer_id, name, left(name, 1) as initial
from {{ source('raw', 'customers') }}$$)
 || edit('customers', code => $$select c.customer_id, c.name, coalesce(o.order_count, 0) as order_count,
       coalesce(o.lifetime_value, 0) as lifetime_value, 100 / (c.customer_id - 2) as score
from {{ ref('stg_customers') }} as c left join {{ ref('customer_orders') }} as o using (customer_id)$$)));
SELECT deployment_id, status, models_built, breaking, failed_node, error, finished_at IS NOT NULL AS finished
  FROM latest;
SELECT step, unique_id, status, rows_affected, message
  FROM latest_steps
 ORDER BY step;
-- Production is untouched; what was built stays in shadow until the next deploy or
-- bg.abandon.
SELECT production_untouched();
SELECT * FROM in_shadow;

-- The next deployment drops it first, and works.
CALL bg.deploy(jaffle(
    edit('stg_customers', code => $$select id as customer_id, name, left(name, 1) as initial
from {{ source('raw', 'customers') }}$$)
 || edit('customers', code => $$select c.customer_id, c.name, coalesce(o.order_count, 0) as order_count,
       coalesce(o.lifetime_value, 0) as lifetime_value, 100 / nullif(c.customer_id - 2, 0) as score
from {{ ref('stg_customers') }} as c left join {{ ref('customer_orders') }} as o using (customer_id)$$)));
SELECT deployment_id, status, error FROM bg.deployments ORDER BY deployment_id DESC LIMIT 2;

--
-- A scheduled refresh: bg.deploy() with no manifest
--

-- Every model of the live manifest is rebuilt in shadow, incremental models applying
-- their increments to the latest live data, and every test runs: what a nightly
-- `dbt build` does, beside production. (From pg_cron: CALL bg.deploy(promote => true).)
-- orders is rebuilt without the unique index a DBA added to the live table above, so the
-- foreign key that needs it would break.
CALL bg.deploy();
SELECT deployment_id, kind, status, models_built, tests_passed, manifest_id = base_manifest_id AS same_manifest
  FROM latest;

--
-- bg.abandon
--

-- Drops what the deployment built, and marks it abandoned; production is untouched.
-- Once done there is nothing left to drop.
CALL bg.abandon();
SELECT deployment_id, kind, status, error FROM latest;
SELECT * FROM in_shadow;
SELECT production_untouched();
CALL bg.abandon();

--
-- One deployment of a project at a time
--

-- Another session deploys the project. Its first model reads raw.customers, which this
-- session holds locked, so it waits there, holding the project.
CREATE EXTENSION dblink;
SELECT dblink_connect('other', format('host=%s port=%s dbname=%s',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database())) AS other_session;
SELECT dblink_exec('other', 'SET client_min_messages = warning');
BEGIN;
LOCK TABLE raw.customers IN ACCESS EXCLUSIVE MODE;
SELECT dblink_send_query('other', format('CALL bg.deploy(%L)',
           jaffle(edit('stg_customers', code => $$select id as customer_id, name, left(name, 1) as initial
from {{ source('raw', 'customers') }}$$)))) AS sent;
DO $$
BEGIN
    FOR i IN 1 .. 3000 LOOP
        EXIT WHEN EXISTS (SELECT FROM pg_locks
                           WHERE relation = 'raw.customers'::regclass AND NOT granted);
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;
SELECT deployment_id, kind, status FROM bg.deployments WHERE status = 'building';

-- A deploy or an abandon from this session fails at once, naming the other backend
-- (its process id is replaced here, to be the same on every run).
CREATE FUNCTION refused(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
    hint text;
BEGIN
    EXECUTE call;
    RETURN 'not refused';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'backend [0-9]+', 'backend <pid>')
        || E'\n    HINT: ' || hint
        || E'\n    refused within a second: ' || (clock_timestamp() - started < interval '1 second');
END
$$;
SELECT refused(format('CALL bg.deploy(%L)', jaffle()));
SELECT refused('CALL bg.abandon()');
-- The lock released, the other deployment goes on and builds.
COMMIT;
SELECT * FROM dblink_get_result('other') AS t (result text);
SELECT dblink_disconnect('other');
SELECT deployment_id, kind, status, models_built, tests_passed FROM latest;
CALL bg.abandon();

--
-- The history
--

-- Every deployment of this file, as bg.deployments keeps it: each one replaced by a newer
-- one before promote was abandoned (its shadow relations dropped), those that failed say
-- where and why, and none was promoted.
SELECT deployment_id, kind, full_refresh, status, models_built, tests_passed, tests_warned,
       tests_failed, breaking, failed_node
  FROM bg.deployments
 ORDER BY deployment_id;
