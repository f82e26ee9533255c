"""Benchmark of bg.create_project and bg.plan, side by side with dbt's own selector.

Run through bench/plan, which builds and installs the extension and starts a throwaway
cluster (PGHOST/PGPORT point at it). For each project size this script:

  1. generates an old and a new version of a synthetic dbt project (bench/genproject.py) and
     runs `dbt parse` on each, caching both under .work/bench/ keyed by the parameters;
  2. times CALL bg.create_project(<old manifest>) in a fresh session of a fresh database and
     reads the backend's peak memory (VmHWM of /proc/<pg_backend_pid()>/status) right after;
  3. times SELECT count(*) FILTER (WHERE selected) FROM bg.plan(<new manifest>) (median);
  4. times `dbt ls --select state:modified+ --state <old>` on the new project (median) and
     checks that both select the same nodes.

It then times create_project of a ~100 MB manifest (10,000 models with long bodies).
The manifests are read by the server with pg_read_file(), so that neither the client nor the
SQL lexer holds a copy: the figures are the extension's, plus one copy of its argument.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import genproject  # noqa: E402

CACHE = os.path.join(ROOT, ".work", "bench")
DBT = os.path.join(ROOT, ".venv", "bin", "dbt")
MB = 1000 * 1000


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def dbt_env():
    env = dict(os.environ)
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    # dbt parse and ls never connect. The profile reads these, and dbt's partial-parse cache is
    # keyed by the connection settings: leave them out so the cache of a previous run stays valid.
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        env.pop(var, None)
    return env


def run_dbt(args, cwd):
    """Run dbt in a project directory; return (seconds, stdout). Fail loudly with its output."""
    t0 = time.perf_counter()
    p = subprocess.run([DBT, "--no-version-check"] + args + ["--profiles-dir", "."], cwd=cwd,
                       env=dbt_env(), capture_output=True, text=True)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise SystemExit(f"bench: dbt {' '.join(args)} failed in {cwd}")
    return t, p.stdout


def project(n_models, pad, seed, need_new):
    """Generate and parse (or find in the cache) one project pair; return its cache dir and meta."""
    with open(genproject.__file__, "rb") as f:
        gen_hash = hashlib.sha256(f.read())
    with open(os.path.join(ROOT, "requirements.txt"), "rb") as f:
        gen_hash.update(f.read())
    key = f"m{n_models}-pad{pad}-seed{seed}-{gen_hash.hexdigest()[:10]}"
    d = os.path.join(CACHE, key)
    meta_path = os.path.join(d, "meta.json")
    meta = {}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    if meta.get("old_parse_s") is not None and (not need_new or meta.get("new_parse_s") is not None):
        return d, meta
    if not meta:
        # Entries of an older generator or dbt for the same parameters are of no more use.
        prefix = key.rsplit("-", 1)[0] + "-"
        for old in os.listdir(CACHE) if os.path.isdir(CACHE) else []:
            if old.startswith(prefix) and old != key:
                shutil.rmtree(os.path.join(CACHE, old), ignore_errors=True)
        log(f"generating {n_models}-model project (pad {pad}) in {d}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        meta = {"generator": genproject.generate(d, n_models, seed, pad)}
    for version in (["old", "new"] if need_new else ["old"]):
        if meta.get(f"{version}_parse_s") is not None:
            continue
        log(f"dbt parse of the {version} {n_models}-model project ...")
        t, _ = run_dbt(["parse"], os.path.join(d, version))
        shutil.copy(os.path.join(d, version, "target", "manifest.json"),
                    os.path.join(d, f"{version}.manifest.json"))
        meta[f"{version}_parse_s"] = round(t, 1)
        log(f"dbt parse of the {version} project: {t:.1f} s")
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1)
    if need_new:
        # dbt ls compares with the old manifest in a state directory.
        os.makedirs(os.path.join(d, "state"), exist_ok=True)
        shutil.copy(os.path.join(d, "old.manifest.json"), os.path.join(d, "state", "manifest.json"))
    return d, meta


class Server:
    """The throwaway cluster bench/plan started: sessions, databases, files it can read."""

    def __init__(self):
        self.dir = os.environ["PGHOST"]
        self.owner = os.stat(self.dir)
        self.n_db = 0
        self.databases = []

    def place(self, path):
        """Copy a file where the server's OS user can read it; return the copy's path."""
        dst = os.path.join(self.dir, "in", os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path))
        if not os.path.exists(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.chown(os.path.dirname(dst), self.owner.st_uid, self.owner.st_gid)
            shutil.copy(path, dst)
            os.chown(dst, self.owner.st_uid, self.owner.st_gid)
        return dst

    def session(self, dbname="postgres"):
        conn = psycopg2.connect(dbname=dbname)
        conn.autocommit = True
        return conn

    def fresh_database(self, label):
        self.n_db += 1
        name = f"bench_{label}_{self.n_db}"
        self.execute("postgres", f'CREATE DATABASE "{name}"')
        self.execute(name, "CREATE EXTENSION bluegreen")
        self.databases.append(name)
        return name

    def settle(self):
        """Vacuum and analyze every database create_project wrote, then checkpoint: what
        autovacuum and the checkpointer would otherwise do beside the timed plans, on a
        machine of two cores, a minute after the rows were written. A production database
        has long done both by the time a plan runs against its live manifest."""
        for name in self.databases:
            self.execute(name, "VACUUM (ANALYZE)")
        self.execute("postgres", "CHECKPOINT")

    def execute(self, dbname, sql):
        conn = self.session(dbname)
        try:
            conn.cursor().execute(sql)
        finally:
            conn.close()


def backend_peak(cur):
    """VmHWM of this session's backend, in bytes (read from /proc: same machine, root or same user)."""
    cur.execute("SELECT pg_catalog.pg_backend_pid()")
    pid = cur.fetchone()[0]
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def time_create_project(server, manifest, label, runs):
    """create_project in a fresh database and a fresh session each run: (median s, max peak, db, pre)."""
    path = server.place(manifest)
    times, peaks, pres, first_db = [], [], [], None
    for _ in range(runs):
        db = server.fresh_database(label)
        first_db = first_db or db
        conn = server.session(db)
        cur = conn.cursor()
        pres.append(backend_peak(cur))
        t0 = time.perf_counter()
        cur.execute("CALL bg.create_project(pg_catalog.pg_read_file(%s), %s)", (path, f"acme{label}"))
        times.append(time.perf_counter() - t0)
        peaks.append(backend_peak(cur))
        conn.close()
    return statistics.median(times), max(peaks), first_db, max(pres)


def read_only_peak(server, manifest):
    """Peak of a fresh session that only reads the manifest (the floor any create_project pays)."""
    path = server.place(manifest)
    conn = server.session()
    cur = conn.cursor()
    cur.execute("SELECT pg_catalog.length(pg_catalog.pg_read_file(%s))", (path,))
    peak = backend_peak(cur)
    conn.close()
    return peak


def time_plan(server, db, manifest, label, runs):
    path = server.place(manifest)
    conn = server.session(db)
    cur = conn.cursor()
    cur.execute("SELECT unique_id FROM bg.plan(pg_catalog.pg_read_file(%s), %s) WHERE selected",
                (path, f"acme{label}"))
    ids = {r[0] for r in cur.fetchall()}
    q = "SELECT count(*) FILTER (WHERE selected) FROM bg.plan(pg_catalog.pg_read_file(%s), %s)"
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        cur.execute(q, (path, f"acme{label}"))
        count = cur.fetchone()[0]
        times.append(time.perf_counter() - t0)
    peak = backend_peak(cur)
    # The document sent as a SQL literal, which the server lexes and copies before the call:
    # by psycopg2 (quoted and spliced into the query by the client, whose time counts too),
    # and the way psql users pass it (\set manifest `cat manifest.json`, then :'manifest'),
    # timed by psql's \timing (from sending the query to its result).
    with open(manifest) as f:
        text = f.read()
    literal = []
    for _ in range(3):
        t0 = time.perf_counter()
        cur.execute("SELECT count(*) FILTER (WHERE selected) FROM bg.plan(%s::text, %s)",
                    (text, f"acme{label}"))
        cur.fetchone()
        literal.append(time.perf_counter() - t0)
    conn.close()
    return statistics.median(times), count, ids, peak, statistics.median(literal), \
        psql_literal_plan(db, manifest, f"acme{label}"), psql_literal_floor(db, manifest)


def psql_literal_plan(db, manifest, project, runs=3):
    """Median of psql's \\timing for plan with the manifest as psql's :'manifest' literal."""
    return psql_literal(db, manifest,
                        f"SELECT count(*) FILTER (WHERE selected) FROM bg.plan(:'manifest', '{project}');",
                        runs)


def psql_literal_floor(db, manifest, runs=3):
    """The same for a query that only takes the literal's length: what the server spends
    on a manifest sent this way (reading, lexing, converting it) before any function of
    bluegreen's is called."""
    return psql_literal(db, manifest, "SELECT pg_catalog.octet_length(:'manifest');", runs)


def psql_literal(db, manifest, query, runs):
    script = (f"\\set manifest `cat '{manifest}'`\n\\timing on\n" + (query + "\n") * runs)
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db],
                       input=script, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"bench: psql failed: {p.stderr.strip()}")
    times = [float(l.split()[1]) / 1000 for l in p.stdout.splitlines() if l.startswith("Time: ")]
    return statistics.median(times)


def time_anchors(server, manifest, runs=3):
    """The physical anchors beside bg.plan: reading the file, and PostgreSQL's own validation
    of it as json (median seconds)."""
    path = server.place(manifest)
    conn = server.session()
    cur = conn.cursor()
    out = []
    for q in ("SELECT pg_catalog.length(pg_catalog.pg_read_file(%s))",
              "SELECT pg_catalog.pg_read_file(%s)::json IS NOT NULL"):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            cur.execute(q, (path,))
            cur.fetchone()
            times.append(time.perf_counter() - t0)
        out.append(statistics.median(times))
    conn.close()
    return out


def time_dbt_ls(d, runs):
    """Median wall time of dbt ls state:modified+ on the new project, after one untimed run that
    leaves dbt's partial-parse cache warm (its best case)."""
    args = ["-q", "ls", "--select", "state:modified+", "--state", os.path.join(d, "state"),
            "--output", "json", "--output-keys", "unique_id"]
    _, out = run_dbt(args, os.path.join(d, "new"))
    ids = {json.loads(line)["unique_id"] for line in out.splitlines() if line.startswith("{")}
    times = [run_dbt(args, os.path.join(d, "new"))[0] for _ in range(runs)]
    return statistics.median(times), ids


def fmt(x, digits=3):
    return "—" if x is None else f"{x:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description="bg.create_project / bg.plan benchmark")
    ap.add_argument("--sizes", default="1000,10000", help="model counts, comma-separated")
    ap.add_argument("--big-models", type=int, default=10000, help="models of the ~100 MB manifest")
    ap.add_argument("--big-pad", type=int, default=4800,
                    help="bytes of SQL added to each model body of the big manifest")
    ap.add_argument("--no-big", action="store_true", help="skip the ~100 MB create_project")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--create-runs", type=int, default=3)
    ap.add_argument("--plan-runs", type=int, default=7)
    ap.add_argument("--dbt-runs", default="1000:5,10000:3",
                    help="timed dbt ls runs per size (size:runs,...; default 3)")
    ap.add_argument("--generate-only", action="store_true",
                    help="generate and parse the projects, measure nothing")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s]
    dbt_runs = {int(k): int(v) for k, v in (kv.split(":") for kv in a.dbt_runs.split(",") if kv)}

    t_start = time.perf_counter()
    projects = [(n, project(n, 0, a.seed, True)) for n in sizes]
    big = None if a.no_big else project(a.big_models, a.big_pad, a.seed, False)
    if a.generate_only:
        return 0

    server = Server()
    rows, notes, mismatch, failed = [], [], False, False
    for n, (d, meta) in projects:
        old, new = os.path.join(d, "old.manifest.json"), os.path.join(d, "new.manifest.json")
        size = os.path.getsize(old)
        runs = dbt_runs.get(n, 3)
        log(f"{n} models: dbt ls ({runs} timed runs after a warm-up) ...")
        l_s, l_ids = time_dbt_ls(d, runs)
        try:
            log(f"{n} models: create_project ...")
            c_s, c_peak, db, c_pre = time_create_project(server, old, str(n), a.create_runs)
            server.settle()
            log(f"{n} models: bg.plan ...")
            p_s, p_count, p_ids, p_peak, p_lit, p_psql, p_floor = time_plan(server, db, new,
                                                                            str(n), a.plan_runs)
            read_s, json_s = time_anchors(server, new)
        except psycopg2.Error as e:
            failed = True
            rows.append([f"{n:,}", f"{size / MB:.1f}", "error", "", "", "", fmt(l_s, 2), "",
                         f"? / {len(l_ids)}"])
            notes.append(f"{n:,} models: ERROR {e.pgcode}: {str(e).strip()}")
            continue
        same = p_ids == l_ids and p_count == len(l_ids)
        mismatch |= not same
        rows.append([f"{n:,}", f"{size / MB:.1f}", fmt(c_s), f"{c_peak / MB:.0f}",
                     f"{c_peak / size:.1f}×", fmt(p_s), fmt(l_s, 2), f"{l_s / p_s:.0f}×",
                     f"{p_count} / {len(l_ids)}" + ("" if same else " ≠")])
        callers = meta["generator"]["macro_callers"]
        notes.append(f"{n:,} models: {meta['generator']['body_changes']} body edits, "
                     f"{meta['generator']['config_changes']} config edits (+1 tag-only), 1 new model, 1 macro edit "
                     f"(called by {callers} model{'' if callers == 1 else 's'}); "
                     f"dbt parse (cold) {meta['old_parse_s']} s; "
                     f"plan with the manifest as a SQL literal: psql (:'manifest', \\timing) "
                     f"{p_psql:.3f} s (the literal alone, octet_length(:'manifest'): "
                     f"{p_floor:.3f} s), psycopg2 {p_lit:.3f} s; "
                     f"anchors: reading the new manifest {read_s:.3f} s, PostgreSQL's json "
                     f"validation of it {json_s:.3f} s; "
                     f"session peak before create_project {c_pre / MB:.0f} MB; "
                     f"plan session peak {p_peak / MB:.0f} MB")
        if not same:
            for what, diff in (("bg.plan only", p_ids - l_ids), ("dbt ls only", l_ids - p_ids)):
                if diff:
                    notes.append(f"  MISMATCH {n:,} models, {what} ({len(diff)}): "
                                 + ", ".join(sorted(diff)[:8]) + (" ..." if len(diff) > 8 else ""))
    if big:
        d, meta = big
        old = os.path.join(d, "old.manifest.json")
        size = os.path.getsize(old)
        log(f"{a.big_models} models, {size / MB:.0f} MB manifest: create_project ...")
        floor = read_only_peak(server, old)
        label = f"{a.big_models:,} (long bodies)"
        try:
            c_s, c_peak, _, c_pre = time_create_project(server, old, "big", a.create_runs)
            rows.append([label, f"{size / MB:.1f}", fmt(c_s), f"{c_peak / MB:.0f}",
                         f"{c_peak / size:.1f}×", "", "", "", ""])
            notes.append(f"{size / MB:.0f} MB manifest: session peak before create_project "
                         f"{c_pre / MB:.0f} MB; a session that only reads it (pg_read_file) peaks at "
                         f"{floor / MB:.0f} MB ({floor / size:.2f}× manifest)")
        except psycopg2.Error as e:
            failed = True
            rows.append([label, f"{size / MB:.1f}", "error", "", "", "", "", "", ""])
            notes.append(f"{size / MB:.0f} MB manifest: ERROR {e.pgcode}: {str(e).strip()}")

    head = ["models", "manifest MB", "create_project s", "peak MB", "peak ×manifest",
            "plan s (median)", "dbt ls s (median)", "dbt ls / plan", "selected bg / dbt"]
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                                           for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|")
    for r in rows:
        print(line(r))
    print()
    for note in notes:
        print(note)
    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    print(f"PostgreSQL {server_version(server)}, {os.cpu_count()} × {cpu}; "
          f"bench run {time.perf_counter() - t_start:.0f} s")
    if mismatch:
        log("bg.plan and dbt ls selected different nodes (see MISMATCH above)")
    if failed:
        log("bluegreen raised an error (see ERROR above)")
    return 1 if mismatch or failed else 0


def server_version(server):
    conn = server.session()
    cur = conn.cursor()
    cur.execute("SHOW server_version")
    v = cur.fetchone()[0].split()[0]
    conn.close()
    return v


if __name__ == "__main__":
    sys.exit(main())
