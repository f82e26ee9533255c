--
-- Security: who may call bluegreen; what manifest SQL, which runs as the builder role
-- bluegreen_builder, may not do; an owner role given more than it needs; names that try to leave
-- their quotes; and bg.transfer_ownership against callers who do not own what they hand
-- over. Every attempt fails with an error that says why (naming the model, for manifest
-- SQL), and nothing changes: sec_changed compares the live relations, the roles, the
-- catalogs and bluegreen's state with what they were before.
--
-- Manifests are built with manifest() and model() of 10_plan.sql, for a project "sec"
-- of its own (project => 'sec' in every model() call).
--
SET client_min_messages = notice;
-- progress lines without durations, the same on every run
SET bluegreen.show_timing = off;
-- deployment numbers in this file do not depend on the files before it
SELECT setval(pg_get_serial_sequence('bg.deployment', 'deployment_id'), 700, false) AS first_deployment;

-- The cast:
--   ci        a deployer
--   stranger  not a deployer
--   other     owns a table in public, outside every managed schema
--   team      a group ci belongs to
--   reader    reads what ci hands over
CREATE ROLE regress_bg_sec_ci;
CREATE ROLE regress_bg_sec_stranger;
CREATE ROLE regress_bg_sec_other;
CREATE ROLE regress_bg_sec_team;
CREATE ROLE regress_bg_sec_reader;
GRANT bluegreen_deployer TO regress_bg_sec_ci;
GRANT regress_bg_sec_team TO regress_bg_sec_ci;

-- Sources the builder may read; a schema it may not; a table someone else owns.
CREATE SCHEMA sec_raw;
CREATE TABLE sec_raw.items (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO sec_raw.items VALUES (1, 'anvil'), (2, 'bucket'), (3, 'crate');
GRANT USAGE ON SCHEMA sec_raw TO bluegreen_builder;
GRANT SELECT ON sec_raw.items TO bluegreen_builder;
CREATE SCHEMA sec_secret;
CREATE TABLE sec_secret.salaries (who text, pay integer);
INSERT INTO sec_secret.salaries VALUES ('ci', 100);
CREATE TABLE public.sec_others (note text);
INSERT INTO public.sec_others VALUES ('not bluegreen''s');
ALTER TABLE public.sec_others OWNER TO regress_bg_sec_other;

-- The live schema sec_mart, as dbt built it and the owner role took it: a table and a
-- view over it.
CREATE SCHEMA sec_mart AUTHORIZATION bluegreen;
CREATE TABLE sec_mart.items AS SELECT id, name FROM sec_raw.items;
CREATE VIEW sec_mart.item_names AS SELECT name FROM sec_mart.items;
ALTER TABLE sec_mart.items OWNER TO bluegreen;
ALTER VIEW sec_mart.item_names OWNER TO bluegreen;

-- sec_manifest(): the project with extra nodes; hostile(): a new model "hostile" in
-- sec_mart with the given code and config; hook(): a model whose post-hook is the given
-- SQL; sec_test(): a singular test of model "hostile".
CREATE FUNCTION sec_manifest(extra jsonb DEFAULT '{}') RETURNS text LANGUAGE sql STABLE AS $$
SELECT manifest(
    model('items', 'select id, name from "contrib_regression"."sec_raw"."items"',
          materialized => 'table', schema => 'sec_mart', project => 'sec')
 || model('item_names', 'select name from "contrib_regression"."sec_mart"."items"',
          schema => 'sec_mart', depends_on => '{model.sec.items}', project => 'sec')
 || extra, project_name => 'sec')
$$;
CREATE FUNCTION hostile(code text, materialized text DEFAULT 'view', config jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('hostile', code, materialized => materialized, schema => 'sec_mart',
             config => config, project => 'sec')
$$;
CREATE FUNCTION hook(sql text, kind text DEFAULT 'post-hook') RETURNS text LANGUAGE sql STABLE AS $$
SELECT sec_manifest(hostile('select 1 as x', config => jsonb_build_object(kind, jsonb_build_array(sql))))
$$;
CREATE FUNCTION sec_test(code text) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('test.sec.hostile_test', jsonb_build_object(
    'unique_id', 'test.sec.hostile_test', 'resource_type', 'test', 'package_name', 'sec',
    'name', 'hostile_test', 'fqn', '["sec", "hostile_test"]'::jsonb,
    'database', 'contrib_regression', 'schema', 'sec_mart_dbt_test__audit',
    'config', '{"enabled": true, "materialized": "test", "severity": "ERROR"}'::jsonb,
    'unrendered_config', '{}'::jsonb, 'raw_code', code, 'compiled_code', code,
    'depends_on', '{"macros": [], "nodes": ["model.sec.hostile"]}'::jsonb))
$$;

CALL bg.create_project(sec_manifest(), 'sec');

-- sec_state(): everything an attack could change. The relations of sec_mart with their
-- kind, owner, grants and a digest of their rows; the schemas sec_*; the table in
-- public; the roles of this file and bluegreen's, with their attributes and
-- memberships; bluegreen's rights on the database; the extensions; functions and
-- triggers in sec_*; the live manifest of project sec.
CREATE FUNCTION sec_state() RETURNS TABLE (item text, state text) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    digest text;
BEGIN
    FOR r IN SELECT c.oid, c.relname, c.relkind, pg_get_userbyid(c.relowner) AS owner, c.relacl
               FROM pg_class AS c
              WHERE c.relnamespace = 'sec_mart'::regnamespace AND c.relkind IN ('r', 'v', 'm')
    LOOP
        EXECUTE format('SELECT md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) FROM %s AS t',
                       '|', '', r.oid::regclass) INTO digest;
        item := 'relation sec_mart.' || r.relname;
        state := concat_ws(' ', r.relkind, r.owner, r.relacl::text, digest);
        RETURN NEXT;
    END LOOP;
    RETURN QUERY
        SELECT 'schema ' || nspname, concat_ws(' ', pg_get_userbyid(nspowner), nspacl::text)
          FROM pg_namespace
         WHERE (nspname LIKE 'sec\_%' AND nspname NOT LIKE '%\_\_bg\_shadow') OR nspname = 'public'
        UNION ALL
        SELECT 'public.sec_others', concat_ws(' ', pg_get_userbyid(relowner), relacl::text,
               (SELECT string_agg(note, '|' ORDER BY note) FROM public.sec_others))
          FROM pg_class WHERE oid = 'public.sec_others'::regclass
        UNION ALL
        SELECT 'role ' || rolname, concat_ws(' ', rolsuper, rolcreaterole, rolcreatedb,
               rolcanlogin, rolreplication, rolbypassrls)
          FROM pg_roles WHERE rolname LIKE 'regress\_bg\_sec\_%' OR rolname LIKE 'bluegreen%'
        UNION ALL
        SELECT 'member ' || pg_get_userbyid(member), pg_get_userbyid(roleid)
          FROM pg_auth_members
         WHERE pg_get_userbyid(member) LIKE 'regress\_bg\_sec\_%' OR pg_get_userbyid(member) LIKE 'bluegreen%'
        UNION ALL
        SELECT 'bluegreen on this database',
               concat_ws(' ', has_database_privilege('bluegreen', current_database(), 'CREATE'),
                         has_database_privilege('bluegreen', current_database(), 'TEMP'))
        UNION ALL
        SELECT 'extension ' || extname, extversion FROM pg_extension
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure::text, pg_get_userbyid(p.proowner)
          FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
         WHERE n.nspname LIKE 'sec\_%'
        UNION ALL
        SELECT 'trigger ' || tgname, tgrelid::regclass::text
          FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
         WHERE c.relnamespace::regnamespace::text LIKE 'sec\_%'
        UNION ALL
        SELECT 'project sec', live_manifest_id::text FROM bg.projects WHERE project = 'sec';
END
$$;
CREATE TEMP TABLE sec_before AS SELECT * FROM sec_state();
-- sec_changed: what differs from sec_before (nothing, every time it is shown).
CREATE TEMP VIEW sec_changed AS
(SELECT 'now' AS side, * FROM sec_state() EXCEPT SELECT 'now', * FROM sec_before)
UNION ALL
(SELECT 'before', * FROM sec_before EXCEPT SELECT 'before', * FROM sec_state());
-- (Shown without the extensions and the project's manifest number, which depend on the
-- files run before this one; they are compared all the same.)
SELECT item, state FROM sec_before
 WHERE item NOT LIKE 'extension %' AND item <> 'project sec' ORDER BY item COLLATE "C";

-- attempt(): run a statement; 'ok', or the SQLSTATE and message of its error.
CREATE FUNCTION attempt(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ': ' || message;
END
$$;

--
-- Who may call what
--
-- Every procedure and function of bg, as a role that is not a deployer: first without
-- USAGE on schema bg, then with it. EXECUTE is not granted to PUBLIC.
CREATE TEMP VIEW sec_calls (call, statement) AS VALUES
    ('create_project(text)', $$CALL bg.create_project(sec_manifest(), 'sec_stranger')$$),
    ('create_project(jsonb)', $$CALL bg.create_project(sec_manifest()::jsonb, 'sec_stranger')$$),
    ('plan(text)', $$SELECT * FROM bg.plan(sec_manifest(), 'sec')$$),
    ('plan(jsonb)', $$SELECT * FROM bg.plan(sec_manifest()::jsonb, 'sec')$$),
    ('plan_json(text)', $$SELECT bg.plan_json(sec_manifest(), 'sec')$$),
    ('plan_json(jsonb)', $$SELECT bg.plan_json(sec_manifest()::jsonb, 'sec')$$),
    ('deploy(text)', $$CALL bg.deploy(sec_manifest(), 'sec')$$),
    ('deploy(jsonb)', $$CALL bg.deploy(sec_manifest()::jsonb, 'sec')$$),
    ('deploy() (refresh)', $$CALL bg.deploy(project => 'sec')$$),
    ('deploy_begin(text)', $$CALL bg.deploy_begin(sec_manifest(), 'sec')$$),
    ('deploy_begin(jsonb)', $$CALL bg.deploy_begin(sec_manifest()::jsonb, 'sec')$$),
    ('deploy_finish', $$CALL bg.deploy_finish('sec')$$),
    ('abandon', $$CALL bg.abandon('sec')$$),
    ('promote', $$CALL bg.promote(project => 'sec')$$),
    ('promote (dry run)', $$CALL bg.promote(dry_run => true, project => 'sec')$$),
    ('rollback', $$CALL bg.rollback('sec')$$),
    ('rollback (dry run)', $$CALL bg.rollback('sec', dry_run => true)$$),
    ('cleanup', $$CALL bg.cleanup('sec')$$),
    ('transfer_ownership', $$CALL bg.transfer_ownership('sec_raw')$$),
    ('transfer_ownership (dry run)', $$CALL bg.transfer_ownership('sec_raw', dry_run => true)$$);
GRANT SELECT ON sec_calls TO regress_bg_sec_stranger;
SET ROLE regress_bg_sec_stranger;
SELECT call, attempt(statement) AS without_usage_on_bg FROM sec_calls;
RESET ROLE;
GRANT USAGE ON SCHEMA bg TO regress_bg_sec_stranger;
SET ROLE regress_bg_sec_stranger;
SELECT call, attempt(statement) AS with_usage_on_bg FROM sec_calls;
RESET ROLE;
REVOKE USAGE ON SCHEMA bg FROM regress_bg_sec_stranger;

-- A deployer may read the three views, and nothing else of bg: it may not read the
-- tables behind them, write a table or a view, or create anything in bg.
SET ROLE regress_bg_sec_ci;
SELECT count(*) >= 1 AS reads_projects FROM bg.projects;
SELECT count(*) >= 0 AS reads_deployments FROM bg.deployments;
SELECT count(*) >= 0 AS reads_deployment_steps FROM bg.deployment_steps;
SELECT c.relname AS relation, s.tried,
       attempt(format(s.statement, 'bg.' || c.relname,
                      (SELECT quote_ident(attname) FROM pg_attribute
                        WHERE attrelid = c.oid AND attnum > 0 AND attidentity = ''
                        ORDER BY attnum LIMIT 1))) AS result
  FROM pg_class AS c
 CROSS JOIN (VALUES (1, 'SELECT', 'SELECT FROM %s'),
                    (2, 'INSERT', 'INSERT INTO %s DEFAULT VALUES'),
                    (3, 'UPDATE', 'UPDATE %s SET %2$s = %2$s'),
                    (4, 'DELETE', 'DELETE FROM %s'),
                    (5, 'TRUNCATE', 'TRUNCATE %s')) AS s (n, tried, statement)
 WHERE c.relnamespace = 'bg'::regnamespace AND c.relkind = 'r'
 ORDER BY c.relname, s.n;
SELECT v AS view, attempt(format('INSERT INTO bg.%I DEFAULT VALUES', v)) AS insert,
       attempt(format('DELETE FROM bg.%I', v)) AS delete
  FROM unnest('{projects,deployments,deployment_steps}'::text[]) AS v;
SELECT attempt('CREATE TABLE bg.planted (x integer)') AS create_table,
       attempt('CREATE FUNCTION bg.planted() RETURNS integer LANGUAGE sql AS ''SELECT 1''') AS create_function,
       attempt('ALTER VIEW bg.deployments RENAME TO planted') AS alter_view,
       attempt('DROP VIEW bg.deployment_steps') AS drop_view;
-- Nor may it choose the search_path manifest SQL runs under.
SELECT attempt('SET bluegreen.model_search_path = ''sec_mart, pg_catalog''') AS set_model_search_path;
RESET ROLE;
SELECT * FROM sec_changed;

--
-- Manifest SQL that reaches past its schemas
--
-- Each deployment below adds a model "hostile" (and, for tests, a test of it) to the
-- live project. Code that is not one plain SELECT is refused before anything is built
-- or recorded; everything else runs as the builder, in a security-restricted
-- operation, and fails where PostgreSQL denies the builder.
SET client_min_messages = warning;
SET ROLE regress_bg_sec_ci;

-- Model and test code: refused on the parse tree, nothing recorded.
CALL bg.deploy(sec_manifest(hostile('select 1 as x; drop table sec_mart.items')), 'sec');
CALL bg.deploy(sec_manifest(hostile('with gone as (delete from sec_mart.items returning *) select * from gone')), 'sec');
CALL bg.deploy(sec_manifest(hostile('with gone as (update public.sec_others set note = null returning *) select * from gone')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select * into sec_mart.stolen from sec_mart.items')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select * from sec_mart.items for update')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select 1 as x') || sec_test('with gone as (delete from sec_mart.items returning *) select * from gone')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select 1 as x') || sec_test('select 1; drop table sec_mart.items')), 'sec');

-- Model code that reads what the builder was not given, or calls what it may not:
-- built as tables, so the code runs.
CALL bg.deploy(sec_manifest(hostile('select * from sec_secret.salaries', 'table')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select * from bg.node', 'table')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select pg_read_file(''/etc/passwd'') as f', 'table')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select lo_import(''/etc/passwd'') as f', 'table')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select set_config(''role'', ''regress_bg_sec_ci'', false) as f', 'table')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select set_config(''session_authorization'', ''regress_bg_sec_ci'', false) as f', 'table')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select set_config(''bluegreen.model_search_path'', ''sec_mart'', false) as f', 'table')), 'sec');
-- A test that reads the secret table.
CALL bg.deploy(sec_manifest(hostile('select 1 as x') || sec_test('select * from sec_secret.salaries where pay < 0')), 'sec');

-- Hooks: roles, programs, files, extensions, identity.
CALL bg.deploy(hook('ALTER ROLE bluegreen SUPERUSER'), 'sec');
CALL bg.deploy(hook('ALTER ROLE bluegreen CREATEROLE'), 'sec');
CALL bg.deploy(hook('ALTER ROLE regress_bg_sec_ci SUPERUSER', 'pre-hook'), 'sec');
CALL bg.deploy(hook('CREATE ROLE regress_bg_sec_made_by_manifest SUPERUSER'), 'sec');
CALL bg.deploy(hook('GRANT pg_execute_server_program TO bluegreen'), 'sec');
CALL bg.deploy(hook('GRANT bluegreen TO regress_bg_sec_ci'), 'sec');
CALL bg.deploy(hook('COPY (SELECT 1) TO PROGRAM ''id'''), 'sec');
CALL bg.deploy(hook('COPY (SELECT 1) TO ''/tmp/regress_bg_sec_written'''), 'sec');
CALL bg.deploy(hook('COPY sec_mart.items FROM ''/etc/hostname'''), 'sec');
CALL bg.deploy(hook('CREATE EXTENSION pgcrypto'), 'sec');
CALL bg.deploy(hook('CREATE EXTENSION file_fdw'), 'sec');
CALL bg.deploy(hook('LOAD ''bluegreen'''), 'sec');
CALL bg.deploy(hook('CREATE FUNCTION sec_mart.escape() RETURNS integer LANGUAGE c AS ''bluegreen'', ''bg_abandon'''), 'sec');
CALL bg.deploy(hook('SET ROLE regress_bg_sec_ci'), 'sec');
CALL bg.deploy(hook('RESET ROLE', 'pre-hook'), 'sec');
CALL bg.deploy(hook('SET SESSION AUTHORIZATION regress_bg_sec_ci'), 'sec');
CALL bg.deploy(hook('SET bluegreen.model_search_path = sec_mart'), 'sec');
CALL bg.deploy(hook('SET session_replication_role = replica'), 'sec');
CALL bg.deploy(hook('CREATE EVENT TRIGGER sec_watch ON ddl_command_start EXECUTE FUNCTION pg_catalog.pg_event_trigger_dropped_objects()'), 'sec');

-- Hooks: objects outside the managed schemas, and the session after the call.
CALL bg.deploy(hook('DROP TABLE public.sec_others'), 'sec');
CALL bg.deploy(hook('INSERT INTO public.sec_others VALUES (''written by a manifest'')'), 'sec');
CALL bg.deploy(hook('DROP SCHEMA sec_secret CASCADE'), 'sec');
CALL bg.deploy(hook('SELECT * FROM sec_secret.salaries'), 'sec');
CALL bg.deploy(hook('CREATE SCHEMA sec_planted'), 'sec');
CALL bg.deploy(hook('CREATE TABLE bg.planted (x integer)'), 'sec');
CALL bg.deploy(hook('CREATE TEMP TABLE sec_items AS SELECT * FROM sec_mart.items'), 'sec');
CALL bg.deploy(hook('CREATE DOMAIN pg_temp.text AS pg_catalog.text'), 'sec');
RESET ROLE;
RESET client_min_messages;

-- Every deployment above failed, naming the model and the error; what was refused
-- before building left no record.
SELECT deployment_id, status, failed_node, error
  FROM bg.deployments WHERE project = 'sec' ORDER BY deployment_id;
-- Nothing changed: no role, no extension, no schema, no file, the live relations as
-- they were; the session has no temporary object of bluegreen's roles.
SELECT * FROM sec_changed;
SELECT count(*) AS temporary_objects_of_bluegreen
  FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relowner IN ('bluegreen'::regrole, 'bluegreen_builder'::regrole);
SELECT pg_stat_file('/tmp/regress_bg_sec_written', true) IS NULL AS no_file_written;

--
-- An owner role given more than it needs
--
-- bluegreen runs no manifest SQL as a role that could reach past its schemas: checked
-- before every model and test. The hook below would create a superuser role if it ran.
SET client_min_messages = warning;
ALTER ROLE bluegreen SUPERUSER;
SET ROLE regress_bg_sec_ci;
CALL bg.deploy(hook('CREATE ROLE regress_bg_sec_made_by_manifest SUPERUSER'), 'sec');
RESET ROLE;
ALTER ROLE bluegreen NOSUPERUSER;
-- CREATEROLE: on PostgreSQL 15 it lets a role grant itself pg_execute_server_program.
ALTER ROLE bluegreen CREATEROLE;
SET ROLE regress_bg_sec_ci;
CALL bg.deploy(hook('GRANT pg_execute_server_program TO bluegreen'), 'sec');
RESET ROLE;
ALTER ROLE bluegreen NOCREATEROLE;
-- The predefined roles that run programs, read or write server files, write every table;
-- directly or through another role.
GRANT pg_execute_server_program TO bluegreen;
SET ROLE regress_bg_sec_ci;
CALL bg.deploy(hook('COPY (SELECT 1) TO PROGRAM ''id'''), 'sec');
RESET ROLE;
REVOKE pg_execute_server_program FROM bluegreen;
CREATE ROLE regress_bg_sec_files;
GRANT pg_read_server_files, pg_write_server_files TO regress_bg_sec_files;
GRANT regress_bg_sec_files TO bluegreen;
SET ROLE regress_bg_sec_ci;
CALL bg.deploy(hook('COPY sec_mart.items FROM ''/etc/hostname'''), 'sec');
RESET ROLE;
REVOKE regress_bg_sec_files FROM bluegreen;
DROP ROLE regress_bg_sec_files;
GRANT pg_write_all_data TO bluegreen;
SET ROLE regress_bg_sec_ci;
CALL bg.deploy(hook('DELETE FROM bg.deployment'), 'sec');
RESET ROLE;
REVOKE pg_write_all_data FROM bluegreen;
-- Membership of a superuser role (the superuser's privileges, not its attribute).
CREATE ROLE regress_bg_sec_admin SUPERUSER;
GRANT regress_bg_sec_admin TO bluegreen;
SET ROLE regress_bg_sec_ci;
CALL bg.deploy(hook('CREATE ROLE regress_bg_sec_made_by_manifest'), 'sec');
RESET ROLE;
REVOKE regress_bg_sec_admin FROM bluegreen;
DROP ROLE regress_bg_sec_admin;
-- CREATE on the database: trusted extensions and new schemas.
GRANT CREATE ON DATABASE contrib_regression TO bluegreen;
SET ROLE regress_bg_sec_ci;
CALL bg.deploy(hook('CREATE EXTENSION pgcrypto'), 'sec');
RESET ROLE;
REVOKE CREATE ON DATABASE contrib_regression FROM bluegreen;
RESET client_min_messages;
-- Each was recorded as failed before its model ran; nothing changed.
SELECT deployment_id, status, failed_node, error
  FROM bg.deployments WHERE project = 'sec' AND deployment_id > 735 ORDER BY deployment_id;
SELECT * FROM sec_changed;
-- Given back what it needs and nothing more, the owner role builds again.
SET ROLE regress_bg_sec_ci;
CALL bg.deploy(sec_manifest(hostile('select name from "contrib_regression"."sec_mart"."items"')), 'sec');
CALL bg.abandon('sec');
RESET ROLE;
SELECT * FROM sec_changed;

--
-- Names that try to leave their quotes
--
-- Schema and relation names with a double quote, a semicolon, a backslash or a control
-- character, and names longer than PostgreSQL keeps, are refused when the manifest is
-- read, by every call that reads one (bg.create_project: see 20_bad_manifests).
SET ROLE regress_bg_sec_ci;
SELECT * FROM bg.plan(sec_manifest(model('evil', 'select 1 as x', schema => 'sec_mart"; DROP TABLE sec_mart.items; --', project => 'sec')), 'sec');
SELECT bg.plan_json(sec_manifest(model('evil', 'select 1 as x', schema => 'sec_mart', alias => 'items; DROP TABLE sec_mart.items', project => 'sec'))::jsonb, 'sec');
CALL bg.deploy(sec_manifest(model('evil', 'select 1 as x', schema => 'sec_mart', alias => 'items" CASCADE --', project => 'sec')), 'sec');
CALL bg.deploy(sec_manifest(model('evil', 'select 1 as x', schema => 'sec_mart', alias => E'items\\', project => 'sec'))::jsonb, 'sec');
CALL bg.deploy_begin(sec_manifest(model('evil', 'select 1 as x', schema => E'sec_mart\nDROP', project => 'sec')), 'sec');
CALL bg.deploy(sec_manifest(model('evil', 'select 1 as x', schema => 'sec_mart', alias => repeat('é', 32), project => 'sec')), 'sec');
-- A model's name is not a relation name: dbt takes it from the file name, and
-- bluegreen only ever prints it (as part of the unique_id).
SELECT unique_id, action, live_relation
  FROM bg.plan(sec_manifest(model('odd"; DROP TABLE sec_mart.items; --', 'select 1 as x',
                                  schema => 'sec_mart', alias => 'odd', project => 'sec')), 'sec')
 WHERE selected;
-- Config that bluegreen writes into statements: grantees are quoted identifiers, index
-- columns and other fragments dbt splices as SQL must leave one statement of the kind
-- expected.
CALL bg.deploy(sec_manifest(hostile('select 1 as x', 'table',
     config => '{"grants": {"select": ["regress_bg_sec_reader; DROP TABLE sec_mart.items"]}}')), 'sec');
CALL bg.deploy(sec_manifest(hostile('select 1 as x', 'table',
     config => '{"indexes": [{"columns": ["x); DROP TABLE sec_mart.items; --"]}]}')), 'sec');
CALL bg.abandon('sec');
RESET ROLE;
SELECT * FROM sec_changed;

-- Names that need quoting but are not refused -- spaces, upper case, quotes of the
-- other kind, comment and parameter markers, keywords, letters beyond ASCII, 63 bytes --
-- are quoted in every statement: plan, deploy, the dry run and the switch itself.
CREATE SCHEMA "Sec Mart ü '$1' --/*" AUTHORIZATION bluegreen;
CREATE FUNCTION odd_names() RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT model('kw', 'select id, name from "contrib_regression"."sec_raw"."items"',
             schema => 'Sec Mart ü ''$1'' --/*', alias => 'select', project => 'sec')
    || model('letters', 'select id from "contrib_regression"."sec_raw"."items"', materialized => 'table',
             schema => 'Sec Mart ü ''$1'' --/*', alias => 'Ünïcödé 表',
             config => '{"post-hook": ["ANALYZE {{ this }}"], "indexes": [{"columns": ["id"], "unique": true}],
                         "grants": {"select": ["regress_bg_sec_reader"]}}', project => 'sec')
    || model('quotes', 'select 1 as "it''s"', schema => 'Sec Mart ü ''$1'' --/*',
             alias => 'o''brien $1 -- /*', project => 'sec')
    || model('long', 'select 1 as x', schema => 'Sec Mart ü ''$1'' --/*',
             alias => repeat('é', 31) || 'x', project => 'sec')
$$;
SET ROLE regress_bg_sec_ci;
SELECT unique_id, action, live_relation, shadow_relation
  FROM bg.plan(sec_manifest(odd_names()), 'sec') WHERE selected ORDER BY unique_id;
CALL bg.deploy(sec_manifest(odd_names()), 'sec');
-- (The statements are printed; the plan each call returns is kept in :plan.)
CALL bg.promote(dry_run => true, project => 'sec') \gset
CALL bg.promote(project => 'sec') \gset
RESET ROLE;
SELECT c.relname, c.relkind, pg_get_userbyid(c.relowner) AS owner, c.relacl
  FROM pg_class AS c
 WHERE c.relnamespace = '"Sec Mart ü ''$1'' --/*"'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY c.relname COLLATE "C";
SELECT * FROM "Sec Mart ü '$1' --/*"."select" ORDER BY id;
SET ROLE regress_bg_sec_ci;
CALL bg.rollback('sec') \gset
RESET ROLE;
SELECT count(*) AS left_live
  FROM pg_class WHERE relnamespace = '"Sec Mart ü ''$1'' --/*"'::regnamespace;
SELECT * FROM sec_changed;

--
-- bg.transfer_ownership: several owners in one schema, and the grants that survive
--
-- ci's schema sec_xfer holds ci's objects (a table with row-level security, a trigger
-- and column grants; a view; a sequence; a type; a function), one of ci's group team,
-- and one of other, who is not a deployer.
CREATE SCHEMA sec_xfer AUTHORIZATION regress_bg_sec_ci;
GRANT CREATE, USAGE ON SCHEMA sec_xfer TO regress_bg_sec_other, regress_bg_sec_team;
SET ROLE regress_bg_sec_ci;
CREATE TYPE sec_xfer.status AS ENUM ('open', 'closed');
CREATE TABLE sec_xfer.orders (id integer PRIMARY KEY, status sec_xfer.status NOT NULL,
                              amount numeric NOT NULL, secret text);
INSERT INTO sec_xfer.orders VALUES (1, 'open', 10, 'a'), (2, 'closed', 500, 'b');
ALTER TABLE sec_xfer.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY small_only ON sec_xfer.orders FOR SELECT TO regress_bg_sec_reader USING (amount < 100);
CREATE FUNCTION sec_xfer.stamp() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER stamp BEFORE INSERT ON sec_xfer.orders FOR EACH ROW EXECUTE FUNCTION sec_xfer.stamp();
CREATE SEQUENCE sec_xfer.order_numbers;
CREATE FUNCTION sec_xfer.total() RETURNS numeric LANGUAGE sql AS 'SELECT sum(amount) FROM sec_xfer.orders';
CREATE VIEW sec_xfer.open_orders AS SELECT id FROM sec_xfer.orders WHERE status = 'open';
GRANT USAGE ON SCHEMA sec_xfer TO regress_bg_sec_reader;
GRANT SELECT (id, amount) ON sec_xfer.orders TO regress_bg_sec_reader;
REVOKE EXECUTE ON FUNCTION sec_xfer.total() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sec_xfer.total() TO regress_bg_sec_reader;
GRANT USAGE ON SEQUENCE sec_xfer.order_numbers TO regress_bg_sec_reader;
REVOKE USAGE ON TYPE sec_xfer.status FROM PUBLIC;
GRANT USAGE ON TYPE sec_xfer.status TO regress_bg_sec_reader;
GRANT SELECT ON sec_xfer.open_orders TO regress_bg_sec_team WITH GRANT OPTION;
SET ROLE regress_bg_sec_team;
GRANT SELECT ON sec_xfer.open_orders TO regress_bg_sec_reader;
CREATE TABLE sec_xfer.team_notes (note text);
SET ROLE regress_bg_sec_other;
CREATE TABLE sec_xfer.others_notes (note text);
RESET ROLE;
CREATE TEMP VIEW sec_xfer_owners AS
SELECT 'schema' AS kind, nspname::text AS object, pg_get_userbyid(nspowner) AS owner, nspacl::text AS acl
  FROM pg_namespace WHERE nspname = 'sec_xfer'
UNION ALL
SELECT CASE relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' ELSE 'index' END,
       relname, pg_get_userbyid(relowner), relacl::text
  FROM pg_class WHERE relnamespace = 'sec_xfer'::regnamespace
UNION ALL
SELECT 'column', attrelid::regclass || '.' || attname, NULL, attacl::text
  FROM pg_attribute WHERE attrelid = 'sec_xfer.orders'::regclass AND attacl IS NOT NULL
UNION ALL
SELECT 'function', oid::regprocedure::text, pg_get_userbyid(proowner), proacl::text
  FROM pg_proc WHERE pronamespace = 'sec_xfer'::regnamespace
UNION ALL
SELECT 'type', typname, pg_get_userbyid(typowner), typacl::text
  FROM pg_type WHERE typnamespace = 'sec_xfer'::regnamespace AND typtype = 'e';
CREATE TEMP TABLE sec_xfer_before AS SELECT * FROM sec_xfer_owners;
SELECT * FROM sec_xfer_before ORDER BY kind, object COLLATE "C";

-- ci may hand over its own objects and its group's, not other's: nothing changes, and
-- the error names other's table (the dry run checks the same).
SET ROLE regress_bg_sec_ci;
CALL bg.transfer_ownership('sec_xfer', dry_run => true);
CALL bg.transfer_ownership('sec_xfer');
RESET ROLE;
-- A member of ci without INHERIT has no privileges of ci's: even allowed to call the
-- procedure, it may hand over nothing of ci's.
CREATE ROLE regress_bg_sec_noinherit NOINHERIT;
GRANT regress_bg_sec_ci TO regress_bg_sec_noinherit;
GRANT USAGE ON SCHEMA bg TO regress_bg_sec_noinherit;
GRANT EXECUTE ON PROCEDURE bg.transfer_ownership(text, boolean) TO regress_bg_sec_noinherit;
SET ROLE regress_bg_sec_noinherit;
CALL bg.transfer_ownership('sec_xfer');
RESET ROLE;
REVOKE EXECUTE ON PROCEDURE bg.transfer_ownership(text, boolean) FROM regress_bg_sec_noinherit;
REVOKE USAGE ON SCHEMA bg FROM regress_bg_sec_noinherit;
DROP ROLE regress_bg_sec_noinherit;
-- Nothing changed.
(SELECT * FROM sec_xfer_owners EXCEPT SELECT * FROM sec_xfer_before)
UNION ALL
(SELECT * FROM sec_xfer_before EXCEPT SELECT * FROM sec_xfer_owners);

-- Once other's table is gone, ci hands over the rest.
DROP TABLE sec_xfer.others_notes;
SET ROLE regress_bg_sec_ci;
CALL bg.transfer_ownership('sec_xfer');
RESET ROLE;
-- Every grant survives with bluegreen as its grantor, the column grants, the grant ci
-- gave team with grant option, and the one team passed on by it included.
SELECT * FROM sec_xfer_owners ORDER BY kind, object COLLATE "C";
-- The reader reads as before: the granted columns, through the row-level security
-- policy; the view, the function, the sequence and the type; not the secret column.
SET ROLE regress_bg_sec_reader;
SELECT id, amount FROM sec_xfer.orders ORDER BY id;
SELECT id FROM sec_xfer.open_orders;
SELECT sec_xfer.total() AS total_the_reader_may_see, nextval('sec_xfer.order_numbers'),
       'closed'::sec_xfer.status;
SELECT secret FROM sec_xfer.orders;
RESET ROLE;
-- The policy and the trigger stay with the table.
SELECT polname, polroles::regrole[] FROM pg_policy WHERE polrelid = 'sec_xfer.orders'::regclass;
SELECT tgname, tgfoid::regproc FROM pg_trigger WHERE tgrelid = 'sec_xfer.orders'::regclass;

--
-- Clean up
--
SET client_min_messages = warning;
DROP VIEW sec_changed, sec_calls, sec_xfer_owners;
DROP TABLE sec_before, sec_xfer_before;
DO $$
DECLARE s name;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace
              WHERE nspname LIKE 'sec\_%' OR nspname LIKE 'Sec Mart%'
    LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', s);
    END LOOP;
END
$$;
DROP TABLE public.sec_others;
DROP FUNCTION sec_manifest(jsonb), hostile(text, text, jsonb), hook(text, text), sec_test(text),
    sec_state(), attempt(text), odd_names();
DROP OWNED BY regress_bg_sec_ci, regress_bg_sec_stranger, regress_bg_sec_other,
    regress_bg_sec_team, regress_bg_sec_reader;
DROP ROLE regress_bg_sec_ci, regress_bg_sec_stranger, regress_bg_sec_other,
    regress_bg_sec_team, regress_bg_sec_reader;
RESET client_min_messages;
