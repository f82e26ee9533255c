-- test/dump and test/upgrade: a database with a promoted deployment and a built one (their run).
-- test/upgrade runs it with 0.1.0, setting shop_reader to the role that read sources then.
SET client_min_messages = warning;
CREATE EXTENSION bluegreen;
\ir ../../sql/include/shop.sql

CREATE SCHEMA shop;
CREATE TABLE shop.orders AS SELECT id, amount, status FROM raw.orders;
CALL bg.transfer_ownership('shop');
SELECT shop(1) AS v1 \gset
CALL bg.create_project(:'v1');
SELECT shop(2) AS v2 \gset
CALL bg.deploy(:'v2');
CALL bg.promote() \gset
SELECT shop(4) AS v4 \gset
CALL bg.deploy(:'v4');
