--
-- Incremental models applied in place. With bluegreen.incremental_in_place, a
-- deployment does not copy an incremental model's live table: it computes the increment
-- (its code reading {{ this }} as the live table), keeps the rows promote will insert and
-- the live rows it will delete beside it in shadow, and shows the table as it will be
-- through a shadow view, which the models and tests downstream read. Promote applies
-- those rows to the live table inside the switch; rollback takes them back. The live
-- table keeps its OID, indexes and grants; nothing in the live schema changes before
-- promote.
--
-- This file works in a database of its own.
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_inplace;
\c regress_bg_inplace
CREATE EXTENSION bluegreen;
RESET client_min_messages;
SET bluegreen.show_timing = off;
SET bluegreen.incremental_in_place = on;

-- events arrive in raw.events; three incremental models read them, one per strategy,
-- and a view and a table read those
CREATE SCHEMA raw;
CREATE TABLE raw.events (id integer, kind text, amount integer, day integer);
INSERT INTO raw.events SELECT i, 'k' || (i % 3), i, i / 10 FROM generate_series(1, 40) AS i;
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON raw.events TO bluegreen_builder;

CREATE SCHEMA mart;
CREATE TABLE mart.event_log AS SELECT id, kind, amount FROM raw.events;          -- append
CREATE TABLE mart.latest AS SELECT id, kind, amount FROM raw.events;             -- merge on id
CREATE UNIQUE INDEX latest_id ON mart.latest (id);
CREATE TABLE mart.daily AS SELECT day, sum(amount) AS total FROM raw.events GROUP BY 1;  -- delete+insert on day
CREATE VIEW mart.kinds AS SELECT kind, count(*) AS n FROM mart.latest GROUP BY 1;
CREATE TABLE mart.grand AS SELECT sum(total) AS total FROM mart.daily;
SET client_min_messages = warning;
CALL bg.transfer_ownership('mart');
RESET client_min_messages;

CREATE FUNCTION model(name text, code text, materialized text, config jsonb,
                      depends_on text[] DEFAULT '{}', description text DEFAULT '')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.inplace.' || name, jsonb_build_object(
    'unique_id', 'model.inplace.' || name, 'resource_type', 'model', 'package_name', 'inplace',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('inplace', name), 'database', current_database(),
    'schema', 'mart', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized) || config,
    'unrendered_config', jsonb_build_object('materialized', materialized) || config,
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', description,
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', to_jsonb(depends_on)),
    'contract', '{"enforced": false, "checksum": null}'::jsonb, 'constraints', '[]'::jsonb,
    'access', 'protected', 'version', NULL, 'latest_version', NULL, 'deprecation_date', NULL))
$$;
-- The project, compiled for an incremental run ({{ this }} exists); log_hook adds a
-- post-hook to event_log (a hook acts on {{ this }}, so that model takes the copy path),
-- new_column a column to its increment, which on_schema_change adds to the table.
-- hostile: daily's code edited, and grand, built after it, given a post-hook that puts a
-- trigger on the rows promote would insert into daily.
-- docs: latest described so, its description persisted and SELECT granted to PUBLIC.
CREATE FUNCTION project(log_hook boolean DEFAULT false, new_column boolean DEFAULT false,
                        hostile boolean DEFAULT false, docs text DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'inplace', 'adapter_type', 'postgres'),
    'nodes',
       model('event_log', 'select id, kind, amount' || CASE WHEN new_column THEN ', day' ELSE '' END
                          || ' from raw.events where id > (select max(id) from mart.event_log)',
             'incremental', jsonb_build_object('incremental_strategy', 'append')
                 || CASE WHEN new_column THEN '{"on_schema_change": "append_new_columns"}'::jsonb
                         ELSE '{}'::jsonb END
                 || CASE WHEN log_hook THEN '{"post-hook": [{"sql": "analyze {{ this }}", "transaction": true}]}'::jsonb
                         ELSE '{}'::jsonb END)
    || model('latest', 'select id, kind, amount from raw.events'
                       || ' where amount > (select max(amount) from mart.latest) or kind = ''changed''',
             'incremental', '{"incremental_strategy": "merge", "unique_key": "id"}'::jsonb
                 || CASE WHEN docs IS NULL THEN '{}'::jsonb
                         ELSE '{"persist_docs": {"relation": true}, "grants": {"select": ["public"]}}' END,
             description => coalesce(docs, ''))
    || model('daily', 'select day, sum(amount) as total from raw.events'
                      || ' where day >= (select max(day) from mart.daily) group by 1'
                      || CASE WHEN hostile THEN ' -- edited' ELSE '' END,
             'incremental', '{"incremental_strategy": "delete+insert", "unique_key": "day"}')
    || model('kinds', 'select kind, count(*) as n from mart.latest group by 1', 'view', '{}',
             '{model.inplace.latest}')
    || model('grand', 'select sum(total) as total from mart.daily', 'table',
             CASE WHEN hostile THEN jsonb_build_object('post-hook', jsonb_build_array(jsonb_build_object(
                 'sql', 'create trigger planted before update on mart__bg_shadow.__bg_rows_1'
                        || ' for each row execute function suppress_redundant_updates_trigger()',
                 'transaction', true)))
                  ELSE '{}'::jsonb END,
             '{model.inplace.daily}'),
    'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb)::text
$$;
CALL bg.create_project(project(), 'inplace');

-- What is live, to compare with: each table's OID and rows.
CREATE FUNCTION live_state() RETURNS TABLE (relation text, oid oid, rows bigint, digest text)
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid, c.relname FROM pg_class AS c
            WHERE c.relnamespace = 'mart'::regnamespace AND c.relkind IN ('r', 'v')
            ORDER BY c.relname LOOP
    relation := r.relname; oid := r.oid;
    EXECUTE format('SELECT count(*), md5(string_agg(t::text, '','' ORDER BY t::text)) FROM mart.%I AS t',
                   r.relname) INTO rows, digest;
    RETURN NEXT;
  END LOOP;
END $$;
CREATE TABLE before AS SELECT * FROM live_state();

-- New events: ten more, and event 5 changed (merge updates it; delete+insert redoes day 4)
INSERT INTO raw.events SELECT i, 'k' || (i % 3), i, i / 10 FROM generate_series(41, 50) AS i;
UPDATE raw.events SET kind = 'changed' WHERE id = 5;

-- A scheduled refresh (bg.deploy() with no manifest) rebuilds every model: the
-- increments are computed and kept in shadow; no live table is copied or written.
CALL bg.deploy(project => 'inplace');
SELECT step, message FROM bg.deployment_steps WHERE deployment_id = 1 AND action = 'build' ORDER BY step;
SELECT count(*) AS live_changed FROM live_state() AS n JOIN before AS b USING (relation)
 WHERE (n.oid, n.rows, n.digest) IS DISTINCT FROM (b.oid, b.rows, b.digest);
-- the shadow views show the tables as promote will leave them: what dbt would build
SELECT count(*), max(id) FROM mart__bg_shadow.event_log;
SELECT id, kind, amount FROM mart__bg_shadow.latest WHERE id IN (5, 6, 50) ORDER BY id;
SELECT count(*) FROM mart__bg_shadow.latest;
SELECT day, total FROM mart__bg_shadow.daily WHERE day >= 3 ORDER BY day;
SELECT * FROM mart__bg_shadow.kinds ORDER BY kind;
SELECT * FROM mart__bg_shadow.grand;
-- beside them, the rows to insert and to delete, the owner role's since the deploy ended
SELECT c.relname, c.relkind, pg_get_userbyid(c.relowner) AS owner FROM pg_class AS c
 WHERE c.relnamespace = 'mart__bg_shadow'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY c.relname;

-- The dry run lists what promote runs: the moves, then the increments applied, then the
-- view that read a shadow view pointed at the live table
DO $$ DECLARE p jsonb; BEGIN CALL bg.promote(dry_run => true, plan => p); END $$;

-- Readers in other sessions. One in a REPEATABLE READ transaction begun before promote:
-- its snapshot would see the new versions of grand and kinds beside the increments not
-- yet applied, so promote waits for it, and at bluegreen.promote_deadline gives up,
-- changing nothing. One that holds the tables in a READ COMMITTED transaction (their
-- locks, and no snapshot between statements): promote's DML does not wait for it, and
-- its next statement sees the increments applied.
CREATE EXTENSION dblink;
CREATE FUNCTION reader(name text) RETURNS text LANGUAGE sql AS $$
SELECT dblink_connect(name, format('host=%s port=%s dbname=%s',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database()))
$$;
-- seen(name): the incremental tables as the session sees them; with grand too: also the
-- table rebuilt from daily, which promote replaces
CREATE FUNCTION seen(name text, with_grand boolean DEFAULT false)
RETURNS TABLE (event_log bigint, latest_5 text, grand bigint) LANGUAGE sql AS $$
SELECT * FROM dblink(name, 'SELECT (SELECT count(*) FROM mart.event_log),'
                           ' (SELECT kind FROM mart.latest WHERE id = 5),'
                           || CASE WHEN with_grand THEN ' (SELECT total FROM mart.grand)' ELSE ' NULL::bigint' END)
    AS t (event_log bigint, latest_5 text, grand bigint)
$$;
-- promote_or_why(): promote, or the message it gave up with (the detail names the
-- sessions, by process id, and is left out here for that)
CREATE FUNCTION promote_or_why() RETURNS text LANGUAGE plpgsql AS $$
DECLARE plan jsonb;
BEGIN
    CALL bg.promote(plan => plan);
    RETURN 'promoted';
EXCEPTION WHEN lock_not_available THEN
    RETURN SQLERRM;
END
$$;
SELECT reader('rr'), reader('rc');
SELECT dblink_exec('rr', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT * FROM seen('rr', with_grand => true);
SET bluegreen.promote_deadline = '1s';
SELECT promote_or_why();
SELECT * FROM seen('rr', with_grand => true);
SELECT dblink_exec('rr', 'COMMIT');
SELECT dblink_exec('rc', 'BEGIN');
SELECT * FROM seen('rc');
SELECT promote_or_why();
RESET bluegreen.promote_deadline;
SELECT * FROM seen('rc');
SELECT dblink_exec('rc', 'COMMIT');
SELECT dblink_disconnect('rr'), dblink_disconnect('rc');
-- the tables stayed (same OID), their rows are the new ones
SELECT n.relation, n.oid = b.oid AS same_relation, n.rows, n.digest = b.digest AS same_rows
  FROM live_state() AS n LEFT JOIN before AS b USING (relation) ORDER BY 1;
SELECT id, kind, amount FROM mart.latest WHERE id IN (5, 6, 50) ORDER BY id;
SELECT * FROM mart.kinds ORDER BY kind;
SELECT * FROM mart.grand;
-- the view reads the live table, not a shadow view; nothing is left in shadow
SELECT DISTINCT d.refobjid::regclass AS kinds_reads FROM pg_depend AS d
  JOIN pg_rewrite AS r ON r.oid = d.objid
 WHERE r.ev_class = 'mart.kinds'::regclass AND d.refobjid <> 'mart.kinds'::regclass;
SELECT count(*) AS left_in_shadow FROM pg_class
 WHERE relnamespace = 'mart__bg_shadow'::regnamespace;
-- what promote deleted and where it put its rows, kept for rollback
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class AS c
 WHERE c.relnamespace = 'mart__bg_p1'::regnamespace AND c.relname LIKE '\_\_bg%' ORDER BY 1;
SELECT count(*) AS deleted_kept FROM mart__bg_p1.__bg_deleted_2;

-- Rollback takes the increments back: every table as it was, the same relation
DO $$ DECLARE p jsonb; BEGIN CALL bg.rollback(plan => p); END $$;
SELECT count(*) AS differ_from_before FROM live_state() AS n FULL JOIN before AS b USING (relation)
 WHERE (n.oid, n.rows, n.digest) IS DISTINCT FROM (b.oid, b.rows, b.digest)
   AND n.relation <> 'kinds' AND n.relation <> 'grand';
SELECT n.relation, n.rows = b.rows AND n.digest = b.digest AS same_rows
  FROM live_state() AS n JOIN before AS b USING (relation) WHERE n.relation IN ('kinds', 'grand')
 ORDER BY 1;
SELECT count(*) AS kept_left FROM pg_class
 WHERE relnamespace = 'mart__bg_p1'::regnamespace AND relname LIKE '\_\_bg%';

-- Deploy and promote again, then clean up: what promote kept goes with the rest
CALL bg.deploy(project => 'inplace');
DO $$ DECLARE p jsonb; BEGIN CALL bg.promote(plan => p); END $$;
SELECT count(*), max(id) FROM mart.event_log;
SET client_min_messages = warning;
CALL bg.cleanup(keep => 0);
RESET client_min_messages;
SELECT count(*) AS side_relations FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname LIKE 'mart\_\_bg%';

-- A live table written between deploy and promote: the rows the deployment meant to
-- delete are not all there as it saw them, and promote stops, changing nothing
INSERT INTO raw.events VALUES (51, 'k0', 51, 5);
CALL bg.deploy(project => 'inplace');
DROP TABLE before;
CREATE TABLE before AS SELECT * FROM live_state();
UPDATE mart.daily SET total = total WHERE day = 5;
DO $$ DECLARE p jsonb; BEGIN CALL bg.promote(plan => p); END $$;
SELECT count(*) AS live_changed FROM live_state() AS n JOIN before AS b USING (relation)
 WHERE (n.oid, n.rows, n.digest) IS DISTINCT FROM (b.oid, b.rows, b.digest);
SELECT status FROM bg.deployments WHERE deployment_id = 3;
CALL bg.abandon('inplace');

-- What takes the copy path: a model with a hook (it may act on {{ this }}), and an
-- increment that changes the table's columns
CALL bg.deploy(project(log_hook => true), 'inplace');
SELECT step, message FROM bg.deployment_steps WHERE deployment_id = 4 AND action = 'build' ORDER BY step;
CALL bg.abandon('inplace');
CALL bg.deploy(project(new_column => true), 'inplace');
SELECT step, message FROM bg.deployment_steps WHERE deployment_id = 5 AND action = 'build' ORDER BY step;
SELECT attname FROM pg_attribute WHERE attrelid = 'mart__bg_shadow.event_log'::regclass AND attnum > 0
 ORDER BY attnum;
CALL bg.abandon('inplace');

-- What promote reads must be plain tables: a trigger that a later model's hook put on
-- the rows to insert (the builder owned them until the deploy ended) is refused
CALL bg.deploy(project(hostile => true), 'inplace');
DO $$ DECLARE p jsonb; BEGIN CALL bg.promote(plan => p); END $$;
SELECT count(*) AS live_changed FROM live_state() AS n JOIN before AS b USING (relation)
 WHERE (n.oid, n.rows, n.digest) IS DISTINCT FROM (b.oid, b.rows, b.digest);
CALL bg.abandon('inplace');

-- A trigger on a live table would run as promote writes its rows (as a superuser): that
-- model takes the copy path, the others stay in place
CREATE TRIGGER audited BEFORE UPDATE ON mart.event_log
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
CALL bg.deploy(project => 'inplace');
SELECT step, message FROM bg.deployment_steps
 WHERE deployment_id = (SELECT max(deployment_id) FROM bg.deployments) AND action = 'build' ORDER BY step;
CALL bg.abandon('inplace');
DROP TRIGGER audited ON mart.event_log;

-- persist_docs and grants that the live table already has leave it as it is: in place.
-- A description it does not have would change its comment (as dbt does): copy path.
COMMENT ON TABLE mart.latest IS 'latest state of each event';
GRANT SELECT ON mart.latest TO PUBLIC;
CALL bg.deploy(project(docs => 'latest state of each event'), 'inplace');
CALL bg.abandon('inplace');
CALL bg.deploy(project(docs => 'the latest state of each event'), 'inplace');
CALL bg.abandon('inplace');
REVOKE SELECT ON mart.latest FROM PUBLIC;
COMMENT ON TABLE mart.latest IS NULL;

-- Refused at promote, changing nothing: rows to insert that someone else may write (a
-- grant given after the deploy ended), or not shaped as the deploy made them, and a live
-- table given a trigger after it
DROP TABLE before;
CREATE TABLE before AS SELECT * FROM live_state();
CALL bg.deploy(project => 'inplace');
GRANT INSERT ON mart__bg_shadow.__bg_rows_1 TO PUBLIC;
DO $$ DECLARE p jsonb; BEGIN CALL bg.promote(plan => p); END $$;
REVOKE INSERT ON mart__bg_shadow.__bg_rows_1 FROM PUBLIC;
-- its columns swapped by name (the shadow view the tests read takes them by position,
-- promote's insert by name), or row security on it (promote would read rows the tests
-- did not): what a later model's hook could do while the builder owned it
ALTER TABLE mart__bg_shadow.__bg_rows_1 RENAME COLUMN day TO swapped;
ALTER TABLE mart__bg_shadow.__bg_rows_1 RENAME COLUMN total TO day;
ALTER TABLE mart__bg_shadow.__bg_rows_1 RENAME COLUMN swapped TO total;
DO $$ DECLARE p jsonb; BEGIN CALL bg.promote(plan => p); END $$;
ALTER TABLE mart__bg_shadow.__bg_rows_1 RENAME COLUMN total TO swapped;
ALTER TABLE mart__bg_shadow.__bg_rows_1 RENAME COLUMN day TO total;
ALTER TABLE mart__bg_shadow.__bg_rows_1 RENAME COLUMN swapped TO day;
ALTER TABLE mart__bg_shadow.__bg_rows_1 ENABLE ROW LEVEL SECURITY;
DO $$ DECLARE p jsonb; BEGIN CALL bg.promote(plan => p); END $$;
ALTER TABLE mart__bg_shadow.__bg_rows_1 DISABLE ROW LEVEL SECURITY;
CREATE TRIGGER audited BEFORE UPDATE ON mart.daily
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
DO $$ DECLARE p jsonb; BEGIN CALL bg.promote(plan => p); END $$;
DROP TRIGGER audited ON mart.daily;
SELECT count(*) AS live_changed FROM live_state() AS n JOIN before AS b USING (relation)
 WHERE (n.oid, n.rows, n.digest) IS DISTINCT FROM (b.oid, b.rows, b.digest);
CALL bg.abandon('inplace');

-- An increment with two rows for one key of a unique index of the live table fails the
-- deployment, as dbt's insert would fail, not the promote
INSERT INTO raw.events VALUES (60, 'k0', 60, 6), (60, 'k1', 61, 6);
CALL bg.deploy(project => 'inplace');
DELETE FROM raw.events WHERE id = 60;
CALL bg.abandon('inplace');

-- A merge whose increment has two rows for one live row fails as MERGE fails
INSERT INTO raw.events VALUES (5, 'changed', 1, 0);
CALL bg.deploy(project => 'inplace');
SELECT status, failed_node FROM bg.deployments WHERE deployment_id = (SELECT max(deployment_id) FROM bg.deployments);
CALL bg.abandon('inplace');

\c :regress_database
SET client_min_messages = warning;
DROP DATABASE regress_bg_inplace;
