-- bluegreen 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION bluegreen UPDATE TO '0.2.0'" to load this file. \quit

-- A node's config, columns, constraints and test metadata are kept as dbt wrote them
-- (json), in dbt's key order: jsonb reordered a contract's columns. Rows stored by 0.1.0
-- keep jsonb's order, which is all that is left of them.
ALTER TABLE bg.node
    ALTER COLUMN config TYPE json USING config::json,
    ALTER COLUMN columns TYPE json USING columns::json,
    ALTER COLUMN constraints TYPE json USING constraints::json,
    ALTER COLUMN test_metadata TYPE json USING test_metadata::json;

-- The relation each promote put live, so that rollback and cleanup act on exactly the
-- relations promote moved (by OID), not on whatever has their names.
ALTER TABLE bg.deployment_step ADD COLUMN promoted_oid oid;

-- Manifest SQL runs as a role of its own, bluegreen_builder, which owns only what it
-- builds in shadow and reads what is live and the sources; bluegreen owns production
-- and runs no manifest SQL (see the install script's roles). Upgrading keeps every
-- deployment working: the builder is given the reads that 0.1.0 gave the owner role.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'bluegreen_builder') THEN
        CREATE ROLE bluegreen_builder NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
    IF NOT pg_catalog.pg_has_role('bluegreen', 'bluegreen_builder', 'MEMBER') THEN
        GRANT bluegreen_builder TO bluegreen;
    END IF;
END
$roles$;

DO $reads$
DECLARE
    r record;
BEGIN
    -- managed schemas (the owner role's): USAGE, and SELECT on the owner role's relations;
    -- shadow schemas: USAGE and CREATE, for building
    FOR r IN SELECT n.nspname FROM pg_catalog.pg_namespace AS n
              WHERE n.nspowner OPERATOR(pg_catalog.=) 'bluegreen'::pg_catalog.regrole
                AND n.nspname OPERATOR(pg_catalog.!~) '__bg_(p|r)[0-9]+$'
    LOOP
        IF r.nspname OPERATOR(pg_catalog.~) '__bg_shadow$' THEN
            EXECUTE pg_catalog.format('GRANT USAGE, CREATE ON SCHEMA %I TO bluegreen_builder', r.nspname);
        ELSE
            EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO bluegreen_builder', r.nspname);
        END IF;
    END LOOP;
    FOR r IN SELECT c.oid::pg_catalog.regclass AS rel FROM pg_catalog.pg_class AS c
               JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
              WHERE c.relowner OPERATOR(pg_catalog.=) 'bluegreen'::pg_catalog.regrole
                AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,m,f}')
                AND n.nspname OPERATOR(pg_catalog.!~) '__bg_(p|r)[0-9]+$' AND n.nspname OPERATOR(pg_catalog.!~) '__bg_shadow$'
    LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO bluegreen_builder', r.rel);
    END LOOP;
    -- what others granted the owner role to read (the sources): the builder reads it too
    FOR r IN SELECT DISTINCT c.oid::pg_catalog.regclass AS rel FROM pg_catalog.pg_class AS c,
                    pg_catalog.aclexplode(c.relacl) AS a
              WHERE a.grantee OPERATOR(pg_catalog.=) 'bluegreen'::pg_catalog.regrole
                AND a.privilege_type OPERATOR(pg_catalog.=) 'SELECT'
                AND c.relowner OPERATOR(pg_catalog.<>) 'bluegreen'::pg_catalog.regrole
    LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO bluegreen_builder', r.rel);
    END LOOP;
    FOR r IN SELECT DISTINCT n.nspname FROM pg_catalog.pg_namespace AS n,
                    pg_catalog.aclexplode(n.nspacl) AS a
              WHERE a.grantee OPERATOR(pg_catalog.=) 'bluegreen'::pg_catalog.regrole
                AND a.privilege_type OPERATOR(pg_catalog.=) 'USAGE'
                AND n.nspowner OPERATOR(pg_catalog.<>) 'bluegreen'::pg_catalog.regrole
    LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO bluegreen_builder', r.nspname);
    END LOOP;
END
$reads$;

-- When each deployment's build ended, as the next transaction id then: promote waits
-- for every snapshot older than that, which would see the new tables empty.
ALTER TABLE bg.deployment ADD COLUMN built_horizon xid8;

-- An incremental model's increment may be kept in shadow and applied to the live table
-- by promote (bluegreen.incremental_in_place): its step says so.
ALTER TABLE bg.deployment_step ADD COLUMN in_place boolean NOT NULL DEFAULT false;
CREATE OR REPLACE VIEW bg.deployment_steps AS
SELECT s.deployment_id,
       s.step,
       s.unique_id,
       s.resource_type,
       s.action,
       s.materialization,
       pg_catalog.quote_ident(s.live_schema) OPERATOR(pg_catalog.||) '.'
           OPERATOR(pg_catalog.||) pg_catalog.quote_ident(s.live_name) AS relation,
       pg_catalog.quote_ident(s.shadow_schema) OPERATOR(pg_catalog.||) '.'
           OPERATOR(pg_catalog.||) pg_catalog.quote_ident(s.live_name) AS shadow_relation,
       s.status,
       s.rows_affected,
       s.failures,
       s.severity,
       s.started_at,
       s.duration,
       s.message,
       s.breaking,
       s.compatibility,
       s.in_place
  FROM bg.deployment_step AS s;
