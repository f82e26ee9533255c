-- manifest(nodes): a manifest of project "shop", in the shape dbt writes it, with these
-- nodes and, as its sources, the tables of schema raw named in :raw_sources (a text[]
-- literal the includer sets): sql/60_promote, 61_compatibility, 65_promote_refusals.
CREATE FUNCTION manifest(nodes jsonb, sources text[] DEFAULT :'raw_sources')
RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'shop', 'adapter_type', 'postgres',
        'generated_at', '2025-01-01T00:00:00.000000Z',
        'invocation_id', '00000000-0000-0000-0000-000000000001'),
    'nodes', nodes,
    'sources', (SELECT jsonb_object_agg('source.shop.raw.' || t, jsonb_build_object(
                    'unique_id', 'source.shop.raw.' || t, 'resource_type', 'source',
                    'package_name', 'shop', 'source_name', 'raw', 'name', t,
                    'fqn', jsonb_build_array('shop', 'raw', t),
                    'database', current_database(), 'schema', 'raw', 'identifier', t,
                    'loaded_at_field', NULL,
                    'freshness', '{"warn_after": null, "error_after": null}'::jsonb,
                    'quoting', '{}'::jsonb, 'external', NULL, 'description', '',
                    'columns', '{}'::jsonb, 'config', '{"enabled": true}'::jsonb,
                    'unrendered_config', '{}'::jsonb))
                  FROM unnest(sources) AS t),
    'macros', '{}'::jsonb, 'disabled', '{}'::jsonb, 'docs', '{}'::jsonb,
    'exposures', '{}'::jsonb, 'metrics', '{}'::jsonb, 'groups', '{}'::jsonb,
    'selectors', '{}'::jsonb, 'semantic_models', '{}'::jsonb, 'unit_tests', '{}'::jsonb,
    'saved_queries', '{}'::jsonb)::text
$$;
