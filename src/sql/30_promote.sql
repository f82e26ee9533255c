-- Promote, rollback, cleanup: switch a built deployment live in one transaction, switch
-- back, and drop what was replaced once it is no longer wanted (src/promote.c).
-- Each returns (INOUT plan) the statements it ran, or would run with dry_run, as JSON.

CREATE PROCEDURE bg.promote(dry_run boolean DEFAULT false, project text DEFAULT NULL,
                            force boolean DEFAULT false, INOUT plan jsonb DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_promote';
COMMENT ON PROCEDURE bg.promote(boolean, text, boolean, jsonb) IS
'switch the built deployment live in one transaction: replaced relations move to previous (kept for rollback), dependents outside the project are re-pointed; dry_run prints every statement and changes nothing; force promotes a breaking deployment';

CREATE PROCEDURE bg.rollback(project text DEFAULT NULL, dry_run boolean DEFAULT false,
                             INOUT plan jsonb DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_rollback';
COMMENT ON PROCEDURE bg.rollback(text, boolean, jsonb) IS
'switch the latest promoted deployment back in one transaction: the relations it replaced are live again, and so is the manifest before it';

CREATE PROCEDURE bg.cleanup(project text DEFAULT NULL, keep integer DEFAULT 1,
                            older_than interval DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_cleanup';
COMMENT ON PROCEDURE bg.cleanup(text, integer, interval) IS
'drop the relations replaced by promotes past retention: all but the newest keep promotes, and those promoted longer ago than older_than; best effort, reports what it could not drop';

REVOKE ALL ON PROCEDURE bg.promote(boolean, text, boolean, jsonb),
    bg.rollback(text, boolean, jsonb), bg.cleanup(text, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE bg.promote(boolean, text, boolean, jsonb),
    bg.rollback(text, boolean, jsonb), bg.cleanup(text, integer, interval) TO bluegreen_deployer;
