"""test/subscriber: tables that feed logical replication, with a real subscriber (run
starts a publisher with wal_level = logical and a subscriber, and passes them in
BG_PUB_HOST/PORT and BG_SUB_HOST/PORT).

The project, "feed": raw.orders (a source) -> analytics.orders (table; the DBA gave it a
primary key) -> marts.daily (table; primary key), marts.customers (table; no key,
REPLICA IDENTITY FULL) and analytics.order_list (a view); marts.events, an incremental
model (append; primary key). Two databases:

    each form   analytics.orders published FOR TABLE, schema marts FOR TABLES IN SCHEMA
    all tables  everything FOR ALL TABLES (bluegreen's own tables included, so the
                subscriber's database has the extension too)

In each: the subscriber subscribes before bluegreen takes over; then deploy (v2: new
values, rows gone, rows added), promote, rollback, promote again, cleanup, and a third
version that adds a column to a published table (refused, with what the subscriber must
do; abandoned). After every step: the subscriber caught up, every subscribed table equal
to the publisher's live one row for row, no apply error, the apply worker running and
the slot advancing; the published tables keep their OID and replica identity; the
changes applied are the ones bg.deployment_diffs reported.
"""
import json
import os
import sys
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from tap import check, note  # noqa: E402  (test/tap.py)
import tap  # noqa: E402

PUB = dict(host=os.environ["BG_PUB_HOST"], port=os.environ["BG_PUB_PORT"], user="postgres")
SUB = dict(host=os.environ["BG_SUB_HOST"], port=os.environ["BG_SUB_PORT"], user="postgres")


def connect(where, db):
    c = psycopg2.connect(dbname=db, **where)
    c.autocommit = True
    return c


def q(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args or None)
        return cur.fetchall() if cur.description else None


def one(conn, sql, *args):
    rows = q(conn, sql, *args)
    return rows[0][0] if rows else None


def call(conn, sql, *args):
    """Run a CALL; the NOTICEs and the error (None when it succeeded)."""
    del conn.notices[:]
    try:
        q(conn, sql, *args)
        err = None
    except psycopg2.Error as e:
        err = e
    return "".join(conn.notices), err


# ---------------------------------------------------------------------------------
# The project
# ---------------------------------------------------------------------------------
def model(db, name, schema, code, materialized="table", depends=(), config=None):
    cfg = {"enabled": True, "materialized": materialized}
    cfg.update(config or {})
    uid = "model.feed." + name
    return uid, {
        "unique_id": uid, "resource_type": "model", "package_name": "feed", "name": name,
        "path": name + ".sql", "original_file_path": "models/%s.sql" % name,
        "fqn": ["feed", name], "database": db, "schema": schema, "alias": name,
        "checksum": {"name": "sha256", "checksum": str(abs(hash(code)))},
        "config": cfg, "unrendered_config": {"materialized": materialized, **(config or {})},
        "raw_code": code, "compiled_code": code, "language": "sql", "description": "",
        "columns": {}, "depends_on": {"macros": [], "nodes": list(depends)},
        "contract": {"enforced": False, "checksum": None}, "constraints": [],
        "access": "protected", "version": None, "latest_version": None, "deprecation_date": None,
    }


def manifest(db, version):
    amount = "amount" if version == 1 else "case when status = 'refunded' then 0 else amount end as amount"
    extra = ", day" if version >= 3 else ""
    nodes = dict([
        model(db, "orders", "analytics",
              "select id, customer_id, %s, status%s from raw.orders where status <> 'cancelled'" % (amount, extra),
              depends=["source.feed.raw.orders"]),
        model(db, "daily", "marts",
              "select r.day, sum(o.amount) as total, count(*) as n from analytics.orders as o"
              " join raw.orders as r using (id) group by r.day" + ("" if version == 1 else " -- by day"),
              depends=["model.feed.orders", "source.feed.raw.orders"]),
        model(db, "customers", "marts",
              "select customer_id, count(*) as orders from analytics.orders group by 1",
              depends=["model.feed.orders"]),
        model(db, "order_list", "analytics", "select id, status from analytics.orders",
              materialized="view", depends=["model.feed.orders"]),
        model(db, "events", "marts",
              "select id, status from raw.orders where id > (select max(id) from marts.events)"
              + ("" if version == 1 else " and status <> 'cancelled'"),
              materialized="incremental", config={"incremental_strategy": "append"},
              depends=["source.feed.raw.orders"]),
    ])
    return json.dumps({
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                     "dbt_version": "1.9.4", "project_name": "feed", "adapter_type": "postgres"},
        "nodes": nodes,
        "sources": {"source.feed.raw.orders": {
            "unique_id": "source.feed.raw.orders", "resource_type": "source", "package_name": "feed",
            "source_name": "raw", "name": "orders", "fqn": ["feed", "raw", "orders"],
            "database": db, "schema": "raw", "identifier": "orders", "loaded_at_field": None,
            "freshness": {"warn_after": None, "error_after": None}, "quoting": {},
            "external": None, "description": "", "columns": {}, "config": {"enabled": True},
            "unrendered_config": {}}},
        "macros": {}, "disabled": {}, "docs": {}, "exposures": {}, "metrics": {}, "groups": {},
        "selectors": {}, "semantic_models": {}, "unit_tests": {}, "saved_queries": {}})


SCHEMA = """
CREATE SCHEMA raw; CREATE SCHEMA analytics; CREATE SCHEMA marts;
CREATE TABLE raw.orders (id integer PRIMARY KEY, customer_id integer, amount numeric, status text, day integer);
CREATE TABLE analytics.orders (id integer PRIMARY KEY, customer_id integer, amount numeric, status text);
CREATE TABLE marts.daily (day integer PRIMARY KEY, total numeric, n bigint);
CREATE TABLE marts.customers (customer_id integer, orders bigint);
ALTER TABLE marts.customers REPLICA IDENTITY FULL;
CREATE TABLE marts.events (id integer PRIMARY KEY, status text);
CREATE TABLE public.heartbeat (beat integer PRIMARY KEY);
"""

# version 1, as dbt would have built it
BUILD_V1 = """
INSERT INTO raw.orders SELECT i, i % 7, i * 10, (ARRAY['paid', 'refunded', 'cancelled', 'paid'])[1 + i % 4], i % 5
  FROM generate_series(1, 200) AS i;
INSERT INTO analytics.orders SELECT id, customer_id, amount, status FROM raw.orders WHERE status <> 'cancelled';
INSERT INTO marts.daily SELECT r.day, sum(o.amount), count(*) FROM analytics.orders o JOIN raw.orders r USING (id) GROUP BY r.day;
INSERT INTO marts.customers SELECT customer_id, count(*) FROM analytics.orders GROUP BY 1;
INSERT INTO marts.events SELECT id, status FROM raw.orders;
CREATE VIEW analytics.order_list AS SELECT id, status FROM analytics.orders;
"""

SUBSCRIBED = ["analytics.orders", "marts.daily", "marts.customers", "marts.events", "public.heartbeat"]
PUBLISHED = ["analytics.orders", "marts.daily", "marts.customers", "marts.events"]


def checksum(conn, table):
    return one(conn, "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '')"
                     " FROM %s AS t" % table)


def wait_caught_up(pub, sub, subname, timeout=30):
    """Until the subscription's slot has confirmed everything the publisher wrote (the
    subscriber applies changes in commit order, so the heartbeat's arrival, awaited
    first, means everything before it was applied)."""
    target = one(pub, "SELECT pg_current_wal_lsn()")
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = one(pub, "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
                   target, subname)
        if done:
            return True
        time.sleep(0.2)
    return False


def streaming(sub, subname):
    """(apply worker running, apply and sync errors)"""
    running = one(sub, "SELECT count(*) FROM pg_stat_subscription WHERE subname = %s AND pid IS NOT NULL AND relid IS NULL",
                  subname)
    errors = one(sub, "SELECT apply_error_count + sync_error_count FROM pg_stat_subscription_stats WHERE subname = %s",
                 subname)
    return running == 1, errors


def equal_after(label, pub, sub, subname, slot_before=None):
    # a heartbeat row, published: replication still streams when it arrives and the slot
    # moves past it
    beat = one(pub, "INSERT INTO public.heartbeat SELECT coalesce(max(beat), 0) + 1 FROM public.heartbeat RETURNING beat")
    deadline = time.time() + 30
    while time.time() < deadline and one(sub, "SELECT count(*) FROM public.heartbeat WHERE beat = %s", beat) == 0:
        time.sleep(0.1)
    caught = wait_caught_up(pub, sub, subname)
    diffs = []
    for t in SUBSCRIBED:
        a, b = checksum(pub, t), checksum(sub, t)
        if a != b:
            diffs.append("%s: publisher %s, subscriber %s" % (t, a, b))
    running, errors = streaming(sub, subname)
    slot = one(pub, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = %s", subname)
    advanced = slot_before is None or one(pub, "SELECT %s::pg_lsn > %s::pg_lsn", slot, slot_before)
    arrived = one(sub, "SELECT count(*) FROM public.heartbeat WHERE beat = %s", beat) == 1
    check("%s: the subscriber has every row the publisher has, and replication streams on" % label,
          caught and not diffs and running and errors == 0 and advanced and arrived,
          "caught up: %s; apply worker running: %s; apply/sync errors: %s; slot advanced: %s; heartbeat arrived: %s\n%s"
          % (caught, running, errors, advanced, arrived, "\n".join(diffs)))
    return slot


def identity(pub):
    return q(pub, "SELECT c.oid::regclass::text, c.oid, c.relreplident FROM pg_class c"
                  " WHERE c.oid = ANY (%s::regclass[]) ORDER BY 1", PUBLISHED)


def scenario(form, db):
    note("publication form: %s (database %s)" % (form, db))
    admin_pub, admin_sub = connect(PUB, "postgres"), connect(SUB, "postgres")
    q(admin_pub, "CREATE DATABASE %s" % db)
    q(admin_sub, "CREATE DATABASE %s" % db)
    pub, sub = connect(PUB, db), connect(SUB, db)
    q(pub, "CREATE EXTENSION bluegreen")
    q(pub, SCHEMA)
    q(pub, BUILD_V1)
    q(sub, SCHEMA)
    q(sub, "CREATE VIEW analytics.order_list AS SELECT id, status FROM analytics.orders")
    # what the subscriber receives for analytics.orders, change by change
    q(sub, "CREATE TABLE public.received (op text, id integer);"
           "CREATE FUNCTION public.receive() RETURNS trigger LANGUAGE plpgsql AS $$"
           " BEGIN INSERT INTO public.received VALUES (TG_OP, coalesce(NEW.id, OLD.id)); RETURN NULL; END $$;"
           "CREATE TRIGGER receive AFTER INSERT OR UPDATE OR DELETE ON analytics.orders"
           "  FOR EACH ROW EXECUTE FUNCTION public.receive();"
           "ALTER TABLE analytics.orders ENABLE ALWAYS TRIGGER receive")
    subname = "bgsub_" + form.replace(" ", "_")
    if form == "all tables":
        # every table is published, bluegreen's own too: the subscriber has them all
        q(sub, "CREATE EXTENSION bluegreen")
        q(pub, "CREATE PUBLICATION p_all FOR ALL TABLES")
        pubs = "p_all"
    else:
        q(pub, "CREATE PUBLICATION p_orders FOR TABLE analytics.orders, public.heartbeat")
        q(pub, "CREATE PUBLICATION p_marts FOR TABLES IN SCHEMA marts")
        pubs = "p_orders, p_marts"
    q(sub, "CREATE SUBSCRIPTION %s CONNECTION 'host=%s port=%s dbname=%s user=postgres' PUBLICATION %s"
           % (subname, PUB["host"], PUB["port"], db, pubs))
    # the initial copy
    deadline = time.time() + 30
    while time.time() < deadline and one(sub, "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'") != 0:
        time.sleep(0.2)
    slot = equal_after("%s, subscribed" % form, pub, sub, subname)

    q(pub, "SET client_min_messages = warning")
    for schema in ("analytics", "marts"):
        q(pub, "CALL bg.transfer_ownership(%s)", schema)
    q(pub, "GRANT USAGE ON SCHEMA raw TO bluegreen_builder; GRANT SELECT ON ALL TABLES IN SCHEMA raw TO bluegreen_builder")
    q(pub, "RESET client_min_messages")
    call(pub, "CALL bg.create_project(%s)", manifest(db, 1))
    ids = identity(pub)

    # the sources move on: new orders, one cancelled, one refunded
    q(pub, "INSERT INTO raw.orders SELECT i, i % 7, i * 10, 'paid', i % 5 FROM generate_series(201, 210) AS i;"
           "UPDATE raw.orders SET status = 'cancelled' WHERE id = 1; UPDATE raw.orders SET status = 'refunded' WHERE id = 5")
    slot = equal_after("%s, sources changed" % form, pub, sub, subname, slot)

    out, err = call(pub, "CALL bg.deploy(%s)", manifest(db, 2))
    check("%s: v2 is deployed, the published tables kept as their changes" % form,
          err is None and out.count("as its changes to the published table") >= 3 and "in place marts.events" in out,
          "%s\n%s" % (out, err))
    diffs = dict(q(pub, "SELECT relation, jsonb_build_object('only_in_live', only_in_live, 'only_in_shadow', only_in_shadow,"
                        " 'changed', changed) FROM bg.deployment_diffs"))
    slot = equal_after("%s, deployed (nothing published yet)" % form, pub, sub, subname, slot)
    check("%s: the subscriber still has v1 while v2 waits in shadow" % form,
          checksum(sub, "analytics.orders") == checksum(pub, "analytics.orders")
          and one(pub, "SELECT count(*) FROM analytics.orders WHERE id = 1") == 1)

    before = {t: checksum(pub, t) for t in PUBLISHED}
    q(sub, "TRUNCATE public.received")
    out, err = call(pub, "CALL bg.promote()")
    check("%s: promote" % form, err is None, "%s\n%s" % (out, err))
    slot = equal_after("%s, promoted" % form, pub, sub, subname, slot)
    check("%s: the published tables are the same tables, with their replica identity" % form,
          identity(pub) == ids, "%s\n%s" % (ids, identity(pub)))
    changed = [t for t in PUBLISHED if checksum(pub, t) != before[t]]
    check("%s: v2 is live on the subscriber too (order 1 gone, order 5 refunded at 0)" % form,
          one(sub, "SELECT count(*) FROM analytics.orders WHERE id = 1") == 0
          and one(sub, "SELECT amount FROM analytics.orders WHERE id = 5") == 0
          and one(sub, "SELECT count(*) FROM marts.events WHERE id > 200") == 10
          and "analytics.orders" in changed,
          "changed: %s" % changed)
    d = diffs.get("analytics.orders", {})
    check("%s: the diff recorded for analytics.orders is what changed" % form,
          d.get("only_in_live") == 1 and d.get("only_in_shadow") == 10 and d.get("changed", 0) >= 1,
          json.dumps(diffs))

    received = dict(q(sub, "SELECT op, count(*) FROM public.received GROUP BY op"))
    check("%s: the subscriber received each change once: a changed row as an UPDATE, a removed one as a DELETE, a new one as an INSERT" % form,
          received.get("UPDATE") == d.get("changed") and received.get("DELETE") == d.get("only_in_live")
          and received.get("INSERT") == d.get("only_in_shadow"),
          "received %s; the diff said %s" % (received, d))

    q(sub, "TRUNCATE public.received")
    out, err = call(pub, "CALL bg.rollback()")
    check("%s: rollback" % form, err is None, "%s\n%s" % (out, err))
    slot = equal_after("%s, rolled back" % form, pub, sub, subname, slot)
    check("%s: v1 is back on the subscriber" % form,
          one(sub, "SELECT count(*) FROM analytics.orders WHERE id = 1") == 1
          and one(sub, "SELECT count(*) FROM marts.events WHERE id > 200") == 0
          and all(checksum(sub, t) == before[t] for t in PUBLISHED),
          "%s" % {t: (before[t], checksum(sub, t)) for t in PUBLISHED})

    received = dict(q(sub, "SELECT op, count(*) FROM public.received GROUP BY op"))
    check("%s: rollback sent the reverse: the changed rows updated back, the new ones deleted, the removed one inserted" % form,
          received.get("UPDATE") == d.get("changed") and received.get("DELETE") == d.get("only_in_shadow")
          and received.get("INSERT") == d.get("only_in_live"),
          "received %s; the diff said %s" % (received, d))

    out, err = call(pub, "CALL bg.deploy(%s)", manifest(db, 2))
    out2, err2 = call(pub, "CALL bg.promote()")
    check("%s: deploy and promote again" % form, err is None and err2 is None, "%s\n%s\n%s\n%s" % (out, err, out2, err2))
    slot = equal_after("%s, promoted again" % form, pub, sub, subname, slot)
    out, err = call(pub, "CALL bg.cleanup(keep => 0)")
    check("%s: cleanup" % form, err is None, "%s\n%s" % (out, err))
    slot = equal_after("%s, cleaned up" % form, pub, sub, subname, slot)
    check("%s: the published tables are still the first ones" % form, identity(pub) == ids)

    # v3 adds a column to a published table: breaking for its subscribers
    out, err = call(pub, "CALL bg.deploy(%s)", manifest(db, 3))
    check("%s: a column added to a published table is reported breaking, saying what the subscribers must do" % form,
          err is None and "BREAKING" in out and "publication" in out and "day integer added" in out
          and "subscriber" in out, "%s\n%s" % (out, err))
    out, err = call(pub, "CALL bg.promote()")
    check("%s: promote refuses it without force" % form, err is not None and "breaking" in str(err), "%s\n%s" % (out, err))
    call(pub, "CALL bg.abandon()")
    slot = equal_after("%s, v3 refused and abandoned" % form, pub, sub, subname, slot)

    q(sub, "DROP SUBSCRIPTION %s" % subname)
    pub.close()
    sub.close()
    q(admin_pub, "DROP DATABASE %s" % db)
    q(admin_sub, "DROP DATABASE %s" % db)


def main():
    scenario("each form", "bg_sub_forms")
    scenario("all tables", "bg_sub_all")
    sys.exit(0 if tap.summary() else 1)


if __name__ == "__main__":
    main()
