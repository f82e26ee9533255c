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
