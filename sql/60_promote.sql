--
-- bg.promote, bg.rollback, bg.cleanup: switch a built deployment live in one
-- transaction, switch it back, and drop what promotes replaced once it is no longer
-- wanted; and bg.deploy(promote => true), which builds and promotes in one call.
--
-- This file works in a database of its own, which holds one project: the calls leave
-- the project out, as they can for a team with one dbt project.
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_promote;
\c regress_bg_promote
CREATE EXTENSION bluegreen;
RESET client_min_messages;
-- progress lines without durations, the same on every run
SET bluegreen.show_timing = off;

-- The cast:
--   ci      a deployer: deploys, promotes, rolls back, cleans up
--   team    the team that answers for analytics.customers (a DBA made it the owner)
--   reader  reads analytics
CREATE ROLE regress_bg_promote_ci;
CREATE ROLE regress_bg_promote_team;
CREATE ROLE regress_bg_promote_reader;
GRANT bluegreen_deployer TO regress_bg_promote_ci;

-- The sources, loaded by someone else; the builder (and so the owner role) may read them.
CREATE SCHEMA raw;
CREATE TABLE raw.customers (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE raw.orders (id integer PRIMARY KEY, customer_id integer NOT NULL,
                         ordered_at date NOT NULL);
CREATE TABLE raw.payments (order_id integer NOT NULL, amount integer NOT NULL,
                           status text NOT NULL);
INSERT INTO raw.customers VALUES (1, 'Ada'), (2, 'Grace'), (3, 'Hidden'), (4, 'Edsger');
INSERT INTO raw.orders VALUES (10, 1, '2025-01-01'), (11, 1, '2025-01-02'),
    (12, 2, '2025-01-02'), (13, 3, '2025-01-03'), (14, 4, '2025-01-03');
INSERT INTO raw.payments VALUES (10, 1250, 'paid'), (11, 800, 'paid'), (12, 4000, 'paid'),
    (13, 999, 'failed'), (13, 999, 'paid'), (14, 300, 'paid'), (14, 2000, 'failed');
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON ALL TABLES IN SCHEMA raw TO bluegreen_builder;

-- The live schemas belong to the owner role.
CREATE SCHEMA staging AUTHORIZATION bluegreen;
CREATE SCHEMA analytics AUTHORIZATION bluegreen;

--
-- Manifests, built in SQL in the shape dbt writes them (as in 10_plan), with compiled
-- code that reads the live relations by name.
--
\set raw_sources '{customers,orders,payments}'
\i sql/include/raw_manifest.sql

-- model(): one model; its code is already compiled (dbt's compiled_code).
CREATE FUNCTION model(name text, code text, materialized text DEFAULT 'view',
                      schema text DEFAULT 'analytics', depends_on text[] DEFAULT '{}',
                      config jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.shop.' || name, jsonb_build_object(
    'unique_id', 'model.shop.' || name, 'resource_type', 'model', 'package_name', 'shop',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('shop', name), 'database', current_database(),
    'schema', schema, 'alias', name,
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

-- not_null(): dbt's not_null test of a model's column, compiled.
CREATE FUNCTION not_null(model text, column_name text, schema text DEFAULT 'analytics')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(format('test.shop.not_null_%s_%s', model, column_name), jsonb_build_object(
    'unique_id', format('test.shop.not_null_%s_%s', model, column_name),
    'resource_type', 'test', 'package_name', 'shop',
    'name', format('not_null_%s_%s', model, column_name),
    'fqn', jsonb_build_array('shop', format('not_null_%s_%s', model, column_name)),
    'database', current_database(), 'schema', 'analytics_dbt_test__audit',
    'alias', format('not_null_%s_%s', model, column_name),
    'config', '{"enabled": true, "materialized": "test", "severity": "ERROR"}'::jsonb,
    'unrendered_config', '{}'::jsonb,
    'raw_code', '{{ test_not_null(**_dbt_generic_test_kwargs) }}',
    'compiled_code', format('select %I from %I.%I where %I is null', column_name, schema, model, column_name),
    'test_metadata', jsonb_build_object('name', 'not_null', 'namespace', NULL,
        'kwargs', jsonb_build_object('column_name', column_name,
                                     'model', format('{{ get_where_subquery(ref(''%s'')) }}', model))),
    'column_name', column_name, 'attached_node', 'model.shop.' || model,
    'depends_on', jsonb_build_object('macros', '["macro.dbt.test_not_null"]'::jsonb,
                                     'nodes', jsonb_build_array('model.shop.' || model))))
$$;

-- Version 1 of the shop:
--   raw.orders   -> staging.stg_orders -------------------------> analytics.orders (table)
--   raw.payments -> staging.stg_payments -> stg_payments_by_order --^        |
--   raw.customers ------------------------------------------> analytics.customers (table)
--   raw.customers -> analytics.customer_list (view)
CREATE FUNCTION shop_v1() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('stg_orders', 'select id as order_id, customer_id, ordered_at from raw.orders',
             schema => 'staging', depends_on => '{source.shop.raw.orders}')
    || model('stg_payments', 'select order_id, amount / 100.0 as amount from raw.payments',
             schema => 'staging', depends_on => '{source.shop.raw.payments}')
    || model('stg_payments_by_order', 'select order_id, sum(amount) as amount
                                         from staging.stg_payments group by 1',
             schema => 'staging', depends_on => '{model.shop.stg_payments}')
    || model('orders', 'select o.order_id, o.customer_id, o.ordered_at, p.amount
                          from staging.stg_orders as o join staging.stg_payments_by_order as p using (order_id)',
             materialized => 'table', depends_on => '{model.shop.stg_orders,model.shop.stg_payments_by_order}',
             config => '{"indexes": [{"columns": ["order_id"], "unique": true}]}')
    || model('customers', 'select c.id as customer_id, c.name, coalesce(sum(o.amount), 0) as lifetime_value
                             from raw.customers as c left join analytics.orders as o on o.customer_id = c.id
                            group by 1, 2',
             materialized => 'table', depends_on => '{source.shop.raw.customers,model.shop.orders}')
    || model('customer_list', 'select id as customer_id, name from raw.customers',
             depends_on => '{source.shop.raw.customers}')
    || not_null('orders', 'amount')
$$;

-- Version 2: failed payments no longer count; customers gains a column (compatible);
-- readers are granted SELECT on orders by its grants config; a new model, daily_revenue,
-- in a new schema, marts.
CREATE FUNCTION shop_v2() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT shop_v1()
    || model('stg_payments', 'select order_id, amount / 100.0 as amount from raw.payments
                               where status = ''paid''',
             schema => 'staging', depends_on => '{source.shop.raw.payments}')
    || model('orders', 'select o.order_id, o.customer_id, o.ordered_at, p.amount
                          from staging.stg_orders as o join staging.stg_payments_by_order as p using (order_id)',
             materialized => 'table', depends_on => '{model.shop.stg_orders,model.shop.stg_payments_by_order}',
             config => '{"indexes": [{"columns": ["order_id"], "unique": true}],
                         "grants": {"select": ["regress_bg_promote_reader"]}}')
    || model('customers', 'select c.id as customer_id, c.name, coalesce(sum(o.amount), 0) as lifetime_value,
                                  count(o.order_id) as orders
                             from raw.customers as c left join analytics.orders as o on o.customer_id = c.id
                            group by 1, 2',
             materialized => 'table', depends_on => '{source.shop.raw.customers,model.shop.orders}')
    || model('daily_revenue', 'select ordered_at as day, sum(amount) as revenue
                                 from analytics.orders group by 1',
             materialized => 'table', schema => 'marts', depends_on => '{model.shop.orders}')
$$;

-- Version 3: version 2 without customer_list, deleted from the project.
CREATE FUNCTION shop_v3() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT shop_v2() - 'model.shop.customer_list'
$$;

--
-- What to look at
--

-- checksum(): the content of a relation, row by row, in one md5.
CREATE FUNCTION checksum(relation text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s AS t',
                   relation) INTO result;
    RETURN result;
END
$$;

-- relations(): every relation of the given schemas with its kind, OID and checksum.
CREATE FUNCTION relations(VARIADIC schemas text[])
RETURNS TABLE (schema text, name text, kind "char", oid oid, checksum text)
LANGUAGE sql AS $$
SELECT n.nspname::text, c.relname::text, c.relkind, c.oid,
       checksum(format('%I.%I', n.nspname, c.relname))
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY (schemas) AND c.relkind IN ('r', 'v', 'm')
 ORDER BY 1, 2
$$;

-- live(): the relations of the live schemas.
CREATE FUNCTION live()
RETURNS TABLE (schema text, name text, kind "char", oid oid, checksum text)
LANGUAGE sql AS $$
SELECT * FROM relations('staging', 'analytics', 'marts')
$$;

-- side_schemas: the schemas bluegreen keeps beside the live ones, and what they hold.
CREATE VIEW side_schemas AS
SELECT n.nspname AS schema,
       coalesce(string_agg(c.relname, ', ' ORDER BY c.relname), '') AS relations
  FROM pg_namespace AS n
  LEFT JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'v', 'm')
 WHERE n.nspname LIKE '%\_\_bg\_%'
 GROUP BY n.nspname
 ORDER BY n.nspname;

-- history: how each deployment ended (times shown as set or not).
CREATE VIEW history AS
SELECT deployment_id, kind, status, models_built, tests_passed, breaking,
       built_at IS NOT NULL AS built, promoted_at IS NOT NULL AS promoted,
       rolled_back_at IS NOT NULL AS rolled_back,
       previous_dropped_at IS NOT NULL AS previous_dropped, manifest_id, base_manifest_id
  FROM bg.deployments
 ORDER BY deployment_id;

-- everything(): what promote could change: the relations of every schema but the
-- system's, bluegreen's history and the live manifest. Compared before and after a call
-- that must change nothing.
CREATE FUNCTION everything() RETURNS SETOF text LANGUAGE sql AS $$
SELECT format('%s %s %s %s', n.nspname, c.relname, c.relkind, c.oid)
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bg')
   AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
UNION ALL SELECT d::text FROM bg.deployment AS d
UNION ALL SELECT s::text FROM bg.deployment_step AS s
UNION ALL SELECT p::text FROM bg.project AS p
UNION ALL SELECT format('%s %s', c.oid::regclass, checksum(c.oid::regclass::text))
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('staging', 'analytics', 'marts', 'reporting') AND c.relkind IN ('r', 'v', 'm')
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

--
-- The first deployment: every model is new
--
-- The project is registered with nothing live yet (a manifest of its sources alone).
-- Its first deployment builds every model in shadow; promote moves them all in and
-- replaces nothing.
SELECT manifest('{}') AS manifest \gset
CALL bg.create_project(:'manifest');
SELECT manifest(shop_v1()) AS manifest \gset
SET ROLE regress_bg_promote_ci;
CALL bg.deploy(:'manifest');
CALL bg.promote() \gset
RESET ROLE;
SELECT jsonb_array_elements_text(:'plan'::jsonb -> 'statements') AS statement;
SELECT schema, name, kind FROM live();

--
-- Live, and what surrounds it
--
-- The DBA grants customers to readers, comments it, and lets readers see named
-- customers only (row-level security). (Live relations stay the owner role's: one that
-- another role owned would be outside the managed scope, and refused; see 70_security.)
GRANT USAGE ON SCHEMA analytics TO regress_bg_promote_reader;
GRANT SELECT ON analytics.customers TO regress_bg_promote_reader WITH GRANT OPTION;
-- The team may also see two columns of orders.
GRANT SELECT (order_id, ordered_at) ON analytics.orders TO regress_bg_promote_team;
COMMENT ON TABLE analytics.customers IS 'One row per customer.';
COMMENT ON COLUMN analytics.customers.lifetime_value IS 'Dollars paid.';
ALTER TABLE analytics.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY named_only ON analytics.customers FOR SELECT TO regress_bg_promote_reader
    USING (name <> 'Hidden');

-- Outside the project: a reporting view and a table whose foreign key references orders.
-- (A published table is promoted as its changes instead: sql/66_published.)
CREATE SCHEMA reporting;
CREATE VIEW reporting.top_customers AS
    SELECT customer_id, name, lifetime_value FROM analytics.customers
     WHERE lifetime_value >= 10;
CREATE TABLE reporting.refunds (order_id integer REFERENCES analytics.orders (order_id),
                                amount numeric NOT NULL);
INSERT INTO reporting.refunds VALUES (12, 5);

-- What readers see now.
SELECT * FROM reporting.top_customers ORDER BY customer_id;
SET ROLE regress_bg_promote_reader;
SELECT * FROM analytics.customers ORDER BY customer_id;
RESET ROLE;

-- Every live relation as version 1 left it, to compare with after the rollback.
CREATE TEMP TABLE v1 AS SELECT * FROM live();

--
-- Version 2, built beside production
--
SELECT manifest(shop_v2()) AS manifest \gset
SET ROLE regress_bg_promote_ci;
CALL bg.deploy(:'manifest');
RESET ROLE;

-- What the shadow holds: what promote is to put live.
CREATE TEMP TABLE built AS SELECT * FROM relations('staging__bg_shadow', 'analytics__bg_shadow', 'marts__bg_shadow');
SELECT schema, name, kind FROM built;

--
-- Dry run: every statement a promote would run, in order; nothing changes
--
SELECT save();
SET ROLE regress_bg_promote_ci;
CALL bg.promote(dry_run => true) \gset dry_
RESET ROLE;
-- The same statements, returned as JSON.
SELECT :'dry_plan'::jsonb - 'statements' AS plan;
SELECT n, statement
  FROM jsonb_array_elements_text(:'dry_plan'::jsonb -> 'statements') WITH ORDINALITY AS s (statement, n);
-- Nothing changed: no relation, no schema, no row of bluegreen's history (none listed).
SELECT * FROM changed();
SELECT * FROM history;

--
-- Promote
--
SET ROLE regress_bg_promote_ci;
CALL bg.promote() \gset
RESET ROLE;
-- It ran exactly the statements the dry run showed.
SELECT :'plan'::jsonb - 'statements' AS plan,
       :'plan'::jsonb -> 'statements' = :'dry_plan'::jsonb -> 'statements' AS same_statements;

-- Every relation the shadow held is live, with the same content (and OID: it was moved,
-- not copied) ...
SELECT b.name, l.schema AS live_schema, l.oid = b.oid AS same_relation,
       l.checksum = b.checksum AS same_content
  FROM built AS b LEFT JOIN live() AS l USING (name)
 ORDER BY b.name;
-- ... what it replaced is kept in the previous schemas, unchanged, and the shadow is
-- empty ...
SELECT * FROM side_schemas;
SELECT p.name, p.checksum = v.checksum AS as_it_was
  FROM relations('staging__bg_p2', 'analytics__bg_p2') AS p JOIN v1 AS v USING (name)
 ORDER BY p.name;
-- ... and what version 2 did not select was not touched.
SELECT l.name, l.oid = v.oid AS same_relation
  FROM live() AS l JOIN v1 AS v USING (schema, name)
 WHERE l.name NOT IN (SELECT name FROM built)
 ORDER BY l.name;

-- The reporting view outside the project reads the new customers: failed payments no
-- longer count.
SELECT * FROM reporting.top_customers ORDER BY customer_id;
SELECT DISTINCT refobjid::regclass AS reads
  FROM pg_depend JOIN pg_rewrite ON pg_rewrite.oid = pg_depend.objid
 WHERE ev_class = 'reporting.top_customers'::regclass AND refobjid <> ev_class;
-- The foreign key references the new orders, and was validated after the commit.
SELECT conname, confrelid::regclass AS references, convalidated
  FROM pg_constraint WHERE conrelid = 'reporting.refunds'::regclass AND contype = 'f';

-- customers kept its owner, grants, comments, row-level security and policy.
SELECT c.relnamespace::regnamespace AS schema, c.relowner::regrole AS owner,
       c.relrowsecurity AS rls, c.relacl AS grants,
       obj_description(c.oid, 'pg_class') AS comment,
       col_description(c.oid, 3) AS lifetime_value_comment,
       (SELECT string_agg(format('%s TO %s USING %s', polname, polroles::regrole[],
                                 pg_get_expr(polqual, polrelid)), '; ')
          FROM pg_policy WHERE polrelid = c.oid) AS policies
  FROM pg_class AS c
 WHERE c.relname = 'customers' AND c.relnamespace IN ('analytics'::regnamespace,
                                                      'analytics__bg_p2'::regnamespace)
 ORDER BY 1;
-- orders kept its column grants.
SELECT attname, attacl FROM pg_attribute
 WHERE attrelid = 'analytics.orders'::regclass AND attacl IS NOT NULL ORDER BY attnum;
SET ROLE regress_bg_promote_reader;
SELECT * FROM analytics.customers ORDER BY customer_id;
-- orders' grants config is applied: readers may read the new orders.
SELECT order_id, amount FROM analytics.orders ORDER BY order_id;
RESET ROLE;

-- The new model is live, in its new schema (owned by bluegreen, like every live schema).
SELECT * FROM marts.daily_revenue ORDER BY day;
SELECT nspowner::regrole AS marts_owner FROM pg_namespace WHERE nspname = 'marts';

-- History: deployment 2 is promoted, and its manifest is live.
SELECT * FROM history;
SELECT p.live_manifest_id, d.deployment_id AS of_deployment
  FROM bg.project AS p JOIN bg.deployment AS d ON d.manifest_id = p.live_manifest_id;

--
-- Rollback: the same switch backwards
--
SELECT save();
SET ROLE regress_bg_promote_ci;
CALL bg.rollback(dry_run => true) \gset dry_
RESET ROLE;
SELECT * FROM changed();
SET ROLE regress_bg_promote_ci;
CALL bg.rollback() \gset
RESET ROLE;
SELECT :'plan'::jsonb -> 'statements' = :'dry_plan'::jsonb -> 'statements' AS same_statements;

-- Every live relation is again exactly what it was before version 2 was deployed, and
-- the same relation; daily_revenue, new in version 2, is no longer live (none listed;
-- its schema stays, empty).
SELECT v.schema, v.name, l.oid = v.oid AS same_relation, l.checksum = v.checksum AS same_content
  FROM v1 AS v LEFT JOIN live() AS l USING (schema, name)
 ORDER BY 1, 2;
SELECT schema, name FROM live() EXCEPT SELECT schema, name FROM v1;
-- What version 2 put live waits in <schema>__bg_r2 (for bg.cleanup).
SELECT * FROM side_schemas;
-- The reporting view and the foreign key follow back.
SELECT * FROM reporting.top_customers ORDER BY customer_id;
SELECT conname, confrelid::regclass AS references, confrelid = (SELECT oid FROM v1 WHERE name = 'orders') AS the_old_one
  FROM pg_constraint WHERE conrelid = 'reporting.refunds'::regclass AND contype = 'f';
-- The live manifest is version 1's again.
SELECT * FROM history;
SELECT p.live_manifest_id, d.deployment_id AS of_deployment
  FROM bg.project AS p JOIN bg.deployment AS d ON d.manifest_id = p.live_manifest_id;

--
-- deploy(promote => true): build, test, and promote when it passed and breaks nothing
--
SELECT manifest(shop_v2()) AS manifest \gset
SET ROLE regress_bg_promote_ci;
CALL bg.deploy(:'manifest', promote => true);
RESET ROLE;
SELECT * FROM history;
SELECT l.name, l.checksum = b.checksum AS same_content_as_deployment_2
  FROM live() AS l JOIN built AS b USING (name)
 ORDER BY l.name;
-- The foreign key was re-pointed and validated here too.
SELECT conname, confrelid::regclass AS references, convalidated,
       confrelid = (SELECT oid FROM live() WHERE name = 'orders') AS the_live_one
  FROM pg_constraint WHERE conrelid = 'reporting.refunds'::regclass AND contype = 'f';

--
-- A removed model
--
-- customer_list is deleted from the project. Its relation is dropped at promote (kept
-- for rollback); nothing outside the project reads it, so that breaks nothing (a
-- removal that something reads is breaking: 61_compatibility).
SELECT manifest(shop_v3()) AS manifest \gset
SET ROLE regress_bg_promote_ci;
CALL bg.deploy(:'manifest');
RESET ROLE;
-- Promote is one transaction. In a transaction block, the block sees what it did;
-- rolled back, it never happened.
SELECT save();
BEGIN;
SET LOCAL ROLE regress_bg_promote_ci;
CALL bg.promote() \gset
RESET ROLE;
SELECT to_regclass('analytics.customer_list') AS live_inside;
ROLLBACK;
SELECT to_regclass('analytics.customer_list') AS live_after;
SELECT * FROM changed();
-- Now for real.
SET ROLE regress_bg_promote_ci;
CALL bg.promote() \gset
RESET ROLE;
SELECT jsonb_array_elements_text(:'plan'::jsonb -> 'statements') AS statement;
SELECT to_regclass('analytics.customer_list') AS live,
       to_regclass('analytics__bg_p4.customer_list') AS kept;
-- Rollback brings it back, as it was.
SET ROLE regress_bg_promote_ci;
CALL bg.rollback() \gset
RESET ROLE;
SELECT l.name, l.oid = v.oid AS same_relation, l.checksum = v.checksum AS same_content
  FROM relations('analytics') AS l JOIN v1 AS v USING (schema, name)
 WHERE l.name = 'customer_list';
SELECT * FROM history;

--
-- Cleanup
--
-- bg.cleanup drops what promotes replaced past retention (all but the newest keep
-- promoted deployments, and those promoted longer ago than older_than) and what
-- rollbacks moved out. Now deployment 3 is live (4 was rolled back), and its previous
-- relations are what a rollback would bring back.
SELECT * FROM side_schemas;

-- keep => 1 (the default) keeps the previous relations of the newest promoted
-- deployment, 3; those of the older 1 go (it replaced nothing), and those of the rolled
-- back 2 and 4. What reads goes before what it reads (stg_payments_by_order before
-- stg_payments). Best effort: someone reads a relation that a rollback moved out. That
-- one drop fails, the others go on.
CREATE VIEW reporting.old_revenue AS SELECT * FROM marts__bg_r2.daily_revenue;
SET ROLE regress_bg_promote_ci;
CALL bg.cleanup();
RESET ROLE;
SELECT * FROM side_schemas;
SELECT deployment_id, status, previous_dropped FROM history;
DROP VIEW reporting.old_revenue;
SET ROLE regress_bg_promote_ci;
CALL bg.cleanup();
RESET ROLE;
SELECT * FROM side_schemas;

-- older_than: deployment 3 is among the newest 10, and was promoted less than an hour
-- ago, so it stays ...
SET ROLE regress_bg_promote_ci;
CALL bg.cleanup(keep => 10, older_than => '1 hour');
RESET ROLE;
SELECT * FROM side_schemas;
-- ... and goes once it is older than older_than, however many are kept.
SET ROLE regress_bg_promote_ci;
CALL bg.cleanup(keep => 10, older_than => '0 seconds');
RESET ROLE;
SELECT * FROM side_schemas;
SELECT deployment_id, status, previous_dropped FROM history;

-- What deployment 3 replaced is gone: it cannot be rolled back any more, and nothing
-- changes.
SELECT save();
SET ROLE regress_bg_promote_ci;
CALL bg.rollback();
RESET ROLE;
SELECT * FROM changed();

\c :regress_database
DROP DATABASE regress_bg_promote;
DROP ROLE regress_bg_promote_ci, regress_bg_promote_team, regress_bg_promote_reader;
