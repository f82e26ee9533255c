--
-- bluegreen.model_search_path: the search_path under which model, test and hook code
-- runs, "pg_catalog, pg_temp" unless a superuser sets it. dbt qualifies every relation
-- it renders, but not the functions, operators and types the code names, which dbt's
-- own connection finds in public. When code fails because one of them lives in a
-- schema the setting leaves out, the error's hint says where it is and how to add that
-- schema; when it exists nowhere, there is no such hint.
--
-- This file goes on in the database of 56_contracts.sql, with its project "ct" (live:
-- the view base), and drops it at the end.
--
\c regress_bg_contracts
SET bluegreen.show_timing = off;
-- Deployments in this file are numbered from 101, whatever 56_contracts.sql did.
SELECT setval(pg_get_serial_sequence('bg.deployment', 'deployment_id'), 100);

-- Shims installed in public, as a project's setup scripts often leave them.
CREATE FUNCTION public.to_cents(amount numeric) RETURNS integer
    LANGUAGE sql IMMUTABLE AS 'SELECT (amount * 100)::integer';
CREATE DOMAIN public.cents AS integer CHECK (VALUE >= 0);
CREATE FUNCTION public.share_of(a numeric, b numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS 'SELECT round(a / b, 2)';
CREATE OPERATOR public.%/ (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = public.share_of);

-- A model calls to_cents: PostgreSQL finds no such function under the setting, and the
-- hint says that public holds one, and how to add public (or qualify the call).
CALL bg.deploy(ct(model('prices', 'select id, to_cents(price) as cents from raw.items')));
-- A type and an operator in public get the same hint; so does a contract's data_type.
CALL bg.deploy(ct(model('prices', 'select id, (price * 100)::integer::cents as cents from raw.items')));
CALL bg.deploy(ct(model('prices', 'select id, price %/ 10 as share from raw.items')));
CALL bg.deploy(ct(model('prices', 'select id, (price * 100)::integer as cents from raw.items', 'table',
                        '{"id": {"data_type": "integer"}, "cents": {"data_type": "cents"}}')));

-- A function that exists nowhere: PostgreSQL's own error and hint, nothing about the
-- setting.
CALL bg.deploy(ct(model('prices', 'select id, to_pennies(price) as cents from raw.items')));
-- Qualified, the call does not depend on the path.
CALL bg.deploy(ct(model('prices', 'select id, public.to_cents(price) as cents from raw.items')));

-- With public on the path (a superuser's setting: in PostgreSQL 15 only the database
-- owner may create in public, so nothing can be planted there), the model builds.
SET bluegreen.model_search_path = 'pg_catalog, public, pg_temp';
CALL bg.deploy(ct(model('prices', 'select id, to_cents(price) as cents, price %/ 10 as share from raw.items')));
SELECT * FROM mart__bg_shadow.prices ORDER BY id;
RESET bluegreen.model_search_path;

-- A schema the setting names, but that the builder may not use: the hint says so.
CREATE SCHEMA shims;
CREATE FUNCTION shims.to_dollars(cents integer) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS 'SELECT cents / 100.0';
SET bluegreen.model_search_path = 'pg_catalog, shims, pg_temp';
CALL bg.deploy(ct(model('prices', 'select id, to_dollars(id) as dollars from raw.items')));
GRANT USAGE ON SCHEMA shims TO bluegreen_builder;
CALL bg.deploy(ct(model('prices', 'select id, to_dollars(id) as dollars from raw.items')));
RESET bluegreen.model_search_path;
CALL bg.abandon();

\c contrib_regression
DROP DATABASE regress_bg_contracts;
