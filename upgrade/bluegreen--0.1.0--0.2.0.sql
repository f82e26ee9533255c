-- bluegreen 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION bluegreen UPDATE TO '0.2.0'" to load this file. \quit

-- A node's config, columns, constraints and test metadata are kept as dbt wrote them
-- (json), in dbt's key order: jsonb reordered a contract's columns. Rows stored by 0.1.0
-- keep jsonb's order, which is all that is left of them.
ALTER TABLE bg.node
    ALTER COLUMN config TYPE json USING config::json,
    ALTER COLUMN columns TYPE json USING columns::json,
    ALTER COLUMN constraints TYPE json USING constraints::json,
    ALTER COLUMN test_metadata TYPE json USING test_metadata::json;
