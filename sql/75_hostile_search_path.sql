--
-- A hostile search_path. A role that is not a superuser plants objects that shadow
-- pg_catalog's functions, operators, types and catalogs, and implicit casts to a type of
-- its own, in a schema that callers put first on their search_path, ahead of
-- pg_catalog; and the same names in public, where manifest SQL looks
-- (bluegreen.model_search_path). Every planted object, if it ever ran, would raise a
-- WARNING, count itself in a sequence (which no rollback undoes) and log itself.
--
-- bluegreen pins search_path to pg_catalog, pg_temp around every statement it runs as
-- the extension owner, qualifies its own SQL, and runs manifest SQL under
-- bluegreen.model_search_path with pg_catalog first: every call below behaves as it does
-- with a clean search_path, and no planted object runs. (Manifest SQL that itself calls
-- a name public overloads more closely than pg_catalog does -- format() with text
-- arguments, below -- would run the planted overload as the builder: public must not
-- be writable by others, or must be left out of bluegreen.model_search_path.)
--
-- Manifests are built with manifest() and model() of 10_plan.sql (project "path"),
-- before the hostile search_path is set: the helpers themselves would be hijacked.
--
SET client_min_messages = notice;
SET bluegreen.show_timing = off;
SELECT setval(pg_get_serial_sequence('bg.deployment', 'deployment_id'), 800, false) AS first_deployment;

-- The cast:
--   ci       a deployer
--   planter  plants the objects; not a superuser, not a deployer
CREATE ROLE regress_bg_path_ci;
CREATE ROLE regress_bg_path_planter;
GRANT bluegreen_deployer TO regress_bg_path_ci;
-- A database owner gave the planter CREATE on public, as some do.
GRANT CREATE ON SCHEMA public TO regress_bg_path_planter;
CREATE SCHEMA hostile AUTHORIZATION regress_bg_path_planter;
GRANT USAGE ON SCHEMA hostile TO PUBLIC;

--
-- The project "path": sources in path_raw, live schema path_mart built by dbt (v1).
--
CREATE SCHEMA path_raw;
CREATE TABLE path_raw.orders (id integer PRIMARY KEY, customer text NOT NULL, amount integer NOT NULL);
INSERT INTO path_raw.orders VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'ann', 30);
GRANT USAGE ON SCHEMA path_raw TO bluegreen_builder;
GRANT SELECT ON path_raw.orders TO bluegreen_builder;
CREATE SCHEMA path_mart AUTHORIZATION bluegreen;
CREATE TABLE path_mart.orders AS SELECT id, customer, amount FROM path_raw.orders WHERE id < 3;
CREATE VIEW path_mart.customers AS
    SELECT customer, sum(amount) AS total FROM path_mart.orders GROUP BY customer;
CREATE TABLE path_mart.order_log AS SELECT id, amount FROM path_raw.orders WHERE id < 3;
ALTER TABLE path_mart.orders OWNER TO bluegreen;
ALTER VIEW path_mart.customers OWNER TO bluegreen;
ALTER TABLE path_mart.order_log OWNER TO bluegreen;
-- A schema of ci's, to hand over.
CREATE SCHEMA path_team AUTHORIZATION regress_bg_path_ci;
CREATE TABLE path_team.notes (note text);
ALTER TABLE path_team.notes OWNER TO regress_bg_path_ci;

-- path_manifest(): version 1; version 2 (orders with a contract and an index; the
-- customers view changed; order_log's config changed; a test; a hook; grants); version
-- 3, version 2 with order_log's config changed again.
-- The manifests are made before anything is planted: 10_plan's helpers call format()
-- and jsonb_build_object() unqualified.
CREATE FUNCTION path_manifest(version integer) RETURNS text LANGUAGE sql STABLE AS $$
SELECT manifest(
    model('orders', 'select id, customer, amount from "contrib_regression"."path_raw"."orders"'
                    || CASE WHEN version = 1 THEN ' where id < 3' ELSE '' END,
          materialized => 'table', schema => 'path_mart', project => 'path',
          config => CASE WHEN version = 1 THEN '{}'::jsonb ELSE
                    '{"contract": {"enforced": true}, "indexes": [{"columns": ["id"], "unique": true}],
                      "grants": {"select": ["regress_bg_path_ci"]},
                      "post-hook": ["ANALYZE {{ this }}"]}' END,
          extra => CASE WHEN version = 1 THEN '{}'::jsonb ELSE
                   '{"contract": {"enforced": true, "alias_types": true, "checksum": "c2"},
                     "columns": {"id": {"name": "id", "data_type": "integer", "constraints": [{"type": "not_null"}]},
                                 "customer": {"name": "customer", "data_type": "text"},
                                 "amount": {"name": "amount", "data_type": "integer"}}}' END)
 || model('customers', 'select customer, sum(amount) as total'
                       || CASE WHEN version > 1 THEN ', count(*) as orders, max(upper(customer)) as code' ELSE '' END
                       || ' from "contrib_regression"."path_mart"."orders" group by customer',
          schema => 'path_mart', depends_on => '{model.path.orders}', project => 'path')
 || model('order_log', 'select id, amount from "contrib_regression"."path_raw"."orders"'
                       || ' where id > (select max(id) from "contrib_regression"."path_mart"."order_log")',
          materialized => 'incremental', schema => 'path_mart', project => 'path',
          config => '{"incremental_strategy": "merge", "unique_key": "id"}'
                    || CASE version WHEN 1 THEN '{}'::jsonb
                                    WHEN 2 THEN '{"on_schema_change": "append_new_columns"}'
                                    ELSE '{"on_schema_change": "sync_all_columns"}' END)
 || CASE WHEN version = 1 THEN '{}'::jsonb ELSE jsonb_build_object('test.path.positive_totals', jsonb_build_object(
        'unique_id', 'test.path.positive_totals', 'resource_type', 'test', 'package_name', 'path',
        'name', 'positive_totals', 'fqn', '["path", "positive_totals"]'::jsonb,
        'database', 'contrib_regression', 'schema', 'path_mart_dbt_test__audit',
        'config', '{"enabled": true, "materialized": "test", "severity": "ERROR"}'::jsonb,
        'unrendered_config', '{}'::jsonb,
        'raw_code', 'select * from {{ ref(''customers'') }} where total <= 0',
        'compiled_code', 'select * from "contrib_regression"."path_mart"."customers" where total <= 0',
        'depends_on', '{"macros": [], "nodes": ["model.path.customers"]}'::jsonb)) END,
    project_name => 'path')
$$;
SELECT path_manifest(1) AS v1, path_manifest(2) AS v2, path_manifest(3) AS v3 \gset

--
-- What the planter plants
--
SET ROLE regress_bg_path_planter;
CREATE TABLE hostile.log (what text, run_by name DEFAULT current_user);
GRANT INSERT, SELECT ON hostile.log TO PUBLIC;
CREATE SEQUENCE hostile.hits;
GRANT USAGE, SELECT ON SEQUENCE hostile.hits TO PUBLIC;
CREATE FUNCTION hostile.hit(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.nextval('hostile.hits');
    RAISE WARNING 'planted object run by %: %', current_user, what;
    INSERT INTO hostile.log (what) VALUES (what);
    RETURN true;
END
$$;
-- In hostile and in public: functions with pg_catalog's names and signatures (or more
-- specific ones), an aggregate count(*), operators on the types bluegreen's own SQL
-- compares, domains named like catalog types, views named like catalogs and like
-- bluegreen's tables. (The planter plants with search_path = pg_catalog: public's
-- format(text, text, text) would otherwise take over its own format() calls.)
SET search_path = pg_catalog;
DO $plant$
DECLARE
    s text;
    f text;
    o text[];
    t text;
BEGIN
    FOREACH s IN ARRAY ARRAY['hostile', 'public'] LOOP
        FOREACH f IN ARRAY ARRAY[
            'lower(text) RETURNS text', 'upper(text) RETURNS text', 'quote_ident(text) RETURNS text',
            'quote_literal(text) RETURNS text', 'format(text) RETURNS text',
            'format(text, text) RETURNS text', 'format(text, text, text) RETURNS text',
            'length(text) RETURNS integer', 'md5(text) RETURNS text',
            'concat_ws(text, text, text) RETURNS text', 'to_jsonb(text) RETURNS jsonb',
            'jsonb_build_object(text, text) RETURNS jsonb', 'unnest(text[]) RETURNS SETOF text',
            'current_database() RETURNS name', 'pg_backend_pid() RETURNS integer',
            'pg_get_userbyid(oid) RETURNS name', 'pg_get_viewdef(oid, boolean) RETURNS text',
            'pg_get_constraintdef(oid) RETURNS text', 'format_type(oid, integer) RETURNS text',
            'array_to_string(text[], text) RETURNS text', 'replace(text, text, text) RETURNS text',
            'now() RETURNS timestamptz', 'clock_timestamp() RETURNS timestamptz',
            'make_interval(integer, integer, integer, integer, integer, integer, double precision) RETURNS interval',
            'pg_has_role(name, name, text) RETURNS boolean',
            'has_table_privilege(name, oid, text) RETURNS boolean',
            'string_agg(text, text) RETURNS text']
        LOOP
            IF f LIKE 'string_agg%' THEN
                EXECUTE format('CREATE FUNCTION %I.string_agg_step(text, text, text) RETURNS text
                                LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile.hit(%L); RETURN $1; END$b$',
                               s, s || '.string_agg(text, text)');
                EXECUTE format('CREATE AGGREGATE %I.string_agg(text, text) (sfunc = %I.string_agg_step, stype = text)', s, s);
                CONTINUE;
            END IF;
            EXECUTE format('CREATE FUNCTION %I.%s LANGUAGE plpgsql AS $b$BEGIN PERFORM hostile.hit(%L); RETURN%s; END$b$',
                           s, f, s || '.' || split_part(f, ' RETURNS', 1),
                           CASE WHEN f LIKE '%SETOF%' THEN '' ELSE ' NULL' END);
        END LOOP;
        EXECUTE format('CREATE FUNCTION %I.count_step(bigint) RETURNS bigint LANGUAGE plpgsql
                        AS $b$BEGIN PERFORM hostile.hit(%L); RETURN $1 + 1; END$b$', s, s || '.count(*)');
        EXECUTE format('CREATE AGGREGATE %I.count(*) (sfunc = %I.count_step, stype = bigint, initcond = 0)', s, s);
        FOREACH o SLICE 1 IN ARRAY ARRAY[
            ['=', 'text', 'text'], ['=', 'name', 'name'], ['=', 'name', 'text'], ['=', 'text', 'name'],
            ['=', 'oid', 'oid'], ['=', 'bigint', 'bigint'], ['=', 'integer', 'integer'],
            ['=', 'bigint', 'integer'], ['=', 'boolean', 'boolean'], ['=', '"char"', '"char"'],
            ['=', 'jsonb', 'jsonb'], ['=', 'regclass', 'regclass'], ['<>', 'text', 'text'],
            ['<>', 'bigint', 'integer'], ['<', 'integer', 'integer'], ['>', 'integer', 'integer'],
            ['>=', 'integer', 'integer'], ['||', 'text', 'text'], ['~~', 'text', 'text'],
            ['->>', 'jsonb', 'text'], ['->', 'jsonb', 'text'], ['?', 'jsonb', 'text'],
            ['@>', 'jsonb', 'jsonb'], ['-', 'timestamptz', 'timestamptz']]
        LOOP
            t := s || '.op_' || md5(array_to_string(o, ','));
            EXECUTE format('CREATE FUNCTION %s(%s, %s) RETURNS boolean LANGUAGE plpgsql
                            AS $b$BEGIN PERFORM hostile.hit(%L); RETURN false; END$b$',
                           t, o[2], o[3], format('%s.%s(%s, %s)', s, o[1], o[2], o[3]));
            EXECUTE format('CREATE OPERATOR %I.%s (leftarg = %s, rightarg = %s, function = %s)',
                           s, o[1], o[2], o[3], t);
        END LOOP;
        FOREACH t IN ARRAY ARRAY['text', 'name', 'int4', 'int8', 'jsonb', 'oid', 'regclass',
                                 'regrole', 'timestamptz', 'interval'] LOOP
            EXECUTE format('CREATE DOMAIN %I.%I AS pg_catalog.%I CHECK (hostile.hit(%L))',
                           s, t, t, format('%s.%s (a type)', s, t));
        END LOOP;
        FOREACH t IN ARRAY ARRAY['pg_class', 'pg_namespace', 'pg_roles', 'pg_locks', 'pg_depend',
                                 'pg_index', 'pg_attribute', 'pg_proc', 'project', 'manifest',
                                 'node', 'deployment', 'deployment_step'] LOOP
            EXECUTE format('CREATE VIEW %I.%I AS SELECT * FROM pg_catalog.pg_class WHERE hostile.hit(%L)',
                           s, t, format('%s.%s (a view)', s, t));
            EXECUTE format('GRANT SELECT ON %I.%I TO PUBLIC', s, t);
        END LOOP;
    END LOOP;
END
$plant$;
RESET search_path;
-- A type of the planter's own, implicit casts to it from catalog types, and an operator
-- on it: wherever no operator matches exactly, the cast could make this one a candidate.
CREATE TYPE hostile.evil AS ENUM ('evil');
CREATE FUNCTION hostile.to_evil(pg_catalog.text) RETURNS hostile.evil LANGUAGE plpgsql AS
    $$BEGIN PERFORM hostile.hit('cast text to evil'); RETURN 'evil'; END$$;
CREATE FUNCTION hostile.to_evil(pg_catalog.oid) RETURNS hostile.evil LANGUAGE plpgsql AS
    $$BEGIN PERFORM hostile.hit('cast oid to evil'); RETURN 'evil'; END$$;
CREATE FUNCTION hostile.to_evil(pg_catalog.int8) RETURNS hostile.evil LANGUAGE plpgsql AS
    $$BEGIN PERFORM hostile.hit('cast bigint to evil'); RETURN 'evil'; END$$;
CREATE CAST (pg_catalog.text AS hostile.evil) WITH FUNCTION hostile.to_evil(pg_catalog.text) AS IMPLICIT;
CREATE CAST (pg_catalog.oid AS hostile.evil) WITH FUNCTION hostile.to_evil(pg_catalog.oid) AS IMPLICIT;
CREATE CAST (pg_catalog.int8 AS hostile.evil) WITH FUNCTION hostile.to_evil(pg_catalog.int8) AS IMPLICIT;
CREATE FUNCTION hostile.evil_eq(hostile.evil, hostile.evil) RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN PERFORM hostile.hit('operator =(evil, evil)'); RETURN false; END$$;
CREATE OPERATOR hostile.= (leftarg = hostile.evil, rightarg = hostile.evil, function = hostile.evil_eq);
RESET ROLE;

-- The traps work: with hostile first on the path, a plain query runs them; and even
-- with pg_catalog first (as it always is unless listed later), an overload in public
-- that fits its arguments better than pg_catalog's wins: format(text, text, text) over
-- format(text, VARIADIC "any"). Names with pg_catalog's exact signature do not.
SET search_path = hostile, pg_catalog, public;
SELECT lower('X'::text) IS NULL AS hijacked_lower, ('a'::text = 'a') AS equal_says;
RESET search_path;
SELECT format('%s-%s', 'a'::text, 'b'::text) IS NULL AS hijacked_format,
       upper('a'::text) AS upper_is_pg_catalogs;
SELECT what, run_by FROM hostile.log ORDER BY what COLLATE "C";
SELECT last_value AS hits_so_far FROM hostile.hits;
-- From here on the count must not move.
TRUNCATE hostile.log;

--
-- Every call, by the deployer, with hostile first on its search_path
--
SET ROLE regress_bg_path_ci;
-- Temporary objects in the caller's session, named like catalogs and bluegreen's tables.
CREATE TEMP VIEW pg_locks AS SELECT * FROM pg_catalog.pg_locks WHERE hostile.hit('pg_temp.pg_locks (a view)');
CREATE TEMP VIEW deployment AS SELECT 1 AS deployment_id WHERE hostile.hit('pg_temp.deployment (a view)');
CREATE TEMP VIEW project AS SELECT 1 AS project_id WHERE hostile.hit('pg_temp.project (a view)');
SET search_path = hostile, pg_catalog, public;
CALL bg.create_project(:'v1', 'path');
RESET search_path;
-- (The plan with a clean search_path, to compare with.)
CREATE TEMP TABLE clean_plan AS SELECT * FROM bg.plan(:'v2', 'path');
CREATE TEMP TABLE clean_plan_json AS SELECT bg.plan_json(:'v2', 'path') AS plan;
SET search_path = hostile, pg_catalog, public;
CREATE TEMP TABLE hostile_plan_text AS SELECT * FROM bg.plan(:'v2', 'path');
CREATE TEMP TABLE hostile_plan_jsonb AS SELECT * FROM bg.plan(:'v2'::pg_catalog.jsonb, 'path');
CREATE TEMP TABLE hostile_plan_json AS
    SELECT bg.plan_json(:'v2', 'path') AS from_text,
           bg.plan_json(:'v2'::pg_catalog.jsonb, 'path') AS from_jsonb;
CALL bg.deploy(:'v2', 'path');
CALL bg.promote(dry_run => true, project => 'path') \gset dry_
CALL bg.promote(project => 'path') \gset promote_
CALL bg.rollback('path', dry_run => true) \gset
CALL bg.rollback('path') \gset
CALL bg.deploy(:'v2'::pg_catalog.jsonb, 'path');
CALL bg.promote(project => 'path') \gset
CALL bg.cleanup('path', keep => 0);
CALL bg.deploy(project => 'path');
CALL bg.abandon('path');
CALL bg.deploy_begin(:'v3', 'path');
CALL bg.deploy_finish('path');
CALL bg.abandon('path');
CALL bg.transfer_ownership('path_team', dry_run => true);
CALL bg.transfer_ownership('path_team');
RESET search_path;
RESET ROLE;

-- The same plan as with a clean search_path, row for row, in both forms and as JSON.
SELECT (SELECT count(*) FROM clean_plan) AS nodes,
       (SELECT count(*) FROM (SELECT * FROM hostile_plan_text EXCEPT SELECT * FROM clean_plan) AS d) AS text_differs,
       (SELECT count(*) FROM (SELECT * FROM hostile_plan_jsonb EXCEPT SELECT * FROM clean_plan) AS d) AS jsonb_differs,
       (SELECT h.from_text = c.plan AND h.from_jsonb = c.plan
          FROM hostile_plan_json AS h, clean_plan_json AS c) AS json_same;
SELECT unique_id, selected, action, reasons FROM clean_plan ORDER BY unique_id;
-- The dry run printed exactly what promote ran.
SELECT (:'dry_plan'::jsonb -> 'statements') = (:'promote_plan'::jsonb -> 'statements') AS dry_run_is_the_switch,
       jsonb_array_length(:'promote_plan'::jsonb -> 'statements') AS statements;
-- What is live: version 2, built as with a clean path (the contract, the index, the
-- grant, the increment merged into the latest live rows).
SELECT * FROM path_mart.orders ORDER BY id;
SELECT * FROM path_mart.customers ORDER BY customer;
SELECT * FROM path_mart.order_log ORDER BY id;
SELECT relname, relkind, relacl FROM pg_class
 WHERE relnamespace = 'path_mart'::regnamespace ORDER BY relname;
SELECT attname, attnotnull FROM pg_attribute
 WHERE attrelid = 'path_mart.orders'::regclass AND attnum > 0 ORDER BY attnum;
SELECT deployment_id, kind, status, models_built, tests_passed, tests_failed, error
  FROM bg.deployments WHERE project = 'path' ORDER BY deployment_id;
SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'path_team';

--
-- The same, by a superuser
--
SET search_path = hostile, pg_catalog, public;
CALL bg.deploy(project => 'path');
CALL bg.promote(dry_run => true, project => 'path') \gset
CALL bg.abandon('path');
CALL bg.deploy(:'v1', 'path');
CALL bg.promote(dry_run => true, project => 'path', force => true) \gset
CALL bg.abandon('path');
RESET search_path;

-- No planted object ran: the log is empty and the count did not move.
SELECT count(*) AS planted_objects_run FROM hostile.log;
SELECT last_value AS hits_so_far FROM hostile.hits;

--
-- Clean up
--
SET client_min_messages = warning;
DROP SCHEMA hostile, path_raw, path_mart, path_team CASCADE;
DROP OWNED BY regress_bg_path_planter, regress_bg_path_ci;
DROP ROLE regress_bg_path_planter, regress_bg_path_ci;
DO $$
DECLARE s name;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'path\_mart\_\_bg\_%' LOOP
        EXECUTE pg_catalog.format('DROP SCHEMA %I CASCADE', s);
    END LOOP;
END
$$;
DROP FUNCTION path_manifest(integer);
RESET client_min_messages;
