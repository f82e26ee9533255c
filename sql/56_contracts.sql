--
-- Enforced contracts, checked as dbt-postgres checks them. Before it builds a model with
-- an enforced contract, dbt runs the model's code and a query of the contract's columns
-- (`select cast(null as <data_type>) as <name>, ...`) and compares the columns of the
-- two results as its driver reports them: their names, and the name psycopg2 gives each
-- type's OID. The OID carries no length, precision or scale, and psycopg2 names several
-- types alike: text, varchar, char and name are one kind (TEXT), smallint and integer
-- one (INTEGER), real and double precision one (FLOAT), time and timetz one (TIME);
-- bigint (LONGINTEGER), numeric (DECIMAL), timestamp (DATETIME) and timestamptz
-- (DATETIMETZ) each stand apart, and a type psycopg2 does not know (uuid, inet, ...)
-- matches only itself. A domain counts as its base type. dbt refuses the model when the
-- column counts differ, or a column of the code has no contract column of its name or
-- one of another kind; then it creates the table with the contract's types and inserts
-- the code's rows into it (so a value too long for the contract's varchar(n) fails
-- there). bluegreen does the same: what dbt builds, it builds; what dbt refuses, it
-- refuses, naming the model, each column and both types. test/deploy_oracle holds the
-- two side by side (scenario "contracts").
--
-- This file works in a database of its own; 57_model_search_path.sql goes on in it.
--
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_bg_contracts;
CREATE DATABASE regress_bg_contracts;
\c regress_bg_contracts
CREATE EXTENSION bluegreen;
RESET client_min_messages;
SET bluegreen.show_timing = off;

CREATE SCHEMA raw;
CREATE TABLE raw.items (id integer, name text, price numeric(10, 2), sold_at timestamp);
INSERT INTO raw.items VALUES (1, 'pen', 1.50, '2025-01-01 10:00'), (2, 'notebook', 4.25, '2025-01-02 11:30');
GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
GRANT SELECT ON raw.items TO bluegreen_builder;

-- model(): a model of project "ct" in schema mart; with columns, its contract is
-- enforced. ct(): the manifest of dbt compile, version 1 (the model "base") with more.
CREATE FUNCTION model(name text, code text, materialized text DEFAULT 'table',
                      columns jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('model.ct.' || name, jsonb_build_object(
    'unique_id', 'model.ct.' || name, 'resource_type', 'model', 'package_name', 'ct',
    'name', name, 'path', name || '.sql', 'original_file_path', 'models/' || name || '.sql',
    'fqn', jsonb_build_array('ct', name), 'database', current_database(),
    'schema', 'mart', 'alias', name,
    'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(code)),
    'config', jsonb_build_object('enabled', true, 'materialized', materialized,
                                 'contract', jsonb_build_object('enforced', columns IS NOT NULL)),
    'unrendered_config', jsonb_build_object('materialized', materialized),
    'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
    'columns', coalesce((SELECT jsonb_object_agg(key, jsonb_build_object('name', key) || value)
                           FROM jsonb_each(columns)), '{}'::jsonb),
    'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes', '[]'::jsonb),
    'contract', jsonb_build_object('enforced', columns IS NOT NULL, 'checksum', md5(coalesce(columns::text, ''))),
    'constraints', '[]'::jsonb,
    'access', 'protected', 'version', NULL, 'latest_version', NULL, 'deprecation_date', NULL))
$$;
CREATE FUNCTION ct(nodes jsonb DEFAULT '{}') RETURNS text LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.11.0', 'project_name', 'ct', 'adapter_type', 'postgres'),
    'nodes', model('base', 'select 1 as one', 'view') || nodes,
    'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb, 'docs', '{}'::jsonb,
    'exposures', '{}'::jsonb, 'metrics', '{}'::jsonb, 'groups', '{}'::jsonb,
    'selectors', '{}'::jsonb, 'semantic_models', '{}'::jsonb, 'unit_tests', '{}'::jsonb,
    'saved_queries', '{}'::jsonb)::text
$$;
CREATE SCHEMA mart;
CREATE VIEW mart.base AS SELECT 1 AS one;
SET client_min_messages = warning;
CALL bg.transfer_ownership('mart');
RESET client_min_messages;
CALL bg.create_project(ct());

--
-- The usual case: the code yields text, the contract says varchar. dbt builds it, and
-- so does bluegreen: the table has the contract's types, filled from the code.
--
CALL bg.deploy(ct(model('items', 'select id, name, price from raw.items', 'table', '{
    "id": {"data_type": "int"},
    "name": {"data_type": "varchar(20)"},
    "price": {"data_type": "numeric(12,4)"}}')));
SELECT attname, format_type(atttypid, atttypmod) AS type
  FROM pg_attribute
 WHERE attrelid = 'mart__bg_shadow.items'::regclass AND attnum > 0 ORDER BY attnum;
SELECT * FROM mart__bg_shadow.items ORDER BY id;

-- The check passes on kinds of type, the table is made with the contract's: a value
-- too long for varchar(4) fails the INSERT, as it fails dbt's.
CALL bg.deploy(ct(model('items', 'select id, name from raw.items', 'table', '{
    "id": {"data_type": "integer"}, "name": {"data_type": "varchar(4)"}}')));

--
-- What dbt accepts and refuses, type by type: model "m" is `select cast(null as <code>)
-- as c`, its contract column c has data_type <contract>. A domain over text counts as
-- text; uuid, inet and cidr are types psycopg2 does not know, each matching only itself.
--
CREATE DOMAIN raw.label AS text;
CREATE FUNCTION outcome(code_type text, contract_type text, materialized text DEFAULT 'table')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
    built text;
BEGIN
    SET LOCAL client_min_messages = warning;
    EXECUTE 'CALL bg.deploy($1)'
      USING ct(model('m', format('select cast(null as %s) as c', code_type), materialized,
                     jsonb_build_object('c', jsonb_build_object('data_type', contract_type))));
    SELECT format_type(atttypid, atttypmod) INTO built
      FROM pg_attribute WHERE attrelid = 'mart__bg_shadow.m'::regclass AND attname = 'c';
    RETURN 'built, c ' || built;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN 'refused: ' || detail;
END
$$;
SELECT code, contract, outcome(code, contract)
  FROM (VALUES ('text', 'varchar'), ('text', 'character varying(10)'), ('varchar(3)', 'text'),
               ('text', 'char(2)'), ('name', 'text'), ('raw.label', 'text'),
               ('smallint', 'integer'), ('int4', 'int'), ('integer', 'bigint'),
               ('bigint', 'int8'), ('real', 'double precision'),
               ('numeric', 'numeric(10,2)'), ('numeric(5,1)', 'decimal(20,6)'),
               ('integer', 'numeric'), ('double precision', 'numeric'),
               ('timestamp', 'timestamp(0)'), ('timestamp', 'timestamp without time zone'),
               ('timestamptz', 'timestamp'), ('time', 'timetz'), ('date', 'timestamp'),
               ('boolean', 'bool'), ('jsonb', 'json'), ('text[]', 'varchar[]'),
               ('int[]', 'bigint[]'), ('uuid', 'uuid'), ('uuid', 'text'), ('inet', 'cidr'),
               ('text', 'string'))
       AS cases (code, contract);

-- data_type string is text: with contract.alias_types (the default) dbt translates it
-- as dbt-postgres's Column class says (STRING is TEXT). Without, it is no type.
CALL bg.deploy(ct(jsonb_set(model('items', 'select id, name from raw.items', 'table', '{
    "id": {"data_type": "integer"}, "name": {"data_type": "string"}}'),
    '{model.ct.items,config,contract,alias_types}', 'false')));

-- A view's contract is checked the same way; the view keeps the code's types.
SELECT outcome('text', 'varchar(5)', 'view') AS view_text_as_varchar,
       outcome('integer', 'bigint', 'view') AS view_integer_as_bigint;

--
-- Refused: the error names the model and every difference, by column name, as dbt's
-- table of mismatches does: a type of another kind, a contract column the code lacks,
-- a code column the contract lacks. Nothing is built.
--
CALL bg.deploy(ct(model('items', 'select id::bigint as id, name, sold_at from raw.items', 'table', '{
    "id": {"data_type": "integer"},
    "name": {"data_type": "text"},
    "price": {"data_type": "numeric(10,2)"}}')));
SELECT to_regclass('mart__bg_shadow.items') AS built;

--
-- Names. dbt matches columns by name, whatever their order, and writes a contract
-- column's name into its SQL as it is unless the column has quote: true, so PostgreSQL
-- folds a plain name to lower case: "Name" is the column name, in the table too. With
-- quote: true it is "Name", which the code must produce.
--
CALL bg.deploy(ct(model('items', 'select name, id from raw.items', 'table', '{
    "ID": {"data_type": "integer"}, "Name": {"data_type": "text"}}')));
SELECT attname FROM pg_attribute
 WHERE attrelid = 'mart__bg_shadow.items'::regclass AND attnum > 0 ORDER BY attnum;
CALL bg.deploy(ct(model('items', 'select id, name from raw.items', 'table', '{
    "id": {"data_type": "integer"}, "Name": {"data_type": "text", "quote": true}}')));
-- A name that is no identifier when written as it is (dbt's SQL would not parse) needs
-- quote: true.
CALL bg.deploy(ct(model('items', 'select id, name as "item name" from raw.items', 'table', '{
    "id": {"data_type": "integer"}, "item name": {"data_type": "text"}}')));
CALL bg.deploy(ct(model('items', 'select id, name as "item name" from raw.items', 'table', '{
    "id": {"data_type": "integer"}, "item name": {"data_type": "text", "quote": true}}')));

--
-- An incremental model's increment is checked against its contract on every run, as
-- dbt checks the temporary relation it builds the increment in.
--
CALL bg.deploy(ct(model('sales', 'select id, price::numeric(8,2) as price from raw.items', 'incremental', '{
    "id": {"data_type": "integer"}, "price": {"data_type": "numeric(10,2)"}}')));
CALL bg.promote();
CALL bg.deploy(ct(model('sales', 'select id, price::float8 as price from raw.items', 'incremental', '{
    "id": {"data_type": "integer"}, "price": {"data_type": "numeric(10,2)"}}')));
CALL bg.deploy(ct(model('sales', 'select id, price::numeric(6,1) as price from raw.items', 'incremental', '{
    "id": {"data_type": "integer"}, "price": {"data_type": "numeric(10,2)"}}')));
-- (version 1 live again for the next file)
CALL bg.abandon();
CALL bg.rollback();
