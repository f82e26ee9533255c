-- pgbench script of test/promote: one statement joining every live relation of the
-- project and the view outside it; the same checks as readers.sql.
SELECT CASE WHEN o.version = s.version AND o.version = g.version AND g.versions = 1
             AND o.n = s.n AND o.n = g.n AND o.total = s.total AND o.total = g.total
            THEN nextval('pt.seen_' || o.version) ELSE 1 / (g.versions * 0) END
  FROM (SELECT min(version) AS version, count(*) AS n, sum(amount) AS total FROM analytics.orders) AS o,
       reporting.summary_v AS s,
       (SELECT min(version) AS version, count(*) AS n, sum(amount) AS total,
               count(DISTINCT version) AS versions FROM analytics.stg_orders) AS g;
