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
