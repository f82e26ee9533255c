--
-- The compatibility verdict: which changes to a live relation are breaking, and why.
-- bg.plan (before anything is built), the deploy's report (against the shadow build)
-- and promote (against live as it is then) judge by the same rules (src/verdict.c), so
-- they agree. A compatible change promotes without force. A breaking one is refused
-- with the reason, and the refusal changes nothing: changed() compares every relation
-- (by OID and content), every schema, every view's definition and every row of
-- bluegreen's history with what save() recorded just before, and lists what differs.
--
-- Then: a model that moves (a new alias or schema) is a removal plus an addition; and
-- every step of every deployment ends in a final status, with its counts, after
-- promote, rollback, and a deployment that dbt builds.
--
-- This file works in a database of its own, with one project.
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_verdict;
\c regress_bg_verdict
CREATE EXTENSION bluegreen;
RESET client_min_messages;
SET bluegreen.show_timing = off;

-- ci deploys, and also runs dbt (so it is a member of the builder role, as the dbt
-- package asks of the role dbt connects as).
CREATE ROLE regress_bg_verdict_ci;
CREATE ROLE regress_bg_verdict_reader;
GRANT bluegreen_deployer, bluegreen_builder TO regress_bg_verdict_ci;

CREATE SCHEMA raw;
CREATE TABLE raw.items (id integer PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL,
                        qty smallint NOT NULL, weight real NOT NULL, code varchar(8) NOT NULL);
INSERT INTO raw.items VALUES (1, 'bolt', 0.25, 100, 0.01, 'B1'), (2, 'nut', 0.10, 250, 0.005, 'N1'),
    (3, 'hammer', 12.50, 4, 0.8, 'H7'), (4, 'saw', 21.00, 0, 1.2, 'S2');
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON ALL TABLES IN SCHEMA raw TO bluegreen_builder;
CREATE SCHEMA analytics AUTHORIZATION bluegreen;
CREATE SCHEMA reporting;

-- Manifests, as in 60_promote: model() takes an alias too.
\set raw_sources '{items}'
\i sql/include/raw_manifest.sql
CREATE FUNCTION model(name text, code text, materialized text DEFAULT 'view',
                      alias text DEFAULT NULL, depends_on text[] DEFAULT '{source.shop.raw.items}',
                      config jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.shop.' || name, jsonb_build_object(
    'unique_id', 'model.shop.' || name, 'resource_type', 'model', 'package_name', 'shop',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('shop', name), 'database', current_database(),
    'schema', 'analytics', 'alias', coalesce(alias, name),
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized,
                                 'persist_docs', '{}'::jsonb, 'tags', '[]'::jsonb) || config
              || CASE WHEN alias IS NULL THEN '{}' ELSE jsonb_build_object('alias', alias) END,
    'unrendered_config', jsonb_build_object('materialized', materialized) || config
              || CASE WHEN alias IS NULL THEN '{}' ELSE jsonb_build_object('alias', alias) END,
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', to_jsonb(depends_on)),
    'contract', '{"enforced": false, "alias_types": true, "checksum": null}'::jsonb,
    'constraints', '[]'::jsonb, 'access', 'protected', 'version', NULL,
    'latest_version', NULL, 'deprecation_date', NULL))
$$;
-- not_null_items_id: dbt's not_null test of items.id, compiled.
CREATE FUNCTION items_test() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('test.shop.not_null_items_id', jsonb_build_object(
    'unique_id', 'test.shop.not_null_items_id', 'resource_type', 'test', 'package_name', 'shop',
    'name', 'not_null_items_id', 'fqn', '["shop", "not_null_items_id"]'::jsonb,
    'database', current_database(), 'schema', 'analytics_dbt_test__audit',
    'alias', 'not_null_items_id',
    'config', '{"enabled": true, "materialized": "test", "severity": "ERROR"}'::jsonb,
    'unrendered_config', '{}'::jsonb,
    'raw_code', '{{ test_not_null(**_dbt_generic_test_kwargs) }}',
    'compiled_code', 'select id from analytics.items where id is null',
    'test_metadata', '{"name": "not_null", "namespace": null, "kwargs": {"column_name": "id"}}'::jsonb,
    'column_name', 'id', 'attached_node', 'model.shop.items',
    'depends_on', '{"macros": ["macro.dbt.test_not_null"], "nodes": ["model.shop.items"]}'::jsonb))
$$;

-- Version 1: items, a table of typed columns; item_names, a view; prices, a view over
-- items; legacy and codes, two views; a test of items.
CREATE FUNCTION v1_items() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('items', 'select id, name, price, qty, weight, code from raw.items', 'table')
$$;
CREATE FUNCTION v1() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT v1_items()
    || model('item_names', 'select id, name from raw.items')
    || model('prices', 'select id, price from analytics.items', depends_on => '{model.shop.items}')
    || model('legacy', 'select id from raw.items')
    || model('codes', 'select id, code from raw.items')
    || items_test()
$$;

-- Version 2 changes everything, compatibly:
--   items       every typed column widened (integer to bigint, numeric(10,2) to
--               numeric(12,4), smallint to integer, real to double precision,
--               varchar(8) to varchar(20)), and a column added;
--   item_names  a view becomes a table with the same columns (with a unique index);
--   prices      moves to another alias, item_prices;
--   legacy      is removed from the project;
--   codes       becomes ephemeral: its view goes.
CREATE FUNCTION v2_items() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('items', 'select id::bigint as id, name, price::numeric(12,4) as price,
                              qty::integer as qty, weight::double precision as weight,
                              code::varchar(20) as code, qty > 0 as in_stock
                         from raw.items', 'table')
$$;
CREATE FUNCTION v2() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT v2_items()
    || model('item_names', 'select id, name from raw.items', 'table',
             config => '{"indexes": [{"columns": ["id"], "unique": true}]}')
    || model('prices', 'select id, price from analytics.items', alias => 'item_prices',
             depends_on => '{model.shop.items}')
    || model('codes', 'select id, code from raw.items', 'ephemeral')
    || items_test()
$$;

-- v2 with one model replaced (a variant to deploy).
CREATE FUNCTION v2_with(changed jsonb) RETURNS text LANGUAGE sql STABLE AS $$
SELECT manifest(v2() || changed)
$$;

--
-- What to look at
--
-- plan(): bg.plan's verdict of each model it builds or removes.
CREATE FUNCTION plan(manifest text) RETURNS TABLE (unique_id text, action text, compatibility text)
LANGUAGE sql AS $$
SELECT unique_id, action, compatibility FROM bg.plan(manifest)
 WHERE action IN ('build', 'remove') ORDER BY unique_id
$$;
-- verdicts: the latest deployment's verdict on each relation it replaces or removes.
CREATE VIEW verdicts AS
SELECT step, action, relation, status, breaking, compatibility ->> 'summary' AS summary
  FROM bg.deployment_steps
 WHERE deployment_id = (SELECT max(deployment_id) FROM bg.deployments)
   AND action IN ('build', 'remove')
 ORDER BY step;
-- steps(d): every step of deployment d, as it ended.
CREATE FUNCTION steps(d bigint)
RETURNS TABLE (step integer, action text, relation text, status text, rows_affected bigint, message text)
LANGUAGE sql AS $$
SELECT step, action, coalesce(relation, unique_id), status, rows_affected, message
  FROM bg.deployment_steps WHERE deployment_id = d ORDER BY step
$$;
CREATE VIEW history AS
SELECT deployment_id, kind, status, models_built, tests_passed, breaking
  FROM bg.deployments ORDER BY deployment_id;
-- live(): the project's schema, relation by relation.
CREATE FUNCTION checksum(relation text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s AS t',
                   relation) INTO result;
    RETURN result;
END
$$;
CREATE FUNCTION live() RETURNS TABLE (name text, kind "char", oid oid, checksum text)
LANGUAGE sql AS $$
SELECT c.relname::text, c.relkind, c.oid, checksum(c.oid::regclass::text)
  FROM pg_class AS c WHERE c.relnamespace = 'analytics'::regnamespace AND c.relkind IN ('r', 'v', 'm')
 ORDER BY 1
$$;
CREATE FUNCTION columns(relation regclass) RETURNS text LANGUAGE sql AS $$
SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
  FROM pg_attribute WHERE attrelid = relation AND attnum > 0 AND NOT attisdropped
$$;
-- save() and changed(): everything a promote could change.
CREATE FUNCTION everything() RETURNS SETOF text LANGUAGE sql AS $$
SELECT format('%s %s %s %s %s', n.nspname, c.relname, c.relkind, c.oid,
              CASE WHEN c.relkind IN ('r', 'v', 'm') THEN checksum(c.oid::regclass::text) END)
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bg')
   AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
UNION ALL SELECT format('view %s: %s', oid::regclass, pg_get_viewdef(oid))
  FROM pg_class WHERE relnamespace IN ('reporting'::regnamespace, 'analytics'::regnamespace)
   AND relkind IN ('v', 'm')
UNION ALL SELECT format('constraint %s: %s', conname, pg_get_constraintdef(oid))
  FROM pg_constraint WHERE connamespace = 'reporting'::regnamespace
UNION ALL SELECT format('policy %s on %s', polname, polrelid::regclass) FROM pg_policy
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

-- Version 1 goes live.
SELECT manifest('{}') AS manifest \gset
CALL bg.create_project(:'manifest');
SELECT manifest(v1()) AS v1 \gset
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'v1', promote => true);
RESET ROLE;
CREATE TEMP TABLE was_v1 AS SELECT * FROM live();
SELECT name, kind, columns(oid) FROM was_v1;

--
-- Compatible changes promote without force
--
-- Nothing outside the project reads items, prices, legacy or codes: every change of
-- version 2 is compatible. The plan already knows about what goes (a removal, a move,
-- a model become ephemeral) and says "after build" where only the built relation can
-- tell.
SELECT manifest(v2()) AS v2 \gset
SELECT * FROM plan(:'v2');
-- The deploy reports each change as compatible, with what changes.
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'v2');
RESET ROLE;
SELECT * FROM verdicts;
-- Promote needs no force.
SET ROLE regress_bg_verdict_ci;
CALL bg.promote() \gset
RESET ROLE;
-- items has its wider columns; item_names is a table; the old relations of legacy,
-- codes and prices are gone from live, item_prices is there.
SELECT name, kind, columns(oid) FROM live();
-- What left live is kept for rollback in the previous schema, as it was.
SELECT c.relname, c.relkind, checksum(c.oid::regclass::text) = w.checksum AS as_it_was
  FROM pg_class AS c JOIN was_v1 AS w ON w.name = c.relname
 WHERE c.relnamespace = 'analytics__bg_p2'::regnamespace
 ORDER BY 1;
-- Every step ended: built, tested, removed (where to, and why).
SELECT * FROM steps(2);
SELECT * FROM history;

-- Rollback brings version 1 back, relation for relation (the same OIDs, the same
-- rows); what version 2 added goes. The steps stay as they ended.
SET ROLE regress_bg_verdict_ci;
CALL bg.rollback() \gset
RESET ROLE;
SELECT w.name, l.kind = w.kind AS same_kind, l.oid = w.oid AS same_relation,
       l.checksum = w.checksum AS same_content
  FROM was_v1 AS w LEFT JOIN live() AS l USING (name)
 ORDER BY w.name;
SELECT name FROM live() EXCEPT SELECT name FROM was_v1;
SELECT count(*) AS steps_not_final FROM bg.deployment_steps WHERE status = 'pending';
SELECT * FROM history;

--
-- The strict setting
--
-- A DBA can make every column-level change breaking (bluegreen.strict_compatibility,
-- superusers only, so that a deployer cannot loosen it): then the widened and the
-- added columns are breaking too. Relations that go, or change kind, are judged as
-- before.
SET bluegreen.strict_compatibility = on;
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'v2');
RESET ROLE;
SELECT * FROM verdicts;
-- A deployer may not turn it off.
SET ROLE regress_bg_verdict_ci;
SET bluegreen.strict_compatibility = off;
RESET ROLE;
SELECT save();
SET ROLE regress_bg_verdict_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
-- With the setting off again, version 2 deploys as compatible, and goes live.
RESET bluegreen.strict_compatibility;
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'v2', promote => true);
RESET ROLE;
SELECT * FROM history;

--
-- Breaking changes are refused, with the reason, changing nothing
--
-- Version 2 is live now. Each variant below is deployed, refused at promote, and
-- abandoned.

-- A column dropped: breaking, even with nothing outside reading it (readers of a dbt
-- model are not all in the catalog).
SELECT v2_with(model('items', 'select id::bigint as id, name, price::numeric(12,4) as price,
                              qty::integer as qty, code::varchar(20) as code, qty > 0 as in_stock
                         from raw.items', 'table')) AS variant \gset
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'variant');
RESET ROLE;
SELECT * FROM verdicts WHERE breaking;
SELECT save();
SET ROLE regress_bg_verdict_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();

-- Types narrowed: a numeric with fewer digits, a shorter varchar, bigint to integer,
-- text to varchar(10). None holds every value the live column held.
SELECT v2_with(model('items', 'select id::integer as id, name::varchar(10) as name,
                              price::numeric(8,2) as price, qty::integer as qty,
                              weight::double precision as weight, code::varchar(5) as code,
                              qty > 0 as in_stock
                         from raw.items', 'table')) AS variant \gset
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'variant');
RESET ROLE;
SELECT * FROM verdicts WHERE breaking;
SELECT save();
SET ROLE regress_bg_verdict_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();

-- A widening that a view outside the project reads. The next version widens once more
-- (bigint to numeric(20,0), numeric(12,4) to numeric(16,4), varchar(20) to text).
-- reporting.expensive reads price: CREATE OR REPLACE VIEW cannot change the type of its
-- column, so promote cannot point it at the new items. reporting.names reads only
-- name, which stays as it is: it can follow.
CREATE VIEW reporting.expensive AS SELECT price FROM analytics.items WHERE price > 5;
CREATE VIEW reporting.names AS SELECT name FROM analytics.items;
SELECT v2_with(model('items', 'select id::numeric(20,0) as id, name, price::numeric(16,4) as price,
                              qty::integer as qty, weight::double precision as weight,
                              code::text as code, qty > 0 as in_stock
                         from raw.items', 'table')) AS wider \gset
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'wider');
RESET ROLE;
SELECT * FROM verdicts WHERE breaking;
SELECT save();
SET ROLE regress_bg_verdict_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
-- Without reporting.expensive, the same change breaks nothing: promote goes through,
-- and points reporting.names at the new items.
DROP VIEW reporting.expensive;
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'wider');
CALL bg.promote() \gset
RESET ROLE;
SELECT columns('analytics.items');
SELECT DISTINCT refobjid = 'analytics.items'::regclass AS names_reads_live_items
  FROM pg_depend JOIN pg_rewrite ON pg_rewrite.oid = pg_depend.objid
 WHERE ev_class = 'reporting.names'::regclass AND refobjid <> ev_class;
-- Live is version 2 with these wider columns from here on.
CREATE OR REPLACE FUNCTION v2_items() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('items', 'select id::numeric(20,0) as id, name, price::numeric(16,4) as price,
                              qty::integer as qty, weight::double precision as weight,
                              code::text as code, qty > 0 as in_stock
                         from raw.items', 'table')
$$;

-- Readers that cannot follow any change: a materialized view, and a rule (here on a
-- table outside the project), which promote could point at the new items only by
-- dropping them. A change that is compatible in itself (items keeps its columns) is
-- breaking for them.
CREATE MATERIALIZED VIEW reporting.item_count AS SELECT count(*) AS items FROM analytics.items;
CREATE TABLE reporting.orders (item_id numeric, qty integer);
CREATE TABLE reporting.order_log (item_id numeric, name text);
CREATE RULE log_name AS ON INSERT TO reporting.orders DO ALSO
    INSERT INTO reporting.order_log SELECT i.id, i.name FROM analytics.items AS i WHERE i.id = NEW.item_id;
SELECT manifest(v2() || model('items', 'select id::numeric(20,0) as id, name, price::numeric(16,4) as price,
                              qty::integer as qty, weight::double precision as weight,
                              code::text as code, qty > 0 as in_stock
                         from raw.items where id > 0', 'table')) AS variant \gset
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'variant');
RESET ROLE;
SELECT * FROM verdicts WHERE breaking;
SELECT save();
SET ROLE regress_bg_verdict_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
DROP MATERIALIZED VIEW reporting.item_count;
DROP TABLE reporting.orders, reporting.order_log;
SET ROLE regress_bg_verdict_ci;
CALL bg.abandon();
RESET ROLE;

-- A removal that something outside reads: reporting.price_report reads item_prices.
-- The plan says so before anything is built, as the deploy and promote do.
CREATE VIEW reporting.price_report AS SELECT id, price FROM analytics.item_prices;
SELECT manifest(v2() - 'model.shop.prices') AS variant \gset
SELECT * FROM plan(:'variant') WHERE action = 'remove';
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'variant');
RESET ROLE;
SELECT * FROM verdicts WHERE breaking;
SELECT save();
SET ROLE regress_bg_verdict_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();

-- A change of kind that something outside depends on: a foreign key references
-- item_names, a table, which would become a view.
CREATE TABLE reporting.tags (item_id integer REFERENCES analytics.item_names (id), tag text);
SELECT v2_with(model('item_names', 'select id, name from raw.items')) AS variant \gset
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'variant');
RESET ROLE;
SELECT * FROM verdicts WHERE breaking;
SELECT save();
SET ROLE regress_bg_verdict_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
DROP TABLE reporting.tags;

-- A table with row-level security becoming a view: the policy cannot carry to a view,
-- and its readers would see every row. (Rebuilt as a table, it would carry.)
GRANT USAGE ON SCHEMA analytics TO regress_bg_verdict_reader;
GRANT SELECT ON analytics.item_names TO regress_bg_verdict_reader;
ALTER TABLE analytics.item_names ENABLE ROW LEVEL SECURITY;
CREATE POLICY small_ids ON analytics.item_names FOR SELECT TO regress_bg_verdict_reader
    USING (id < 3);
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'variant');
RESET ROLE;
SELECT * FROM verdicts WHERE breaking;
SELECT save();
SET ROLE regress_bg_verdict_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
SET ROLE regress_bg_verdict_ci;
CALL bg.abandon();
RESET ROLE;
-- Without the policy and the foreign key, nothing depends on item_names being a table:
-- becoming a view is compatible, and goes live without force. Rollback brings the
-- table back.
DROP POLICY small_ids ON analytics.item_names;
ALTER TABLE analytics.item_names DISABLE ROW LEVEL SECURITY;
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'variant', promote => true);
RESET ROLE;
SELECT relkind AS item_names_is FROM pg_class WHERE oid = 'analytics.item_names'::regclass;
SET ROLE regress_bg_verdict_ci;
CALL bg.rollback() \gset
RESET ROLE;
SELECT relkind AS item_names_is FROM pg_class WHERE oid = 'analytics.item_names'::regclass;

--
-- A model that moves: the old relation removed, the new one added, reported as one
--
-- prices moved from analytics.prices to analytics.item_prices with version 2, above:
-- promote removed the old relation (kept for rollback), and rollback brought it back.
-- Moving it once more, to price_list, while reporting.price_report reads item_prices:
-- breaking, in the plan, in the deploy and at promote alike.
SELECT manifest(v2() || model('prices', 'select id, price from analytics.items', alias => 'price_list',
                              depends_on => '{model.shop.items}')) AS moved \gset
SELECT * FROM plan(:'moved') WHERE unique_id = 'model.shop.prices';
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'moved');
RESET ROLE;
SELECT * FROM verdicts WHERE relation LIKE '%price%';
SELECT save();
SET ROLE regress_bg_verdict_ci;
CALL bg.promote();
RESET ROLE;
SELECT * FROM changed();
-- The old relation must be bluegreen's to take away: once someone else owns it, the
-- plan refuses the move, as the deploy does.
SELECT save();
ALTER VIEW analytics.item_prices OWNER TO regress_bg_verdict_reader;
SELECT * FROM plan(:'moved') WHERE unique_id = 'model.shop.prices';
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'moved');
RESET ROLE;
ALTER VIEW analytics.item_prices OWNER TO bluegreen;
SELECT * FROM changed();
-- Once nothing reads it, the move is compatible: the old relation leaves at promote,
-- and comes back with rollback.
DROP VIEW reporting.price_report;
SELECT * FROM plan(:'moved') WHERE unique_id = 'model.shop.prices';
CREATE TEMP TABLE was_moved AS SELECT * FROM live();
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'moved');
CALL bg.promote() \gset
RESET ROLE;
SELECT to_regclass('analytics.item_prices') AS old_live, to_regclass('analytics.price_list') AS new_live;
SELECT step, action, relation, status, message FROM steps((SELECT max(deployment_id) FROM bg.deployments))
 WHERE relation LIKE '%price%';
SET ROLE regress_bg_verdict_ci;
CALL bg.rollback() \gset
RESET ROLE;
SELECT to_regclass('analytics.price_list') AS new_live,
       l.oid = w.oid AS old_is_back, l.checksum = w.checksum AS as_it_was
  FROM live() AS l JOIN was_moved AS w USING (name)
 WHERE name = 'item_prices';

--
-- Steps and counts, final after a deployment that dbt builds
--
-- dbt builds into shadow between bg.deploy_begin and bg.deploy_finish (here, the
-- statements dbt would run, made by hand, as the builder role: a dbt profile's
-- "role"). The deployment changes items, rebuilds item_prices downstream, runs a
-- test, and removes legacy2, new in the live manifest.
SELECT manifest(v2() || model('legacy2', 'select id from raw.items')) AS with_legacy \gset
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy(:'with_legacy', promote => true);
RESET ROLE;
SELECT manifest(v2() || model('items', 'select id::numeric(20,0) as id, name, price::numeric(16,4) as price,
                              qty::integer as qty, weight::double precision as weight,
                              code::text as code, qty > 0 as in_stock
                         from raw.items where id < 4', 'table')) AS by_dbt \gset
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy_begin(:'by_dbt');
SET ROLE bluegreen_builder;
CREATE TABLE analytics__bg_shadow.items AS
    SELECT id::numeric(20,0) AS id, name, price::numeric(16,4) AS price, qty::integer AS qty,
           weight::double precision AS weight, code::text AS code, qty > 0 AS in_stock
      FROM raw.items WHERE id < 4;
CREATE VIEW analytics__bg_shadow.item_prices AS SELECT id, price FROM analytics__bg_shadow.items;
SET ROLE regress_bg_verdict_ci;
CALL bg.deploy_finish();
RESET ROLE;
-- The table's rows are counted, the view has none; dbt ran the test, so bluegreen
-- records no result of it, and says so; the removal waits for promote.
SELECT * FROM steps((SELECT max(deployment_id) FROM bg.deployments));
SET ROLE regress_bg_verdict_ci;
CALL bg.promote() \gset
RESET ROLE;
SELECT * FROM steps((SELECT max(deployment_id) FROM bg.deployments));
SET ROLE regress_bg_verdict_ci;
CALL bg.rollback() \gset
RESET ROLE;
-- After every promote and rollback of this file, no step is left pending.
SELECT count(*) AS steps_not_final FROM bg.deployment_steps WHERE status = 'pending';
SELECT * FROM history;

\c :regress_database
DROP DATABASE regress_bg_verdict;
DROP ROLE regress_bg_verdict_ci, regress_bg_verdict_reader;
