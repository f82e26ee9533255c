--
-- bg.deploy given bad input, and input made to do harm. Each is refused with an ERROR
-- that names the node; production is untouched. What can be checked before building is
-- checked first, and stops the deployment before anything is recorded or built; what
-- only running the code can tell fails its deployment, which is recorded failed.
--
-- This file goes on in the database of 50_deploy.sql, with its project jaffle (live at
-- version 1) and its helpers, and drops it at the end. The deployments are made by a
-- superuser: the manifest's SQL runs as the builder role bluegreen_builder all the same.
--
\c regress_bg_deploy
SET bluegreen.show_timing = off;
-- Deployments in this file are numbered from 101, whatever 50_deploy.sql did.
SELECT setval(pg_get_serial_sequence('bg.deployment', 'deployment_id'), 100);

-- bad(): version 1 with a new model "bad", a table unless said otherwise.
CREATE FUNCTION bad(code text, materialized text DEFAULT 'table', config jsonb DEFAULT '{}',
                    extra jsonb DEFAULT '{}')
RETURNS text LANGUAGE sql STABLE AS $$
SELECT jaffle(model('bad', code, materialized, config, extra))
$$;

-- recorded(): the deployments recorded since the last call, and how they ended.
CREATE TABLE looked_at AS SELECT 100::bigint AS last_deployment;
CREATE FUNCTION recorded() RETURNS TABLE (deployment_id bigint, status text, failed_node text, error text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT d.deployment_id, d.status, d.failed_node, d.error
                   FROM bg.deployments AS d
                  WHERE d.deployment_id > (SELECT last_deployment FROM looked_at)
                  ORDER BY 1;
    UPDATE looked_at SET last_deployment = (SELECT max(d.deployment_id) FROM bg.deployments AS d);
END
$$;
-- untouched(): production is as dbt built it (see 50_deploy.sql), and nothing is left
-- in shadow.
CREATE FUNCTION untouched() RETURNS TABLE (production_untouched boolean, shadow_empty boolean)
LANGUAGE sql AS $$
SELECT production_untouched(), NOT EXISTS (SELECT FROM in_shadow)
$$;

--
-- Refused before anything is built
--

-- No compiled code: the manifest of `dbt parse`, not `dbt compile`.
CALL bg.deploy(bad('select 1 as x', extra => '{"compiled_code": null}'));
-- Compiled for another database (another dbt target).
CALL bg.deploy(bad('select 1 as x', extra => '{"database": "analytics_prod"}'));
-- Code that does not parse: the error points into the model's code.
CALL bg.deploy(bad(E'select order_id,\n       amount total amount\nfrom {{ ref(''orders'') }}'));
-- Two statements.
CALL bg.deploy(bad('select 1 as x; drop table analytics.orders'));
-- A statement that is not a SELECT.
CALL bg.deploy(bad('drop table analytics.orders'));
CALL bg.deploy(bad('alter role bluegreen superuser'));
CALL bg.deploy(bad('copy (select 1) to program ''id'''));
CALL bg.deploy(bad('create extension hstore'));
CALL bg.deploy(bad('set role postgres'));
-- SELECT INTO, which creates a table of its own.
CALL bg.deploy(bad('select 1 as x into analytics.stolen'));
-- A data-modifying WITH, in the statement or nested in a subquery.
CALL bg.deploy(bad('with gone as (delete from analytics.orders returning *) select * from gone'));
CALL bg.deploy(bad('select * from (with t as (update analytics.orders set amount = 0 returning 1) select * from t) as s'));
-- FOR UPDATE, FOR SHARE: row locks on live tables.
CALL bg.deploy(bad('select * from {{ ref(''orders'') }} for update'));
CALL bg.deploy(bad('select * from (select * from {{ ref(''orders'') }} for share) as o'));
-- A materialization bluegreen does not build, and an incremental strategy it does not.
CALL bg.deploy(bad('select 1 as x', 'dynamic_table'));
CALL bg.deploy(jaffle(edit('order_log', '{"config": {"incremental_strategy": "microbatch"}}')));
CALL bg.deploy(jaffle(edit('order_log', '{"config": {"incremental_strategy": "insert_overwrite"}}')));
-- A source table that is not there (not loaded yet, or a wrong identifier) ...
CALL bg.deploy(jaffle(model('bad', $$select * from {{ source('raw', 'refunds') }}$$, 'table'),
                      sources => source('refunds')));
-- ... and a seed that `dbt seed` has not loaded: bluegreen carries seeds, it cannot
-- load them.
CALL bg.deploy(jaffle(seed('currencies')
                   || model('bad', $$select * from {{ ref('currencies') }}$$, 'table')));
-- A new model whose relation would take the name of an object outside the project.
CREATE TABLE analytics.audit_log (at timestamptz, what text);
ALTER TABLE analytics.audit_log OWNER TO bluegreen;
CALL bg.deploy(jaffle(model('audit_log', 'select now() as at, ''deployed'' as what', 'table')));
DROP TABLE analytics.audit_log;
-- A shadow schema that someone other than the owner role owns: bluegreen would build in
-- a schema another role controls.
CREATE SCHEMA marts__bg_shadow;
CALL bg.deploy(bad('select 1 as x', config => '{"schema": "marts"}'));
DROP SCHEMA marts__bg_shadow;
-- Names with a quote, a semicolon or a backslash, or too long for PostgreSQL, are
-- refused as the manifest is read (20_bad_manifests.sql has them all).
CALL bg.deploy(jaffle(model('x"; DROP TABLE analytics.orders; --', 'select 1 as x', 'table')));
CALL bg.deploy(bad('select 1 as x', config => '{"alias": "x\"; DROP TABLE analytics.orders; --"}'));
CALL bg.deploy(bad('select 1 as x', config => '{"schema": "analytics; DROP SCHEMA raw"}'));
CALL bg.deploy(bad('select 1 as x', config => '{"alias": "orders\\"}'));
CALL bg.deploy(bad('select 1 as x', config => jsonb_build_object('alias', repeat('x', 64))));
SELECT * FROM untouched();
SELECT * FROM recorded();

--
-- Names that are unusual but exact are built as they are
--

-- Letters beyond ASCII, spaces, upper case, and names of 63 bytes, the longest
-- PostgreSQL keeps; a shadow schema name that would be longer keeps a prefix and gains a
-- digest. References to them are redirected like any other.
CALL bg.deploy(jaffle(
    model('accents', 'select 1 as "numéro"', 'table', '{"schema": "ventes_été", "alias": "commandes journalières"}')
 || model('kanji', $$select "numéro" from {{ ref('accents') }}$$, 'view', '{"schema": "販売", "alias": "注文"}')
 || model('upper', 'select 1 as x', 'view', '{"alias": "Orders V2"}')
 || model('long', 'select 1 as x', 'view', jsonb_build_object('schema', repeat('s', 63), 'alias', repeat('a', 63)))));
SELECT step, relation, shadow_relation, status FROM latest_steps ORDER BY step;
SELECT pg_get_viewdef(format('%I.%I', '販売__bg_shadow', '注文')::regclass);
CALL bg.abandon();
SELECT * FROM untouched();
SELECT * FROM recorded();

--
-- Fails while building: the deployment is recorded failed
--

-- Code that fails when it runs.
CALL bg.deploy(bad('select 1 / (count(*) - count(*)) as x from {{ ref(''orders'') }}'));
-- Code that reads a relation not declared in the manifest, which does not exist.
CALL bg.deploy(bad('select * from raw.refunds'));
-- Code that reads a schema the builder was not granted.
CREATE SCHEMA hr;
CREATE TABLE hr.salaries (name text, salary numeric);
CALL bg.deploy(bad('select * from hr.salaries'));
-- Code that calls a function the builder may not call.
CALL bg.deploy(bad('select pg_read_file(''/etc/passwd'') as x'));
-- A test that errors (not a failing test: one whose query fails).
CALL bg.deploy(jaffle(edit('test.jaffle.assert_revenue_positive',
                           code => $$select * from {{ ref('daily_revenue') }} where revenu <= 0$$)));
SELECT * FROM untouched();
SELECT * FROM recorded();

--
-- Config fragments that try to smuggle in a second statement
--

-- dbt splices some config into SQL: unique_key (a column or an expression), incremental
-- predicates, contract constraint expressions and data types, a test's fail_calc,
-- warn_if and error_if. bluegreen splices them the same way, then parses what it built
-- and insists it is one statement of the expected kind. Names (index columns, grantees)
-- are quoted; a privilege must be one a table has.
CALL bg.deploy(jaffle(edit('daily_revenue', '{"config": {"unique_key": "order_date) IN (SELECT 1); DROP TABLE analytics.orders; --"}}')));
CALL bg.deploy(jaffle(edit('order_status', '{"config": {"unique_key": "order_id = 1 THEN DELETE; DROP TABLE analytics.orders; --"}}')));
CALL bg.deploy(jaffle(edit('order_status', '{"config": {"incremental_predicates": ["true; DROP TABLE analytics.orders"]}}')));
CALL bg.deploy(jaffle(edit('customers', '{
    "config": {"contract": {"enforced": true}},
    "contract": {"enforced": true, "checksum": "x1"},
    "columns": {
        "customer_id": {"name": "customer_id", "data_type": "integer",
                        "constraints": [{"type": "check", "expression": "true)); DROP TABLE analytics.orders; CREATE TABLE x ((y int"}]},
        "name": {"name": "name", "data_type": "text"},
        "order_count": {"name": "order_count", "data_type": "bigint"},
        "lifetime_value": {"name": "lifetime_value", "data_type": "numeric"}}}')));
CALL bg.deploy(jaffle(edit('customers', '{
    "config": {"contract": {"enforced": true}},
    "contract": {"enforced": true, "checksum": "x2"},
    "columns": {
        "customer_id": {"name": "customer_id", "data_type": "integer); DROP TABLE analytics.orders; CREATE TABLE x (y int"},
        "name": {"name": "name", "data_type": "text"},
        "order_count": {"name": "order_count", "data_type": "bigint"},
        "lifetime_value": {"name": "lifetime_value", "data_type": "numeric"}}}')));
CALL bg.deploy(jaffle(edit('test.jaffle.not_null_orders_order_id', '{"config": {"fail_calc": "count(*)) AS failures FROM pg_class; DROP TABLE analytics.orders; SELECT (1"}}')));
CALL bg.deploy(jaffle(edit('test.jaffle.not_null_orders_order_id', '{"config": {"warn_if": "!= 0 AS x FROM pg_class; DROP TABLE analytics.orders; --"}}')));
CALL bg.deploy(jaffle(edit('test.jaffle.not_null_orders_order_id', '{"config": {"error_if": "!= 0 FROM (WITH d AS (DELETE FROM analytics.orders RETURNING 1) SELECT * FROM d) AS x --"}}')));
CALL bg.deploy(jaffle(edit('customers', '{"config": {"indexes": [{"columns": ["name); DROP TABLE analytics.orders; --"]}]}}')));
CALL bg.deploy(jaffle(edit('customers', '{"config": {"indexes": [{"columns": ["name"], "type": "btree; DROP TABLE analytics.orders"}]}}')));
CALL bg.deploy(jaffle(edit('customers', '{"config": {"grants": {"select ON analytics.orders TO PUBLIC; --": ["regress_bg_deploy_analyst"]}}}')));
CALL bg.deploy(jaffle(edit('customers', '{"config": {"grants": {"select": ["regress_bg_deploy_analyst; DROP TABLE analytics.orders"]}}}')));
SELECT * FROM untouched();
SELECT * FROM recorded();

--
-- Hooks
--

-- A hook may hold {{ this }}, {{ this.schema }}, {{ this.identifier }} (and .name,
-- .table, .database); any other Jinja only dbt can render.
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["grant select on {{ this }} to {{ var(''reader'') }}"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["{% if target.name == ''prod'' %}vacuum {{ this }}{% endif %}"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["analyze {{ this "]}'));
-- A hook runs as the builder, as a security-restricted operation (as PostgreSQL runs
-- index expressions): it cannot take a superuser's powers, change role, run programs,
-- read files, create extensions, or touch what the builder does not own.
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["alter role bluegreen superuser"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["alter role regress_bg_deploy_ci superuser"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["grant pg_execute_server_program to bluegreen"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["copy (select 1) to program ''id''"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["copy {{ this }} to ''/tmp/bluegreen_regress''"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["create extension hstore"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"pre-hook": ["set role postgres"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"pre-hook": ["set session authorization postgres"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"pre-hook": ["select set_config(''role'', ''postgres'', false)"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["drop table raw.customers"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["drop schema hr cascade"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["create temporary table kept (x int)"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["commit"]}'));
-- A hook may not change production: the builder may write nothing live, so PostgreSQL
-- refuses each of these (however the hook got at it: a DO block too); and every
-- relation of the project's live schemas is compared before and after each hook all
-- the same.
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["drop table analytics.order_log"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["truncate analytics.order_status"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["insert into analytics.payment_methods values (''gift'', ''Gift card'')"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["grant select on analytics.customers to public"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["create table analytics.scratch as select * from {{ this }}"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["alter table analytics.stg_orders rename to stg_orders_old"]}'));
CALL bg.deploy(bad('select 1 as x', config => '{"post-hook": ["do $$ begin execute ''delete from analytics.'' || ''orders''; end $$"]}'));
SELECT * FROM untouched();
SELECT * FROM recorded();
-- The roles and tables the hooks went for are as they were.
SELECT rolname, rolsuper, rolcreaterole FROM pg_roles
 WHERE rolname IN ('bluegreen', 'regress_bg_deploy_ci') ORDER BY 1;
SELECT pg_has_role('bluegreen', 'pg_execute_server_program', 'MEMBER') AS owner_runs_programs;
SELECT to_regclass('raw.customers') AS customers, to_regclass('hr.salaries') AS salaries;

-- A setting a hook or the code changes ends with the model's build: it does not reach
-- the session that called bg.deploy (a search_path pointed at a schema the owner role
-- controls would be a trap for that session).
SELECT current_setting('search_path') AS search_path, current_setting('work_mem') AS work_mem,
       current_setting('statement_timeout') AS statement_timeout \gset before_
CALL bg.deploy(bad('select set_config(''statement_timeout'', ''1ms'', false) as x',
                   config => '{"post-hook": ["set search_path = analytics, pg_catalog", "set work_mem = ''1GB''"]}'));
SELECT current_setting('search_path') = :'before_search_path' AS search_path_as_it_was,
       current_setting('work_mem') = :'before_work_mem' AS work_mem_as_it_was,
       current_setting('statement_timeout') = :'before_statement_timeout' AS statement_timeout_as_it_was;
CALL bg.abandon();

--
-- Afterwards
--

-- The history of this file: every deployment that got as far as being recorded failed
-- but two, which built and were abandoned; production is as dbt built it.
SELECT status, count(*) FROM bg.deployments WHERE deployment_id > 100 GROUP BY 1 ORDER BY 1;
SELECT production_untouched();

--
-- A live manifest without compiled code; hints for the dbt package
--

-- A refresh re-runs the code dbt compiled for the live version, and a live manifest can
-- come without it: from dbt parse, or from dbt's graph through the dbt package
-- (bg_create_project, a deployment dbt built). Here such a manifest of version 1 goes
-- live: a deployment that selects nothing, promoted.
CREATE FUNCTION uncompiled(manifest text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_set(m, '{nodes}', (SELECT jsonb_object_agg(k, v - 'compiled_code' - 'compiled')
                                  FROM jsonb_each(m -> 'nodes') AS e (k, v)))::text
  FROM (SELECT manifest::jsonb AS m) AS s
$$;
SET client_min_messages = warning;
CALL bg.deploy(uncompiled(jaffle()));
CALL bg.promote() \g /dev/null
RESET client_min_messages;
-- The refresh is refused before anything is recorded, and says how to hand the code over ...
CALL bg.deploy();
-- ... or, to a user of the dbt package (which says so: bluegreen.interface = dbt), what
-- to do from dbt instead, where bluegreen cannot be handed a manifest file.
SET bluegreen.interface = dbt;
CALL bg.deploy();
-- Every hint that names a call then names the package's macro, or the dbt commands.
CALL bg.deploy_finish();
CALL bg.create_project(jaffle());
CALL bg.deploy(project => 'jaffle_shop');
RESET bluegreen.interface;
SELECT * FROM recorded();
-- From psql the code is handed over with the manifest of dbt compile of the live
-- version, deployed (it selects nothing) and promoted; the refresh then builds.
SET client_min_messages = warning;
CALL bg.deploy(jaffle());
CALL bg.promote() \g /dev/null
CALL bg.deploy();
RESET client_min_messages;
SELECT kind, status, models_built > 0 AS built_models FROM latest;
CALL bg.abandon();
SELECT production_untouched();

--
-- dbt unit tests run before the models they test (59_unit_tests.sql). With
-- bluegreen.unit_tests = refuse, a deployment that builds a model one of them tests is
-- refused before anything is recorded, naming the tests; with skip it builds, saying
-- which went unrun. A disabled unit test, or one of a model the deployment does not
-- build, changes nothing.
--
CREATE FUNCTION with_unit_test(manifest text, model text, enabled boolean DEFAULT true)
RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_set(manifest::jsonb, '{unit_tests}', jsonb_build_object(
    'unit_test.jaffle.' || model || '.test_logic', jsonb_build_object(
        'unique_id', 'unit_test.jaffle.' || model || '.test_logic', 'resource_type', 'unit_test',
        'package_name', 'jaffle', 'name', 'test_logic', 'model', model,
        'given', '[{"input": "ref(''orders'')", "rows": [{"order_id": 1}]}]'::jsonb,
        'expect', '{"rows": [{"x": 1}]}'::jsonb,
        'config', jsonb_build_object('enabled', enabled),
        'depends_on', jsonb_build_object('macros', '[]'::jsonb,
                                         'nodes', jsonb_build_array('model.jaffle.' || model)))))::text
$$;
SELECT count(*) > 0 AS recorded_before FROM recorded();
SET bluegreen.unit_tests = refuse;
CALL bg.deploy(with_unit_test(bad('select 1 as x'), 'bad'));
SELECT * FROM untouched();
SELECT * FROM recorded();
SET client_min_messages = warning;
CALL bg.deploy(with_unit_test(bad('select 1 as x'), 'bad', enabled => false));
RESET client_min_messages;
SELECT status, models_built FROM latest;
CALL bg.abandon();
SET bluegreen.unit_tests = skip;
SET client_min_messages = notice;
CALL bg.deploy(with_unit_test(bad('select 1 as x'), 'bad'));
RESET bluegreen.unit_tests;
SELECT status, models_built FROM latest;
CALL bg.abandon();
SET client_min_messages = warning;
CALL bg.deploy(with_unit_test(bad('select 1 as x'), 'customers'));
RESET client_min_messages;
SELECT status, models_built FROM latest;
CALL bg.abandon();
SELECT production_untouched();

\c contrib_regression
DROP DATABASE regress_bg_deploy;
DROP ROLE regress_bg_deploy_ci, regress_bg_deploy_analyst;

