--
-- bg.transfer_ownership(schema_name, dry_run): hand a schema and every object in it to
-- the owner role bluegreen, in place (ALTER ... OWNER TO), keeping every grant.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS bluegreen;
RESET client_min_messages;

-- The cast of this file:
--   alice     a deployer who built the schema sales_mart
--   team      a group alice belongs to; it owns a few of the objects
--   bob       another deployer, with objects of his own
--   carol     a deployer who owns nothing
--   reader    reads sales_mart
--   stranger  not a deployer
CREATE ROLE regress_bg_xfer_alice;
CREATE ROLE regress_bg_xfer_team;
CREATE ROLE regress_bg_xfer_bob;
CREATE ROLE regress_bg_xfer_carol;
CREATE ROLE regress_bg_xfer_reader;
CREATE ROLE regress_bg_xfer_stranger;
GRANT bluegreen_deployer TO regress_bg_xfer_alice, regress_bg_xfer_bob, regress_bg_xfer_carol;
GRANT regress_bg_xfer_team TO regress_bg_xfer_alice;

-- Owners of everything in a schema, by name. Indexes and owned sequences are shown too:
-- they follow their table by themselves. (Not shown: array types and tables' row types,
-- which follow too, and the constructor functions of range types, which PostgreSQL
-- makes part of the type and gives to the bootstrap superuser.)
CREATE TEMP VIEW xfer_owners AS
SELECT n.nspname AS schema, pg_describe_object(o.classid, o.objid, 0) AS object,
       pg_get_userbyid(o.owner) AS owner
  FROM pg_namespace AS n
  CROSS JOIN LATERAL (
        SELECT 'pg_namespace'::regclass, n.oid, n.nspowner
  UNION ALL SELECT 'pg_class'::regclass, c.oid, c.relowner FROM pg_class AS c
             WHERE c.relnamespace = n.oid AND c.relkind <> 'c'
  UNION ALL SELECT 'pg_type'::regclass, t.oid, t.typowner FROM pg_type AS t
             WHERE t.typnamespace = n.oid AND t.typcategory <> 'A'
               AND (t.typrelid = 0 OR t.typtype = 'c' AND
                    (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  UNION ALL SELECT 'pg_proc'::regclass, p.oid, p.proowner FROM pg_proc AS p
             WHERE p.pronamespace = n.oid
               AND NOT EXISTS (SELECT FROM pg_depend AS d
                                WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                  AND d.deptype = 'i')
  UNION ALL SELECT 'pg_operator'::regclass, op.oid, op.oprowner FROM pg_operator AS op
             WHERE op.oprnamespace = n.oid
  UNION ALL SELECT 'pg_opclass'::regclass, oc.oid, oc.opcowner FROM pg_opclass AS oc
             WHERE oc.opcnamespace = n.oid
  UNION ALL SELECT 'pg_opfamily'::regclass, f.oid, f.opfowner FROM pg_opfamily AS f
             WHERE f.opfnamespace = n.oid
  UNION ALL SELECT 'pg_collation'::regclass, co.oid, co.collowner FROM pg_collation AS co
             WHERE co.collnamespace = n.oid
  UNION ALL SELECT 'pg_conversion'::regclass, cv.oid, cv.conowner FROM pg_conversion AS cv
             WHERE cv.connamespace = n.oid
  UNION ALL SELECT 'pg_ts_dict'::regclass, d.oid, d.dictowner FROM pg_ts_dict AS d
             WHERE d.dictnamespace = n.oid
  UNION ALL SELECT 'pg_ts_config'::regclass, tc.oid, tc.cfgowner FROM pg_ts_config AS tc
             WHERE tc.cfgnamespace = n.oid
  UNION ALL SELECT 'pg_statistic_ext'::regclass, s.oid, s.stxowner FROM pg_statistic_ext AS s
             WHERE s.stxnamespace = n.oid
  ) AS o (classid, objid, owner);

-- A foreign server for the foreign table (a wrapper with no handler is enough to own one).
CREATE FOREIGN DATA WRAPPER regress_bg_xfer_fdw;
CREATE SERVER regress_bg_xfer_server FOREIGN DATA WRAPPER regress_bg_xfer_fdw;
GRANT USAGE ON FOREIGN SERVER regress_bg_xfer_server TO regress_bg_xfer_alice;

CREATE SCHEMA sales_mart AUTHORIZATION regress_bg_xfer_alice;

-- One object of each kind, built by alice.
SET ROLE regress_bg_xfer_alice;
CREATE TYPE sales_mart.order_status AS ENUM ('open', 'paid', 'shipped');
CREATE DOMAIN sales_mart.amount AS numeric(12, 2) CHECK (VALUE >= 0);
CREATE TYPE sales_mart.price_band AS RANGE (subtype = numeric);
CREATE TYPE sales_mart.address AS (street text, city text);
CREATE TABLE sales_mart.customers (
    customer_id serial PRIMARY KEY,
    name text NOT NULL,
    address sales_mart.address
);
CREATE TABLE sales_mart.orders (
    order_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id integer REFERENCES sales_mart.customers,
    status sales_mart.order_status NOT NULL DEFAULT 'open',
    total sales_mart.amount NOT NULL
);
CREATE INDEX orders_customer_idx ON sales_mart.orders (customer_id);
CREATE TABLE sales_mart.events (at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE sales_mart.events_2024 PARTITION OF sales_mart.events
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE sales_mart.events_2025 PARTITION OF sales_mart.events
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE SEQUENCE sales_mart.invoice_numbers;
CREATE VIEW sales_mart.order_totals AS
    SELECT customer_id, sum(total) AS total FROM sales_mart.orders GROUP BY customer_id;
CREATE MATERIALIZED VIEW sales_mart.status_counts AS
    SELECT status, count(*) AS orders FROM sales_mart.orders GROUP BY status;
CREATE FOREIGN TABLE sales_mart.legacy_orders (order_id integer)
    SERVER regress_bg_xfer_server;
CREATE FUNCTION sales_mart.with_tax(sales_mart.amount, rate numeric DEFAULT 0.2)
    RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT $1 * (1 + $2)';
CREATE PROCEDURE sales_mart.close_order(bigint)
    LANGUAGE sql AS $$UPDATE sales_mart.orders SET status = 'shipped' WHERE order_id = $1$$;
CREATE AGGREGATE sales_mart.total_of(sales_mart.amount) (sfunc = numeric_add, stype = numeric);
CREATE AGGREGATE sales_mart.how_many(*) (sfunc = int8inc, stype = bigint, initcond = '0');
CREATE OPERATOR sales_mart.%% (leftarg = sales_mart.amount, rightarg = numeric,
    function = sales_mart.with_tax);
CREATE COLLATION sales_mart.byte_order FROM "C";
CREATE CONVERSION sales_mart.latin1_to_utf8 FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
CREATE TEXT SEARCH DICTIONARY sales_mart.plain (TEMPLATE = pg_catalog.simple);
CREATE TEXT SEARCH CONFIGURATION sales_mart.plain (COPY = pg_catalog.simple);
CREATE STATISTICS sales_mart.orders_by_customer_status ON customer_id, status
    FROM sales_mart.orders;
INSERT INTO sales_mart.customers (name) VALUES ('Ada'), ('Grace');
INSERT INTO sales_mart.orders (customer_id, total) VALUES (1, 10), (1, 5.5), (2, 7);
REFRESH MATERIALIZED VIEW sales_mart.status_counts;
-- the reader may read the orders and the view (which will belong to alice's group)
GRANT USAGE ON SCHEMA sales_mart TO regress_bg_xfer_reader;
GRANT SELECT ON sales_mart.orders, sales_mart.order_totals TO regress_bg_xfer_reader;
GRANT SELECT ON sales_mart.orders TO regress_bg_xfer_team;
RESET ROLE;

-- Two objects belong to alice's group; an operator class and family need a superuser to
-- create; a function belongs to an extension installed into the schema.
ALTER VIEW sales_mart.order_totals OWNER TO regress_bg_xfer_team;
ALTER TYPE sales_mart.price_band OWNER TO regress_bg_xfer_team;
CREATE OPERATOR CLASS sales_mart.int4_plain_ops FOR TYPE integer USING hash AS
    OPERATOR 1 =, FUNCTION 1 hashint4(integer);
ALTER OPERATOR CLASS sales_mart.int4_plain_ops USING hash OWNER TO regress_bg_xfer_alice;
ALTER OPERATOR FAMILY sales_mart.int4_plain_ops USING hash OWNER TO regress_bg_xfer_alice;
CREATE EXTENSION moddatetime SCHEMA sales_mart;

SELECT object, owner FROM xfer_owners WHERE schema = 'sales_mart' ORDER BY object COLLATE "C";

-- The reader reads the orders, and through the view.
SET ROLE regress_bg_xfer_reader;
SELECT order_id, status, total FROM sales_mart.orders ORDER BY order_id;
SELECT * FROM sales_mart.order_totals ORDER BY customer_id;
RESET ROLE;

-- Dry run: every statement the call would run, in order, and nothing changes. The
-- caller's rights are checked as in a real run.
SET ROLE regress_bg_xfer_alice;
CALL bg.transfer_ownership('sales_mart', dry_run => true);
RESET ROLE;
SELECT count(*) AS owned_by_bluegreen FROM xfer_owners
 WHERE schema = 'sales_mart' AND owner = 'bluegreen';

-- The real run prints the same statements as it runs them, then a summary. alice may
-- hand over her group's objects too: she has the privileges of their owner.
SET ROLE regress_bg_xfer_alice;
CALL bg.transfer_ownership('sales_mart');
RESET ROLE;

-- Everything is bluegreen's now, but the extension's function; the indexes and the
-- owned sequences followed their tables.
SELECT object, owner FROM xfer_owners WHERE schema = 'sales_mart' ORDER BY object COLLATE "C";

-- Grants survive; bluegreen is now their grantor. The old owner's own privileges went
-- with the ownership.
SELECT nspname AS object, nspacl AS acl FROM pg_namespace WHERE nspname = 'sales_mart'
UNION ALL
SELECT relname, relacl FROM pg_class
 WHERE relnamespace = 'sales_mart'::regnamespace AND relacl IS NOT NULL
 ORDER BY 1;

-- The reader still reads, through the view too (now bluegreen's view of bluegreen's
-- table); writing was never granted.
SET ROLE regress_bg_xfer_reader;
SELECT order_id, status, total FROM sales_mart.orders ORDER BY order_id;
SELECT * FROM sales_mart.order_totals ORDER BY customer_id;
INSERT INTO sales_mart.orders (customer_id, total) VALUES (2, 1);
RESET ROLE;

-- The objects work as before under their new owner.
SELECT sales_mart.total_of(total), sales_mart.how_many(*), sales_mart.with_tax(10)
  FROM sales_mart.orders;
INSERT INTO sales_mart.orders (customer_id, total) VALUES (2, 1) RETURNING order_id;
INSERT INTO sales_mart.customers (name) VALUES ('Edsger') RETURNING customer_id;

-- Running it again is harmless: there is nothing left to hand over.
SET ROLE regress_bg_xfer_alice;
CALL bg.transfer_ownership('sales_mart');
CALL bg.transfer_ownership('sales_mart', dry_run => true);
RESET ROLE;

-- An object that arrived later is handed over on its own.
CREATE TABLE sales_mart.late_arrival (id integer);
ALTER TABLE sales_mart.late_arrival OWNER TO regress_bg_xfer_alice;
SET ROLE regress_bg_xfer_alice;
CALL bg.transfer_ownership('sales_mart');
RESET ROLE;

--
-- The caller must own every object, or have the privileges of its owner. Otherwise
-- nothing changes, and the error names every object the caller may not hand over.
--
CREATE SCHEMA sales_archive AUTHORIZATION regress_bg_xfer_alice;
GRANT USAGE, CREATE ON SCHEMA sales_archive TO regress_bg_xfer_bob;
SET ROLE regress_bg_xfer_alice;
CREATE TABLE sales_archive.orders_2023 (order_id bigint);
CREATE VIEW sales_archive.recent AS SELECT * FROM sales_archive.orders_2023;
SET ROLE regress_bg_xfer_bob;
CREATE TABLE sales_archive.refunds (refund_id bigint);
CREATE FUNCTION sales_archive.refund_total() RETURNS bigint
    LANGUAGE sql AS 'SELECT count(*) FROM sales_archive.refunds';
RESET ROLE;
CREATE TYPE sales_archive.region AS ENUM ('north', 'south');

-- alice owns part of it: bob's objects and the superuser's type are in her way.
SET ROLE regress_bg_xfer_alice;
CALL bg.transfer_ownership('sales_archive');
-- bob owns part of it too: alice's objects, the schema itself and the type stop him.
SET ROLE regress_bg_xfer_bob;
CALL bg.transfer_ownership('sales_archive');
-- carol owns nothing in it.
SET ROLE regress_bg_xfer_carol;
CALL bg.transfer_ownership('sales_archive');
CALL bg.transfer_ownership('sales_archive', dry_run => true);
RESET ROLE;
-- Nothing changed.
SELECT object, owner FROM xfer_owners WHERE schema = 'sales_archive' ORDER BY object COLLATE "C";

-- A superuser may hand over anything.
CALL bg.transfer_ownership('sales_archive');
SELECT object, owner FROM xfer_owners WHERE schema = 'sales_archive' ORDER BY object COLLATE "C";

-- A long list is cut at 50 objects.
CREATE SCHEMA sales_bulk AUTHORIZATION regress_bg_xfer_bob;
SET ROLE regress_bg_xfer_bob;
DO $$
BEGIN
    FOR i IN 1..60 LOOP
        EXECUTE format('CREATE TABLE sales_bulk.%I (id integer)', 't' || lpad(i::text, 2, '0'));
    END LOOP;
END
$$;
SET ROLE regress_bg_xfer_carol;
CALL bg.transfer_ownership('sales_bulk');
RESET ROLE;

-- Only deployers may call it at all: others may not use schema bg, and even with USAGE
-- on it they may not execute the procedure.
SET ROLE regress_bg_xfer_stranger;
CALL bg.transfer_ownership('sales_mart');
RESET ROLE;
GRANT USAGE ON SCHEMA bg TO regress_bg_xfer_stranger;
SET ROLE regress_bg_xfer_stranger;
CALL bg.transfer_ownership('sales_mart');
CALL bg.transfer_ownership('sales_mart', dry_run => true);
RESET ROLE;
REVOKE USAGE ON SCHEMA bg FROM regress_bg_xfer_stranger;

--
-- Which schemas: one that exists, is not a system schema, does not belong to an
-- extension, and is not named as bluegreen names the schemas it keeps beside production
-- (handed over, one would be taken for a shadow, previous or rollback schema). The name
-- is given as stored, without quotes.
--
CREATE SCHEMA sales_mart__bg_p7;
CALL bg.transfer_ownership('sales_mart__bg_p7');
CALL bg.transfer_ownership('sales_mart__bg_shadow');
DROP SCHEMA sales_mart__bg_p7;
CALL bg.transfer_ownership('no_such_schema');
CALL bg.transfer_ownership('pg_catalog');
CALL bg.transfer_ownership('information_schema');
CALL bg.transfer_ownership('pg_toast');
CALL bg.transfer_ownership('pg_temp');
CALL bg.transfer_ownership('bg', dry_run => true);
CALL bg.transfer_ownership(NULL);
CALL bg.transfer_ownership('sales_mart', NULL);

--
-- Names that need quoting are quoted in every statement.
--
CREATE SCHEMA "Mixed Case" AUTHORIZATION regress_bg_xfer_alice;
CREATE SCHEMA "O'Brien ""Ltd""" AUTHORIZATION regress_bg_xfer_alice;
SET ROLE regress_bg_xfer_alice;
CREATE TABLE "Mixed Case"."Order Lines" ("Line" integer);
CREATE TYPE "Mixed Case"."Colour" AS ENUM ('red');
CREATE FUNCTION "Mixed Case"."Paint"("Mixed Case"."Colour", text) RETURNS text
    LANGUAGE sql AS 'SELECT $2';
CREATE TABLE "O'Brien ""Ltd"""."it's ""here""" (x integer);
CREATE VIEW "O'Brien ""Ltd"""."select" AS SELECT 1 AS one;
-- the name as stored, not as an SQL identifier
CALL bg.transfer_ownership('"Mixed Case"');
CALL bg.transfer_ownership('Mixed Case', dry_run => true);
-- A hostile search_path changes nothing: bluegreen pins its own.
RESET ROLE;
CREATE SCHEMA xfer_hostile;
CREATE FUNCTION xfer_hostile.oideq(oid, oid) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked'; END$$;
CREATE OPERATOR xfer_hostile.= (leftarg = oid, rightarg = oid, function = xfer_hostile.oideq);
GRANT USAGE ON SCHEMA xfer_hostile TO PUBLIC;
SET ROLE regress_bg_xfer_alice;
SET search_path = xfer_hostile, pg_catalog;
SELECT 1::oid = 1::oid AS "an unpinned query is hijacked";
CALL bg.transfer_ownership('Mixed Case');
RESET search_path;
CALL bg.transfer_ownership('O''Brien "Ltd"');
RESET ROLE;
SELECT schema, object, owner FROM xfer_owners
 WHERE schema IN ('Mixed Case', 'O''Brien "Ltd"')
 ORDER BY schema COLLATE "C", object COLLATE "C";
SELECT "Mixed Case"."Paint"('red', 'still works');

-- Clean up.
SET client_min_messages = warning;
DROP SCHEMA sales_mart, sales_archive, sales_bulk, "Mixed Case",
    "O'Brien ""Ltd""", xfer_hostile CASCADE;
DROP SERVER regress_bg_xfer_server;
DROP FOREIGN DATA WRAPPER regress_bg_xfer_fdw;
DROP VIEW xfer_owners;
DROP ROLE regress_bg_xfer_alice, regress_bg_xfer_team, regress_bg_xfer_bob,
    regress_bg_xfer_carol, regress_bg_xfer_reader, regress_bg_xfer_stranger;
RESET client_min_messages;
