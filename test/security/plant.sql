-- Plants, in the schema named by the setting plant.schema, objects that shadow
-- pg_catalog's functions, operators, types and catalogs. Each, if it ever ran, raises a
-- WARNING "planted object run", counts itself in the sequence plant_log.hits (which no
-- rollback undoes) and logs itself. Run by a role that is not a superuser; schema
-- plant_log must exist (see run). Running it again replaces what it can.
SET search_path = pg_catalog;
DO $plant$
DECLARE
    s text := current_setting('plant.schema');
    f text;
    o text[];
    t text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'lower(text) RETURNS text', 'upper(text) RETURNS text', 'quote_ident(text) RETURNS text',
        'quote_literal(text) RETURNS text', 'format(text) RETURNS text',
        'format(text, text) RETURNS text', 'format(text, text, text) RETURNS text',
        'length(text) RETURNS integer', 'md5(text) RETURNS text',
        'concat_ws(text, text, text) RETURNS text', 'to_jsonb(text) RETURNS jsonb',
        'jsonb_build_object(text, text) RETURNS jsonb', 'unnest(text[]) RETURNS SETOF text',
        'current_database() RETURNS name', 'pg_backend_pid() RETURNS integer',
        'pg_get_userbyid(oid) RETURNS name', 'pg_get_viewdef(oid, boolean) RETURNS text',
        'pg_get_constraintdef(oid) RETURNS text', 'format_type(oid, integer) RETURNS text',
        'now() RETURNS timestamptz', 'clock_timestamp() RETURNS timestamptz',
        'pg_has_role(name, name, text) RETURNS boolean']
    LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION %I.%s LANGUAGE plpgsql AS $b$BEGIN PERFORM plant_log.hit(%L); RETURN%s; END$b$',
                       s, f, s || '.' || split_part(f, ' RETURNS', 1),
                       CASE WHEN f LIKE '%SETOF%' THEN '' ELSE ' NULL' END);
    END LOOP;
    FOREACH o SLICE 1 IN ARRAY ARRAY[
        ['=', 'text', 'text'], ['=', 'name', 'name'], ['=', 'name', 'text'], ['=', 'oid', 'oid'],
        ['=', 'bigint', 'bigint'], ['=', 'integer', 'integer'], ['=', 'bigint', 'integer'],
        ['=', 'boolean', 'boolean'], ['=', '"char"', '"char"'], ['<>', 'text', 'text'],
        ['||', 'text', 'text'], ['->>', 'jsonb', 'text'], ['-', 'timestamptz', 'timestamptz']]
    LOOP
        t := s || '.op_' || md5(array_to_string(o, ','));
        EXECUTE format('CREATE OR REPLACE FUNCTION %s(%s, %s) RETURNS boolean LANGUAGE plpgsql
                        AS $b$BEGIN PERFORM plant_log.hit(%L); RETURN false; END$b$',
                       t, o[2], o[3], format('%s.%s(%s, %s)', s, o[1], o[2], o[3]));
        IF NOT EXISTS (SELECT FROM pg_operator WHERE oprnamespace = s::regnamespace AND oprname = o[1]
                         AND oprleft = o[2]::regtype AND oprright = o[3]::regtype) THEN
            EXECUTE format('CREATE OPERATOR %I.%s (leftarg = %s, rightarg = %s, function = %s)',
                           s, o[1], o[2], o[3], t);
        END IF;
    END LOOP;
    FOREACH t IN ARRAY ARRAY['text', 'name', 'int4', 'int8', 'jsonb', 'oid', 'regclass'] LOOP
        IF NOT EXISTS (SELECT FROM pg_type WHERE typnamespace = s::regnamespace AND typname = t) THEN
            EXECUTE format('CREATE DOMAIN %I.%I AS pg_catalog.%I CHECK (plant_log.hit(%L))',
                           s, t, t, format('%s.%s (a type)', s, t));
        END IF;
    END LOOP;
    FOREACH t IN ARRAY ARRAY['pg_class', 'pg_namespace', 'pg_roles', 'pg_locks', 'pg_stat_activity',
                             'project', 'deployment', 'deployment_step'] LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS SELECT * FROM pg_catalog.pg_class WHERE plant_log.hit(%L)',
                       s, t, format('%s.%s (a view)', s, t));
        EXECUTE format('GRANT SELECT ON %I.%I TO PUBLIC', s, t);
    END LOOP;
END
$plant$;
