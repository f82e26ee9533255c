-- Uninstalling (src/uninstall.c): DROP EXTENSION refused while bluegreen keeps side
-- schemas beside production; bg.uninstall() removes them and its state, and leaves
-- every live relation where it is (owned by the role bluegreen, which stays: roles are
-- the cluster's).

CREATE FUNCTION bg._guard_drop() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_guard_drop';
COMMENT ON FUNCTION bg._guard_drop() IS
'refuses DROP EXTENSION bluegreen (and DROP SCHEMA bg) while shadow, previous or rollback schemas exist';
CREATE EVENT TRIGGER bluegreen_guard_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
    EXECUTE FUNCTION bg._guard_drop();

-- (No SET clause: it would make the call atomic, and bg.abandon and bg.cleanup drop a
-- large project's relations in batches, committing between them. Every name below is
-- qualified.)
CREATE PROCEDURE bg.uninstall()
    LANGUAGE plpgsql
AS $uninstall$
DECLARE
    p record;
    s record;
    left_over text;
BEGIN
    -- what each project keeps beside production: unpromoted shadows, then every
    -- replaced relation (bg.cleanup drops nothing something else still reads)
    FOR p IN SELECT name FROM bg.project ORDER BY name LOOP
        CALL bg.abandon(p.name);
        CALL bg.cleanup(p.name, 0);
    END LOOP;
    FOR s IN SELECT n.nspname FROM pg_catalog.pg_namespace AS n
              WHERE n.nspowner OPERATOR(pg_catalog.=) 'bluegreen'::pg_catalog.regrole
                AND n.nspname OPERATOR(pg_catalog.~) '__bg_(shadow|p[0-9]+|r[0-9]+)$'
              ORDER BY 1 LOOP
        BEGIN
            EXECUTE pg_catalog.format('DROP SCHEMA %I', s.nspname);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            left_over := pg_catalog.concat_ws(', ', left_over, pg_catalog.quote_ident(s.nspname));
        END;
    END LOOP;
    IF left_over IS NOT NULL THEN
        RAISE EXCEPTION 'cannot uninstall bluegreen: these schemas still hold relations: %', left_over
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Something outside bluegreen still reads them (bg.cleanup above names it), or they hold objects bluegreen did not put there; drop or move that, then CALL bg.uninstall() again.';
    END IF;
    DELETE FROM bg.project;
    RAISE NOTICE 'bluegreen keeps nothing beside production now; every live relation stays, owned by role bluegreen'
        USING HINT = 'DROP EXTENSION bluegreen.';
END
$uninstall$;
COMMENT ON PROCEDURE bg.uninstall() IS
'drop every shadow, previous and rollback schema and bluegreen''s state, keeping every live relation; then DROP EXTENSION bluegreen goes through';
REVOKE ALL ON PROCEDURE bg.uninstall() FROM PUBLIC;
REVOKE ALL ON FUNCTION bg._guard_drop() FROM PUBLIC;
