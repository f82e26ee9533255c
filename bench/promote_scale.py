"""Promote and rollback of thousands of models at PostgreSQL's default settings.

Run through bench/promote_scale, which builds and installs the extension and starts a
throwaway cluster with the default max_connections (100), max_worker_processes (8) and
max_locks_per_transaction (64): a lock table sized for 7,808 locks.

For each size (--sizes 2400,10000), a project in one schema, `mart`: 35% tables of 100
rows, 65% views, each view reading one table; every model has a `version` column that
says which manifest built it, and each view also the version of the table it reads
(`upstream`). Its manifests are made in SQL (no dbt: what is measured is the switch,
and dbt would take minutes to compile 10,000 models). The project is registered, its
first version deployed and promoted (every relation added), then, --reps times: a new
version is deployed (every model changed, untimed), promoted, rolled back, and cleaned
up (`bg.cleanup(keep => 0)`, untimed).

Measured for each promote and rollback, each in a fresh session: the wall time the
client sees, the backend's CPU time (/proc/<pid>/stat) and its peak resident memory
(VmHWM, the session's own start-up included), and the locks the switch takes (its dry
run's estimate, beside what the lock table can hold). Four readers read continuously
while it runs, each its own session, one statement at a time reading a table and a view
of the project (which reads another table): the longest a read waited, and whether any
read saw two versions at once or a missing relation.

The physical anchor, measured on the same deployment just before its promote: one
transaction that takes ACCESS EXCLUSIVE locks on every live relation of the project and
renames the live and the shadow schema, then rolls back — the least any switch that
readers cannot see half done must do.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

import psycopg2

TICKS = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def connect(db):
    c = psycopg2.connect(dbname=db)
    c.autocommit = True
    return c


def backend(cur):
    cur.execute("SELECT pg_backend_pid()")
    return cur.fetchone()[0]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_mb(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


MANIFEST_SQL = """
CREATE FUNCTION manifest(version integer, n integer, tables integer) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'metadata', jsonb_build_object(
        'dbt_schema_version', 'https://schemas.getdbt.com/dbt/manifest/v12.json',
        'dbt_version', '1.9.4', 'project_name', 'scale', 'adapter_type', 'postgres'),
    'nodes', (SELECT jsonb_object_agg('model.scale.m' || i, jsonb_build_object(
        'unique_id', 'model.scale.m' || i, 'resource_type', 'model', 'package_name', 'scale',
        'name', 'm' || i, 'path', 'm' || i || '.sql', 'original_file_path', 'models/m' || i || '.sql',
        'fqn', jsonb_build_array('scale', 'm' || i), 'database', current_database(),
        'schema', 'mart', 'alias', 'm' || i,
        'checksum', jsonb_build_object('name', 'sha256', 'checksum', md5(version || ':' || i)),
        'config', jsonb_build_object('enabled', true,
                                     'materialized', CASE WHEN i <= tables THEN 'table' ELSE 'view' END),
        'unrendered_config', '{}'::jsonb,
        'raw_code', code, 'compiled_code', code, 'language', 'sql', 'description', '',
        'columns', '{}'::jsonb,
        'depends_on', jsonb_build_object('macros', '[]'::jsonb, 'nodes',
            CASE WHEN i <= tables THEN '[]'::jsonb ELSE jsonb_build_array('model.scale.m' || (i % tables + 1)) END),
        'contract', '{"enforced": false, "checksum": null}'::jsonb, 'constraints', '[]'::jsonb,
        'access', 'protected', 'version', NULL, 'latest_version', NULL, 'deprecation_date', NULL))
      FROM generate_series(1, n) AS i,
           LATERAL (SELECT CASE WHEN i <= tables
                  THEN format('select g as id, %s as version from generate_series(1, 100) as g', version)
                  ELSE format('select id, %s as version, version as upstream from "%s"."mart"."m%s"',
                              version, current_database(), i % tables + 1) END) AS c (code)),
    'sources', '{}'::jsonb, 'macros', '{}'::jsonb, 'disabled', '{}'::jsonb)::text
$$;
"""


class Readers:
    """Sessions reading a table and a view of the project in one statement, continuously."""

    def __init__(self, db, n, table, view):
        self.sql = (f"SELECT t.version, v.version, v.upstream"
                    f"  FROM (SELECT version FROM mart.{table} LIMIT 1) AS t,"
                    f"       (SELECT version, upstream FROM mart.{view} LIMIT 1) AS v")
        self.db, self.n = db, n
        self.samples = []          # (end time, seconds, outcome)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]

    def run(self):
        conn = connect(self.db)
        cur = conn.cursor()
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                cur.execute(self.sql)
                a, b, c = cur.fetchone()
                outcome = "ok" if a == b == c else "mixed"
            except psycopg2.Error as e:
                outcome = "missing" if e.pgcode == "42P01" else "error: " + str(e).splitlines()[0]
            t1 = time.monotonic()
            with self.lock:
                self.samples.append((t1, t1 - t0, outcome))
            time.sleep(0.005)
        conn.close()

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def during(self, a, b):
        """Reads that overlapped [a, b]: their longest wait and their outcomes."""
        with self.lock:
            hit = [(s, o) for (end, s, o) in self.samples if end >= a and end - s <= b]
        waits = [s for s, _ in hit]
        bad = [o for _, o in hit if o != "ok"]
        return (max(waits) if waits else 0.0), len(hit), bad


def call(db, sql):
    """Run one CALL in a fresh session: wall, backend CPU, peak memory, notices."""
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = notice")
    pid = backend(cur)
    base = peak_mb(pid)
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    cur.execute(sql)
    wall = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0
    peak = peak_mb(pid)
    notices = list(conn.notices)
    conn.close()
    return wall, cpu, peak, base, notices


def locks_of(db, op):
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = notice")
    cur.execute(f"CALL bg.{op}(dry_run => true)")
    n = None
    for line in conn.notices:
        if "It would take about" in line:
            n = int(line.split("It would take about")[1].split()[0])
    conn.close()
    return n


def anchor(db, n):
    """One transaction: ACCESS EXCLUSIVE on every live relation, both schemas renamed;
    rolled back. Returns its wall time."""
    conn = psycopg2.connect(dbname=db)
    cur = conn.cursor()
    cur.execute("SELECT string_agg(format('mart.%I', relname), ', ') FROM pg_class"
                " WHERE relnamespace = 'mart'::regnamespace AND relkind IN ('r', 'v')")
    names = cur.fetchone()[0]
    conn.rollback()
    t0 = time.monotonic()
    cur.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
    cur.execute("ALTER SCHEMA mart RENAME TO mart__anchor")
    cur.execute("ALTER SCHEMA mart__bg_shadow RENAME TO mart")
    conn.rollback()
    secs = time.monotonic() - t0
    conn.close()
    return secs


def setup(db, n, tables):
    subprocess.run(["dropdb", "--if-exists", db], check=True, capture_output=True)
    subprocess.run(["createdb", db], check=True)
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION bluegreen")
    cur.execute("CREATE SCHEMA mart")
    cur.execute("CALL bg.transfer_ownership('mart')")
    cur.execute(MANIFEST_SQL)
    cur.execute("CALL bg.create_project(manifest(1, %s, %s), 'scale')", (n, tables))
    conn.close()


def deploy(db, version, n, tables):
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    t0 = time.monotonic()
    cur.execute("CALL bg.deploy(manifest(%s, %s, %s), 'scale')", (version, n, tables))
    secs = time.monotonic() - t0
    conn.close()
    return secs


def cleanup(db):
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CALL bg.cleanup(keep => 0)")
    conn.close()


def size_run(n, reps, readers):
    db = f"scale{n}"
    tables = n * 35 // 100
    setup(db, n, tables)
    log(f"{n} models: deploying the first version")
    first_deploy = deploy(db, 2, n, tables)
    first = call(db, "CALL bg.promote()")
    log(f"{n} models: first deploy {first_deploy:.0f} s, first promote {first[0]:.2f} s")
    r = Readers(db, readers, "m1", f"m{tables + 1}")
    r.start()
    recs = []
    try:
        for i in range(reps):
            rec = {}
            rec["deploy"] = deploy(db, 3 + i, n, tables)
            rec["anchor"] = anchor(db, n)
            for op in ("promote", "rollback"):
                rec[op + "_locks"] = locks_of(db, op)
                t0 = time.monotonic()
                wall, cpu, peak, base, _ = call(db, f"CALL bg.{op}()")
                t1 = time.monotonic()
                time.sleep(0.3)
                wait, nreads, bad = r.during(t0, t1 + 0.3)
                rec[op] = dict(wall=wall, cpu=cpu, peak=peak, base=base, wait=wait,
                               reads=nreads, bad=bad)
            cleanup(db)
            log(f"{n} models, repetition {i + 1}: deploy {rec['deploy']:.0f} s, promote "
                f"{rec['promote']['wall']:.2f} s, rollback {rec['rollback']['wall']:.2f} s, "
                f"anchor {rec['anchor']:.2f} s")
            recs.append(rec)
    finally:
        r.finish()
    with connect(db) as conn:
        conn.cursor().execute("SELECT 1")
    subprocess.run(["dropdb", db], check=False, capture_output=True)
    return dict(n=n, tables=tables, first=first, first_deploy=first_deploy, recs=recs)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description="promote and rollback at scale, default settings")
    ap.add_argument("--sizes", default="2400,10000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--readers", type=int, default=4)
    a = ap.parse_args()

    conn = connect("postgres")
    cur = conn.cursor()
    cur.execute("SELECT current_setting('max_locks_per_transaction')::int,"
                " current_setting('max_connections')::int, current_setting('max_worker_processes')::int,"
                " current_setting('max_locks_per_transaction')::int * (current_setting('max_connections')::int"
                "  + current_setting('autovacuum_max_workers')::int + 1 + current_setting('max_worker_processes')::int"
                "  + current_setting('max_wal_senders')::int + current_setting('max_prepared_transactions')::int),"
                " version()")
    mlpt, mc, mwp, nominal, version = cur.fetchone()
    conn.close()
    load0 = os.getloadavg()[0]
    results = [size_run(int(s), a.reps, a.readers) for s in a.sizes.split(",")]

    print(f"\nPromote and rollback at default settings (max_locks_per_transaction = {mlpt}, "
          f"max_connections = {mc}, max_worker_processes = {mwp}: a lock table sized for {nominal:,} locks)")
    print(f"{a.reps} repetitions each; medians; every model replaced; {a.readers} readers\n")
    head = ["models", "op", "wall s", "backend CPU s", "peak MB", "locks", "anchor s",
            "wall / anchor", "reader max wait ms", "reads", "mixed or missing"]
    rows = []
    failed = False
    for res in results:
        recs = res["recs"]
        anchor_s = med([r["anchor"] for r in recs])
        for op in ("promote", "rollback"):
            ops = [r[op] for r in recs]
            bad = [b for o in ops for b in o["bad"]]
            failed |= bool(bad)
            wall = med([o["wall"] for o in ops])
            locks = med([r[op + "_locks"] for r in recs if r[op + "_locks"] is not None])
            rows.append([f"{res['n']:,}", op, f"{wall:.3f}", f"{med([o['cpu'] for o in ops]):.2f}",
                         f"{med([o['peak'] for o in ops]):.0f}", f"{locks:,.0f}",
                         f"{anchor_s:.3f}", f"{wall / anchor_s:.1f}",
                         f"{max(o['wait'] for o in ops) * 1000:.0f}",
                         f"{sum(o['reads'] for o in ops):,}", str(len(bad))])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |")
    print()
    for res in results:
        f = res["first"]
        deploys = ", ".join("%.0f" % r["deploy"] for r in res["recs"])
        print(f"- {res['n']:,} models ({res['tables']:,} tables, {res['n'] - res['tables']:,} views): "
              f"first deploy {res['first_deploy']:.0f} s, first promote (every relation added) {f[0]:.3f} s; "
              f"deploys of a new version {deploys} s; "
              f"session peak before a call {med([r['promote']['base'] for r in res['recs']]):.0f} MB")
        for r in res["recs"]:
            for op in ("promote", "rollback"):
                for b in sorted(set(r[op]["bad"])):
                    print(f"  {op}: {r[op]['bad'].count(b)} reads: {b}")
    targets = {2400: 0.5, 10000: 2.0}
    for res in results:
        if res["n"] in targets:
            for op in ("promote", "rollback"):
                wall = med([r[op]["wall"] for r in res["recs"]])
                ok = wall < targets[res["n"]]
                print(f"- target: {op} of {res['n']:,} models under {targets[res['n']]} s: "
                      f"{'met' if ok else 'NOT met'} ({wall:.3f} s)")
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], capture_output=True, text=True).stdout.strip()
    print(f"- {os.cpu_count()} CPUs, load average {load0:.2f} at the start and {os.getloadavg()[0]:.2f} at the end; "
          f"bluegreen {rev}{' with uncommitted changes in src/' if dirty else ''}; {version.split(',')[0]}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
