"""bench/diff: the cost of a blue/green diff against reading both tables once.

Two tables of --rows rows: bench.live (a primary key on id) and bench.shadow, a copy
that removes 0.1% of the rows, adds 0.1% and changes the amount of 1% (and the status of
a tenth of those). Each measurement is the median of --reps runs, on a warm cache:

  anchor     SELECT count(*) of each table: what reading both once costs
  keyed      bg.diff_relations(live, shadow): one FULL JOIN on the primary key, one
             aggregate (rows only in live, only in shadow, changed, per column)
  keyless    bg.diff_relations(live, shadow, '{}'): one hash aggregate of whole rows
  by hand    SELECT count(*) of live EXCEPT ALL shadow, and of shadow EXCEPT ALL live

The figures the diff reports are checked against the construction.
"""
import argparse
import json
import statistics
import sys
import time

import psycopg2


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def timed(cur, sql, reps):
    times = []
    result = None
    for _ in range(reps):
        t0 = time.perf_counter()
        cur.execute(sql)
        result = cur.fetchall()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    n = args.rows

    con = psycopg2.connect(dbname="postgres")
    con.autocommit = True
    cur = con.cursor()
    cur.execute("DROP DATABASE IF EXISTS bench_diff")
    cur.execute("CREATE DATABASE bench_diff")
    con.close()
    con = psycopg2.connect(dbname="bench_diff")
    con.autocommit = True
    cur = con.cursor()
    cur.execute("CREATE EXTENSION bluegreen")
    cur.execute("CREATE SCHEMA bench")
    log(f"building two tables of {n:,} rows")
    cur.execute(f"""
        CREATE TABLE bench.live AS
        SELECT i::bigint AS id, (i % 100000)::integer AS customer_id,
               (i % 997)::numeric(12, 2) AS amount,
               (ARRAY['new', 'paid', 'shipped'])[1 + i % 3] AS status,
               timestamptz '2026-01-01' + i * interval '1 second' AS updated_at
          FROM generate_series(1, {n}) AS i""")
    cur.execute("ALTER TABLE bench.live ADD PRIMARY KEY (id)")
    # removes every 1000th row, changes every 100th (its status too every 1000th + 50),
    # adds n/1000 rows past the end
    cur.execute(f"""
        CREATE TABLE bench.shadow AS
        SELECT id, customer_id,
               CASE WHEN id % 100 = 7 THEN amount + 1 ELSE amount END AS amount,
               CASE WHEN id % 1000 = 507 THEN 'refunded' ELSE status END AS status,
               updated_at
          FROM bench.live WHERE id % 1000 <> 0
        UNION ALL
        SELECT i, 0, 1, 'new', timestamptz '2026-01-01'
          FROM generate_series({n} + 1, {n} + {n} / 1000) AS i""")
    cur.execute("VACUUM ANALYZE bench.live, bench.shadow")
    cur.execute("SELECT pg_size_pretty(pg_total_relation_size('bench.live')), pg_size_pretty(pg_relation_size('bench.shadow'))")
    sizes = cur.fetchone()
    removed, added, changed = n // 1000, n // 1000, len([i for i in range(7, n + 1, 100) if i % 1000 != 0])

    # warm the cache
    cur.execute("SELECT count(*) FROM bench.live")
    cur.execute("SELECT count(*) FROM bench.shadow")

    log("measuring")
    anchor, _ = timed(cur, "SELECT (SELECT count(*) FROM bench.live), (SELECT count(*) FROM bench.shadow)", args.reps)
    keyed, r = timed(cur, "SELECT bg.diff_relations('bench.live', 'bench.shadow')", args.reps)
    keyed_diff = r[0][0]
    keyless, r = timed(cur, "SELECT bg.diff_relations('bench.live', 'bench.shadow', '{}')", args.reps)
    keyless_diff = r[0][0]
    by_hand, _ = timed(cur, "SELECT (SELECT count(*) FROM (TABLE bench.live EXCEPT ALL TABLE bench.shadow) AS a),"
                            "       (SELECT count(*) FROM (TABLE bench.shadow EXCEPT ALL TABLE bench.live) AS b)", args.reps)

    ok = (keyed_diff["only_in_live"] == removed and keyed_diff["only_in_shadow"] == added
          and keyed_diff["changed"] == changed
          and keyless_diff["only_in_live"] == removed + changed
          and keyless_diff["only_in_shadow"] == added + changed)

    print(f"bench/diff: two tables of {n:,} rows (live {sizes[0]} with its key, shadow {sizes[1]}), "
          f"work_mem 4MB, median of {args.reps}")
    print(f"  {'':34} {'seconds':>8} {'x count(*)':>11}")
    print(f"  {'count(*) of both (anchor)':34} {anchor:8.2f} {1:11.1f}")
    print(f"  {'bg.diff_relations, by key':34} {keyed:8.2f} {keyed / anchor:11.1f}")
    print(f"  {'bg.diff_relations, whole rows':34} {keyless:8.2f} {keyless / anchor:11.1f}")
    print(f"  {'EXCEPT ALL both ways (by hand)':34} {by_hand:8.2f} {by_hand / anchor:11.1f}")
    print(f"  keyed: {keyed_diff['only_in_live']:,} only in live, {keyed_diff['only_in_shadow']:,} only in shadow, "
          f"{keyed_diff['changed']:,} changed {json.dumps(keyed_diff['changed_columns'])}")
    print(f"  whole rows: {keyless_diff['only_in_live']:,} only in live, {keyless_diff['only_in_shadow']:,} only in shadow")
    print(f"  figures as constructed: {'yes' if ok else 'NO'}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
