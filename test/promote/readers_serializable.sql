-- pgbench script of test/promote: readers.sql in a SERIALIZABLE transaction, whose
-- snapshot is taken at its first statement: the same checks, one snapshot for all.
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT min(version) AS o_version, count(*) AS o_rows, sum(amount) AS o_total FROM analytics.orders \gset
SELECT version AS s_version, n AS s_rows, total AS s_total FROM reporting.summary_v \gset
SELECT version AS g_version, count(*) AS g_rows, sum(amount) AS g_total FROM analytics.stg_orders GROUP BY version \gset
SELECT CASE WHEN ':o_version' = ':s_version' AND ':o_version' = ':g_version'
             AND :o_rows = :s_rows AND :o_rows = :g_rows
             AND :o_total = :s_total AND :o_total = :g_total
            THEN nextval('pt.seen_' || ':o_version') ELSE 1 / 0 END;
COMMIT;
