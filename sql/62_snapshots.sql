--
-- Promote and snapshots. A REPEATABLE READ or SERIALIZABLE transaction reads with one
-- snapshot throughout, but looks names up in the latest catalog: had promote switched
-- while such a transaction, begun before the build ended, was still open, its next
-- read would find the new tables and see them empty (their rows were written by
-- transactions its snapshot cannot see). So promote waits, as CREATE INDEX CONCURRENTLY
-- waits for older snapshots, until no session holds a snapshot older than the end of
-- the build, and gives up at bluegreen.promote_deadline having changed nothing. A
-- snapshot taken after the build is no obstacle: it sees the new tables whole.
--
-- Readers are other sessions (dblink). This file works in a database of its own.
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_snap;
\c regress_bg_snap
CREATE EXTENSION bluegreen;
CREATE EXTENSION dblink;
RESET client_min_messages;
SET bluegreen.show_timing = off;

CREATE SCHEMA raw;
CREATE TABLE raw.orders (id integer PRIMARY KEY, customer_id integer, amount numeric);
INSERT INTO raw.orders SELECT i, i % 3, i FROM generate_series(1, 30) AS i;
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON raw.orders TO bluegreen_builder;
CREATE SCHEMA mart;
CREATE TABLE mart.orders AS SELECT id, customer_id, amount FROM raw.orders WHERE amount > 0;
CREATE TABLE mart.customers AS SELECT customer_id, count(*) AS orders FROM mart.orders GROUP BY 1;
SET client_min_messages = warning;
CALL bg.transfer_ownership('mart');
RESET client_min_messages;

-- snap(filter): the project, orders of raw.orders where filter, and customers over them.
CREATE FUNCTION model(name text, code text, depends_on text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.snap.' || name, jsonb_build_object(
    'unique_id', 'model.snap.' || name, 'resource_type', 'model', 'package_name', 'snap',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('snap', name), 'database', current_database(),
    'schema', 'mart', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', '{"enabled": true, "materialized": "table"}'::jsonb,
    'unrendered_config', '{"materialized": "table"}'::jsonb,
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', to_jsonb(depends_on)),
    'contract', '{"enforced": false, "checksum": null}'::jsonb, 'constraints', '[]'::jsonb,
    'access', 'protected', 'version', NULL, 'latest_version', NULL, 'deprecation_date', NULL))
$$;
CREATE FUNCTION snap(filter text) RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'snap', 'adapter_type', 'postgres'),
    'nodes', model('orders', 'select id, customer_id, amount from raw.orders where ' || filter)
          || model('customers', 'select customer_id, count(*) as orders from mart.orders group by 1',
                   '{model.snap.orders}'),
    'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb)::text
$$;
CALL bg.create_project(snap('amount > 0'));

-- reader(name): a session; what(name): what it sees of both tables, in one statement.
CREATE FUNCTION reader(name text) RETURNS text LANGUAGE sql AS $$
SELECT dblink_connect(name, format('host=%s port=%s dbname=%s',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database()))
$$;
CREATE FUNCTION what(name text) RETURNS TABLE (orders bigint, customers bigint, customer_orders numeric)
LANGUAGE sql AS $$
SELECT * FROM dblink(name, 'SELECT (SELECT count(*) FROM mart.orders), (SELECT count(*) FROM mart.customers), (SELECT sum(orders) FROM mart.customers)')
    AS t (orders bigint, customers bigint, customer_orders numeric)
$$;
-- promote_or_why(): promote, or the message it gave up with (the detail names the
-- sessions, by process id, and is left out here for that).
CREATE FUNCTION promote_or_why() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    plan jsonb;
BEGIN
    CALL bg.promote(false, NULL, false, plan);
    RETURN 'promoted';
EXCEPTION WHEN lock_not_available THEN
    RETURN SQLERRM;
END
$$;
SELECT reader('rr') AS rr, reader('late') AS late, reader('ser') AS ser;

--
-- A snapshot older than the build
--
-- rr begins a REPEATABLE READ transaction and takes its snapshot: 30 orders of 3
-- customers.
SELECT dblink_exec('rr', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT * FROM what('rr');
-- Version 2 keeps the orders of amount above 10, and is built.
CALL bg.deploy(snap('amount > 10'));
-- Promote waits for rr's snapshot, older than the build, and at the deadline gives up,
-- changing nothing: rr still reads version 1, whole.
SET bluegreen.promote_deadline = '300ms';
SELECT promote_or_why();
RESET bluegreen.promote_deadline;
SELECT status FROM bg.deployments ORDER BY deployment_id DESC LIMIT 1;
SELECT * FROM what('rr');

-- late begins its REPEATABLE READ transaction now, after the build, and takes its
-- snapshot (reading no table of the project: a reader that did would hold it, and
-- promote would wait for its lock instead). That snapshot sees the shadow data, so
-- promote does not wait for it.
SELECT dblink_exec('late', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT * FROM dblink('late', 'SELECT 1') AS t (snapshot_taken integer);
-- rr ends; promote goes through while late is still open.
SELECT dblink_exec('rr', 'COMMIT');
SELECT promote_or_why();
-- late now reads version 2 whole, with the snapshot it took before the switch: never an
-- empty table.
SELECT * FROM what('late');
SELECT dblink_exec('late', 'COMMIT');

--
-- SERIALIZABLE, and rollback
--
-- ser takes a SERIALIZABLE snapshot; version 3 is built; promote waits for ser as it
-- waited for rr, and goes through once ser ends.
SELECT dblink_exec('ser', 'BEGIN ISOLATION LEVEL SERIALIZABLE');
SELECT * FROM what('ser');
CALL bg.deploy(snap('amount > 20'));
SET bluegreen.promote_deadline = '300ms';
SELECT promote_or_why();
SELECT * FROM what('ser');
SELECT dblink_exec('ser', 'COMMIT');
RESET bluegreen.promote_deadline;
SELECT promote_or_why();
SELECT * FROM what('ser');
-- Rollback brings back relations whose data every open snapshot sees (version 1): a
-- snapshot taken after the promote does not hold it up, and reads version 1 whole.
SELECT dblink_exec('rr', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT * FROM dblink('rr', 'SELECT 1') AS t (snapshot_taken integer);
CALL bg.rollback() \gset
SELECT * FROM what('rr');
SELECT dblink_exec('rr', 'COMMIT');

SELECT dblink_disconnect('rr'), dblink_disconnect('late'), dblink_disconnect('ser');
\c :regress_database
DROP DATABASE regress_bg_snap;
