-- pgbench script of test/promote: a reader transaction over every live relation of the
-- project and the view outside it, as client code reads them: orders first, the view
-- outside the project next, stg_orders last (the reverse of the order in which promote
-- moves them). All must show one version, and summary's totals must be those of orders
-- and stg_orders; then the transaction counts itself in pt.seen_<version>. A mix makes it
-- divide by zero, and two versions in stg_orders make \gset fail: either way pgbench
-- reports the client aborted.
BEGIN;
SELECT min(version) AS o_version, count(*) AS o_rows, sum(amount) AS o_total FROM analytics.orders \gset
SELECT version AS s_version, n AS s_rows, total AS s_total FROM reporting.summary_v \gset
SELECT version AS g_version, count(*) AS g_rows, sum(amount) AS g_total FROM analytics.stg_orders GROUP BY version \gset
SELECT CASE WHEN ':o_version' = ':s_version' AND ':o_version' = ':g_version'
             AND :o_rows = :s_rows AND :o_rows = :g_rows
             AND :o_total = :s_total AND :o_total = :g_total
            THEN nextval('pt.seen_' || ':o_version') ELSE 1 / 0 END;
COMMIT;
