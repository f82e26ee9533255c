--
-- Least privilege by construction. Manifest SQL runs as bluegreen_builder, which owns
-- only what it builds in shadow and may only read what is live; production belongs to
-- bluegreen, which runs no manifest SQL; and bluegreen acts only inside the schemas it
-- was handed. Every attack below fails with an error that says why, and afterwards
-- changed() shows that nothing outside the deployment's shadow moved: every relation
-- (kind, owner, grants, column grants, comments, rows), sequence, schema, role and
-- membership, default privilege, function, trigger, statistics object, large object and
-- bluegreen's own history is exactly as save() recorded it just before.
--
-- This file works in a database of its own, with one project "lp".
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_lp;
\c regress_bg_lp
CREATE EXTENSION bluegreen;
CREATE EXTENSION dblink;
RESET client_min_messages;
SET bluegreen.show_timing = off;

CREATE ROLE regress_bg_lp_ci;
CREATE ROLE regress_bg_lp_stranger LOGIN;
GRANT bluegreen_deployer TO regress_bg_lp_ci;

-- Sources the builder reads; the live schema mart, handed over; a table in public and a
-- schema "elsewhere", both a superuser's; a function anyone may call that writes live.
CREATE SCHEMA raw;
CREATE TABLE raw.items (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO raw.items VALUES (1, 'anvil'), (2, 'bucket'), (3, 'crate');
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON raw.items TO bluegreen_builder;
CREATE SCHEMA mart;
CREATE TABLE mart.items AS SELECT id, name FROM raw.items;
CREATE SEQUENCE mart.item_ids;
SELECT setval('mart.item_ids', 42);
CREATE VIEW mart.item_names AS SELECT name FROM mart.items;
SET client_min_messages = warning;
CALL bg.transfer_ownership('mart');
RESET client_min_messages;
CREATE TABLE public.app_users (name text, password text);
INSERT INTO public.app_users VALUES ('alice', 'secret');
CREATE SCHEMA elsewhere;
CREATE FUNCTION public.wipe() RETURNS integer LANGUAGE sql AS
    'DELETE FROM mart.items; SELECT pg_catalog.setval(''mart.item_ids'', 1)::integer';

-- Manifests: lp() is the project (items, a table, and item_names, a view over it) with
-- extra nodes; model() a model of project lp.
CREATE FUNCTION model(name text, code text, materialized text DEFAULT 'table',
                      schema text DEFAULT 'mart', config jsonb DEFAULT '{}',
                      extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.lp.' || name, jsonb_build_object(
    'unique_id', 'model.lp.' || name, 'resource_type', 'model', 'package_name', 'lp',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('lp', name), 'database', current_database(),
    'schema', schema, 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized) || config,
    'unrendered_config', jsonb_build_object('materialized', materialized) || config,
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', '[]'::jsonb),
    'contract', '{"enforced": false, "checksum": null}'::jsonb,
    'constraints', '[]'::jsonb, 'access', 'protected', 'version', NULL,
    'latest_version', NULL, 'deprecation_date', NULL) || extra)
$$;
CREATE FUNCTION lp(extra jsonb DEFAULT '{}') RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'lp', 'adapter_type', 'postgres'),
    'nodes', model('items', 'select id, name from raw.items')
          || model('item_names', 'select name from mart.items', 'view')
          || extra,
    'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb)::text
$$;
-- hook(): the project with a new model "hooked" whose post-hook (or pre-hook) is sql.
CREATE FUNCTION hook(sql text, kind text DEFAULT 'post-hook') RETURNS text LANGUAGE sql STABLE AS $$
SELECT lp(model('hooked', 'select 1 as x', config => jsonb_build_object(kind, jsonb_build_array(sql))))
$$;

-- save() and changed(): everything an attack could change, outside the shadow.
CREATE FUNCTION checksum(relation regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s AS t',
                   relation) INTO result;
    RETURN result;
END
$$;
CREATE FUNCTION everything() RETURNS SETOF text LANGUAGE sql AS $$
SELECT format('relation %s.%s %s owner %s acl %s comment %s rows %s', n.nspname, c.relname,
              c.relkind, pg_get_userbyid(c.relowner), c.relacl,
              obj_description(c.oid, 'pg_class'),
              CASE WHEN c.relkind IN ('r', 'v', 'm') THEN checksum(c.oid)
                   WHEN c.relkind = 'S' THEN pg_sequence_last_value(c.oid)::text END)
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bg')
   AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
   AND n.nspname NOT LIKE '%\_\_bg\_shadow'
UNION ALL SELECT format('column %s.%s acl %s default %s', a.attrelid::regclass, a.attname, a.attacl,
                        pg_get_expr(d.adbin, d.adrelid))
  FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace IN ('mart'::regnamespace, 'public'::regnamespace) AND a.attnum > 0
UNION ALL SELECT format('schema %s owner %s acl %s', nspname, pg_get_userbyid(nspowner), nspacl)
  FROM pg_namespace WHERE nspname NOT LIKE '%\_\_bg\_shadow'
UNION ALL SELECT format('role %s %s %s %s %s', rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls)
  FROM pg_roles WHERE rolname LIKE 'regress\_bg\_lp%' OR rolname LIKE 'bluegreen%'
UNION ALL SELECT format('member %s of %s', pg_get_userbyid(member), pg_get_userbyid(roleid))
  FROM pg_auth_members
UNION ALL SELECT format('default privileges %s %s %s', pg_get_userbyid(defaclrole), defaclnamespace, defaclacl)
  FROM pg_default_acl
UNION ALL SELECT format('function %s owner %s', p.oid::regprocedure, pg_get_userbyid(p.proowner))
  FROM pg_proc AS p WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
UNION ALL SELECT format('trigger %s on %s', tgname, tgrelid::regclass) FROM pg_trigger
UNION ALL SELECT format('statistics %s', stxname) FROM pg_statistic_ext
UNION ALL SELECT format('large object %s', oid) FROM pg_largeobject_metadata
UNION ALL SELECT format('database acl %s', datacl) FROM pg_database WHERE datname = current_database()
UNION ALL SELECT format('project %s live %s', name, live_manifest_id) FROM bg.project
$$;
CREATE TEMP TABLE saved (line text);
CREATE FUNCTION save() RETURNS void LANGUAGE sql AS $$
DELETE FROM saved; INSERT INTO saved SELECT everything();
$$;
CREATE FUNCTION changed() RETURNS SETOF text LANGUAGE sql AS $$
(SELECT 'now:    ' || l FROM (SELECT everything() EXCEPT SELECT line FROM saved) AS x (l))
UNION ALL
(SELECT 'before: ' || l FROM (SELECT line FROM saved EXCEPT SELECT everything()) AS x (l))
$$;

--
-- The roles
--
-- The builder owns nothing live and is nobody's member but its own members'; the owner
-- role is a member of the builder (the views it owns read the sources granted to the
-- builder), never the other way round. Neither can log in or is more than a role.
SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls
  FROM pg_roles WHERE rolname IN ('bluegreen', 'bluegreen_builder') ORDER BY 1;
SELECT pg_get_userbyid(member) AS member, pg_get_userbyid(roleid) AS of_role
  FROM pg_auth_members WHERE roleid IN ('bluegreen'::regrole, 'bluegreen_builder'::regrole)
   AND member IN ('bluegreen'::regrole, 'bluegreen_builder'::regrole);
-- Handed over, mart and its relations are the owner role's; the builder may read them.
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner,
       has_table_privilege('bluegreen_builder', c.oid, 'SELECT') AS builder_reads,
       has_table_privilege('bluegreen_builder', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS builder_writes
  FROM pg_class AS c WHERE c.relnamespace = 'mart'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY 1;

--
-- The scope: a manifest cannot name what bluegreen was not handed
--
-- The escalation a deployer would try: register a baseline whose "models" are a
-- catalog view, a superuser's table, relations in bg or in a schema nobody handed over;
-- then deploy and force the promote. Each is refused when registered, naming the node.
SELECT save();
SET ROLE regress_bg_lp_ci;
CALL bg.create_project(lp(model('sql_features', 'select 1 as x', schema => 'information_schema')));
CALL bg.create_project(lp(model('app_users', 'select 1 as x', schema => 'public')));
CALL bg.create_project(lp(model('project', 'select 1 as x', schema => 'bg')));
CALL bg.create_project(lp(model('anything', 'select 1 as x', schema => 'elsewhere')));
CALL bg.create_project(lp(model('items', 'select 1 as x', schema => 'mart__bg_shadow')));
RESET ROLE;
SELECT * FROM changed();

-- The project itself registers (and the builder may read what it holds).
SET ROLE regress_bg_lp_ci;
CALL bg.create_project(lp());
RESET ROLE;

-- A deploy (and a plan) of a manifest that adds such a model is refused too, before
-- anything is built or recorded; and so is one whose model takes a name inside mart
-- that another role owns.
CREATE TABLE mart.planted (x integer);
SELECT save();
SET ROLE regress_bg_lp_ci;
SELECT * FROM bg.plan(lp(model('app_users', 'select * from pg_catalog.pg_authid', schema => 'public')));
CALL bg.deploy(lp(model('app_users', 'select * from pg_catalog.pg_authid', schema => 'public')));
CALL bg.deploy(lp(model('new_in_bg', 'select 1 as x', schema => 'bg')));
CALL bg.deploy(lp(model('anything', 'select 1 as x', schema => 'elsewhere')));
CALL bg.deploy(lp(model('planted', 'select 1 as x')));
CALL bg.promote(force => true);
RESET ROLE;
SELECT * FROM changed();
DROP TABLE mart.planted;

--
-- Manifest SQL cannot write production, whatever it calls
--
-- Model code that calls a function which deletes live rows and resets a live sequence;
-- that resets the sequence itself, reads a superuser's table, takes another identity,
-- or leaves a large object behind. It runs as the builder, which may write nothing
-- live, and may leave nothing of its own but what it builds.
SELECT save();
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('hostile', 'select public.wipe() as x')));
CALL bg.deploy(lp(model('hostile', 'select pg_catalog.setval(''mart.item_ids'', 1) as x')));
CALL bg.deploy(lp(model('hostile', 'select * from public.app_users')));
CALL bg.deploy(lp(model('hostile', 'select pg_catalog.set_config(''role'', ''bluegreen'', false) as x')));
CALL bg.deploy(lp(model('hostile', 'select pg_catalog.lo_create(424242) as x')));
RESET ROLE;
SELECT * FROM changed();

--
-- Hooks may change {{ this }} and nothing else
--
SELECT save();
SET ROLE regress_bg_lp_ci;
-- lasting access: a SECURITY DEFINER function, default privileges, the shadow schema
CALL bg.deploy(hook('create function {{ this.schema }}.door() returns integer security definer language sql as ''select 1'''));
CALL bg.deploy(hook('alter default privileges grant select on tables to public'));
CALL bg.deploy(hook('alter default privileges for role bluegreen grant all on tables to public'));
CALL bg.deploy(hook('alter default privileges in schema {{ this.schema }} grant all on tables to public'));
-- (PostgreSQL grants nothing here, and says so: the builder does not own the schema.)
CALL bg.deploy(hook('grant usage on schema {{ this.schema }} to public'));
CALL bg.deploy(hook('create type {{ this.schema }}.planted as (x integer)'));
CALL bg.deploy(hook('select pg_catalog.lo_create(424243)'));
-- live relations: column grants (again PostgreSQL grants nothing, and says so),
-- sequences, comments, defaults, statistics, locks
CALL bg.deploy(hook('grant select (name) on mart.items to public'));
CALL bg.deploy(hook('select pg_catalog.setval(''mart.item_ids'', 1)'));
CALL bg.deploy(hook('comment on table mart.items is ''written by a hook'''));
CALL bg.deploy(hook('alter table mart.items alter column name set default ''x'''));
CALL bg.deploy(hook('create statistics {{ this.schema }}.st on id, name from mart.items'));
CALL bg.deploy(hook('lock table mart.items in access exclusive mode'));
RESET ROLE;
SELECT * FROM changed();
-- What a hook may do to {{ this }} itself it does: an index, a grant, a comment.
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('hooked', 'select 1 as x', config => '{"post-hook": ["create index on {{ this }} (x)", "grant select on {{ this }} to public", "comment on table {{ this }} is ''ok''"]}')));
RESET ROLE;
SELECT relname, relkind, pg_get_userbyid(relowner) AS owner, relacl
  FROM pg_class WHERE relnamespace = 'mart__bg_shadow'::regnamespace ORDER BY 1;
SET ROLE regress_bg_lp_ci;
CALL bg.abandon();
RESET ROLE;

--
-- What is checked is what runs
--
-- A pre-hook turns standard_conforming_strings off, which would change where the string
-- literal of the code ends; the settings are pinned again before every statement
-- bluegreen checks and runs, so the code is read as it was checked: one string, 'a\'.
-- The caller's session keeps its own setting.
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('literal', $$select 'a\' as x$$, config => '{"pre-hook": ["set standard_conforming_strings = off"]}')));
RESET ROLE;
SELECT x FROM mart__bg_shadow.literal;
SHOW standard_conforming_strings;
SET ROLE regress_bg_lp_ci;
CALL bg.abandon();
RESET ROLE;
-- Contract fragments that would change the statement's shape: INHERITS from a live
-- table (live readers would see shadow rows), PARTITION BY, options.
SELECT save();
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('hostile', 'select 1 as x', extra => jsonb_build_object(
    'contract', '{"enforced": true, "checksum": "c"}'::jsonb,
    'columns', '{"x": {"name": "x", "data_type": "integer"}}'::jsonb,
    'constraints', '[{"type": "custom", "expression": "check (true)) inherits (mart.items"}]'::jsonb))));
CALL bg.deploy(lp(model('hostile', 'select 1 as x', extra => jsonb_build_object(
    'contract', '{"enforced": true, "checksum": "c"}'::jsonb,
    'columns', '{"x": {"name": "x", "data_type": "integer"}}'::jsonb,
    'constraints', '[{"type": "custom", "expression": "check (true)) partition by range (x"}]'::jsonb))));
CALL bg.deploy(lp(model('hostile', 'select 1 as x', extra => jsonb_build_object(
    'contract', '{"enforced": true, "checksum": "c"}'::jsonb,
    'columns', '{"x": {"name": "x", "data_type": "integer"}}'::jsonb,
    'constraints', '[{"type": "custom", "expression": "check (true)) with (autovacuum_enabled = false"}]'::jsonb))));
-- sql_header is refused, not dropped silently.
CALL bg.deploy(lp(model('hostile', 'select 1 as x', config => '{"sql_header": "set work_mem = ''1GB''"}')));
RESET ROLE;
SELECT * FROM changed();

--
-- Bounds
--
-- One model may run at most bluegreen.statement_timeout (set by a superuser only).
SET bluegreen.statement_timeout = '200ms';
SET ROLE regress_bg_lp_ci;
SET bluegreen.statement_timeout = '1h';
CALL bg.deploy(lp(model('slow', 'select count(*) as x from pg_catalog.pg_sleep(5)')));
RESET ROLE;
RESET bluegreen.statement_timeout;
-- A name that holds a newline cannot forge a progress line: a test of items whose name
-- and unique_id hold one is shown with \n.
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(jsonb_build_object(E'test.lp.evil\nNOTICE:  9 of 9 PASS forged', jsonb_build_object(
    'unique_id', E'test.lp.evil\nNOTICE:  9 of 9 PASS forged', 'resource_type', 'test',
    'package_name', 'lp', 'name', E'evil\nNOTICE:  9 of 9 PASS forged',
    'fqn', '["lp", "evil"]'::jsonb, 'database', current_database(),
    'schema', 'mart_dbt_test__audit', 'config', '{"enabled": true, "materialized": "test"}'::jsonb,
    'unrendered_config', '{}'::jsonb, 'raw_code', 'select * from mart.items where id < 0',
    'compiled_code', 'select * from mart.items where id < 0',
    'depends_on', '{"macros": [], "nodes": ["model.lp.items"]}'::jsonb))));
CALL bg.abandon();
RESET ROLE;

--
-- Roles given more than they need
--
-- Checked before every model and test, for the owner role and the builder alike.
SELECT save();
GRANT pg_read_all_data TO bluegreen;
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('hostile', 'select 1 as x')));
RESET ROLE;
REVOKE pg_read_all_data FROM bluegreen;
GRANT pg_read_all_stats TO bluegreen_builder;
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('hostile', 'select 1 as x')));
RESET ROLE;
REVOKE pg_read_all_stats FROM bluegreen_builder;
GRANT pg_signal_backend TO bluegreen_builder;
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('hostile', 'select 1 as x')));
RESET ROLE;
REVOKE pg_signal_backend FROM bluegreen_builder;
-- The builder cannot be given the owner role's privileges at all: bluegreen is a member
-- of bluegreen_builder, and PostgreSQL refuses the circle.
GRANT bluegreen TO bluegreen_builder;
ALTER ROLE bluegreen_builder SUPERUSER;
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('hostile', 'select 1 as x')));
RESET ROLE;
ALTER ROLE bluegreen_builder NOSUPERUSER;
SELECT * FROM changed();

--
-- Nothing handed to the owner role may act as it
--
-- The owner role owns every managed schema of every project, so nothing it owns may run
-- with its privileges for someone else. A schema a deployer made with a SECURITY DEFINER
-- function, or a rule, is not taken over.
CREATE SCHEMA ci_made AUTHORIZATION regress_bg_lp_ci;
SET ROLE regress_bg_lp_ci;
CREATE TABLE ci_made.inbox (x integer);
CREATE FUNCTION ci_made.door(cmd text) RETURNS text LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog AS $$BEGIN EXECUTE cmd; RETURN current_user; END$$;
CREATE TABLE ci_made.log (x integer);
CREATE RULE copy AS ON INSERT TO ci_made.inbox DO ALSO INSERT INTO ci_made.log VALUES (new.x);
RESET ROLE;
SELECT save();
SET ROLE regress_bg_lp_ci;
CALL bg.transfer_ownership('ci_made');
RESET ROLE;
SELECT * FROM changed();
DROP SCHEMA ci_made CASCADE;
-- A model may not bring one live either: a view granted for writes (a write through
-- it reaches its base relations as the view's owner), a rule on {{ this }}.
SELECT save();
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('door', 'select id, name from mart.items', 'view', config => '{"grants": {"delete": ["public"]}}')));
CALL bg.deploy(hook('create rule wipe as on insert to {{ this }} do also delete from mart.items'));
CALL bg.deploy(hook('create trigger fire after insert on {{ this }} for each row execute function pg_catalog.suppress_redundant_updates_trigger()'));
RESET ROLE;
SELECT * FROM changed();

--
-- What promote writes again means what it meant
--
-- A report outside the project reads items with a date and a float constant. Promote
-- writes its definition again, under settings of its own, not the caller's.
CREATE SCHEMA reporting;
CREATE VIEW reporting.recent AS SELECT id, name FROM mart.items
 WHERE current_date >= '2020-02-01'::date AND id::float8 > '1.75'::float8;
SELECT pg_get_viewdef('reporting.recent') AS recent_before \gset
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('items', 'select id, name, 7 as extra from raw.items')));
SET DateStyle = 'German, MDY';
SET extra_float_digits = -15;
CALL bg.promote() \gset
RESET DateStyle;
RESET extra_float_digits;
RESET ROLE;
SELECT pg_get_viewdef('reporting.recent') = :'recent_before' AS same_definition,
       (SELECT refobjid::regclass FROM pg_depend JOIN pg_rewrite ON pg_rewrite.oid = pg_depend.objid
         WHERE ev_class = 'reporting.recent'::regclass AND refobjid <> ev_class LIMIT 1) AS reads;
SET ROLE regress_bg_lp_ci;
CALL bg.rollback() \gset
RESET ROLE;
DROP VIEW reporting.recent;

--
-- A session that cannot read the project cannot hold up its promote
--
CREATE ROLE regress_bg_lp_nobody LOGIN;
SELECT dblink_connect('nobody', format('host=%s port=%s dbname=%s user=regress_bg_lp_nobody',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database())) AS nobody;
SELECT dblink_exec('nobody', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT * FROM dblink('nobody', 'SELECT 1') AS t (snapshot_taken integer);
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('items', 'select id, name, 8 as extra from raw.items')));
SET bluegreen.promote_deadline = '300ms';
CALL bg.promote() \gset
RESET bluegreen.promote_deadline;
CALL bg.rollback() \gset
RESET ROLE;
SELECT dblink_exec('nobody', 'COMMIT');
SELECT dblink_disconnect('nobody');

--
-- Promote, and what other sessions can and cannot do to it
--
-- Version 2 adds a column to items. A reader in another session has a temporary view
-- over items: it is reported, and does not stop the promote (nobody but its session
-- could change it).
SELECT dblink_connect('reader', format('host=%s port=%s dbname=%s user=regress_bg_lp_stranger',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database())) AS reader;
GRANT USAGE ON SCHEMA mart TO regress_bg_lp_stranger;
GRANT SELECT ON mart.items TO regress_bg_lp_stranger;
SELECT dblink_exec('reader', 'CREATE TEMP VIEW mine AS SELECT id FROM mart.items');
SELECT lp(model('items', 'select id, name, length(name) as size from raw.items')) AS v2 \gset
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(:'v2');
CALL bg.promote() \gset
RESET ROLE;
SELECT attname FROM pg_attribute WHERE attrelid = 'mart.items'::regclass AND attnum > 0 ORDER BY attnum;
SELECT pg_get_userbyid(relowner) AS live_owner,
       has_table_privilege('bluegreen_builder', 'mart.items', 'SELECT') AS builder_reads
  FROM pg_class WHERE oid = 'mart.items'::regclass;

-- A reader holds items while it runs a statement with a secret in it. Rollback gives
-- up at its deadline, naming the session as the caller may see it in
-- pg_stat_activity: not the statement of another user.
SELECT dblink_exec('reader', 'BEGIN');
SELECT * FROM dblink('reader', 'SELECT count(*) FROM mart.items') AS t (n bigint);
SELECT * FROM dblink('reader', $$SELECT 'the password is hunter2' AS secret$$) AS t (s text);
SET bluegreen.lock_timeout = '20ms';
SET bluegreen.promote_deadline = '200ms';
SELECT save();
SET ROLE regress_bg_lp_ci;
DO $$
DECLARE
    detail text;
    plan jsonb;
BEGIN
    CALL bg.rollback(NULL, false, plan);
EXCEPTION WHEN lock_not_available THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'refused; the detail shows the statement: %, names the holder: %',
        detail LIKE '%hunter2%', detail LIKE '%regress_bg_lp_stranger%';
END
$$;
RESET ROLE;
SELECT * FROM changed();
SELECT dblink_exec('reader', 'COMMIT');
RESET bluegreen.lock_timeout;
RESET bluegreen.promote_deadline;

-- Rollback brings back exactly the relation promote moved out, by OID: a relation
-- planted in the previous schema under its name is refused.
SELECT format('%I', nspname) AS previous FROM pg_namespace WHERE nspname LIKE 'mart\_\_bg\_p%' \gset
ALTER TABLE :previous.items RENAME TO items_moved;
CREATE TABLE :previous.items (id integer, name text);
ALTER TABLE :previous.items OWNER TO bluegreen;
SELECT save();
SET ROLE regress_bg_lp_ci;
CALL bg.rollback();
RESET ROLE;
SELECT * FROM changed();
DROP TABLE :previous.items;
ALTER TABLE :previous.items_moved RENAME TO items;
SET ROLE regress_bg_lp_ci;
CALL bg.rollback() \gset
RESET ROLE;
SELECT attname FROM pg_attribute WHERE attrelid = 'mart.items'::regclass AND attnum > 0 ORDER BY attnum;
SELECT dblink_disconnect('reader');

-- Manifest SQL cannot reach the previous relations either (the builder has no USAGE on
-- the previous schemas): what rollback would restore is out of its reach.
SELECT save();
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(hook(format('truncate %s.items', :'previous')));
CALL bg.deploy(lp(model('hostile', format('select count(*) as n from %s.items', :'previous'))));
RESET ROLE;
SELECT * FROM changed();

-- Cleanup drops exactly what promote and rollback moved aside, by OID: a table another
-- role put in the rollback schema stays, and so does the schema, and cleanup says why.
SELECT format('%I', nspname) AS rolled_back FROM pg_namespace WHERE nspname LIKE 'mart\_\_bg\_r%' \gset
CREATE TABLE :rolled_back.not_bluegreens (x integer);
SET ROLE regress_bg_lp_ci;
CALL bg.cleanup(keep => 0);
RESET ROLE;
SELECT n.nspname AS side_schema, c.relname, pg_get_userbyid(c.relowner) AS owner
  FROM pg_namespace AS n LEFT JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relkind = 'r'
 WHERE n.nspname LIKE 'mart\_\_bg\_%' AND n.nspname NOT LIKE '%shadow' ORDER BY 1, 2;
DROP TABLE :rolled_back.not_bluegreens;

--
-- Another project
--
-- Project "ledger" lives in schema ledger. A relation is one project's: lp may not claim
-- ledger's, nor ledger lp's.
CREATE SCHEMA ledger;
CREATE TABLE ledger.entries AS SELECT id, id * 100 AS amount FROM raw.items;
SET client_min_messages = warning;
CALL bg.transfer_ownership('ledger');
RESET client_min_messages;
CREATE FUNCTION ledger(code text DEFAULT 'select id, id * 100 as amount from raw.items') RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'ledger', 'adapter_type', 'postgres'),
    'nodes', jsonb_build_object('model.ledger.entries',
                 (model('entries', code, schema => 'ledger') -> 'model.lp.entries')
                 || '{"unique_id": "model.ledger.entries", "package_name": "ledger"}'::jsonb),
    'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb)::text
$$;
SET ROLE regress_bg_lp_ci;
CALL bg.create_project(ledger(), 'ledger');
CALL bg.deploy(lp(model('entries', 'select 1 as x', schema => 'ledger')), 'lp');
-- ledger builds version 2 in ledger__bg_shadow; lp's hooks may neither write it nor lock
-- it, and lp's model code may not either: once built, a deployment belongs to the owner
-- role, and the builder may only read it.
CALL bg.deploy(ledger('select id, id * 200 as amount from raw.items'), 'ledger');
RESET ROLE;
SELECT save();
SELECT md5(string_agg(e::text, ',' ORDER BY id)) AS ledger_shadow FROM ledger__bg_shadow.entries AS e \gset
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(hook('update ledger__bg_shadow.entries set amount = 0'), 'lp');
CALL bg.deploy(hook('lock table ledger__bg_shadow.entries in access exclusive mode'), 'lp');
CALL bg.deploy(hook('select pg_catalog.pg_advisory_lock(42)'), 'lp');
RESET ROLE;
SELECT md5(string_agg(e::text, ',' ORDER BY id)) = :'ledger_shadow' AS ledger_shadow_untouched
  FROM ledger__bg_shadow.entries AS e;
SELECT count(*) AS advisory_locks_left FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT * FROM changed();
SET ROLE regress_bg_lp_ci;
CALL bg.abandon('ledger');
RESET ROLE;

--
-- Nothing runs another role's code as the owner role
--
-- The owner role owns every project's live tables, so code that runs as a table's owner
-- must not be anyone's to choose. A hook may not leave a function in another project's
-- shadow schema (the builder may create there, for that project's own builds); an index
-- whose expression calls a function a non-superuser owns would run it as the owner role
-- at every ANALYZE, autovacuum included; config.grants gives no REFERENCES nor TRIGGER.
CREATE FUNCTION public.untrusted(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'select $1';
ALTER FUNCTION public.untrusted(integer) OWNER TO regress_bg_lp_stranger;
SELECT save();
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(hook('create function ledger__bg_shadow.g() returns integer language sql as ''select 1'''), 'lp');
CALL bg.deploy(hook('create index on {{ this }} (public.untrusted(x))'), 'lp');
-- (REFRESH runs a materialized view's query as its owner, too.)
CALL bg.deploy(lp(model('refreshed', 'select public.untrusted(1) as x', 'materialized_view')), 'lp');
CALL bg.deploy(lp(model('granted', 'select 1 as x', config => '{"grants": {"references": ["regress_bg_lp_stranger"]}}')), 'lp');
CALL bg.deploy(lp(model('granted', 'select 1 as x', config => '{"grants": {"trigger": ["regress_bg_lp_stranger"]}}')), 'lp');
-- nor may a hook grant them on {{ this }}, nor a column write through a view
CALL bg.deploy(hook('grant references on {{ this }} to public'), 'lp');
CALL bg.deploy(hook('grant references (x) on {{ this }} to regress_bg_lp_stranger'), 'lp');
CALL bg.deploy(lp(model('hooked', 'select 1 as x', 'view', config => '{"post-hook": ["grant update (x) on {{ this }} to public"]}')), 'lp');
RESET ROLE;
SELECT * FROM changed();
-- A foreign key's checks run as the owner of the table it references. Here a DBA has
-- given a stranger REFERENCES on mart.items; the stranger's key casts its own enum to
-- the key's type with a function of its own, which the checks would run as the owner
-- role. Promote refuses to carry such a key to the replacement (and never carries a
-- REFERENCES grant).
ALTER TABLE mart.items ADD PRIMARY KEY (id);
CREATE SCHEMA st AUTHORIZATION regress_bg_lp_stranger;
GRANT USAGE ON SCHEMA mart TO regress_bg_lp_stranger;
GRANT REFERENCES ON mart.items TO regress_bg_lp_stranger;
SET ROLE regress_bg_lp_stranger;
CREATE TYPE st.e AS ENUM ('one');
CREATE FUNCTION st.e2i(st.e) RETURNS integer LANGUAGE sql AS 'select 1';
CREATE CAST (st.e AS integer) WITH FUNCTION st.e2i(st.e) AS IMPLICIT;
CREATE TABLE st.t (a st.e REFERENCES mart.items (id));
RESET ROLE;
SET ROLE regress_bg_lp_ci;
CALL bg.deploy(lp(model('items', 'select id, name, 1 as version from raw.items', config => '{"post-hook": ["alter table {{ this }} add primary key (id)"]}')), 'lp');
RESET ROLE;
SELECT save();
SET ROLE regress_bg_lp_ci;
CALL bg.promote(project => 'lp');
RESET ROLE;
SELECT * FROM changed();
SET ROLE regress_bg_lp_ci;
CALL bg.abandon('lp');
RESET ROLE;

-- The same key on a table of a schema being handed over: the transfer refuses it.
CREATE SCHEMA handed;
CREATE TABLE handed.keys (id integer PRIMARY KEY);
GRANT USAGE ON SCHEMA handed TO regress_bg_lp_stranger;
GRANT REFERENCES ON handed.keys TO regress_bg_lp_stranger;
SET ROLE regress_bg_lp_stranger;
CREATE TABLE st.u (a st.e REFERENCES handed.keys (id));
RESET ROLE;
CALL bg.transfer_ownership('handed');
SELECT pg_get_userbyid(relowner) AS keys_owner FROM pg_class WHERE oid = 'handed.keys'::regclass;

\c :regress_database
DROP DATABASE regress_bg_lp;
DROP ROLE regress_bg_lp_ci, regress_bg_lp_stranger, regress_bg_lp_nobody;
