-- bluegreen install script, assembled from src/sql/*.sql in name order.
-- Written as if search_path were hostile: catalog objects are qualified with pg_catalog,
-- extension objects with bg.

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

-- The two roles of the security model. Roles are cluster-wide and outlive the extension,
-- so they are created only when missing and never dropped by DROP EXTENSION.
--   bluegreen           owns the managed schemas and relations and runs all manifest SQL;
--                       never a superuser, cannot log in.
--   bluegreen_deployer  may call the procedures that change things.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'bluegreen') THEN
        CREATE ROLE bluegreen NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'bluegreen_deployer') THEN
        CREATE ROLE bluegreen_deployer NOLOGIN;
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
    created_by        name NOT NULL DEFAULT CURRENT_USER
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

ALTER TABLE bg.project
    ADD FOREIGN KEY (live_manifest_id) REFERENCES bg.manifest DEFERRABLE INITIALLY DEFERRED;

-- The compact per-node state of a manifest (see src/bluegreen.h, BgNode). The *_canon
-- and *_digest columns are what dbt's state comparison looks at.
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
    config                 jsonb,
    columns                jsonb,
    constraints            jsonb,
    test_metadata          jsonb,
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

-- pg_dump keeps bluegreen's history and state with the database.
SELECT pg_catalog.pg_extension_config_dump('bg.project', '');
SELECT pg_catalog.pg_extension_config_dump('bg.manifest', '');
SELECT pg_catalog.pg_extension_config_dump('bg.node', '');
SELECT pg_catalog.pg_extension_config_dump('bg.macro', '');

REVOKE ALL ON ALL TABLES IN SCHEMA bg FROM PUBLIC;
-- Projects and plans: register a manifest as the live baseline, and compare a new one
-- with it the way dbt's state:modified+ does.

CREATE PROCEDURE bg.create_project(manifest text, name text DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_create_project_text';
CREATE PROCEDURE bg.create_project(manifest jsonb, name text DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_create_project_jsonb';

COMMENT ON PROCEDURE bg.create_project(text, text) IS
'register a compiled dbt manifest (manifest.json as text: any size) as the live baseline of a new project; touches no data';
COMMENT ON PROCEDURE bg.create_project(jsonb, text) IS
'register a compiled dbt manifest (as jsonb: up to jsonb''s size limit) as the live baseline of a new project; touches no data';

CREATE FUNCTION bg.plan(
    manifest text, project text DEFAULT NULL,
    OUT unique_id text, OUT resource_type text, OUT selected boolean, OUT action text,
    OUT reasons text[], OUT materialization text, OUT live_relation text,
    OUT shadow_relation text, OUT compatibility text, OUT state_selectors text[])
    RETURNS SETOF record
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'bg_plan_text';
CREATE FUNCTION bg.plan(
    manifest jsonb, project text DEFAULT NULL,
    OUT unique_id text, OUT resource_type text, OUT selected boolean, OUT action text,
    OUT reasons text[], OUT materialization text, OUT live_relation text,
    OUT shadow_relation text, OUT compatibility text, OUT state_selectors text[])
    RETURNS SETOF record
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'bg_plan_jsonb';

COMMENT ON FUNCTION bg.plan(text, text) IS
'what deploying this manifest would do: one row per node, selected exactly as dbt''s state:modified+ against the live manifest';
COMMENT ON FUNCTION bg.plan(jsonb, text) IS
'what deploying this manifest would do: one row per node, selected exactly as dbt''s state:modified+ against the live manifest';

CREATE FUNCTION bg.plan_json(manifest text, project text DEFAULT NULL) RETURNS jsonb
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT jsonb_build_object(
            'selected', count(*) FILTER (WHERE p.selected),
            'build', count(*) FILTER (WHERE p.action = 'build'),
            'remove', count(*) FILTER (WHERE p.action = 'remove'),
            'nodes', COALESCE(jsonb_agg(to_jsonb(p.*)), '[]'::jsonb))
          FROM bg.plan(manifest, project) AS p;
    END;
CREATE FUNCTION bg.plan_json(manifest jsonb, project text DEFAULT NULL) RETURNS jsonb
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    RETURN bg.plan_json(manifest::text, project);
COMMENT ON FUNCTION bg.plan_json(text, text) IS 'bg.plan as one JSON document, for machines';
COMMENT ON FUNCTION bg.plan_json(jsonb, text) IS 'bg.plan as one JSON document, for machines';

CREATE VIEW bg.projects AS
SELECT p.name AS project,
       p.live_manifest_id,
       m.dbt_version,
       m.schema_version AS manifest_schema_version,
       m.node_count,
       (SELECT count(*) FROM bg.node AS n
         WHERE n.manifest_id = p.live_manifest_id AND n.resource_type = 'model'
           AND NOT n.disabled) AS models,
       m.registered_at AS live_since,
       p.created_at,
       p.created_by
  FROM bg.project AS p
  LEFT JOIN bg.manifest AS m ON m.manifest_id = p.live_manifest_id;
COMMENT ON VIEW bg.projects IS 'projects bluegreen manages, with their live manifest';

REVOKE ALL ON PROCEDURE bg.create_project(text, text), bg.create_project(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION bg.plan(text, text), bg.plan(jsonb, text),
    bg.plan_json(text, text), bg.plan_json(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE bg.create_project(text, text), bg.create_project(jsonb, text)
    TO bluegreen_deployer;
GRANT EXECUTE ON FUNCTION bg.plan(text, text), bg.plan(jsonb, text),
    bg.plan_json(text, text), bg.plan_json(jsonb, text) TO bluegreen_deployer;
GRANT SELECT ON bg.projects TO bluegreen_deployer;
-- Deployments: build what a new manifest changes into shadow schemas beside production,
-- audit it with the project's own dbt tests, and keep the record (src/deploy.c).

-- One attempt to move a project to a manifest. status:
--   building    under way (or its backend died: see backend_pid)
--   built       built and audited; waiting for bg.promote
--   failed      a model or an error-severity test failed; production untouched
--   abandoned   dropped by bg.abandon, or replaced by a newer deployment before promote
--   promoted    live
--   rolled_back live until bg.rollback switched back
CREATE TABLE bg.deployment (
    deployment_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id        bigint NOT NULL REFERENCES bg.project ON DELETE CASCADE,
    manifest_id       bigint NOT NULL REFERENCES bg.manifest,
    base_manifest_id  bigint REFERENCES bg.manifest,
    kind              text NOT NULL CHECK (kind IN ('deploy', 'refresh', 'dbt')),
    full_refresh      boolean NOT NULL DEFAULT false,
    status            text NOT NULL CHECK (status IN ('building', 'built', 'failed',
                          'abandoned', 'promoted', 'rolled_back')),
    models_built      integer NOT NULL DEFAULT 0,
    tests_passed      integer NOT NULL DEFAULT 0,
    tests_warned      integer NOT NULL DEFAULT 0,
    tests_failed      integer NOT NULL DEFAULT 0,
    breaking          boolean,
    failed_node       text,
    error             text,
    started_at        timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    built_at          timestamptz,
    promoted_at       timestamptz,
    rolled_back_at    timestamptz,
    finished_at       timestamptz,
    previous_dropped_at timestamptz,
    started_by        name NOT NULL,
    backend_pid       integer NOT NULL DEFAULT pg_catalog.pg_backend_pid()
);
CREATE INDEX ON bg.deployment (project_id, deployment_id);

-- One step of a deployment: a model built, a test run, a seed or snapshot carried, a
-- model to be removed at promote. Relation names are stored unquoted, in parts.
CREATE TABLE bg.deployment_step (
    deployment_id    bigint NOT NULL REFERENCES bg.deployment ON DELETE CASCADE,
    step             integer NOT NULL,
    unique_id        text NOT NULL,
    resource_type    text NOT NULL,
    action           text NOT NULL CHECK (action IN ('build', 'test', 'carry', 'remove')),
    materialization  text,
    live_schema      text,
    live_name        text,
    shadow_schema    text,
    relkind          "char",
    live_oid         oid,
    previous_schema  text,
    status           text NOT NULL CHECK (status IN ('pending', 'ok', 'error', 'pass',
                         'warn', 'fail', 'skipped')),
    rows_affected    bigint,
    failures         bigint,
    severity         text,
    started_at       timestamptz,
    duration         interval,
    message          text,
    compatibility    jsonb,
    breaking         boolean,
    PRIMARY KEY (deployment_id, step)
);

SELECT pg_catalog.pg_extension_config_dump('bg.deployment', '');
SELECT pg_catalog.pg_extension_config_dump('bg.deployment_step', '');
REVOKE ALL ON bg.deployment, bg.deployment_step FROM PUBLIC;

CREATE VIEW bg.deployments AS
SELECT d.deployment_id,
       p.name AS project,
       d.kind,
       d.status,
       d.full_refresh,
       d.models_built,
       d.tests_passed,
       d.tests_warned,
       d.tests_failed,
       d.breaking,
       d.failed_node,
       d.error,
       d.started_at,
       d.built_at,
       d.finished_at,
       COALESCE(d.finished_at, d.built_at) OPERATOR(pg_catalog.-) d.started_at AS duration,
       d.started_by,
       d.manifest_id,
       d.base_manifest_id,
       d.promoted_at,
       d.rolled_back_at,
       d.previous_dropped_at
  FROM bg.deployment AS d
  JOIN bg.project AS p USING (project_id);
COMMENT ON VIEW bg.deployments IS 'every deployment: who, when, what it built, how its tests went, and how it ended';

CREATE VIEW bg.deployment_steps AS
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
       s.compatibility
  FROM bg.deployment_step AS s;
COMMENT ON VIEW bg.deployment_steps IS 'each model built, test run and relation removed by a deployment, with rows, time and errors';

CREATE PROCEDURE bg.deploy(manifest text DEFAULT NULL, project text DEFAULT NULL,
                           full_refresh boolean DEFAULT false, promote boolean DEFAULT false)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_deploy_text';
CREATE PROCEDURE bg.deploy(manifest jsonb, project text DEFAULT NULL,
                           full_refresh boolean DEFAULT false, promote boolean DEFAULT false)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_deploy_jsonb';
COMMENT ON PROCEDURE bg.deploy(text, text, boolean, boolean) IS
'build what the manifest changes (dbt''s state:modified+) into shadow schemas and run its tests there; production is untouched. With no manifest: re-run the live project (a scheduled refresh). promote => true: promote it when it built, passed its tests and breaks nothing';
COMMENT ON PROCEDURE bg.deploy(jsonb, text, boolean, boolean) IS
'build what the manifest changes (dbt''s state:modified+) into shadow schemas and run its tests there; production is untouched';

CREATE PROCEDURE bg.abandon(project text DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_abandon';
COMMENT ON PROCEDURE bg.abandon(text) IS
'drop the shadow relations of the project''s deployment that was not promoted';

REVOKE ALL ON PROCEDURE bg.deploy(text, text, boolean, boolean), bg.deploy(jsonb, text, boolean, boolean),
    bg.abandon(text) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE bg.deploy(text, text, boolean, boolean), bg.deploy(jsonb, text, boolean, boolean),
    bg.abandon(text) TO bluegreen_deployer;
GRANT SELECT ON bg.deployments, bg.deployment_steps TO bluegreen_deployer;

-- Deployments that dbt builds (for what bluegreen cannot build from a manifest): plan and
-- prepare the shadow, let `dbt build` build the selection there, then check and compare.
CREATE PROCEDURE bg.deploy_begin(manifest text, project text DEFAULT NULL,
                                 full_refresh boolean DEFAULT false)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_deploy_begin_text';
CREATE PROCEDURE bg.deploy_begin(manifest jsonb, project text DEFAULT NULL,
                                 full_refresh boolean DEFAULT false)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_deploy_begin_jsonb';
CREATE PROCEDURE bg.deploy_finish(project text DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_deploy_finish';
COMMENT ON PROCEDURE bg.deploy_begin(text, text, boolean) IS
'start a deployment that dbt builds: plan (state:modified+), record it, prepare the shadow schemas (incremental models start as copies of their live tables)';
COMMENT ON PROCEDURE bg.deploy_begin(jsonb, text, boolean) IS
'start a deployment that dbt builds: plan (state:modified+), record it, prepare the shadow schemas';
COMMENT ON PROCEDURE bg.deploy_finish(text) IS
'after dbt built the selection into shadow: check every selected model is there, compare with live, mark the deployment built for bg.promote';
REVOKE ALL ON PROCEDURE bg.deploy_begin(text, text, boolean), bg.deploy_begin(jsonb, text, boolean),
    bg.deploy_finish(text) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE bg.deploy_begin(text, text, boolean), bg.deploy_begin(jsonb, text, boolean),
    bg.deploy_finish(text) TO bluegreen_deployer;
-- Promote, rollback, cleanup: switch a built deployment live in one transaction, switch
-- back, and drop what was replaced once it is no longer wanted (src/promote.c).
-- Each returns (INOUT plan) the statements it ran, or would run with dry_run, as JSON.

CREATE PROCEDURE bg.promote(dry_run boolean DEFAULT false, project text DEFAULT NULL,
                            force boolean DEFAULT false, INOUT plan jsonb DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_promote';
COMMENT ON PROCEDURE bg.promote(boolean, text, boolean, jsonb) IS
'switch the built deployment live in one transaction: replaced relations move to previous (kept for rollback), dependents outside the project are re-pointed; dry_run prints every statement and changes nothing; force promotes a breaking deployment';

CREATE PROCEDURE bg.rollback(project text DEFAULT NULL, dry_run boolean DEFAULT false,
                             INOUT plan jsonb DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_rollback';
COMMENT ON PROCEDURE bg.rollback(text, boolean, jsonb) IS
'switch the latest promoted deployment back in one transaction: the relations it replaced are live again, and so is the manifest before it';

CREATE PROCEDURE bg.cleanup(project text DEFAULT NULL, keep integer DEFAULT 1,
                            older_than interval DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_cleanup';
COMMENT ON PROCEDURE bg.cleanup(text, integer, interval) IS
'drop the relations replaced by promotes past retention: all but the newest keep promotes, and those promoted longer ago than older_than; best effort, reports what it could not drop';

REVOKE ALL ON PROCEDURE bg.promote(boolean, text, boolean, jsonb),
    bg.rollback(text, boolean, jsonb), bg.cleanup(text, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE bg.promote(boolean, text, boolean, jsonb),
    bg.rollback(text, boolean, jsonb), bg.cleanup(text, integer, interval) TO bluegreen_deployer;
-- Ownership transfer: hand a schema and every object in it to the owner role bluegreen,
-- in place (ALTER ... OWNER TO), after checking that the caller may (src/ownership.c).
-- A C procedure that switches user around the ALTER statements only, rather than
-- SECURITY DEFINER: the caller's rights are checked against the caller itself, and
-- privilege is raised for nothing else.

CREATE PROCEDURE bg.transfer_ownership(schema_name text, dry_run boolean DEFAULT false)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_transfer_ownership';

COMMENT ON PROCEDURE bg.transfer_ownership(text, boolean) IS
'hand the schema (its name as stored, unquoted) and every object in it to the owner role bluegreen; the caller must own, or have the privileges of the owner of, each one; grants survive; dry_run prints the statements and changes nothing';

REVOKE ALL ON PROCEDURE bg.transfer_ownership(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE bg.transfer_ownership(text, boolean) TO bluegreen_deployer;
-- Scheduling with pg_cron: a refresh of the live project that promotes itself when it
-- built, passed its tests and breaks nothing, and a cleanup of what promotes replaced.
--
-- pg_cron is optional. Nothing here refers to it until a helper is called, and then only
-- through dynamic SQL, so CREATE EXTENSION bluegreen works without it. A helper finds out
-- at run time where pg_cron is:
--   * created in this database: the job is scheduled with cron.schedule and returned;
--   * running, but scheduling from another database (cron.database_name; pg_cron's
--     functions exist only there): an error whose hint is the exact
--     cron.schedule_in_database statement to run there (as a superuser: pg_cron 1.4
--     grants it to no one else), the job running as the caller, in this database;
--   * not running: an error saying so, with the command to give any other scheduler.
-- The jobs run as the role that scheduled them, which must be a deployer and may log in
-- (pg_cron connects as it, to cron.host, unless cron.use_background_workers is on).

-- The project a helper schedules: the one named, or the only one. Resolved now, so a job
-- keeps acting on its project when another one is registered later.
CREATE FUNCTION bg.schedule_project(project text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_name text;
    projects bigint;
BEGIN
    IF project IS NOT NULL THEN
        IF NOT EXISTS (SELECT FROM bg.projects AS p WHERE p.project OPERATOR(pg_catalog.=) schedule_project.project) THEN
            RAISE EXCEPTION 'project "%" does not exist', project
                USING ERRCODE = 'undefined_object',
                      HINT = 'bg.projects lists the projects; CALL bg.create_project(manifest) registers one.';
        END IF;
        RETURN project;
    END IF;
    SELECT pg_catalog.min(p.project), pg_catalog.count(*) INTO found_name, projects FROM bg.projects AS p;
    IF projects OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'this database has no bluegreen project to schedule'
            USING ERRCODE = 'undefined_object',
                  HINT = 'CALL bg.create_project(manifest) first.';
    ELSIF projects OPERATOR(pg_catalog.>) 1 THEN
        RAISE EXCEPTION 'this database has % bluegreen projects: name the one to schedule', projects
            USING ERRCODE = 'ambiguous_parameter',
                  HINT = 'Pass project => ''name''; bg.projects lists them.';
    END IF;
    RETURN found_name;
END
$$;
COMMENT ON FUNCTION bg.schedule_project(text) IS
'the project a scheduling helper acts on: the one named (checked), or the only one of the database';

-- The database pg_cron schedules from, or NULL when pg_cron is not running: the database
-- its launcher is connected to. pg_stat_activity shows other roles' backend_type only to
-- the privileged, so the launcher is also known by the application_name pg_cron gives it.
-- (cron.database_name itself is shown to superusers only, and is a mere placeholder in a
-- cluster that sets it without loading pg_cron.)
CREATE FUNCTION bg.cron_database_name() RETURNS name
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT a.datname FROM pg_catalog.pg_stat_activity AS a
             WHERE a.backend_type OPERATOR(pg_catalog.=) 'pg_cron launcher'
                OR (a.backend_type IS NULL AND a.application_name OPERATOR(pg_catalog.=) 'pg_cron scheduler')
             LIMIT 1);
COMMENT ON FUNCTION bg.cron_database_name() IS
'the database pg_cron schedules its jobs from (where its launcher runs), or NULL when pg_cron is not running';

-- Schedule one command with pg_cron, found at run time; returns the job id.
CREATE FUNCTION bg.schedule_command(job_name text, schedule text, command text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_database name := bg.cron_database_name();
    job bigint;
BEGIN
    IF schedule IS NULL OR job_name IS NULL THEN
        RAISE EXCEPTION 'a schedule and a job name are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension AS e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
        IF cron_database IS NULL THEN
            RAISE EXCEPTION 'pg_cron is not installed: bluegreen cannot schedule "%"', job_name
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = pg_catalog.format('The job would run: %s', command),
                      HINT = 'Add pg_cron to shared_preload_libraries, restart the server and CREATE EXTENSION pg_cron in the database that cron.database_name names; or have any other scheduler run that command.';
        ELSIF cron_database OPERATOR(pg_catalog.<>) pg_catalog.current_database() THEN
            RAISE EXCEPTION 'pg_cron schedules its jobs from database "%", not from "%"',
                    cron_database, pg_catalog.current_database()
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'pg_cron''s functions exist only in the database that cron.database_name names; cron.schedule_in_database is for superusers and the roles they grant it to.',
                      HINT = pg_catalog.format('In database %s run: SELECT cron.schedule_in_database(%L, %L, %L, %L, %L);',
                                               pg_catalog.quote_ident(cron_database), job_name, schedule, command,
                                               pg_catalog.current_database(), CURRENT_USER);
        ELSE
            RAISE EXCEPTION 'pg_cron is loaded but not created in this database'
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'CREATE EXTENSION pg_cron;';
        END IF;
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING job_name, schedule, command;
    RETURN job;
END
$$;
COMMENT ON FUNCTION bg.schedule_command(text, text, text) IS
'schedule a command with pg_cron, detected at run time (pg_cron is optional): the job id, or an error that says where and how to schedule it';

CREATE FUNCTION bg.schedule_refresh(schedule text, project text DEFAULT NULL,
                                    promote boolean DEFAULT true, full_refresh boolean DEFAULT false,
                                    job_name text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target text := bg.schedule_project(project);
BEGIN
    RETURN bg.schedule_command(
        COALESCE(job_name, pg_catalog.format('bluegreen refresh %s in %s', target, pg_catalog.current_database())),
        schedule,
        pg_catalog.format('CALL bg.deploy(project => %L, full_refresh => %s, promote => %s)',
                          target, COALESCE(full_refresh, false)::text, COALESCE(promote, true)::text));
END
$$;
COMMENT ON FUNCTION bg.schedule_refresh(text, text, boolean, boolean, text) IS
'schedule with pg_cron a refresh of the live project (CALL bg.deploy(project, full_refresh, promote)): every model rebuilt in shadow and tested, promoted when it built, passed and breaks nothing; returns the job id. Job name (pg_cron''s key, with the role): bluegreen refresh <project> in <database>; scheduling it again replaces it';

CREATE FUNCTION bg.schedule_cleanup(schedule text, project text DEFAULT NULL, keep integer DEFAULT 1,
                                    older_than interval DEFAULT NULL, job_name text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target text := bg.schedule_project(project);
BEGIN
    IF keep IS NULL OR keep OPERATOR(pg_catalog.<) 0 THEN
        RAISE EXCEPTION 'keep must be 0 or more, not %', COALESCE(keep::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN bg.schedule_command(
        COALESCE(job_name, pg_catalog.format('bluegreen cleanup %s in %s', target, pg_catalog.current_database())),
        schedule,
        pg_catalog.format('CALL bg.cleanup(project => %L, keep => %s, older_than => %L)',
                          target, keep, older_than));
END
$$;
COMMENT ON FUNCTION bg.schedule_cleanup(text, text, integer, interval, text) IS
'schedule with pg_cron a cleanup (CALL bg.cleanup(project, keep, older_than)): drops the relations promotes replaced past retention; returns the job id. Job name (pg_cron''s key, with the role): bluegreen cleanup <project> in <database>; scheduling it again replaces it';

REVOKE ALL ON FUNCTION bg.cron_database_name(), bg.schedule_project(text), bg.schedule_command(text, text, text),
    bg.schedule_refresh(text, text, boolean, boolean, text),
    bg.schedule_cleanup(text, text, integer, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bg.cron_database_name(), bg.schedule_project(text), bg.schedule_command(text, text, text),
    bg.schedule_refresh(text, text, boolean, boolean, text),
    bg.schedule_cleanup(text, text, integer, interval, text) TO bluegreen_deployer;
