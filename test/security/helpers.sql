-- Manifest builders for a database of its own: mf_model() one compiled model of project
-- "sec" (database = current_database()), mf_manifest() the manifest around some nodes.
-- search_path is pinned: these run in databases with planted objects.
CREATE FUNCTION public.mf_model(name text, code text, materialized text DEFAULT 'view',
                                schema text DEFAULT 'mart', depends_on text[] DEFAULT '{}',
                                config jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT jsonb_build_object('model.sec.' || name, jsonb_build_object(
    'unique_id', 'model.sec.' || name, 'resource_type', 'model', 'package_name', 'sec',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('sec', name), 'database', current_database(),
    'schema', schema, 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized,
                                 'persist_docs', '{}'::jsonb, 'tags', '[]'::jsonb) || config,
    'unrendered_config', jsonb_build_object('materialized', materialized) || config,
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', '{}'::jsonb,
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', to_jsonb(depends_on)),
    'contract', '{"enforced": false, "alias_types": true, "checksum": null}'::jsonb,
    'constraints', '[]'::jsonb, 'access', 'protected', 'version', NULL,
    'latest_version', NULL, 'deprecation_date', NULL))
$$;
CREATE FUNCTION public.mf_manifest(nodes jsonb) RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'sec', 'adapter_type', 'postgres',
        'generated_at', '2025-01-01T00:00:00.000000Z',
        'invocation_id', '00000000-0000-0000-0000-000000000001'),
    'nodes', nodes, 'sources', '{}'::jsonb,
    'macros', '{}'::jsonb, 'disabled', '{}'::jsonb, 'docs', '{}'::jsonb,
    'exposures', '{}'::jsonb, 'metrics', '{}'::jsonb, 'groups', '{}'::jsonb,
    'selectors', '{}'::jsonb, 'semantic_models', '{}'::jsonb, 'unit_tests', '{}'::jsonb,
    'saved_queries', '{}'::jsonb)::text
$$;
-- The project: mart.items (table) from raw.items, mart.names (view) over it; version 2
-- adds a column.
CREATE FUNCTION public.mf_project(version integer) RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
SELECT public.mf_manifest(
    public.mf_model('items', 'select id, name' || CASE WHEN version > 1 THEN ', upper(name) as code' ELSE '' END
                             || ' from "' || current_database() || '"."raw"."items"', 'table')
 || public.mf_model('names', 'select name from "' || current_database() || '"."mart"."items"',
                    depends_on => '{model.sec.items}'))
$$;
