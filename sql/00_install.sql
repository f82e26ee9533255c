--
-- Installing bluegreen: what CREATE EXTENSION creates, and who may use it.
--
CREATE EXTENSION bluegreen;

-- The extension lives in the schema bg and cannot be moved.
SELECT extname, extnamespace::regnamespace AS schema, extrelocatable
  FROM pg_extension WHERE extname = 'bluegreen';

-- Three roles (created when missing; roles are cluster-wide and outlive the extension):
--   bluegreen           the owner role: owns managed schemas and relations, runs no
--                       manifest SQL; never a superuser, cannot log in
--   bluegreen_builder   runs manifest SQL; owns only what it builds in shadow
--   bluegreen_deployer  may call the procedures that change things
SELECT rolname, rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls
  FROM pg_roles
 WHERE rolname IN ('bluegreen', 'bluegreen_builder', 'bluegreen_deployer')
 ORDER BY rolname;

-- The interface for registering a project and planning a deployment, with the comments
-- \df+ shows.
\x on
SELECT p.proname AS name,
       CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'f' THEN 'function' ELSE p.prokind::text END AS kind,
       pg_get_function_arguments(p.oid) AS arguments,
       CASE WHEN p.prokind = 'p' THEN NULL ELSE pg_get_function_result(p.oid) END AS returns,
       obj_description(p.oid, 'pg_proc') AS description
  FROM pg_proc AS p
 WHERE p.pronamespace = 'bg'::regnamespace
   AND p.proname IN ('create_project', 'plan', 'plan_json')
 ORDER BY p.proname, pg_get_function_identity_arguments(p.oid);
\x off

-- The view of registered projects.
SELECT obj_description('bg.projects'::regclass, 'pg_class') AS description;
SELECT attname AS column, format_type(atttypid, atttypmod) AS type
  FROM pg_attribute
 WHERE attrelid = 'bg.projects'::regclass AND attnum > 0
 ORDER BY attnum;

-- Every procedure and function of schema bg has a comment: none is listed here.
SELECT p.oid::regprocedure AS undocumented
  FROM pg_proc AS p
 WHERE p.pronamespace = 'bg'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL;

-- EXECUTE is not granted to PUBLIC: a role that was granted nothing may call nothing of
-- schema bg (none is listed here) ...
CREATE ROLE regress_bg_stranger;
SELECT p.oid::regprocedure AS callable_by_anyone
  FROM pg_proc AS p
 WHERE p.pronamespace = 'bg'::regnamespace
   AND has_function_privilege('regress_bg_stranger', p.oid, 'EXECUTE');
-- ... in particular not these.
SELECT has_function_privilege('regress_bg_stranger', 'bg.create_project(text, text)', 'EXECUTE') AS create_project_text,
       has_function_privilege('regress_bg_stranger', 'bg.create_project(jsonb, text)', 'EXECUTE') AS create_project_jsonb,
       has_function_privilege('regress_bg_stranger', 'bg.plan(text, text)', 'EXECUTE') AS plan_text,
       has_function_privilege('regress_bg_stranger', 'bg.plan(jsonb, text)', 'EXECUTE') AS plan_jsonb;

-- A deployer may call them.
SELECT p.oid::regprocedure AS routine,
       has_function_privilege('bluegreen_deployer', p.oid, 'EXECUTE') AS deployer
  FROM pg_proc AS p
 WHERE p.pronamespace = 'bg'::regnamespace
   AND p.proname IN ('create_project', 'plan', 'plan_json')
 ORDER BY p.oid::regprocedure::text;

-- The stranger may not read or write bluegreen's tables and views either (none is listed
-- here).
SELECT c.oid::regclass AS readable_by_anyone
  FROM pg_class AS c
 WHERE c.relnamespace = 'bg'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
   AND has_table_privilege('regress_bg_stranger', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE');

-- A deployer may read bg.projects, but may write none of bluegreen's tables (none is
-- listed here): history and live state are written only by bluegreen's own procedures.
SELECT has_table_privilege('bluegreen_deployer', 'bg.projects', 'SELECT') AS deployer_reads_projects;
SELECT c.oid::regclass AS writable_by_deployers
  FROM pg_class AS c
 WHERE c.relnamespace = 'bg'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
   AND has_table_privilege('bluegreen_deployer', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE');

-- The stranger trying anyway.
SET ROLE regress_bg_stranger;
CALL bg.create_project('{}');
SELECT * FROM bg.plan('{}');
RESET ROLE;

DROP ROLE regress_bg_stranger;
