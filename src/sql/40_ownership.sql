-- Ownership transfer: hand a schema and every object in it to the owner role bluegreen,
-- in place (ALTER ... OWNER TO), after checking that the caller may (src/ownership.c).
-- A C procedure that switches user around the ALTER statements only, rather than
-- SECURITY DEFINER: the caller's rights are checked against the caller itself, and
-- privilege is raised for nothing else.

CREATE PROCEDURE bg.transfer_ownership(schema_name text, dry_run boolean DEFAULT false)
    LANGUAGE c AS 'MODULE_PATHNAME', 'bg_transfer_ownership';

COMMENT ON PROCEDURE bg.transfer_ownership(text, boolean) IS
'hand the schema (its name as stored, unquoted) and every object in it to the owner role bluegreen; the caller must own, or have the privileges of the owner of, each one; grants survive; dry_run prints the statements and changes nothing';

REVOKE ALL ON PROCEDURE bg.transfer_ownership(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE bg.transfer_ownership(text, boolean) TO bluegreen_deployer;
