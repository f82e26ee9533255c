-- bluegreen install script, assembled from src/sql/*.sql in name order.
-- Written as if search_path were hostile: catalog objects are qualified with pg_catalog,
-- extension objects with bg. A column added since a release comes after that release's
-- columns, in the order the upgrade scripts add it, so that an upgraded table is the
-- same as a fresh one column for column (test/upgrade compares them).

\echo Use "CREATE EXTENSION bluegreen" to load this file. \quit

-- The schema bg, made by CREATE EXTENSION or beforehand, must belong to a superuser and
-- hold nothing yet. Its owner could drop or replace what bluegreen's procedures write as
-- the extension owner, and whatever it holds is on this script's search_path (bg, pg_temp).
DO $schema$
DECLARE
    owner name;
    owner_is_superuser boolean;
BEGIN
    SELECT r.rolname, r.rolsuper INTO owner, owner_is_superuser
      FROM pg_catalog.pg_namespace AS n
      JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'bg';
    IF NOT owner_is_superuser THEN
        RAISE EXCEPTION 'schema bg belongs to role %, which is not a superuser', owner
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Its owner could drop or replace objects that bluegreen uses as a superuser.',
                  HINT = 'Drop or rename that schema, then CREATE EXTENSION bluegreen again.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) 'bg'::pg_catalog.regnamespace
               UNION ALL SELECT FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) 'bg'::pg_catalog.regnamespace
               UNION ALL SELECT FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) 'bg'::pg_catalog.regnamespace
               UNION ALL SELECT FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) 'bg'::pg_catalog.regnamespace
               UNION ALL SELECT FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) 'bg'::pg_catalog.regnamespace
               UNION ALL SELECT FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) 'bg'::pg_catalog.regnamespace
               UNION ALL SELECT FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) 'bg'::pg_catalog.regnamespace
               UNION ALL SELECT FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) 'bg'::pg_catalog.regnamespace
               UNION ALL SELECT FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) 'bg'::pg_catalog.regnamespace) THEN
        RAISE EXCEPTION 'schema bg already holds objects'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Objects in bg would be found by name while bluegreen installs itself.',
                  HINT = 'Move them out of bg or drop them, then CREATE EXTENSION bluegreen again.';
    END IF;
END
$schema$;

-- The three roles of the security model. Roles are cluster-wide and outlive the
-- extension, so they are created only when missing and never dropped by DROP EXTENSION.
--   bluegreen           the owner role: owns the managed schemas and the live and previous
--                       relations; runs no manifest SQL. Never a superuser, cannot log in.
--   bluegreen_builder   runs every model, test and hook of a manifest; owns only what it
--                       builds in shadow; may read the live relations and the sources it
--                       is granted. Never a member of bluegreen.
--   bluegreen_deployer  may call the procedures that change things.
-- bluegreen is a member of bluegreen_builder, so the sources granted to the builder are
-- readable by the views it builds once promote hands them to bluegreen; the other way
-- round there is no membership, so manifest SQL cannot act as the owner of production.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'bluegreen') THEN
        CREATE ROLE bluegreen NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'bluegreen_builder') THEN
        CREATE ROLE bluegreen_builder NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'bluegreen_deployer') THEN
        CREATE ROLE bluegreen_deployer NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('bluegreen', 'bluegreen_builder', 'MEMBER') THEN
        GRANT bluegreen_builder TO bluegreen;
    END IF;
END
$roles$;

COMMENT ON SCHEMA bg IS 'bluegreen: blue/green deployment of dbt projects';
GRANT USAGE ON SCHEMA bg TO bluegreen_deployer;

-- A project: a dbt project whose live state bluegreen manages.
CREATE TABLE bg.project (
    project_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    live_manifest_id  bigint,
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by        name NOT NULL DEFAULT CURRENT_USER,
    -- the database it lives in (cluster system identifier / database OID): in another
    -- one (a dump restored), its steps' relations are found again by name
    database_identity text
);

-- One registered manifest: the live baseline of a project, or the target of a deployment.
CREATE TABLE bg.manifest (
    manifest_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES bg.project ON DELETE CASCADE,
    schema_version  integer NOT NULL,
    dbt_version     text,
    project_name    text,
    adapter_type    text,
    invocation_id   text,
    generated_at    text,
    source_bytes    bigint NOT NULL,
    node_count      integer NOT NULL,
    macro_count     integer NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    registered_by   name NOT NULL DEFAULT CURRENT_USER
);
CREATE INDEX ON bg.manifest (project_id);

-- bg.project.live_manifest_id names one of the project's manifests. It is no foreign
-- key: manifest references project, and pg_dump restores the tables of an extension in
-- the order of their foreign keys, which a circle between two of them defeats (state.c
-- sets it only to a manifest it has just stored or loaded).

-- The compact per-node state of a manifest (see src/manifest.h, BgNode; the columns are
-- listed once more in src/state_manifest.c, node_fields). The *_canon and *_digest
-- columns are what dbt's state comparison looks at. config, columns, constraints and
-- test_metadata are json, not jsonb: kept as dbt wrote them, in dbt's key order (a
-- contract's column order is the table's).
CREATE TABLE bg.node (
    manifest_id            bigint NOT NULL REFERENCES bg.manifest ON DELETE CASCADE,
    unique_id              text NOT NULL,
    ordinal                integer NOT NULL,
    resource_type          text NOT NULL,
    package_name           text NOT NULL,
    name                   text NOT NULL,
    version                text,
    disabled               boolean NOT NULL,
    listed                 boolean NOT NULL,
    generic_test           boolean NOT NULL,
    database_name          text,
    schema_name            text,
    alias                  text,
    materialized           text,
    body_digest            text,
    config_canon           text,
    relation_canon         text,
    fqn_canon              text,
    ref_canon              text,
    source_canon           text,
    persist_relation_docs  boolean NOT NULL,
    persist_column_docs    boolean NOT NULL,
    description_digest     text,
    column_docs_digest     text,
    contract_enforced      boolean NOT NULL,
    contract_checksum      text,
    depends_on_nodes       text[] NOT NULL,
    depends_on_macros      text[] NOT NULL,
    config                 json,
    columns                json,
    constraints            json,
    test_metadata          json,
    attached_node          text,
    compiled_code          text,
    original_file_path     text,
    description            text,
    PRIMARY KEY (manifest_id, unique_id)
);

CREATE TABLE bg.macro (
    manifest_id        bigint NOT NULL REFERENCES bg.manifest ON DELETE CASCADE,
    unique_id          text NOT NULL,
    sql_digest         text NOT NULL,
    depends_on_macros  text[] NOT NULL,
    PRIMARY KEY (manifest_id, unique_id)
);

-- The manifest's nodes and macros as one value, its compact state, in parts of about a
-- megabyte: plan and deploy read it back in one fetch (src/state_manifest.c). A manifest
-- without one (stored by 0.1.0) is read from its rows in bg.node and bg.macro.
CREATE TABLE bg.manifest_state (
    manifest_id  bigint NOT NULL REFERENCES bg.manifest ON DELETE CASCADE,
    part         integer NOT NULL,
    data         bytea NOT NULL,
    PRIMARY KEY (manifest_id, part)
);
-- lz4 where the server has it: several times faster to read back than pglz
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

-- pg_dump keeps bluegreen's history and state with the database, and where the
-- identity sequences stand, so that the next row after a restore takes the next id.
SELECT pg_catalog.pg_extension_config_dump('bg.project', '');
SELECT pg_catalog.pg_extension_config_dump('bg.project_project_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bg.manifest', '');
SELECT pg_catalog.pg_extension_config_dump('bg.manifest_manifest_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bg.node', '');
SELECT pg_catalog.pg_extension_config_dump('bg.manifest_state', '');
SELECT pg_catalog.pg_extension_config_dump('bg.macro', '');

REVOKE ALL ON ALL TABLES IN SCHEMA bg FROM PUBLIC;
