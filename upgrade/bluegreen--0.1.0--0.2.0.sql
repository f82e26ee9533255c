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

-- Blue against green: the diff of each replaced table, recorded when a deployment is
-- built (src/sql/25_diff.sql).
ALTER TABLE bg.deployment_step ADD COLUMN diff jsonb;
-- The first few values an aggregate sees (the example keys of a diff).
CREATE FUNCTION bg.sample_step(internal, text) RETURNS internal
    LANGUAGE c CALLED ON NULL INPUT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'bg_sample_step';
CREATE FUNCTION bg.sample_final(internal) RETURNS text[]
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'bg_sample_final';
CREATE AGGREGATE bg.sample(text) (
    SFUNC = bg.sample_step, STYPE = internal, FINALFUNC = bg.sample_final
);
COMMENT ON FUNCTION bg.sample_step(internal, text) IS 'transition function of bg.sample';
COMMENT ON FUNCTION bg.sample_final(internal) IS 'final function of bg.sample';
COMMENT ON AGGREGATE bg.sample(text) IS 'the first few values it sees (at most 5, each cut to 200 bytes), sorted: the example keys of a diff';

-- A diff, in columns: one definition for bg.diff and bg.deployment_diffs.
CREATE FUNCTION bg.diff_columns(d jsonb,
    OUT key text[], OUT key_source text, OUT rows_live bigint, OUT rows_shadow bigint,
    OUT only_in_live bigint, OUT only_in_shadow bigint, OUT changed bigint,
    OUT changed_share numeric, OUT changed_columns jsonb, OUT columns_added text[],
    OUT columns_removed text[], OUT examples jsonb, OUT note text)
    LANGUAGE sql IMMUTABLE
    BEGIN ATOMIC
    SELECT
        CASE WHEN d OPERATOR(pg_catalog.->) 'key' OPERATOR(pg_catalog.=) 'null'::pg_catalog.jsonb THEN NULL
             ELSE ARRAY(SELECT pg_catalog.jsonb_array_elements_text(d OPERATOR(pg_catalog.->) 'key')) END,
        d OPERATOR(pg_catalog.->>) 'key_source',
        (d OPERATOR(pg_catalog.->>) 'rows_live')::bigint,
        (d OPERATOR(pg_catalog.->>) 'rows_shadow')::bigint,
        (d OPERATOR(pg_catalog.->>) 'only_in_live')::bigint,
        (d OPERATOR(pg_catalog.->>) 'only_in_shadow')::bigint,
        (d OPERATOR(pg_catalog.->>) 'changed')::bigint,
        pg_catalog.round(((d OPERATOR(pg_catalog.->>) 'only_in_live')::numeric
            OPERATOR(pg_catalog.+) COALESCE((d OPERATOR(pg_catalog.->>) 'changed')::numeric, 0))
            OPERATOR(pg_catalog./) NULLIF((d OPERATOR(pg_catalog.->>) 'rows_live')::numeric, 0), 4),
        CASE WHEN d OPERATOR(pg_catalog.->) 'changed_columns' OPERATOR(pg_catalog.=) 'null'::pg_catalog.jsonb THEN NULL
             ELSE d OPERATOR(pg_catalog.->) 'changed_columns' END,
        ARRAY(SELECT pg_catalog.jsonb_array_elements_text(d OPERATOR(pg_catalog.->) 'columns_added')),
        ARRAY(SELECT pg_catalog.jsonb_array_elements_text(d OPERATOR(pg_catalog.->) 'columns_removed')),
        d OPERATOR(pg_catalog.->) 'examples',
        d OPERATOR(pg_catalog.->>) 'note';
    END;
COMMENT ON FUNCTION bg.diff_columns(jsonb) IS 'a diff (bg.diff_relations, bg.deployment_diffs) in columns';

-- Any two relations compared, as the caller: key NULL matches rows by the first one's
-- primary key or unique index, '{}' compares whole rows.
CREATE FUNCTION bg.diff_relations(live regclass, shadow regclass, key text[] DEFAULT NULL)
    RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'bg_diff_relations';
COMMENT ON FUNCTION bg.diff_relations(regclass, regclass, text[]) IS
'how the rows of shadow differ from those of live, matched by key (NULL: live''s primary key or unique index; ''{}'': whole rows), as jsonb';

CREATE FUNCTION bg._diff_now(model text, project text,
    OUT unique_id text, OUT relation text, OUT diff jsonb)
    RETURNS SETOF record LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'bg_diff_now';
COMMENT ON FUNCTION bg._diff_now(text, text) IS 'the diffs behind bg.diff, as jsonb';

-- The project's built deployment against live, now.
CREATE FUNCTION bg.diff(model text DEFAULT NULL, project text DEFAULT NULL)
    RETURNS TABLE (unique_id text, relation text, key text[], key_source text,
                   rows_live bigint, rows_shadow bigint, only_in_live bigint,
                   only_in_shadow bigint, changed bigint, changed_share numeric,
                   changed_columns jsonb, columns_added text[], columns_removed text[],
                   examples jsonb, note text)
    LANGUAGE sql VOLATILE
    BEGIN ATOMIC
        SELECT n.unique_id, n.relation, c.key, c.key_source, c.rows_live, c.rows_shadow,
               c.only_in_live, c.only_in_shadow, c.changed, c.changed_share, c.changed_columns,
               c.columns_added, c.columns_removed, c.examples, c.note
          FROM bg._diff_now(model, project) AS n, bg.diff_columns(n.diff) AS c;
    END;
COMMENT ON FUNCTION bg.diff(text, text) IS
'for each table the project''s built deployment would replace (or one model): rows only in live, only in shadow and changed, matched by the model''s key, computed now';

-- The diffs recorded when each deployment was built.
CREATE VIEW bg.deployment_diffs AS
SELECT s.deployment_id,
       s.step,
       s.unique_id,
       pg_catalog.quote_ident(s.live_schema) OPERATOR(pg_catalog.||) '.'
           OPERATOR(pg_catalog.||) pg_catalog.quote_ident(s.live_name) AS relation,
       c.key, c.key_source, c.rows_live, c.rows_shadow, c.only_in_live, c.only_in_shadow,
       c.changed, c.changed_share, c.changed_columns, c.columns_added, c.columns_removed,
       c.examples, c.note,
       (s.diff OPERATOR(pg_catalog.->>) 'max_changed_share')::numeric AS max_changed_share
  FROM bg.deployment_step AS s, bg.diff_columns(s.diff) AS c
 WHERE s.diff IS NOT NULL;
COMMENT ON VIEW bg.deployment_diffs IS
'for each table a deployment replaced: rows only in live, only in shadow and changed, as measured when it was built';

REVOKE ALL ON FUNCTION bg.sample_step(internal, text), bg.sample_final(internal), bg.sample(text),
    bg.diff_columns(jsonb), bg.diff_relations(regclass, regclass, text[]),
    bg._diff_now(text, text), bg.diff(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bg.sample_step(internal, text), bg.sample_final(internal), bg.sample(text),
    bg.diff_columns(jsonb), bg.diff_relations(regclass, regclass, text[]),
    bg._diff_now(text, text), bg.diff(text, text) TO bluegreen_deployer;
GRANT SELECT ON bg.deployment_diffs TO bluegreen_deployer;
-- A deployment's diffs run as the builder (src/diff.c), which has no USAGE on schema bg
-- and so cannot name the aggregate itself.
GRANT EXECUTE ON FUNCTION bg.sample_step(internal, text), bg.sample_final(internal), bg.sample(text)
    TO bluegreen_builder;

-- pg_dump and pg_restore (src/sql/00_schema.sql): no foreign key circle between project
-- and manifest, and the identity sequences dumped with the tables.
ALTER TABLE bg.project DROP CONSTRAINT IF EXISTS project_live_manifest_id_fkey;
SELECT pg_catalog.pg_extension_config_dump('bg.project_project_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bg.manifest_manifest_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bg.deployment_deployment_id_seq', '');

-- The database each project lives in (src/state_restore.c): this one, recorded now, so
-- that a dump taken before the next operation restores elsewhere knowing it.
ALTER TABLE bg.project ADD COLUMN database_identity text;
UPDATE bg.project SET database_identity =
    (SELECT s.system_identifier::pg_catalog.text OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) d.oid::pg_catalog.text
       FROM pg_catalog.pg_control_system() AS s, pg_catalog.pg_database AS d
      WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database());

-- Uninstalling (src/uninstall.c): DROP EXTENSION refused while bluegreen keeps side
-- schemas beside production; bg.uninstall() removes them and its state, and leaves
-- every live relation where it is (owned by the role bluegreen, which stays: roles are
-- the cluster's).

CREATE FUNCTION bg._guard_drop() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_guard_drop';
COMMENT ON FUNCTION bg._guard_drop() IS
'refuses DROP EXTENSION bluegreen (and DROP SCHEMA bg) while shadow, previous or rollback schemas exist';
CREATE EVENT TRIGGER bluegreen_guard_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
    EXECUTE FUNCTION bg._guard_drop();

-- (No SET clause: it would make the call atomic, and bg.abandon and bg.cleanup drop a
-- large project's relations in batches, committing between them. Every name below is
-- qualified.)
CREATE PROCEDURE bg.uninstall()
    LANGUAGE plpgsql
AS $uninstall$
DECLARE
    p record;
    s record;
    left_over text;
BEGIN
    -- what each project keeps beside production: unpromoted shadows, then every
    -- replaced relation (bg.cleanup drops nothing something else still reads)
    FOR p IN SELECT name FROM bg.project ORDER BY name LOOP
        CALL bg.abandon(p.name);
        CALL bg.cleanup(p.name, 0);
    END LOOP;
    FOR s IN SELECT n.nspname FROM pg_catalog.pg_namespace AS n
              WHERE n.nspowner OPERATOR(pg_catalog.=) 'bluegreen'::pg_catalog.regrole
                AND n.nspname OPERATOR(pg_catalog.~) '__bg_(shadow|p[0-9]+|r[0-9]+)$'
              ORDER BY 1 LOOP
        BEGIN
            EXECUTE pg_catalog.format('DROP SCHEMA %I', s.nspname);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            left_over := pg_catalog.concat_ws(', ', left_over, pg_catalog.quote_ident(s.nspname));
        END;
    END LOOP;
    IF left_over IS NOT NULL THEN
        RAISE EXCEPTION 'cannot uninstall bluegreen: these schemas still hold relations: %', left_over
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Something outside bluegreen still reads them (bg.cleanup above names it), or they hold objects bluegreen did not put there; drop or move that, then CALL bg.uninstall() again.';
    END IF;
    DELETE FROM bg.project;
    RAISE NOTICE 'bluegreen keeps nothing beside production now; every live relation stays, owned by role bluegreen'
        USING HINT = 'DROP EXTENSION bluegreen.';
END
$uninstall$;
COMMENT ON PROCEDURE bg.uninstall() IS
'drop every shadow, previous and rollback schema and bluegreen''s state, keeping every live relation; then DROP EXTENSION bluegreen goes through';
REVOKE ALL ON PROCEDURE bg.uninstall() FROM PUBLIC;
REVOKE ALL ON FUNCTION bg._guard_drop() FROM PUBLIC;

-- Each manifest's nodes and macros as one value, in parts, which plan and deploy read
-- back in one fetch; manifests stored by 0.1.0 have none and are read from their rows.
CREATE TABLE bg.manifest_state (
    manifest_id  bigint NOT NULL REFERENCES bg.manifest ON DELETE CASCADE,
    part         integer NOT NULL,
    data         bytea NOT NULL,
    PRIMARY KEY (manifest_id, part)
);
DO $compression$
BEGIN
    ALTER TABLE bg.manifest_state ALTER COLUMN data SET COMPRESSION lz4;
    -- the long values of a node's row too: written for every node of every manifest
    ALTER TABLE bg.node ALTER COLUMN config SET COMPRESSION lz4,
                        ALTER COLUMN columns SET COMPRESSION lz4,
                        ALTER COLUMN constraints SET COMPRESSION lz4,
                        ALTER COLUMN test_metadata SET COMPRESSION lz4,
                        ALTER COLUMN compiled_code SET COMPRESSION lz4,
                        ALTER COLUMN description SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$compression$;
SELECT pg_catalog.pg_extension_config_dump('bg.manifest_state', '');
REVOKE ALL ON bg.manifest_state FROM PUBLIC;
