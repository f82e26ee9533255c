--
-- Tables that feed logical replication. A publication sends what happens to a table's
-- rows; replacing the table by another sends nothing, so a table model whose live table
-- is published (FOR TABLE, FOR TABLES IN SCHEMA, FOR ALL TABLES) is built in full into
-- shadow and kept as its changes: the live rows to delete and the new rows to insert.
-- Promote applies them to the live table inside the switch, which keeps its OID, replica
-- identity, indexes and place in the publication; rollback applies them backwards.
-- (test/subscriber shows it with a real subscriber.)
--
-- This file works in a database of its own.
--
SELECT current_database() AS regress_database \gset
SET client_min_messages = warning;
CREATE DATABASE regress_bg_published;
\c regress_bg_published
CREATE EXTENSION bluegreen;
RESET client_min_messages;
SET bluegreen.show_timing = off;

\i sql/include/shop.sql

-- Version 1 live, with a primary key (its replica identity), published FOR TABLE.
CREATE SCHEMA shop;
CREATE TABLE shop.orders AS SELECT id, amount, status FROM raw.orders;
ALTER TABLE shop.orders ADD PRIMARY KEY (id);
SET client_min_messages = error;   -- (a warning on wal_level, which varies)
CREATE PUBLICATION regress_bg_feed FOR TABLE shop.orders;
CALL bg.transfer_ownership('shop');
RESET client_min_messages;
SELECT shop(1) AS v1 \gset
CALL bg.create_project(:'v1');
CREATE TEMP TABLE v1 AS SELECT 'shop.orders'::regclass::oid AS oid, (SELECT array_agg(o ORDER BY id) FROM shop.orders o) AS rows;

-- Version 2 is built in full, then kept as what changes: 1 row gone, 2 refunds at 0.
SELECT shop(2) AS v2 \gset
CALL bg.deploy(:'v2');
-- In shadow: the table as it will be (a view) and the changes; live is untouched.
SELECT c.relname, c.relkind, c.relpersistence
  FROM pg_class c WHERE c.relnamespace = 'shop__bg_shadow'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY 1;
SELECT count(*) AS live_rows FROM shop.orders;

-- The switch writes the live table's rows: a row whose key (the replica identity) stays
-- is updated, the others deleted or inserted; what it replaced and where it wrote are
-- kept for rollback.
SET client_min_messages = warning;
CALL bg.promote(dry_run => true) \gset dry_
RESET client_min_messages;
SELECT s AS statement FROM jsonb_array_elements_text(:'dry_plan'::jsonb -> 'statements') AS s
 WHERE s ~ '^(DELETE|INSERT|WITH|CREATE|ALTER PUBLICATION)';
CALL bg.promote() \gset
-- The same table, still published, with its replica identity, holding version 2's rows.
SELECT 'shop.orders'::regclass::oid = (SELECT oid FROM v1) AS same_table,
       (SELECT relreplident FROM pg_class WHERE oid = 'shop.orders'::regclass) AS replica_identity,
       (SELECT array_agg(prrelid::regclass) FROM pg_publication_rel) AS published;
SELECT * FROM shop.orders ORDER BY id;

-- Rollback applies the changes backwards (the updated rows updated back): version 1's
-- rows, in the same table.
CALL bg.rollback() \gset
SELECT 'shop.orders'::regclass::oid = (SELECT oid FROM v1) AS same_table,
       (SELECT array_agg(o ORDER BY id) FROM shop.orders o) = (SELECT rows FROM v1) AS version_1_rows;

-- A column added to a published table: its subscribers would stop on the first change
-- they cannot place. Breaking, saying what they must do first.
SELECT shop(3) AS v3 \gset
CALL bg.deploy(:'v3');
CALL bg.promote();
-- With force the table is replaced, as any other, and the new one takes the old one's
-- place in the publication; its subscribers keep the old rows until they copy it again.
SET client_min_messages = warning;
CALL bg.promote(dry_run => true, force => true) \gset dry_
RESET client_min_messages;
SELECT s AS statement FROM jsonb_array_elements_text(:'dry_plan'::jsonb -> 'statements') AS s
 WHERE s ~ 'PUBLICATION';
SET client_min_messages = warning;
CALL bg.promote(force => true) \gset
RESET client_min_messages;
-- Rolling that back replaces the published table once more: it warns (rollback has no
-- force to ask for) that its subscribers receive nothing of it.
CALL bg.rollback() \gset
SELECT 'shop.orders'::regclass::oid = (SELECT oid FROM v1) AS same_table_again,
       (SELECT array_agg(prrelid::regclass) FROM pg_publication_rel) AS published;

-- A publication that does not send all of what promote writes (here updates), or one
-- with a row filter on the table, could not carry the changes as they are: the table is
-- replaced, which is breaking, and says why.
SET client_min_messages = error;
CREATE PUBLICATION regress_bg_inserts FOR TABLE shop.orders WITH (publish = 'insert, delete');
RESET client_min_messages;
CALL bg.deploy(:'v2');
CALL bg.abandon();
DROP PUBLICATION regress_bg_inserts;
SET client_min_messages = error;
CREATE PUBLICATION regress_bg_filtered FOR TABLE shop.orders WHERE (id > 2);
RESET client_min_messages;
CALL bg.deploy(:'v2');
CALL bg.abandon();
DROP PUBLICATION regress_bg_filtered;

-- A second unique index: an UPDATE of one row could meet the old value of another
-- midway (two rows trading a value), which deleting first and inserting after never
-- does, so the rows are deleted and inserted.
CREATE UNIQUE INDEX orders_id_status ON shop.orders (id, status);
CALL bg.deploy(:'v2');
SET client_min_messages = warning;
CALL bg.promote(dry_run => true) \gset dry_
RESET client_min_messages;
SELECT s ~ '^WITH up AS \(UPDATE' AS updates, s ~ '^WITH gone AS \(DELETE' AS deletes
  FROM jsonb_array_elements_text(:'dry_plan'::jsonb -> 'statements') AS s
 WHERE s ~ '^WITH (up|gone)';
CALL bg.abandon();
DROP INDEX shop.orders_id_status;

-- A deployment that dbt builds would create its shadow tables logged: under FOR ALL
-- TABLES it is refused before anything is recorded.
SET client_min_messages = error;
CREATE PUBLICATION regress_bg_everything FOR ALL TABLES;
RESET client_min_messages;
CALL bg.deploy_begin(:'v2');
DROP PUBLICATION regress_bg_everything;

-- Under FOR ALL TABLES every permanent table is published the moment it exists, shadow
-- ones too: shadow tables are built unlogged (never published), and a new table that
-- will come live as it is is set logged once built, which sends nothing.
SET client_min_messages = error;
CREATE PUBLICATION regress_bg_everything FOR ALL TABLES;
RESET client_min_messages;
SELECT shop(4) AS v4 \gset
CALL bg.deploy(:'v4');
SELECT c.relname, c.relkind, c.relpersistence
  FROM pg_class c WHERE c.relnamespace = 'shop__bg_shadow'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY 1;
-- The deletions of an unlogged set hold a marker row (ctid (0,0)): a crash or a
-- failover empties unlogged tables, and promote then refuses rather than apply nothing.
TRUNCATE shop__bg_shadow.__bg_delete_1;
CALL bg.promote();
-- The same for what promote kept for rollback (unlogged too, with its marker).
CALL bg.deploy(:'v4');
CALL bg.promote() \gset
SELECT c.relname, c.relpersistence FROM pg_class c
 WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname ~ '^shop__bg_p' ORDER BY oid DESC LIMIT 1)
   AND c.relname LIKE '\_\_bg\_%' ORDER BY 1;
SELECT format('TRUNCATE %I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname ~ '^shop__bg_p' AND c.relname LIKE '\_\_bg\_inserted\_%' \gexec
CALL bg.rollback();

\c :regress_database
SET client_min_messages = warning;
DROP DATABASE regress_bg_published;
