"""Benchmark of bg.promote and bg.rollback: readers under load, dbt run beside it, and
promote time by project size and by data size.

Run through bench/promote, which builds and installs the extension and starts a throwaway
cluster (PGHOST/PGPORT point at it). Three parts, each optional (--parts):

  load    one generated dbt project (bench/promote_project.py), built live by dbt, read by
          pgbench clients (models and an external view outside the project) while
          bluegreen deploys, promotes and rolls back a change; then the same database as
          it was before, the same readers, and the same change applied by
          `dbt run --select state:modified+` (dbt-postgres rebuilds in place). Latency of
          the readers before, during and after each operation, and their errors.
  models  promote and rollback time for projects of 10, 100 and 2,400 models, every model
          replaced (median of --reps repetitions of deploy, promote, rollback, cleanup).
  data    promote and rollback time for a 10-model project holding about 1 MB and about
          200 MB of table data (--data-mb; --big adds about 1 GB).

Readers. pgbench ends a client at its first error other than a serialization failure or a
deadlock, so each client is its own `pgbench -c 1` process; when one ends on an error,
the error is counted (with its message and time) and the client is started again at its
next scheduled read. Every process runs with -R (a fixed rate; latency then counts from
the scheduled start, queueing included), -P 1 and -l; the per-transaction logs give the
latency of each phase. pgbench is stopped with SIGALRM, which ends a -T run cleanly.
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import psycopg2
import psycopg2.extensions

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import promote_project as pp  # noqa: E402

CACHE = os.path.join(ROOT, ".work", "bench", "promote")
DBT = os.path.join(ROOT, ".venv", "bin", "dbt")
PGBENCH = os.environ.get("PGBENCH", "/usr/bin/pgbench")
MB = 1000 * 1000
ROW_BYTES = 105            # heap bytes per model row (measured), to size the data part
JSONB_TEXT = psycopg2.extensions.new_type((3802,), "JSONB_TEXT", lambda v, c: v)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# The cluster and its sessions
# ------------------------------------------------------------------------------------------
class Cluster:
    """The throwaway cluster bench/promote started."""

    def __init__(self):
        self.dir = os.environ["PGHOST"]
        self.owner = os.stat(self.dir)

    def connect(self, db="postgres"):
        conn = psycopg2.connect(dbname=db, application_name="bench_promote")
        conn.autocommit = True
        psycopg2.extensions.register_type(JSONB_TEXT, conn)
        return conn

    def execute(self, db, sql, args=None):
        conn = self.connect(db)
        try:
            cur = conn.cursor()
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def recreate(self, db, template=None):
        self.execute("postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self.execute("postgres", f'CREATE DATABASE "{db}"' + (f' TEMPLATE "{template}"' if template else ""))

    def place(self, path, name):
        """Copy a file where the server's OS user can read it; return the copy's path."""
        dst = os.path.join(self.dir, "in", name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.chown(os.path.dirname(dst), self.owner.st_uid, self.owner.st_gid)
        shutil.copy(path, dst)
        os.chown(dst, self.owner.st_uid, self.owner.st_gid)
        return dst

    def wait_ready(self, timeout=120):
        """After a crash: wait until the server accepts sessions again."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.connect().close()
                return True
            except psycopg2.OperationalError:
                time.sleep(0.5)
        return False


class Session:
    """One session that runs bluegreen calls and times them."""

    def __init__(self, cluster, db):
        self.conn = cluster.connect(db)
        self.cur = self.conn.cursor()
        self.cur.execute("SET bluegreen.show_timing = on")
        self.cur.execute("SELECT pg_catalog.pg_backend_pid()")
        self.pid = self.cur.fetchone()[0]
        self.last_cpu = None

    def cpu(self):
        """CPU seconds the backend has used (user + system, from /proc: same machine)."""
        try:
            with open(f"/proc/{self.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return None

    def call(self, sql, args=None):
        """Run one CALL; return (client seconds, notices, plan check) or raise. The
        backend's CPU seconds for it are left in last_cpu: on a shared machine the wall
        time also counts the time other processes had the CPU."""
        del self.conn.notices[:]
        self.last_cpu = None
        c0 = self.cpu()
        t0 = time.perf_counter()
        self.cur.execute(sql, args)
        t = time.perf_counter() - t0
        c1 = self.cpu()
        self.last_cpu = c1 - c0 if c0 is not None and c1 is not None else None
        plan = None
        if self.cur.description:
            try:
                row = self.cur.fetchone()
                json.loads(row[0])
                plan = "valid"
            except Exception as e:  # noqa: BLE001 (what the server sent is the finding)
                plan = f"{type(e).__name__}: {str(e)[:80]}"
        return t, list(self.conn.notices), plan

    def close(self):
        try:
            self.conn.close()
        except psycopg2.Error:
            pass


def switched(notices):
    """(relations switched, server seconds, lock attempts) from promote/rollback NOTICEs."""
    n, s, attempts = None, None, 1
    for line in notices:
        m = re.search(r"(\d+) relations? switched(?: in ([0-9.]+)s)?", line)
        if m:
            n, s = int(m.group(1)), (float(m.group(2)) if m.group(2) else None)
        m = re.search(r"locks granted at attempt (\d+)", line)
        if m:
            attempts = int(m.group(1))
    return n, s, attempts


def setup_bluegreen(cluster, db, manifest_path):
    cluster.execute(db, f"""
        CREATE EXTENSION IF NOT EXISTS bluegreen;
        CREATE SCHEMA IF NOT EXISTS {pp.SCHEMA};
        CALL bg.transfer_ownership('{pp.SCHEMA}');
        GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
        GRANT SELECT ON ALL TABLES IN SCHEMA raw TO bluegreen_builder;
        SET client_min_messages = warning;
        CALL bg.create_project(pg_catalog.pg_read_file(%s));""", (manifest_path,))


def cleanup(session):
    """bg.cleanup(keep => 0) until nothing is left to drop; return (seconds, passes)."""
    t0, passes = time.perf_counter(), 0
    for passes in range(1, 11):
        _, notices, _ = session.call("CALL bg.cleanup(keep => 0)")
        if not any("could not be dropped" in n for n in notices):
            break
    return time.perf_counter() - t0, passes


# ------------------------------------------------------------------------------------------
# Projects and manifests (cached)
# ------------------------------------------------------------------------------------------
def dbt_env(db, threads):
    env = dict(os.environ)
    env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", BENCH_DB=db, BENCH_DBT_THREADS=str(threads))
    return env


def run_dbt(args, cwd, db, threads, check=True):
    """Run dbt in a project directory; return (seconds, stdout). Fail loudly with its output,
    unless check is false (then the caller reads the output)."""
    t0 = time.perf_counter()
    p = subprocess.run([DBT, "--no-version-check", "--no-use-colors"] + args + ["--profiles-dir", "."],
                       cwd=cwd, env=dbt_env(db, threads), capture_output=True, text=True)
    t = time.perf_counter() - t0
    if p.returncode != 0 and check:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise SystemExit(f"bench: dbt {' '.join(args)} failed in {cwd}")
    return t, p.stdout


def project(n_models, edit, db, threads):
    """Both versions of a generated project and their compiled manifests (cached by the
    generator's source, the pinned dbt and the database the code is compiled for).
    Needs the database to exist: dbt compile connects. Returns (dir, models, closure)."""
    h = hashlib.sha256()
    for path in (pp.__file__, os.path.join(ROOT, "requirements.txt")):
        with open(path, "rb") as fh:
            h.update(fh.read())
    key = f"m{n_models}-edit{edit}-{db}-{h.hexdigest()[:10]}"
    d = os.path.join(CACHE, "projects", key)
    for version in ("v1", "v2"):
        vd = os.path.join(d, version)
        if not os.path.exists(os.path.join(vd, "dbt_project.yml")):
            pp.generate(vd, n_models, edit, version)
        out = os.path.join(d, f"{version}.manifest.json")
        if not os.path.exists(out):
            log(f"dbt compile of the {version} {n_models}-model project for database {db} ...")
            t, _ = run_dbt(["-q", "compile"], vd, db, threads)
            shutil.copy(os.path.join(vd, "target", "manifest.json"), out)
            log(f"dbt compile: {t:.1f} s")
    os.makedirs(os.path.join(d, "state_v1"), exist_ok=True)
    shutil.copy(os.path.join(d, "v1.manifest.json"), os.path.join(d, "state_v1", "manifest.json"))
    models, sources = pp.build_graph(n_models)
    edited = set(m.name for m in models) if edit == "all" else set(pp.choose_edits(models, edit))
    closure = pp.downstream(models, edited)
    return d, models, sources, closure


# ------------------------------------------------------------------------------------------
# Readers: one pgbench process per client, restarted after an error
# ------------------------------------------------------------------------------------------
class Readers:
    def __init__(self, db, workdir, scripts, clients, rate):
        self.db, self.dir, self.scripts = db, workdir, scripts
        self.clients, self.rate = clients, rate
        self.procs, self.restart_at, self.gen = {}, {}, {}
        self.prefixes, self.errors = [], []       # errors: (time, message)
        self.lock = threading.Lock()
        self.stopping = False
        os.makedirs(workdir, exist_ok=True)

    def _spawn(self, k):
        self.gen[k] = self.gen.get(k, 0) + 1
        prefix = os.path.join(self.dir, f"c{k:02d}_{self.gen[k]:04d}")
        out = open(prefix + ".stderr", "w")
        cmd = [PGBENCH, "-n", "-c", "1", "-j", "1", "-T", "86400", "-R", f"{self.rate:g}", "-P", "1",
               "-l", "--log-prefix", prefix]
        for s in self.scripts:
            cmd += ["-f", s]
        p = subprocess.Popen(cmd + [self.db], stdout=out, stderr=subprocess.STDOUT)
        self.procs[k] = (p, prefix, out)
        self.prefixes.append(prefix)

    def _ended(self, k, when):
        p, prefix, out = self.procs.pop(k)
        out.close()
        # A process stopped by SIGALRM before pgbench set its -T handler ended cleanly too.
        if p.returncode != 0 and not (self.stopping and p.returncode == -signal.SIGALRM):
            self.errors.append((when, abort_message(prefix + ".stderr")))
        return p.returncode

    def _watch(self):
        while True:
            with self.lock:
                if self.stopping:
                    return
                now = time.time()
                for k in list(self.procs):
                    if self.procs[k][0].poll() is not None:
                        self._ended(k, now)
                        self.restart_at[k] = now + 1.0 / self.rate
                for k, at in list(self.restart_at.items()):
                    if now >= at:
                        del self.restart_at[k]
                        self._spawn(k)
            time.sleep(0.005)

    def start(self):
        with self.lock:
            for k in range(self.clients):
                self._spawn(k)
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def stop(self):
        with self.lock:
            self.stopping = True
        self.thread.join()
        for p, _, _ in self.procs.values():
            p.send_signal(signal.SIGALRM)       # pgbench -T: finish the transaction, write logs
        now = time.time()
        for k in list(self.procs):
            self.procs[k][0].wait(timeout=60)
            self._ended(k, now)

    def samples(self):
        """[(end time, latency ms, script, schedule lag ms)] of every completed transaction.
        With -R, pgbench's latency runs from the scheduled start, so it includes the lag
        of a client still busy with its previous transaction."""
        out = []
        for prefix in self.prefixes:
            for path in glob.glob(prefix + ".[0-9]*"):
                with open(path) as fh:
                    for line in fh:
                        p = line.split()
                        if len(p) < 6 or not p[2].isdigit():
                            continue
                        lag = int(p[6]) / 1000.0 if len(p) > 6 else 0.0
                        out.append((int(p[4]) + int(p[5]) / 1e6, int(p[2]) / 1000.0, int(p[3]), lag))
        out.sort()
        return out


def abort_message(path):
    with open(path, errors="replace") as f:
        text = f.read()
    for line in text.splitlines():
        m = re.search(r"pgbench: error: (?:client \d+ script \d+ aborted in command \d+ query \d+: )?(.*)", line)
        if m and "Run was aborted" not in line:
            return re.sub(r"\s+", " ", m.group(1)).strip()
    return "exited without a message"


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100.0 * len(v) + 0.5)) - 1))]


def phase_stats(samples, errors, a, b, window):
    """before / during / after an operation that ran from a to b (epoch seconds)."""
    res = {}
    for name, sel, err in (
            ("before", lambda e, l: a - window <= e < a, lambda t: a - window <= t < a),
            ("during", lambda e, l: e >= a and e - l / 1000.0 < b, lambda t: a <= t <= b + 0.1),
            ("after", lambda e, l: e - l / 1000.0 >= b and e <= b + window,
             lambda t: b + 0.1 < t <= b + window)):
        sel_ = [(l, g) for e, l, _, g in samples if sel(e, l)]
        lat = [l for l, _ in sel_]
        res[name] = {"n": len(lat), "failed": sum(1 for t, _ in errors if err(t)),
                     "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat) if lat else None,
                     "max_own": max((l - g for l, g in sel_), default=None)}
    return res


# ------------------------------------------------------------------------------------------
# Part 1: readers under load, bluegreen and dbt side by side
# ------------------------------------------------------------------------------------------
def choose_targets(models, closure):
    """What the readers read: two tables and a view the change rebuilds (the view reads a
    rebuilt model), a table it does not touch, all cheap to read."""
    rebuilt = [m for m in models if m.name in closure]
    tables = [m for m in rebuilt if m.materialized == "table"]
    tables.sort(key=lambda m: (m.layer != "mart", m.layer != "int3", m.name))
    views = [m for m in rebuilt if m.materialized == "view" and m.refs
             and any(r.name in closure for r in m.refs)]
    views.sort(key=lambda m: (pp.scans(m), m.layer != "mart", m.name))
    untouched = [m for m in models if m.name not in closure and m.materialized == "table"]
    untouched.sort(key=lambda m: (m.layer != "mart", m.name))
    if len(tables) < 2 or not views or not untouched:
        raise SystemExit("bench: the generated change does not reach two tables, a view and leave a table alone")
    return tables[0], tables[1], views[0], untouched[0]


def reader_scripts(workdir, t1, t2, v, control):
    os.makedirs(workdir, exist_ok=True)
    q = "SELECT version, count(*), sum(amount) FROM {}.{} GROUP BY version;"
    models = os.path.join(workdir, "read_models.sql")
    with open(models, "w") as f:
        f.write("BEGIN;\n" + "\n".join(q.format(pp.SCHEMA, m.name) for m in (t1, v)) + "\n"
                f"SELECT count(*) FROM {pp.SCHEMA}.{control.name};\nEND;\n")
    report = os.path.join(workdir, "read_report.sql")
    with open(report, "w") as f:
        f.write("SELECT * FROM reporting.summary;\n")
    view = ("CREATE SCHEMA IF NOT EXISTS reporting;\nCREATE VIEW reporting.summary AS\n"
            + "\nUNION ALL\n".join(f"SELECT '{m.name}'::text AS model, version, count(*) AS n, sum(amount) AS amount"
                                   f" FROM {pp.SCHEMA}.{m.name} GROUP BY version" for m in (t1, t2, v)) + ";\n")
    return [models, report], view


def census(cluster, db, models):
    """How many of the project's models a reader finds at v1, at v2, or missing."""
    out = {}
    conn = cluster.connect(db)
    cur = conn.cursor()
    try:
        for m in models:
            try:
                cur.execute(f"SELECT string_agg(DISTINCT version, ',') FROM {pp.SCHEMA}.{m.name}")
                v = cur.fetchone()[0]
            except psycopg2.errors.UndefinedTable:
                v = "missing"
            except psycopg2.Error as e:
                v = f"error {e.pgcode}"
            out[v] = out.get(v, 0) + 1
    finally:
        conn.close()
    return ", ".join(f"{k} {v}" for k, v in sorted(out.items()))


def dbt_outcome(out):
    """dbt's summary line and the models it failed, with their first error line."""
    done = re.search(r"Done\. (PASS=.*)", out)
    fails = re.findall(r"(?:Failure|Error) in model (\S+) .*\n(?:.*\n)?\s+(.+)", out)
    return (done.group(1).strip() if done else "no summary"), [(m, e.strip()) for m, e in fails]


def versions(cluster, db, names):
    """{relation: 'v1' | 'v2' | 'missing' | 'error'} as a reader sees it now."""
    out = {}
    for n in names:
        try:
            rows = cluster.execute(db, f"SELECT string_agg(DISTINCT version, ',') FROM {n}")
            out[n] = rows[0][0]
        except psycopg2.errors.UndefinedTable:
            out[n] = "missing"
        except psycopg2.Error as e:
            out[n] = f"error {e.pgcode}"
    return out


def load_test(cluster, a, work):
    db = "bench_promote_load"
    n = a.load_models
    log(f"load: {n}-model project, {a.load_rows:,} rows per source table, built by dbt ...")
    cluster.recreate(db)
    d, models, sources, closure = project(n, a.load_edit, db, a.dbt_threads)
    cluster.execute(db, pp.raw_sql(sources, a.load_rows))
    t_v1, _ = run_dbt(["-q", "run"], os.path.join(d, "v1"), db, a.dbt_threads)
    t1, t2, v, control = choose_targets(models, closure)
    scripts, view_sql = reader_scripts(work, t1, t2, v, control)
    cluster.execute(db, view_sql)
    cluster.execute(db, "VACUUM ANALYZE")
    table_mb = cluster.execute(db, "SELECT sum(pg_table_size(c.oid)) / 1e6 FROM pg_class c"
                                   " JOIN pg_namespace s ON s.oid = c.relnamespace"
                                   " WHERE s.nspname = %s AND c.relkind = 'r'", (pp.SCHEMA,))[0][0]
    cluster.recreate(db + "_v1", template=db)      # the same database for the dbt side
    m1 = cluster.place(os.path.join(d, "v1.manifest.json"), "load-v1.json")
    m2 = cluster.place(os.path.join(d, "v2.manifest.json"), "load-v2.json")
    watch = [f"{pp.SCHEMA}.{m.name}" for m in (t1, v, control)] + ["reporting.summary"]
    info = {"models": n, "tables": sum(m.materialized == "table" for m in models), "selected": len(closure),
            "rows": a.load_rows, "table_mb": float(table_mb), "dbt_v1_s": t_v1,
            "targets": {"table": t1.name, "table2": t2.name, "view": v.name, "untouched": control.name,
                        "view_scans": pp.scans(v)}}
    W = a.window

    # bluegreen: deploy, promote, rollback under the readers
    setup_bluegreen(cluster, db, m1)
    s = Session(cluster, db)
    r = Readers(db, os.path.join(work, "bluegreen"), scripts, a.clients, a.rate)
    log(f"load: bluegreen side: {a.clients} readers, deploy, promote, rollback ...")
    r.start()
    time.sleep(W)
    ops, checks = [], {}
    for label, sql in (("bg.deploy", "CALL bg.deploy(pg_catalog.pg_read_file(%s))"),
                       ("bg.promote", "CALL bg.promote()"), ("bg.rollback", "CALL bg.rollback()")):
        t0 = time.time()
        try:
            secs, notices, plan = s.call(sql, (m2,) if "deploy" in sql else None)
            err = None
        except psycopg2.Error as e:
            secs, notices, plan, err = time.time() - t0, list(s.conn.notices), None, str(e).strip()
            s.close()
            cluster.wait_ready()
            s = Session(cluster, db)
        t1_ = time.time()
        nrel, server_s, attempts = switched(notices)
        if label == "bg.deploy":
            row = cluster.execute(db, "SELECT models_built FROM bg.deployments ORDER BY deployment_id DESC LIMIT 1")
            nrel = row[0][0] if row else None
        ops.append({"op": label, "a": t0, "b": t1_, "secs": secs, "cpu": s.last_cpu, "relations": nrel,
                    "server_s": server_s,
                    "attempts": attempts, "plan": plan, "error": err})
        checks[label] = versions(cluster, db, watch)
        time.sleep(W)
    r.stop()
    info["bg_census"] = census(cluster, db, models)
    info["bg_models_built"] = ops[0]["relations"]
    s.close()
    bg = {"samples": r.samples(), "errors": r.errors, "ops": ops, "checks": checks}

    # dbt: the same database as it was before, the same readers, dbt run of the change
    cluster.recreate(db, template=db + "_v1")
    r = Readers(db, os.path.join(work, "dbt"), scripts, a.clients, a.rate)
    log(f"load: dbt side: {a.clients} readers, dbt run --select state:modified+ ({a.dbt_threads} threads) ...")
    r.start()
    time.sleep(W)
    t0 = time.time()
    secs, out = run_dbt(["run", "--select", "state:modified+", "--state", os.path.join(d, "state_v1")],
                        os.path.join(d, "v2"), db, a.dbt_threads, check=False)
    t1_ = time.time()
    with open(os.path.join(work, "dbt_run.log"), "w") as fh:
        fh.write(out)
    info["dbt_summary"], info["dbt_failures"] = dbt_outcome(out)
    m = re.search(r"TOTAL=(\d+)", out)
    info["dbt_models_run"] = int(m.group(1)) if m else None
    checks = {"dbt run": versions(cluster, db, watch)}
    time.sleep(W)
    r.stop()
    info["dbt_census"] = census(cluster, db, models)
    dbt = {"samples": r.samples(), "errors": r.errors,
           "ops": [{"op": "dbt run", "a": t0, "b": t1_, "secs": secs, "relations": info["dbt_models_run"],
                    "server_s": None, "attempts": None, "plan": None, "error": None}],
           "checks": checks}
    cluster.execute("postgres", f'DROP DATABASE IF EXISTS "{db}_v1"')
    return info, bg, dbt


# ------------------------------------------------------------------------------------------
# Parts 2 and 3: promote time by number of models and by data size
# ------------------------------------------------------------------------------------------
def switch_cycles(cluster, db, m_old, m_new, reps):
    """Live is the new version; each repetition deploys the old one (every model changed),
    promotes it, rolls it back and cleans up. Returns per-repetition measurements."""
    out = []
    for i in range(reps):
        rec = {}
        s = Session(cluster, db)
        try:
            s.cur.execute("SET client_min_messages = warning")
            rec["deploy"], _, _ = s.call("CALL bg.deploy(pg_catalog.pg_read_file(%s))", (m_old,))
            rec["deploy_cpu"] = s.last_cpu
            s.cur.execute("SET client_min_messages = notice")
            for op in ("promote", "rollback"):
                secs, notices, plan = s.call(f"CALL bg.{op}()")
                n, server_s, attempts = switched(notices)
                rec[op] = secs
                rec[op + "_cpu"] = s.last_cpu
                rec[op + "_server"] = server_s
                rec[op + "_plan"] = plan
                rec[op + "_attempts"] = attempts
                rec["relations"] = n
            rec["cleanup"], rec["cleanup_passes"] = cleanup(s)
        except psycopg2.OperationalError as e:
            rec["crash"] = str(e).strip().splitlines()[0]
            log(f"{db}: repetition {i + 1}: the session ended: {rec['crash']}")
            if not cluster.wait_ready():
                raise SystemExit("bench: the server did not come back")
        except psycopg2.Error as e:
            rec["error"] = str(e).strip().splitlines()[0]
            log(f"{db}: repetition {i + 1}: ERROR {rec['error']}")
        finally:
            s.close()
        out.append(rec)
    return out


def cycle_setup(cluster, db, d, sources, rows):
    """A database whose live relations bluegreen built: the project registered at its v1
    manifest with nothing built, v2 deployed and promoted (every relation added)."""
    cluster.recreate(db)
    cluster.execute(db, pp.raw_sql(sources, rows))
    m1 = cluster.place(os.path.join(d, "v1.manifest.json"), f"{db}-v1.json")
    m2 = cluster.place(os.path.join(d, "v2.manifest.json"), f"{db}-v2.json")
    setup_bluegreen(cluster, db, m1)
    s = Session(cluster, db)
    s.cur.execute("SET client_min_messages = warning")
    deploy_s, _, _ = s.call("CALL bg.deploy(pg_catalog.pg_read_file(%s))", (m2,))
    add_s, notices, plan = s.call("CALL bg.promote()")
    s.close()
    return m1, m2, {"first_deploy": deploy_s, "add_promote": add_s, "add_relations": switched(notices)[0],
                    "add_plan": plan}


def external_view(cluster, db, models):
    """A view outside the project reading up to three marts: promote re-points it."""
    marts = [m for m in models if m.layer == "mart"][:3] or models[-1:]
    cluster.execute(db, "CREATE SCHEMA IF NOT EXISTS reporting; CREATE VIEW reporting.summary AS "
                    + " UNION ALL ".join(f"SELECT '{m.name}'::text AS model, count(*) AS n FROM {pp.SCHEMA}.{m.name}"
                                         for m in marts))


def med(recs, key):
    v = [r[key] for r in recs if r.get(key) is not None]
    return statistics.median(v) if v else None


def models_test(cluster, a):
    rows = []
    for n in a.sizes:
        db = f"bench_promote_m{n}"
        log(f"models: {n}-model project: setup ...")
        cluster.recreate(db)
        d, models, sources, _ = project(n, "all", db, a.dbt_threads)
        m1, m2, first = cycle_setup(cluster, db, d, sources, 100)
        external_view(cluster, db, models)
        log(f"models: {n} models: {a.reps} × deploy, promote, rollback, cleanup ...")
        recs = switch_cycles(cluster, db, m1, m2, a.reps)
        rows.append({"models": n, "first": first, "recs": recs})
        cluster.execute("postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return rows


def data_test(cluster, a):
    rows = []
    n = a.data_models
    db = f"bench_promote_m{n}"
    for target in a.data_mb:
        cluster.recreate(db)
        d, models, sources, _ = project(n, "all", db, a.dbt_threads)
        tables = sum(m.materialized == "table" for m in models)
        n_rows = max(10, int(target * MB / (tables * ROW_BYTES)))
        log(f"data: ~{target:g} MB of table data ({n_rows:,} rows per source table): setup ...")
        t0 = time.perf_counter()
        m1, m2, first = cycle_setup(cluster, db, d, sources, n_rows)
        setup_s = time.perf_counter() - t0
        external_view(cluster, db, models)
        mb = cluster.execute(db, "SELECT sum(pg_table_size(c.oid)) / 1e6, count(*) FROM pg_class c"
                                 " JOIN pg_namespace s ON s.oid = c.relnamespace"
                                 " WHERE s.nspname = %s AND c.relkind = 'r'", (pp.SCHEMA,))[0]
        log(f"data: {float(mb[0]):.1f} MB in {mb[1]} tables; {a.reps} × deploy, promote, rollback, cleanup ...")
        recs = switch_cycles(cluster, db, m1, m2, a.reps)
        rows.append({"target": target, "mb": float(mb[0]), "tables": mb[1], "rows": n_rows, "setup_s": setup_s,
                     "first": first, "recs": recs})
        cluster.execute("postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return rows


# ------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------
def table(head, rows):
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                                           for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|")
    for r in rows:
        print(line(r))


def f(x, digits=1):
    return "—" if x is None else f"{x:,.{digits}f}"


def group_errors(errors):
    counts = {}
    for _, msg in errors:
        msg = re.sub(r"\s*LINE \d+:.*", "", msg)
        counts[msg] = counts.get(msg, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def report_load(a, info, bg, dbt):
    print(f"## Readers under load: {a.clients} pgbench clients at {a.rate:g} tps each "
          f"({a.clients * a.rate:g} tps), {a.window:g} s windows before and after each operation\n")
    rows = []
    for side, res in (("bluegreen", bg), ("dbt run", dbt)):
        for op in res["ops"]:
            st = phase_stats(res["samples"], res["errors"], op["a"], op["b"], a.window)
            unit = "models" if op["op"] in ("bg.deploy", "dbt run") else "relations"
            what = f"{op['op']} ({op['relations']} {unit}"
            what += f", {a.dbt_threads} threads)" if op["op"] == "dbt run" else ")"
            for i, ph in enumerate(("before", "during", "after")):
                s = st[ph]
                rows.append([side if i == 0 else "", what if i == 0 else "", f(op["secs"], 3) if i == 0 else "",
                             ph, str(s["n"]), str(s["failed"]), f(s["p50"]), f(s["p99"]), f(s["max"]),
                             f(s["max_own"])])
    table(["side", "operation", "took s", "readers", "txns", "failed", "p50 ms", "p99 ms", "max ms",
           "max ms excl. lag"], rows)
    print()
    summary = []
    for side, res in (("bluegreen", bg), ("dbt run", dbt)):
        a0 = res["ops"][0]["a"] - a.window
        b0 = res["ops"][-1]["b"] + a.window
        whole = [(l, g) for e, l, _, g in res["samples"] if a0 <= e <= b0]
        lat = [l for l, _ in whole]
        summary.append((side, len(res["errors"]), len(res["samples"]), pct(lat, 50), pct(lat, 99),
                        max(lat, default=None), max((l - g for l, g in whole), default=None),
                        group_errors(res["errors"])))
    table(["side", "reader errors", "txns", "p50 ms", "p99 ms", "max ms", "max ms excl. lag"],
          [[s, str(e), str(n), f(p50), f(p99), f(mx), f(mo)] for s, e, n, p50, p99, mx, mo, _ in summary])
    print()
    (bgmax, bgown), (dbtmax, dbtown) = summary[0][5:7], summary[1][5:7]
    if bgmax and dbtmax and bgown and dbtown:
        print(f"max reader latency, dbt run / bluegreen: {dbtmax / bgmax:.1f}× "
              f"({dbtown / bgown:.1f}× excluding schedule lag)")
    for side, e, _, _, _, _, _, groups in summary:
        for msg, c in groups[:6]:
            print(f"  {side} reader error ×{c}: {msg}")
    print()
    print(f"Project: {info['models']} models ({info['tables']} tables, the rest views), "
          f"{info['rows']:,} rows per source table, {info['table_mb']:.0f} MB of tables; the change edits "
          f"{a.load_edit} staging models; state:modified+ selects {info['selected']}: bluegreen built "
          f"{info['bg_models_built']}, dbt selected {info['dbt_models_run']} ({a.dbt_threads} threads). "
          f"v1 built live by `dbt run` in {info['dbt_v1_s']:.1f} s.")
    print(f"After the last operation, the {info['models']} models as a reader finds them: bluegreen "
          f"(after bg.rollback) {info['bg_census']}; dbt (after dbt run) {info['dbt_census']}.")
    print(f"dbt run: {info['dbt_summary']}"
          + "".join(f"; {m} failed: {e}" for m, e in info["dbt_failures"][:3]))
    t = info["targets"]
    print(f"Readers: read_models.sql = one transaction reading the rebuilt table {t['table']}, the rebuilt view "
          f"{t['view']} (a view over {t['view_scans']} table scans) and the untouched table {t['untouched']}; "
          f"read_report.sql = reporting.summary, a view outside the project over {t['table']}, "
          f"{t['table2']} and {t['view']}.")
    for op in bg["ops"]:
        extra = []
        if op.get("cpu") is not None:
            extra.append(f"backend CPU {op['cpu']:.2f} s")
        if op["server_s"] is not None:
            extra.append(f"switch {op['server_s']:.3f} s server-side")
        if op["attempts"] and op["attempts"] > 1:
            extra.append(f"locks granted at attempt {op['attempts']}")
        if op["plan"] and op["plan"] != "valid":
            extra.append(f"the plan it returned is not JSON: {op['plan']}")
        if op["error"]:
            extra.append(f"ERROR {op['error']}")
        if extra:
            print(f"  {op['op']}: " + "; ".join(extra))
    for side, res in (("bluegreen", bg), ("dbt run", dbt)):
        for label, seen in res["checks"].items():
            print(f"  after {label}: " + ", ".join(f"{k.split('.')[-1]} {v}" for k, v in seen.items()))


def attempts(recs):
    """The most lock attempts a promote or rollback needed (1: its locks at once)."""
    return str(max((x.get(k) or 1 for x in recs for k in ("promote_attempts", "rollback_attempts")), default=1))


def failed_runs(recs):
    """Repetitions that ended in an error or with the session lost (details below the table)."""
    return str(sum(1 for x in recs if "crash" in x or "error" in x))


def runs(recs, key, digits=3):
    return ", ".join(("crash" if "crash" in x else "error") if x.get(key) is None and ("crash" in x or "error" in x)
                     else f(x.get(key), digits) for x in recs)


def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def report_models(a, rows):
    print(f"## Promote time by number of models (every model replaced; median of {plural(a.reps, 'repetition')})\n")
    out = []
    for r in rows:
        recs = r["recs"]
        ok = [x for x in recs if x.get("relations") is not None]
        out.append([f"{r['models']:,}", str(ok[0]["relations"]) if ok else "—", f(med(recs, "deploy"), 2),
                    f(med(recs, "promote"), 3), f(med(recs, "promote_cpu"), 2),
                    f(med(recs, "rollback"), 3), f(med(recs, "rollback_cpu"), 2), f(med(recs, "cleanup"), 2),
                    str(max((x.get("cleanup_passes", 0) for x in ok), default=0)),
                    f(r["first"]["add_promote"], 3), attempts(recs),
                    failed_runs(recs),
                    f"{sum(1 for x in ok for k in ('promote_plan', 'rollback_plan') if x.get(k) != 'valid')}"])
    table(["models", "relations", "deploy s", "promote s", "promote CPU s", "rollback s", "rollback CPU s",
           "cleanup s", "cleanup calls", "first promote s (adds)", "lock attempts", "failed runs", "bad plans"], out)
    print()
    for r in rows:
        p = med(r["recs"], "promote")
        if p:
            print(f"{r['models']:,} models: promote {p / r['models'] * 1000:.2f} ms per model; each run "
                  f"{runs(r['recs'], 'promote')} s (backend CPU {runs(r['recs'], 'promote_cpu', 2)}); "
                  f"rollback {runs(r['recs'], 'rollback')} s")
        for i, x in enumerate(r["recs"], 1):
            if "crash" in x:
                print(f"  {r['models']:,} models, repetition {i}: the session ended: {x['crash']}")
            if "error" in x:
                print(f"  {r['models']:,} models, repetition {i}: ERROR {x['error']}")
            for k in ("promote_plan", "rollback_plan"):
                if x.get(k) not in (None, "valid"):
                    print(f"  {r['models']:,} models, repetition {i}: the plan bg.{k.split('_')[0]}() returned "
                          f"is not JSON: {x[k]}")
    if len(rows) > 1 and med(rows[0]["recs"], "promote") and med(rows[-1]["recs"], "promote"):
        print(f"promote {rows[-1]['models']:,} / {rows[0]['models']:,} models: "
              f"{med(rows[-1]['recs'], 'promote') / med(rows[0]['recs'], 'promote'):.0f}× the time")
    for r in rows:
        if r["models"] >= 2400:
            p, c = med(r["recs"], "promote"), med(r["recs"], "promote_cpu")
            print(f"SPEC §8 target, promote of 2,400 models under 1 s: "
                  + ("not measured (no promote completed)" if p is None else
                     f"{'met' if p < 1 else 'NOT met'} ({p:.2f} s, {f(c, 2)} s of backend CPU)"))


def report_data(a, rows):
    print(f"## Promote time by data size ({a.data_models}-model project, every model replaced; median of "
          f"{plural(a.reps, 'repetition')})\n")
    out = []
    for r in rows:
        recs = r["recs"]
        ok = [x for x in recs if x.get("relations") is not None]
        out.append([f"~{r['target']:g} MB", f"{r['mb']:,.1f}", str(r["tables"]), f"{r['rows']:,}",
                    str(ok[0]["relations"]) if ok else "—", f(med(recs, "deploy"), 2),
                    f(med(recs, "promote"), 3), f(med(recs, "promote_cpu"), 2), f(med(recs, "rollback"), 3),
                    f(med(recs, "rollback_cpu"), 2), attempts(recs), failed_runs(recs)])
    table(["table data", "MB measured", "tables", "rows per table", "relations", "deploy s", "promote s",
           "promote CPU s", "rollback s", "rollback CPU s", "lock attempts", "failed runs"], out)
    print()
    for r in rows:
        for i, x in enumerate(r["recs"], 1):
            for k in ("crash", "error"):
                if k in x:
                    print(f"  ~{r['target']:g} MB, repetition {i}: {'the session ended' if k == 'crash' else 'ERROR'}: {x[k]}")
        print(f"~{r['target']:g} MB: promote each run {runs(r['recs'], 'promote')} s; rollback "
              f"{runs(r['recs'], 'rollback')} s; setup (raw data, first deploy and promote) {r['setup_s']:.0f} s")
    if len(rows) > 1:
        lo, hi = rows[0], rows[-1]
        pl, ph = med(lo["recs"], "promote"), med(hi["recs"], "promote")
        rl, rh = med(lo["recs"], "rollback"), med(hi["recs"], "rollback")
        dl, dh = med(lo["recs"], "deploy"), med(hi["recs"], "deploy")
        if pl and ph and rl and rh:
            print(f"{hi['mb']:,.0f} MB / {lo['mb']:,.1f} MB of table data ({hi['mb'] / lo['mb']:,.0f}×): "
                  f"promote {ph / pl:.2f}× the time, rollback {rh / rl:.2f}×, deploy {dh / dl:.0f}× "
                  f"(deploy copies the data, promote moves none)")


def build_identity():
    """Which extension was measured: the commit, whether src/ differed from it, and the
    installed library's checksum (the tree may be shared with other work)."""
    def git(*args):
        p = subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True)
        return p.stdout.strip()
    lib = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    try:
        with open(os.path.join(lib, "bluegreen.so"), "rb") as fh:
            so = hashlib.sha256(fh.read()).hexdigest()[:12]
    except OSError:
        so = "?"
    dirty = git("status", "--porcelain", "--", "src", "sql", "Makefile", "bluegreen.control")
    return git("rev-parse", "--short", "HEAD"), bool(dirty), so


def main():
    ap = argparse.ArgumentParser(description="bg.promote / bg.rollback benchmark")
    ap.add_argument("--quick", action="store_true", help="small and short: to try the benchmark")
    ap.add_argument("--parts", default="load,models,data", help="load, models, data (comma-separated)")
    ap.add_argument("--load-models", type=int)
    ap.add_argument("--load-edit", type=int, default=3, help="staging models the change edits")
    ap.add_argument("--load-rows", type=int, help="rows per source table in the load part")
    ap.add_argument("--clients", type=int, help="pgbench clients (one process each)")
    ap.add_argument("--rate", type=float, help="transactions per second per client (pgbench -R)")
    ap.add_argument("--window", type=float, help="seconds of reading before and after each operation")
    ap.add_argument("--sizes", help="model counts of the models part (default 10,100,2400)")
    ap.add_argument("--reps", type=int, help="repetitions of deploy, promote, rollback, cleanup")
    ap.add_argument("--data-mb", help="MB of table data of the data part (default 1,200)")
    ap.add_argument("--big", action="store_true", help="add the 1 GB case to the data part")
    ap.add_argument("--data-models", type=int, default=10)
    ap.add_argument("--dbt-threads", type=int, default=2)
    a = ap.parse_args()
    q = a.quick
    a.load_models = a.load_models or (60 if q else 120)
    a.load_rows = a.load_rows or (5000 if q else 10000)
    a.clients = a.clients or (4 if q else 8)
    a.rate = a.rate or 10
    a.window = a.window or (2 if q else 5)
    a.sizes = [int(x) for x in (a.sizes or ("10,100" if q else "10,100,2400")).split(",") if x]
    a.reps = a.reps or (1 if q else 3)
    a.data_mb = [float(x) for x in (a.data_mb or ("1,20" if q else "1,200")).split(",") if x]
    if a.big and 1000 not in a.data_mb:
        a.data_mb.append(1000.0)
    parts = set(a.parts.split(","))

    t_start = time.perf_counter()
    cluster = Cluster()
    work = os.path.join(CACHE, "run")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    load0 = os.getloadavg()
    ident0 = build_identity()
    results = {}
    if "load" in parts:
        results["load"] = load_test(cluster, a, work)
        report_load(a, *results["load"])
        print(flush=True)
    if "models" in parts:
        results["models"] = models_test(cluster, a)
        report_models(a, results["models"])
        print(flush=True)
    if "data" in parts:
        results["data"] = data_test(cluster, a)
        report_data(a, results["data"])
        print(flush=True)
    load1 = os.getloadavg()
    ident1 = build_identity()
    with open("/proc/cpuinfo") as fh:
        cpu = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "?")
    version = cluster.execute("postgres", "SHOW server_version")[0][0].split()[0]
    print(f"PostgreSQL {version}, {os.cpu_count()} × {cpu}; load average {load0[0]:.1f} at the start, "
          f"{load1[0]:.1f} at the end (the machine may be shared); bench run {time.perf_counter() - t_start:.0f} s; "
          f"pgbench logs in {os.path.relpath(work, ROOT)}/")
    print(f"bluegreen built from {ident0[0]}{' with uncommitted changes to src/' if ident0[1] else ''}, "
          f"bluegreen.so {ident0[2]}"
          + ("" if ident1[2] == ident0[2] else f"; REPLACED during the run (now {ident1[2]}): "
             "another `make install` ran, figures may mix two builds"))
    failed = False
    if "load" in results and results["load"][1]["errors"]:
        log("bluegreen's readers had errors (see above)")
        failed = True
    for part in ("models", "data"):
        for r in results.get(part, []):
            if any("crash" in x or "error" in x for x in r["recs"]):
                log(f"{part}: a repetition failed or lost its session (see failed runs above)")
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
