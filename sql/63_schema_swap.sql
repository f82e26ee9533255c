--
-- Switching a live schema by renaming schemas. When a deployment replaces most of a
-- live schema's relations, promote renames the live schema to the previous one and the
-- shadow schema to the live name, and moves the few relations it leaves alone across:
-- the incoming relations then take no lock at all (the outgoing ones are still locked,
-- which is what keeps a reader from seeing two versions). The new live schema is made
-- the old one in every other respect: owner, grants, default privileges, comment. When
-- a rename could be noticed (anything but relations in either schema, a publication of
-- the schema), relations move one by one instead.
--
-- This file works in a database of its own.
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_swap;
\c regress_bg_swap
CREATE EXTENSION bluegreen;
RESET client_min_messages;
SET bluegreen.show_timing = off;

CREATE ROLE regress_bg_swap_reader;
CREATE ROLE regress_bg_swap_loader;
CREATE SCHEMA raw;
CREATE TABLE raw.items (id integer PRIMARY KEY, price numeric);
INSERT INTO raw.items SELECT i, i * 10 FROM generate_series(1, 5) AS i;
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON raw.items TO bluegreen_builder;

-- The live schema as a DBA left it: a reader may use it, tables the loader creates there
-- are readable by the reader by default, a comment; three models and a table of the
-- owner role that the project does not build (kept).
CREATE SCHEMA shop;
COMMENT ON SCHEMA shop IS 'The shop''s marts.';
GRANT USAGE ON SCHEMA shop TO regress_bg_swap_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE regress_bg_swap_loader IN SCHEMA shop
    GRANT SELECT ON TABLES TO regress_bg_swap_reader;
CREATE TABLE shop.items AS SELECT id, price FROM raw.items;
CREATE TABLE shop.expensive AS SELECT id FROM shop.items WHERE price > 20;
CREATE VIEW shop.cheap AS SELECT id FROM shop.items WHERE price <= 20;
CREATE TABLE shop.kept (note text);
INSERT INTO shop.kept VALUES ('not a model');
GRANT SELECT ON shop.items, shop.expensive, shop.cheap, shop.kept TO regress_bg_swap_reader;
SET client_min_messages = warning;
CALL bg.transfer_ownership('shop');
RESET client_min_messages;

CREATE FUNCTION model(name text, code text, materialized text DEFAULT 'table',
                      depends_on text[] DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.swap.' || name, jsonb_build_object(
    'unique_id', 'model.swap.' || name, 'resource_type', 'model', 'package_name', 'swap',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('swap', name), 'database', current_database(),
    'schema', 'shop', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized),
    'unrendered_config', jsonb_build_object('materialized', materialized),
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', to_jsonb(depends_on)),
    'contract', '{"enforced": false, "checksum": null}'::jsonb, 'constraints', '[]'::jsonb,
    'access', 'protected', 'version', NULL, 'latest_version', NULL, 'deprecation_date', NULL))
$$;
-- shop(factor): the project; every model changes with factor.
CREATE FUNCTION shop(factor integer) RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'swap', 'adapter_type', 'postgres'),
    'nodes', model('items', format('select id, price * %s as price from raw.items', factor))
          || model('expensive', format('select id from shop.items where price > %s', 20 * factor),
                   'table', '{model.swap.items}')
          || model('cheap', format('select id from shop.items where price <= %s', 20 * factor),
                   'view', '{model.swap.items}'),
    'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb)::text
$$;
CALL bg.create_project(shop(1));

-- What belongs to the schema and its relations: a checksum-free listing a user can read.
CREATE FUNCTION schema_state(s text) RETURNS TABLE (what text, value text)
LANGUAGE sql AS $$
SELECT 'acl', array_to_string(ARRAY(SELECT a::text FROM pg_namespace n, unnest(n.nspacl) AS a
                                     WHERE n.nspname = s ORDER BY 1), ' ')
UNION ALL SELECT 'comment', obj_description(s::regnamespace, 'pg_namespace')
UNION ALL SELECT 'default privileges', array_to_string(ARRAY(
    SELECT format('%s: %s %s', d.defaclrole::regrole, d.defaclobjtype, d.defaclacl)
      FROM pg_default_acl d WHERE d.defaclnamespace = s::regnamespace ORDER BY 1), '; ')
UNION ALL SELECT 'relations', string_agg(format('%s %s', c.relname, c.relkind), ', ' ORDER BY c.relname)
  FROM pg_class c WHERE c.relnamespace = s::regnamespace AND c.relkind IN ('r', 'v')
$$;
CREATE TABLE oids AS SELECT relname, oid FROM pg_class WHERE relnamespace = 'shop'::regnamespace;
SELECT * FROM schema_state('shop');

CALL bg.deploy(shop(2));
-- The dry run: two renames, the table the project leaves alone moved across, then the
-- schema's grants, default privileges and comment; no relation moved one by one.
CALL bg.promote(dry_run => true);
CALL bg.promote();

-- The new live schema is the old one in every respect but its relations: same grants
-- (the builder's read included), default privileges and comment.
SELECT * FROM schema_state('shop');
-- The relation the project does not build is the same relation, data and all; the
-- models are the new ones; the reader reads them all.
SELECT relname, oid = (SELECT o.oid FROM oids o WHERE o.relname = c.relname) AS same_relation
  FROM pg_class c WHERE relnamespace = 'shop'::regnamespace AND relkind IN ('r', 'v') ORDER BY 1;
SET ROLE regress_bg_swap_reader;
SELECT (SELECT note FROM shop.kept), (SELECT sum(price) FROM shop.items),
       (SELECT count(*) FROM shop.expensive), (SELECT count(*) FROM shop.cheap);
RESET ROLE;
-- The previous schema holds what was replaced, and only its owner may use it, as with a
-- previous schema promote creates; the shadow schema is gone (the next deploy makes one).
SELECT * FROM schema_state('shop__bg_p1');
SELECT count(*) AS shadow_schemas FROM pg_namespace WHERE nspname = 'shop__bg_shadow';
-- A loader's new table in the live schema is readable by the reader, as before.
GRANT CREATE ON SCHEMA shop TO regress_bg_swap_loader;
SET ROLE regress_bg_swap_loader;
CREATE TABLE shop.loaded (x integer);
RESET ROLE;
SELECT has_table_privilege('regress_bg_swap_reader', 'shop.loaded', 'SELECT') AS reader_reads_new_table;
DROP TABLE shop.loaded;
REVOKE CREATE ON SCHEMA shop FROM regress_bg_swap_loader;

-- Rollback is the same swap backwards: the old schema object is live again, with the
-- grants and comment it had, and the relation left alone moved back across.
CALL bg.rollback(dry_run => true);
CALL bg.rollback();
SELECT * FROM schema_state('shop');
SELECT relname, oid = (SELECT o.oid FROM oids o WHERE o.relname = c.relname) AS same_relation
  FROM pg_class c WHERE relnamespace = 'shop'::regnamespace AND relkind IN ('r', 'v') ORDER BY 1;
SET ROLE regress_bg_swap_reader;
SELECT (SELECT note FROM shop.kept), (SELECT sum(price) FROM shop.items);
RESET ROLE;
SET client_min_messages = warning;
CALL bg.cleanup(keep => 0);
RESET client_min_messages;

-- Anything but relations in the live schema could notice a rename (a function someone
-- calls by name would move away with it): the relations move one by one instead.
CREATE FUNCTION shop.double(x numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'select x * 2';
ALTER FUNCTION shop.double(numeric) OWNER TO bluegreen;
CALL bg.deploy(shop(3));
CREATE FUNCTION plan_statements() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    plan jsonb;
BEGIN
    -- forced: a deployment built before a publication of its tables existed breaks
    -- that publication's subscribers (sql/66_published); the plan is what matters here
    CALL bg.promote(true, NULL, true, plan);
    RETURN QUERY SELECT jsonb_array_elements_text(plan -> 'statements');
END
$$;
SET client_min_messages = warning;
SELECT * FROM plan_statements();
RESET client_min_messages;
SELECT shop.double(2);
DROP FUNCTION shop.double(numeric);

-- Nor when a publication holds the schema: it would publish the previous one.
SET client_min_messages = error;   -- (a warning on wal_level, which varies)
CREATE PUBLICATION regress_bg_swap_pub FOR TABLES IN SCHEMA shop;
SET client_min_messages = warning;
SELECT count(*) FILTER (WHERE s LIKE 'ALTER SCHEMA%RENAME%') AS renames,
       count(*) FILTER (WHERE s LIKE '%SET SCHEMA%') AS moves
  FROM plan_statements() AS s;
RESET client_min_messages;
DROP PUBLICATION regress_bg_swap_pub;

-- Without them, the same deployment is switched by renaming again.
SET client_min_messages = warning;
SELECT count(*) FILTER (WHERE s LIKE 'ALTER SCHEMA%RENAME%') AS renames,
       count(*) FILTER (WHERE s LIKE '%SET SCHEMA%') AS moves
  FROM plan_statements() AS s;
RESET client_min_messages;
CALL bg.abandon();

\c :regress_database
SET client_min_messages = warning;
DROP DATABASE regress_bg_swap;
DROP ROLE regress_bg_swap_reader;
DROP ROLE regress_bg_swap_loader;
