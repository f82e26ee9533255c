--
-- dbt unit tests, run as dbt build runs them. Each unit test of a model the deployment
-- builds is a step right before the model's build: the model's compiled code, every
-- input it reads replaced by the test's fixture rows, compared with the rows the test
-- expects. Fixture rows are typed by the input's columns as the model will read them
-- (the shadow copy when the deployment rebuilds the input); expected rows by the model's
-- own columns, and only the columns the first expected row names are compared, as text
-- (as dbt's diff compares them), in any order. A failing unit test fails the
-- deployment, like a failing error-severity test: one failure, the rows that differ in
-- its message, production untouched. What cannot be run from a manifest is refused
-- before anything is built, never skipped.
-- test/deploy_oracle holds the same against dbt build (scenario "unit_tests").
--
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_bg_unit_tests;
CREATE DATABASE regress_bg_unit_tests;
\c regress_bg_unit_tests
CREATE EXTENSION bluegreen;
RESET client_min_messages;
SET bluegreen.show_timing = off;

CREATE SCHEMA raw;
CREATE TABLE raw.items (id integer, name varchar(10), price numeric(10, 2));
INSERT INTO raw.items VALUES (1, 'pen', 1.50), (2, 'notebook', 4.25);
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON raw.items TO bluegreen_builder;

-- rel(): a model's relation as dbt compiles ref() to it. model(): a model of project
-- "ut" in schema mart. unit_test(): a unit test of a model, as dbt writes it into the
-- manifest (csv rows are already rows there). ut(): the manifest of dbt compile: the
-- model stg_items, live, with more models and unit tests.
CREATE FUNCTION rel(name text) RETURNS text LANGUAGE sql STABLE AS $$
SELECT format('%I.%I.%I', current_database(), 'mart', name)
$$;
CREATE FUNCTION model(name text, code text, materialized text DEFAULT 'table',
                      reads text[] DEFAULT '{}', macros text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.ut.' || name, jsonb_build_object(
    'unique_id', 'model.ut.' || name, 'resource_type', 'model', 'package_name', 'ut',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('ut', name), 'database', current_database(),
    'schema', 'mart', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized),
    'unrendered_config', jsonb_build_object('materialized', materialized),
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', to_jsonb(macros),
                                     'nodes', (SELECT coalesce(jsonb_agg('model.ut.' || r), '[]')
                                                 FROM unnest(reads) AS r)),
    'contract', jsonb_build_object('enforced', false), 'constraints', '[]'::jsonb,
    'access', 'protected', 'version', NULL, 'latest_version', NULL, 'deprecation_date', NULL))
$$;
CREATE FUNCTION unit_test(name text, model text, given jsonb, expect jsonb,
                          extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('unit_test.ut.' || model || '.' || name, jsonb_build_object(
    'unique_id', 'unit_test.ut.' || model || '.' || name, 'resource_type', 'unit_test',
    'package_name', 'ut', 'name', name, 'model', model, 'given', given, 'expect', expect,
    'overrides', NULL, 'config', jsonb_build_object('enabled', true),
    'depends_on', jsonb_build_object('macros', '[]'::jsonb,
                                     'nodes', jsonb_build_array('model.ut.' || model))) || extra)
$$;
CREATE FUNCTION stg_items(extra text DEFAULT '') RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('stg_items', 'select id, name, price' || extra || ' from raw.items', 'view')
$$;
CREATE FUNCTION ut(nodes jsonb DEFAULT '{}', unit_tests jsonb DEFAULT '{}',
                   base jsonb DEFAULT stg_items())
RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.11.0', 'project_name', 'ut', 'adapter_type', 'postgres'),
    'nodes', base || nodes,
    'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb, 'docs', '{}'::jsonb,
    'exposures', '{}'::jsonb, 'metrics', '{}'::jsonb, 'groups', '{}'::jsonb,
    'selectors', '{}'::jsonb, 'semantic_models', '{}'::jsonb, 'unit_tests', unit_tests,
    'saved_queries', '{}'::jsonb)::text
$$;
-- priced(): the model the tests test, reading stg_items.
CREATE FUNCTION priced(code text DEFAULT NULL) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('priced', coalesce(code,
    'select id, upper(name) as label, price * 2 as double_price from ' || rel('stg_items')),
    'table', '{stg_items}')
$$;
CREATE SCHEMA mart;
CREATE VIEW mart.stg_items AS SELECT id, name, price FROM raw.items;
SET client_min_messages = warning;
CALL bg.transfer_ownership('mart');
RESET client_min_messages;
CALL bg.create_project(ut());

-- What nothing may change: the live relations, what bluegreen recorded of them.
CREATE VIEW live AS
SELECT c.relname, c.relkind, pg_get_viewdef(c.oid) AS definition
  FROM pg_class AS c WHERE c.relnamespace = 'mart'::regnamespace ORDER BY 1;
CREATE TABLE live_before AS SELECT * FROM live;
CREATE FUNCTION production_untouched() RETURNS boolean LANGUAGE sql AS $$
SELECT NOT EXISTS ((TABLE live EXCEPT TABLE live_before) UNION ALL (TABLE live_before EXCEPT TABLE live))
$$;
CREATE VIEW steps AS
SELECT step, unique_id, action, status, failures, message
  FROM bg.deployment_steps
 WHERE deployment_id = (SELECT max(deployment_id) FROM bg.deployments)
 ORDER BY step;
CREATE VIEW latest AS
SELECT status, models_built, tests_passed, tests_failed, error
  FROM bg.deployments ORDER BY deployment_id DESC LIMIT 1;

--
-- A passing unit test. The input's rows name some of its columns: the others are typed
-- NULLs. A string longer than varchar(10) is not cut short (dbt casts strings to
-- varchar without its length). The expected rows name two of the model's three columns,
-- in another order than the model returns them.
--
CALL bg.deploy(ut(priced(), unit_test('doubles_and_shouts', 'priced',
    '[{"input": "ref(''stg_items'')", "format": "dict",
       "rows": [{"id": 1, "name": "pen", "price": 1.25},
                {"id": 2, "name": "a very long name"},
                {"id": 3, "price": "0.5"}]}]',
    '{"format": "dict", "rows": [{"label": "A VERY LONG NAME", "id": 2},
                                 {"id": 3, "label": null},
                                 {"id": 1, "label": "PEN"}]}')));
SELECT * FROM steps;
SELECT * FROM latest;
CALL bg.abandon();

--
-- A failing unit test: the model's logic changed, the test did not. The deployment
-- fails with the rows that differ, after building what it builds; production is
-- untouched, and the failure is counted like a failing test's.
--
CALL bg.deploy(ut(priced('select id, lower(name) as label, price * 2 as double_price from ' || rel('stg_items')),
    unit_test('doubles_and_shouts', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [{"id": 1, "name": "pen", "price": 1.25}]}]',
    '{"rows": [{"id": 1, "label": "PEN", "double_price": 2.50}]}')));
SELECT * FROM steps;
SELECT * FROM latest;
SELECT production_untouched();
CALL bg.abandon();

-- Rows are compared as multisets: one expected row twice is one row too few.
CALL bg.deploy(ut(priced(), unit_test('twice', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [{"id": 1, "name": "pen"}]}]',
    '{"rows": [{"id": 1}, {"id": 1}]}')));
SELECT status, failures, message FROM steps WHERE action = 'test';
CALL bg.abandon();

-- Values are compared as dbt compares them, as text: 2.5 is not 2.50 (a YAML 2.50 is the
-- number 2.5; "2.50", a string, is cast to the column's numeric as written).
CALL bg.deploy(ut(priced(), unit_test('scale', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [{"id": 1, "price": 1.25}]}]',
    '{"rows": [{"id": 1, "double_price": 2.5}]}')
    || unit_test('scale_as_written', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [{"id": 1, "price": 1.25}]}]',
    '{"rows": [{"id": 1, "double_price": "2.50"}]}')));
SELECT unique_id, status, message FROM steps WHERE action = 'test';
CALL bg.abandon();

-- The model's rows and the expected ones share one UNION ALL, as in dbt's query, so each
-- column gets one type: an expected query's double precision where the model has
-- numeric compares as double precision (2.5 is 2.50 then), its text where the model has
-- an integer is an error, as dbt's unit test errors.
CALL bg.deploy(ut(priced(), unit_test('as_float', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [{"id": 1, "name": "pen", "price": 1.25}]}]',
    '{"format": "sql", "rows": "select 1 as id, ''PEN'' as label, 2.5::float8 as double_price"}')));
SELECT unique_id, status, message FROM steps WHERE action = 'test';
CALL bg.abandon();
\set VERBOSITY terse
CALL bg.deploy(ut(priced(), unit_test('as_text', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [{"id": 1, "name": "pen", "price": 1.25}]}]',
    '{"format": "sql", "rows": "select ''1''::text as id, ''PEN'' as label, 2.50 as double_price"}')));
\set VERBOSITY default
SELECT status, error FROM latest;
CALL bg.abandon();

-- A fixture value nested deeper than json-c parses by default is still a list, refused
-- as every list is (dbt's unit test errors on it), never read as no rows at all.
CALL bg.deploy(ut(priced(), unit_test('deep', 'priced',
    format('[{"input": "ref(''stg_items'')", "rows": [{"id": %s1%s}]}]',
           repeat('[', 40), repeat(']', 40))::jsonb, '{"rows": []}')));

--
-- Fixtures as SQL (format sql), given and expected; an expected result of no rows; a
-- json column (a type without equality: text is what is compared); a model with two
-- unit tests.
--
CALL bg.deploy(ut(priced('select id, upper(name) as label, json_build_object(''p'', price) as doc from ' || rel('stg_items')),
    unit_test('from_sql', 'priced',
        '[{"input": "ref(''stg_items'')", "format": "sql",
           "rows": "select 7 as id, ''ink''::varchar(10) as name, 3.00::numeric(10,2) as price"}]',
        '{"format": "sql", "rows": "select 7 as id, ''INK'' as label, json_build_object(''p'', 3.00) as doc"}')
    || unit_test('nothing_in_nothing_out', 'priced',
        '[{"input": "ref(''stg_items'')", "rows": []}]', '{"rows": []}')));
SELECT step, unique_id, status, failures FROM steps;
CALL bg.abandon();

--
-- The input rebuilt by the same deployment: its fixture takes the columns of the shadow
-- copy, which has the new column "color" that live stg_items lacks.
--
CALL bg.deploy(ut(priced('select id, color from ' || rel('stg_items')),
    unit_test('reads_new_column', 'priced',
        '[{"input": "ref(''stg_items'')", "rows": [{"id": 1, "color": "red"}]}]',
        '{"rows": [{"id": 1, "color": "red"}]}'),
    base => stg_items(', ''blue''::text as color')));
SELECT step, unique_id, action, status FROM steps;
CALL bg.abandon();

-- An ephemeral model has nothing to build, and its unit tests run all the same (here
-- it fails: its code doubles, the test expects triples).
CALL bg.deploy(ut(model('eph_priced', 'select id, price * 2 as p from ' || rel('stg_items'),
                        'ephemeral', '{stg_items}'),
    unit_test('triples', 'eph_priced',
        '[{"input": "ref(''stg_items'')", "rows": [{"id": 1, "price": "1.00"}]}]',
        '{"rows": [{"id": 1, "p": "3.00"}]}')));
SELECT step, unique_id, action, status FROM steps;
CALL bg.abandon();

-- bluegreen.unit_tests = skip builds without running them, saying which; refuse builds
-- nothing a unit test tests.
SET bluegreen.unit_tests = skip;
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": []}]', '{"rows": []}')));
CALL bg.abandon();
SET bluegreen.unit_tests = refuse;
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": []}]', '{"rows": []}')));
RESET bluegreen.unit_tests;

--
-- Refused before anything is built: what a manifest cannot run, and what dbt refuses.
--
SET client_min_messages = warning;
CREATE TABLE deployments_before AS SELECT count(*) AS n FROM bg.deployments;
-- overrides of macros, vars or env_vars: the compiled code was rendered without them
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": []}]', '{"rows": []}',
    '{"overrides": {"macros": {}, "vars": {"cutoff": 3}, "env_vars": {}}}')));
-- a model that calls is_incremental()
CALL bg.deploy(ut(model('inc', 'select id from ' || rel('stg_items'), 'incremental',
                        '{stg_items}', '{macro.dbt.is_incremental}'),
    unit_test('t', 'inc', '[{"input": "ref(''stg_items'')", "rows": []}]', '{"rows": []}')));
-- an ephemeral input, compiled into the model's code
CALL bg.deploy(ut(model('eph', 'select 1 as id', 'ephemeral')
                  || model('reads_eph', 'with __dbt__cte__eph as (select 1 as id) select id from __dbt__cte__eph',
                           'table', '{eph}'),
    unit_test('t', 'reads_eph', '[{"input": "ref(''eph'')", "format": "sql", "rows": "select 1 as id"}]',
              '{"rows": []}')));
-- an input the model reads that the test does not give
CALL bg.deploy(ut(priced(), unit_test('t', 'priced', '[]', '{"rows": []}')));
-- inputs that are not ref(), source() or this, or name nothing
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "stg_items", "rows": []}]', '{"rows": []}')));
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'', ''x'', ''y'')", "rows": []}]', '{"rows": []}')));
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": []}, {"input": "ref(''nowhere'')", "rows": []}]',
    '{"rows": []}')));
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "source(''raw'')", "rows": []}]', '{"rows": []}')));
-- a fixture value that is a mapping or a list
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [{"id": {"a": 1}}]}]', '{"rows": []}')));
SELECT n = (SELECT count(*) FROM bg.deployments) AS nothing_recorded FROM deployments_before;
SELECT production_untouched();

-- Malformed unit tests are refused at intake, naming the test and the field.
SELECT count(*) FROM bg.plan(ut(priced(), unit_test('t', 'priced', '{"input": "x"}', '{"rows": []}')));
SELECT count(*) FROM bg.plan(ut(priced(), unit_test('t', 'priced', '[{"rows": []}]', '{"rows": []}')));
SELECT count(*) FROM bg.plan(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "format": "xml", "rows": []}]', '{"rows": []}')));
SELECT count(*) FROM bg.plan(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "format": "sql", "rows": []}]', '{"rows": []}')));
SELECT count(*) FROM bg.plan(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [1, 2]}]', '{"rows": []}')));
SELECT count(*) FROM bg.plan(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": []}]', '"none"')));
SELECT count(*) FROM bg.plan(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": []}]', '{"rows": []}', '{"overrides": []}')));
RESET client_min_messages;

--
-- Found only when it runs: a column the input or the model does not have. The
-- deployment fails with the error, as dbt's unit test errors.
--
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [{"id": 1, "colour": "red"}]}]', '{"rows": []}')));
SELECT status, error FROM latest;
CALL bg.abandon();
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": [{"id": 1}]}]', '{"rows": [{"id": 1, "total": 2}]}')));
CALL bg.abandon();
-- this, for a model that has no live relation yet: no columns to type its rows by
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "rows": []}, {"input": "this", "rows": [{"id": 1}]}]',
    '{"rows": []}')));
CALL bg.abandon();

--
-- Fixture SQL is manifest SQL: it runs as the builder, and the whole unit test query is
-- parsed before it runs, so a fixture can neither write nor add a statement.
--
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "format": "sql",
       "rows": "with gone as (delete from raw.items returning id) select id, null::text as name, 1 as price from gone"}]',
    '{"rows": []}')));
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "format": "sql",
       "rows": "select 1 as id) select 1; delete from raw.items; with x as (select 1"}]',
    '{"rows": []}')));
CALL bg.deploy(ut(priced(), unit_test('t', 'priced',
    '[{"input": "ref(''stg_items'')", "format": "sql", "rows": "select 1 as id, ''a'' as name, 1 as price"}]',
    '{"format": "sql", "rows": "select 1 as id) AS e) select 1; drop table raw.items; select ((1"}')));
SELECT count(*) AS items_left FROM raw.items;
SELECT production_untouched();

\c contrib_regression
DROP DATABASE regress_bg_unit_tests;
