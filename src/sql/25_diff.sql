-- Blue against green: how the rows of each table a deployment replaces differ from the
-- live ones (src/diff.c). Recorded in bg.deployment_step.diff when a deployment is built,
-- shown in bg.deployment_diffs, computed again on demand by bg.diff.

-- The first few values an aggregate sees (the example keys of a diff).
CREATE FUNCTION bg.sample_step(internal, text) RETURNS internal
    LANGUAGE c CALLED ON NULL INPUT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'bg_sample_step';
CREATE FUNCTION bg.sample_final(internal) RETURNS text[]
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'bg_sample_final';
CREATE AGGREGATE bg.sample(text) (
    SFUNC = bg.sample_step, STYPE = internal, FINALFUNC = bg.sample_final
);
COMMENT ON FUNCTION bg.sample_step(internal, text) IS 'transition function of bg.sample';
COMMENT ON FUNCTION bg.sample_final(internal) IS 'final function of bg.sample';
COMMENT ON AGGREGATE bg.sample(text) IS 'the first few values it sees (at most 5, each cut to 200 bytes), sorted: the example keys of a diff';

-- A diff, in columns: one definition for bg.diff and bg.deployment_diffs.
CREATE FUNCTION bg.diff_columns(d jsonb,
    OUT key text[], OUT key_source text, OUT rows_live bigint, OUT rows_shadow bigint,
    OUT only_in_live bigint, OUT only_in_shadow bigint, OUT changed bigint,
    OUT changed_share numeric, OUT changed_columns jsonb, OUT columns_added text[],
    OUT columns_removed text[], OUT examples jsonb, OUT note text)
    LANGUAGE sql IMMUTABLE
    BEGIN ATOMIC
    SELECT
        CASE WHEN d OPERATOR(pg_catalog.->) 'key' OPERATOR(pg_catalog.=) 'null'::pg_catalog.jsonb THEN NULL
             ELSE ARRAY(SELECT pg_catalog.jsonb_array_elements_text(d OPERATOR(pg_catalog.->) 'key')) END,
        d OPERATOR(pg_catalog.->>) 'key_source',
        (d OPERATOR(pg_catalog.->>) 'rows_live')::bigint,
        (d OPERATOR(pg_catalog.->>) 'rows_shadow')::bigint,
        (d OPERATOR(pg_catalog.->>) 'only_in_live')::bigint,
        (d OPERATOR(pg_catalog.->>) 'only_in_shadow')::bigint,
        (d OPERATOR(pg_catalog.->>) 'changed')::bigint,
        pg_catalog.round(((d OPERATOR(pg_catalog.->>) 'only_in_live')::numeric
            OPERATOR(pg_catalog.+) COALESCE((d OPERATOR(pg_catalog.->>) 'changed')::numeric, 0))
            OPERATOR(pg_catalog./) NULLIF((d OPERATOR(pg_catalog.->>) 'rows_live')::numeric, 0), 4),
        CASE WHEN d OPERATOR(pg_catalog.->) 'changed_columns' OPERATOR(pg_catalog.=) 'null'::pg_catalog.jsonb THEN NULL
             ELSE d OPERATOR(pg_catalog.->) 'changed_columns' END,
        ARRAY(SELECT pg_catalog.jsonb_array_elements_text(d OPERATOR(pg_catalog.->) 'columns_added')),
        ARRAY(SELECT pg_catalog.jsonb_array_elements_text(d OPERATOR(pg_catalog.->) 'columns_removed')),
        d OPERATOR(pg_catalog.->) 'examples',
        d OPERATOR(pg_catalog.->>) 'note';
    END;
COMMENT ON FUNCTION bg.diff_columns(jsonb) IS 'a diff (bg.diff_relations, bg.deployment_diffs) in columns';

-- Any two relations compared, as the caller: key NULL matches rows by the first one's
-- primary key or unique index, '{}' compares whole rows.
CREATE FUNCTION bg.diff_relations(live regclass, shadow regclass, key text[] DEFAULT NULL)
    RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'bg_diff_relations';
COMMENT ON FUNCTION bg.diff_relations(regclass, regclass, text[]) IS
'how the rows of shadow differ from those of live, matched by key (NULL: live''s primary key or unique index; ''{}'': whole rows), as jsonb';

CREATE FUNCTION bg._diff_now(model text, project text,
    OUT unique_id text, OUT relation text, OUT diff jsonb)
    RETURNS SETOF record LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'bg_diff_now';
COMMENT ON FUNCTION bg._diff_now(text, text) IS 'the diffs behind bg.diff, as jsonb';

-- The project's built deployment against live, now.
CREATE FUNCTION bg.diff(model text DEFAULT NULL, project text DEFAULT NULL)
    RETURNS TABLE (unique_id text, relation text, key text[], key_source text,
                   rows_live bigint, rows_shadow bigint, only_in_live bigint,
                   only_in_shadow bigint, changed bigint, changed_share numeric,
                   changed_columns jsonb, columns_added text[], columns_removed text[],
                   examples jsonb, note text)
    LANGUAGE sql VOLATILE
    BEGIN ATOMIC
        SELECT n.unique_id, n.relation, c.key, c.key_source, c.rows_live, c.rows_shadow,
               c.only_in_live, c.only_in_shadow, c.changed, c.changed_share, c.changed_columns,
               c.columns_added, c.columns_removed, c.examples, c.note
          FROM bg._diff_now(model, project) AS n, bg.diff_columns(n.diff) AS c;
    END;
COMMENT ON FUNCTION bg.diff(text, text) IS
'for each table the project''s built deployment would replace (or one model): rows only in live, only in shadow and changed, matched by the model''s key, computed now';

-- The diffs recorded when each deployment was built.
CREATE VIEW bg.deployment_diffs AS
SELECT s.deployment_id,
       s.step,
       s.unique_id,
       pg_catalog.quote_ident(s.live_schema) OPERATOR(pg_catalog.||) '.'
           OPERATOR(pg_catalog.||) pg_catalog.quote_ident(s.live_name) AS relation,
       c.key, c.key_source, c.rows_live, c.rows_shadow, c.only_in_live, c.only_in_shadow,
       c.changed, c.changed_share, c.changed_columns, c.columns_added, c.columns_removed,
       c.examples, c.note,
       (s.diff OPERATOR(pg_catalog.->>) 'max_changed_share')::numeric AS max_changed_share
  FROM bg.deployment_step AS s, bg.diff_columns(s.diff) AS c
 WHERE s.diff IS NOT NULL;
COMMENT ON VIEW bg.deployment_diffs IS
'for each table a deployment replaced: rows only in live, only in shadow and changed, as measured when it was built';

REVOKE ALL ON FUNCTION bg.sample_step(internal, text), bg.sample_final(internal), bg.sample(text),
    bg.diff_columns(jsonb), bg.diff_relations(regclass, regclass, text[]),
    bg._diff_now(text, text), bg.diff(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bg.sample_step(internal, text), bg.sample_final(internal), bg.sample(text),
    bg.diff_columns(jsonb), bg.diff_relations(regclass, regclass, text[]),
    bg._diff_now(text, text), bg.diff(text, text) TO bluegreen_deployer;
GRANT SELECT ON bg.deployment_diffs TO bluegreen_deployer;
-- A deployment's diffs run as the builder (src/diff.c), which has no USAGE on schema bg
-- and so cannot name the aggregate itself.
GRANT EXECUTE ON FUNCTION bg.sample_step(internal, text), bg.sample_final(internal), bg.sample(text)
    TO bluegreen_builder;
