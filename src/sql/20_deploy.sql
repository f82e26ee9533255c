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
    backend_pid       integer NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    -- the next transaction id when the build ended: a snapshot older than it may not see
    -- the shadow data, and promote waits for such snapshots to end
    built_horizon     xid8
);
CREATE INDEX ON bg.deployment (project_id, deployment_id);

-- One step of a deployment: a model built, a test run, a seed or snapshot carried, a
-- model to be removed at promote. Relation names are stored unquoted, in parts.
-- live_oid is the live relation the step was built against, which promote moves to
-- previous_schema; promoted_oid the relation promote put live in its place. Rollback and
-- cleanup act on those relations, by OID, and on nothing else.
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
    promoted_oid     oid,
    in_place         boolean NOT NULL DEFAULT false,
    diff             jsonb,
    PRIMARY KEY (deployment_id, step)
);

SELECT pg_catalog.pg_extension_config_dump('bg.deployment', '');
SELECT pg_catalog.pg_extension_config_dump('bg.deployment_deployment_id_seq', '');
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
       s.compatibility,
       s.in_place
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
