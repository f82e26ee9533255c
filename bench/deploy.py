"""Benchmark of bg.deploy, side by side with dbt building the same change.

Run through bench/deploy, which builds and installs the extension and starts a throwaway
cluster (PGHOST/PGPORT point at it). For each scale (small: hundreds of small models; large:
a few models over ~10 million source rows; increment: the large project indexed, at 1 and
10 million rows with the same small increment, where the incremental model's own time, its
growth with the table and promote and rollback are also printed) this script:

  1. writes a v1 and a v2 of a runnable dbt project (bench/gendeploy.py) and loads their source
     data in a fresh database, in SQL (generate_series);
  2. builds v1 twice with `dbt run`, untimed: into schema analytics, which is then handed to
     bluegreen (bg.transfer_ownership) and registered (bg.create_project), and into schema
     dbt_analytics, dbt's own side, whose manifest is kept as the --state of the dbt runs;
     for the large scale, the last source rows then arrive (the incremental model's increment);
  3. compiles v2 against analytics (`dbt compile`, what a bluegreen deploy starts from) and
     checks that bg.plan selects exactly what `dbt ls --select state:modified+` selects;
  4. repeats, interleaved: `dbt run --select state:modified+ --state <v1>` and
     `dbt build --select state:modified+ --state <v1>` on dbt_analytics (each after restoring
     the incremental models it selects to their v1 content, so every run applies the same
     increment), and `CALL bg.deploy(<v2 manifest>)` (each after bg.abandon() of the previous
     one, untimed); a CHECKPOINT before each timed run;
  5. checks that both sides built the same relations with the same rows, and prints medians
     and ratios.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gendeploy  # noqa: E402

WORK = os.path.join(ROOT, ".work", "bench", "deploy")
DBT = os.path.join(ROOT, ".venv", "bin", "dbt")
LIVE, DBT_SCHEMA, SHADOW = "analytics", "dbt_analytics", "analytics__bg_shadow"


T0 = time.perf_counter()


def log(msg):
    print(f"bench [{time.perf_counter() - T0:4.0f} s]: {msg}", file=sys.stderr, flush=True)


class Cluster:
    """The throwaway cluster bench/deploy started."""

    def __init__(self):
        self.dir = os.environ["PGHOST"]
        self.owner = os.stat(self.dir)

    def place(self, path, name):
        """Copy a file where the server's OS user can read it (pg_read_file); return its path."""
        dst = os.path.join(self.dir, "in", name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.chown(os.path.dirname(dst), self.owner.st_uid, self.owner.st_gid)
        shutil.copy(path, dst)
        os.chown(dst, self.owner.st_uid, self.owner.st_gid)
        return dst

    def connect(self, db):
        conn = psycopg2.connect(dbname=db)
        conn.autocommit = True
        return conn

    def execute(self, db, sql, args=None):
        conn = self.connect(db)
        try:
            cur = conn.cursor()
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
        finally:
            conn.close()


class Dbt:
    """dbt in one project directory, always with the same target (so that its partial-parse
    cache stays valid from one invocation to the next)."""

    def __init__(self, path, target, db, threads):
        self.path, self.target, self.threads = path, target, threads
        self.env = dict(os.environ, PGDATABASE=db, DBT_SEND_ANONYMOUS_USAGE_STATS="false")

    def __call__(self, *args, threads=True):
        cmd = [DBT, "--no-version-check", "--no-use-colors"] + list(args) + [
            "--profiles-dir", ".", "--target", self.target]
        if threads:
            cmd += ["--threads", str(self.threads)]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True)
        t = time.perf_counter() - t0
        if p.returncode != 0:
            sys.stderr.write(p.stdout[-6000:] + p.stderr[-3000:])
            raise SystemExit(f"bench: dbt {' '.join(args)} failed in {self.path}")
        return t, p.stdout

    def file(self, name):
        return os.path.join(self.path, "target", name)

    def run_results(self):
        with open(self.file("run_results.json")) as f:
            doc = json.load(f)
        counts = {}
        for r in doc["results"]:
            kind = r["unique_id"].split(".", 1)[0]
            counts[(kind, r["status"])] = counts.get((kind, r["status"]), 0) + 1
        nodes = {r["unique_id"]: r["execution_time"] for r in doc["results"]}
        return counts, doc.get("elapsed_time"), nodes


def median(xs):
    return statistics.median(xs) if xs else None


def materializations(manifest_path, ids):
    with open(manifest_path) as f:
        nodes = json.load(f)["nodes"]
    kinds = {}
    for uid in ids:
        if uid.startswith("model."):
            k = nodes[uid]["config"]["materialized"]
            kinds[k] = kinds.get(k, 0) + 1
    return kinds


def kinds_text(kinds):
    order = ["view", "table", "incremental", "ephemeral", "materialized_view"]
    return ", ".join(f"{kinds[k]} {k}" for k in sorted(kinds, key=lambda k: (order.index(k) if k in order else 9, k)))


def run_scale(cluster, label, a):
    """Measure one scale; return (row, notes, ok)."""
    out = os.path.join(WORK, label)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    if label == "small":
        src_sql, inc_sql, gen = gendeploy.generate_small(out, a.small_models, a.small_rows,
                                                         a.small_edits, a.seed, a.threads)
        reps = a.small_reps
    elif label == "large":
        src_sql, inc_sql, gen = gendeploy.generate_large(out, a.large_rows, a.increment,
                                                         a.customers, a.threads)
        reps = a.large_reps
    else:
        # increment-<rows>: a large table, a small increment, indexed as such a team would
        rows = int(label.split("-")[1])
        src_sql, inc_sql, gen = gendeploy.generate_large(out, rows, a.increment_events / rows,
                                                         a.customers, a.threads, indexed=True)
        reps = a.large_reps
    db = f"bench_deploy_{label}".replace("-", "_")
    notes = []
    cluster.execute("postgres", f"DROP DATABASE IF EXISTS {db}")
    cluster.execute("postgres", f"CREATE DATABASE {db}")

    t0 = time.perf_counter()
    log(f"{label}: loading source data ({gen['source_rows']:,} rows, generate_series) ...")
    cluster.execute(db, src_sql)
    t_load = time.perf_counter() - t0
    cluster.execute(db, "CREATE EXTENSION bluegreen")

    dirs = {}
    for side, target in (("bg", "bg"), ("dbt", "dbt")):
        for version, src in (("v1", "old"), ("v2", "new")):
            path = os.path.join(out, f"{side}_{version}")
            shutil.copytree(os.path.join(out, src), path)
            dirs[side, version] = Dbt(path, target, db, a.threads)
    shutil.rmtree(os.path.join(out, "old"))
    shutil.rmtree(os.path.join(out, "new"))

    # v1 built by dbt on both sides at once (untimed): bluegreen's live schema, then handed over
    # and registered; dbt's own schema, whose manifest is the state dbt's runs compare with.
    log(f"{label}: dbt run of v1 into {LIVE} (bluegreen's live schema) and {DBT_SCHEMA} (dbt's) ...")
    v1_times = {}

    def build_v1(side):
        v1_times[side], _ = dirs[side, "v1"]("run", "--threads", "2", threads=False)
    workers = [threading.Thread(target=build_v1, args=(side,)) for side in ("bg", "dbt")]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if len(v1_times) != 2:
        raise SystemExit("bench: dbt run of v1 failed")
    v1_manifest = cluster.place(dirs["bg", "v1"].file("manifest.json"), f"{label}-v1.json")
    cluster.execute(db, f"""
        CALL bg.transfer_ownership('{LIVE}');
        GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
        GRANT SELECT ON ALL TABLES IN SCHEMA raw TO bluegreen_builder;
        CALL bg.create_project(pg_catalog.pg_read_file(%s));""", (v1_manifest,))
    state = os.path.join(out, "state_v1")
    os.makedirs(state)
    shutil.copy(dirs["dbt", "v1"].file("manifest.json"), os.path.join(state, "manifest.json"))
    if inc_sql:
        log(f"{label}: {gen['increment_rows']:,} new source rows arrive ...")
        cluster.execute(db, inc_sql)

    # v2: compiled against production for bluegreen; selected by dbt ls on dbt's side.
    log(f"{label}: VACUUM ANALYZE ...")
    cluster.execute(db, "VACUUM ANALYZE")
    log(f"{label}: dbt compile of v2 against {LIVE} ...")
    dirs["bg", "v2"]("parse", threads=False)
    bg_state = os.path.join(out, "state_bg_v1")
    os.makedirs(bg_state)
    shutil.copy(dirs["bg", "v1"].file("manifest.json"), os.path.join(bg_state, "manifest.json"))
    t_compile_sel, _ = dirs["bg", "v2"]("compile", "--select", "state:modified+", "--state", bg_state)
    t_compile, _ = dirs["bg", "v2"]("compile")
    v2_path = dirs["bg", "v2"].file("manifest.json")
    v2_manifest = cluster.place(v2_path, f"{label}-v2.json")
    plan = cluster.execute(db, """
        SELECT unique_id, resource_type, action FROM bg.plan(pg_catalog.pg_read_file(%s))
         WHERE selected""", (v2_manifest,))
    bg_sel = {uid for uid, rt, _ in plan if rt in ("model", "test")}
    sel_args = ["--select", "state:modified+", "--state", state]
    _, ls_out = dirs["dbt", "v2"]("-q", "ls", *sel_args, "--resource-type", "model",
                                  "--resource-type", "test", "--output", "json",
                                  "--output-keys", "unique_id", threads=False)
    dbt_sel = {json.loads(line)["unique_id"] for line in ls_out.splitlines() if line.startswith("{")}
    sel_models = sorted(u for u in dbt_sel if u.startswith("model."))
    sel_tests = sorted(u for u in dbt_sel if u.startswith("test."))
    kinds = materializations(v2_path, sel_models)
    same_selection = bg_sel == dbt_sel
    if not same_selection:
        for what, diff in (("bg.plan only", bg_sel - dbt_sel), ("dbt ls only", dbt_sel - bg_sel)):
            if diff:
                notes.append(f"  SELECTION MISMATCH, {what} ({len(diff)}): "
                             + ", ".join(sorted(diff)[:8]) + (" ..." if len(diff) > 8 else ""))

    # dbt's incremental models start every run from their v1 content: after each dbt run, the
    # rows it added (those not written by the transaction that built v1) are deleted and the
    # table vacuumed, which gives back its v1 pages. The increments here only add rows; if dbt
    # had deleted or updated a v1 row, the count would show it and the benchmark stops.
    with open(v2_path) as f:
        nodes = json.load(f)["nodes"]
    incrementals = {}
    for u in sel_models:
        if nodes[u]["config"]["materialized"] == "incremental":
            t = f"{DBT_SCHEMA}.{nodes[u]['alias']}"
            xmins = cluster.execute(db, f"SELECT xmin::text, count(*) FROM {t} GROUP BY 1")
            incrementals[t] = ([x for x, _ in xmins], sum(n for _, n in xmins))

    def restore():
        for t, (xmins, count) in incrementals.items():
            cluster.execute(db, f"DELETE FROM {t} WHERE NOT xmin::text = ANY(%s)", (xmins,))
            cluster.execute(db, f"VACUUM {t}")
            now = cluster.execute(db, f"SELECT count(*) FROM {t}")[0][0]
            if now != count:
                raise SystemExit(f"bench: {t} has {now} of its {count} v1 rows after dbt's run: "
                                 "the increment changed v1 rows, which this benchmark cannot undo")
        cluster.execute(db, "CHECKPOINT")

    def deploy():
        conn = cluster.connect(db)
        cur = conn.cursor()
        try:
            cur.execute("CALL bg.deploy(pg_catalog.pg_read_file(%s))", (v2_manifest,))
        except psycopg2.Error as e:
            conn.close()
            raise SystemExit(f"bench: bg.deploy failed: {e.pgcode}: {str(e).strip()}")
        conn.close()

    times = {"run": [], "build": [], "bg": []}
    elapsed = {"run": [], "build": []}
    results, node_times = {}, {}
    bg_rows = []
    # each run's time for the incremental models alone: dbt's execution_time, bg's step
    inc_ids = sorted(u for u in sel_models if nodes[u]["config"]["materialized"] == "incremental")
    inc_times = {u: {"run": [], "build": [], "bg": []} for u in inc_ids}
    for rep in range(reps):
        log(f"{label}: repetition {rep + 1} of {reps}: dbt run, dbt build, bg.deploy ...")
        for cmd in ("run", "build"):
            restore()
            t, _ = dirs["dbt", "v2"](cmd, *sel_args)
            times[cmd].append(t)
            results[cmd], el, node_times[cmd] = dirs["dbt", "v2"].run_results()
            elapsed[cmd].append(el)
            for u in inc_ids:
                inc_times[u][cmd].append(node_times[cmd].get(u))
        if rep:
            cluster.execute(db, "CALL bg.abandon()")
        cluster.execute(db, "CHECKPOINT")
        t0 = time.perf_counter()
        deploy()
        times["bg"].append(time.perf_counter() - t0)
        bg_rows.append(cluster.execute(db, """
            SELECT deployment_id, status, models_built, tests_passed, tests_warned, tests_failed,
                   extract(epoch FROM duration)::float8
              FROM bg.deployments ORDER BY deployment_id DESC LIMIT 1""")[0])
        for u, secs in cluster.execute(db, """
                SELECT unique_id, extract(epoch FROM duration)::float8 FROM bg.deployment_steps
                 WHERE deployment_id = %s AND unique_id = ANY(%s)""", (bg_rows[-1][0], inc_ids)):
            inc_times[u]["bg"].append(secs)
        log(f"{label}:   dbt run {times['run'][-1]:.2f} s, dbt build {times['build'][-1]:.2f} s, "
            f"bg.deploy {times['bg'][-1]:.2f} s")

    # What each side built: steps of the last deployment, run_results of the last dbt build.
    dep = bg_rows[-1]
    steps = cluster.execute(db, """
        SELECT action, status, count(*) FROM bg.deployment_steps WHERE deployment_id = %s
         GROUP BY 1, 2 ORDER BY 1, 2""", (dep[0],))
    bg_steps = cluster.execute(db, """
        SELECT unique_id, extract(epoch FROM duration)::float8 FROM bg.deployment_steps
         WHERE deployment_id = %s AND duration IS NOT NULL""", (dep[0],))
    bg_models = sum(n for act, st, n in steps if act == "build")
    bg_tests = sum(n for act, st, n in steps if act == "test")
    run_models = sum(n for (k, s), n in results["run"].items() if k == "model")
    build_models = sum(n for (k, s), n in results["build"].items() if k == "model")
    build_tests = sum(n for (k, s), n in results["build"].items() if k == "test")
    ok_all = (dep[1] == "built" and dep[5] == 0
              and run_models == build_models == bg_models == dep[2] == len(sel_models) - kinds.get("ephemeral", 0)
              and build_tests == bg_tests == len(sel_tests)
              and all(s in ("success", "pass") for (k, s) in list(results["run"]) + list(results["build"])))

    # Same relations, same rows: count and an order-independent hash of every row.
    checked, differ = 0, []
    views_too = label == "small"
    for u in sel_models:
        n = nodes[u]
        m = n["config"]["materialized"]
        if m == "ephemeral" or (m == "view" and not views_too):
            continue
        q = "SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM {}.{} AS t"
        a_ = cluster.execute(db, q.format(SHADOW, n["alias"]))[0]
        b_ = cluster.execute(db, q.format(DBT_SCHEMA, n["alias"]))[0]
        checked += 1
        if a_ != b_:
            differ.append(f"{n['alias']} (bg {a_[0]} rows, dbt {b_[0]})")
    # the last deployment promoted, then rolled back: the increment applied to the live
    # table and taken back out, each in the switch's one transaction
    switch = {}
    if label.startswith("increment") and dep[1] == "built":
        for op in ("promote", "rollback"):
            cluster.execute(db, "CHECKPOINT")
            t0 = time.perf_counter()
            cluster.execute(db, f"CALL bg.{op}()")
            switch[op] = time.perf_counter() - t0
        in_place = cluster.execute(db, """
            SELECT unique_id, in_place, message FROM bg.deployment_steps
             WHERE deployment_id = %s AND unique_id = ANY(%s)""", (dep[0], inc_ids))
        for u, flag, message in in_place:
            notes.append(f"{label}: {u.split('.')[2]}: {'in place' if flag else 'copy path'} ({message})")
    cluster.execute(db, "CALL bg.abandon()")
    sizes = cluster.execute(db, f"""
        SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'raw' AND c.relkind = 'r'""")[0][0]

    r, b, d = median(times["run"]), median(times["build"]), median(times["bg"])
    row = {
        "scale": (f"small: {gen['models']} models, {gen['source_rows']:,} source rows"
                  if label == "small" else
                  f"{label.split('-')[0]}: {gen['models']} models, {gen['source_rows']:,} source rows"),
        "selected": f"{len(sel_models)} models, {len(sel_tests)} tests",
        "built": f"{run_models} / {build_models}+{build_tests} / {bg_models}+{bg_tests}",
        "run": r, "build": b, "bg": d,
        "label": label, "table_rows": gen["rows_at_v1"], "increment_rows": gen["increment_rows"],
        "inc": {u.split(".")[2]: {k: median([x for x in v if x is not None]) for k, v in t.items()}
                for u, t in inc_times.items()},
        "switch": switch,
    }
    notes.append(f"{label}: {gen['models']} models ({kinds_text(gen['materializations'])}), "
                 f"{gen['tests']} tests; source {gen['source_rows']:,} rows ({sizes}), loaded in "
                 f"{t_load:.1f} s; v2 edits {', '.join(gen['edited'])}")
    if label != "small":
        notes.append(f"{label}: v1 built over {gen['rows_at_v1']:,} events; {gen['increment_rows']:,} "
                     f"arrive before v2 (the increment of {', '.join(t.split('.')[1] for t in incrementals)})")
    notes.append(f"{label}: selected (state:modified+): {kinds_text(kinds)}; {len(sel_tests)} tests; "
                 + ("bg.plan = dbt ls" if same_selection else "bg.plan ≠ dbt ls (see below)"))
    notes.append(f"{label}: built: dbt run {run_models} models; dbt build {build_models} models + "
                 f"{build_tests} tests; bg.deploy {dep[2]} models + {dep[3] + dep[4] + dep[5]} tests "
                 f"(status {dep[1]}; steps: " + ", ".join(f"{act} {st} {n}" for act, st, n in steps) + ")")
    notes.append(f"{label}: output: {checked} relations compared (rows and row hashes), "
                 + ("all equal" if not differ else "DIFFERENT: " + "; ".join(differ)))
    notes.append(f"{label}: every run, s: dbt run " + " ".join(f"{x:.2f}" for x in times["run"])
                 + "; dbt build " + " ".join(f"{x:.2f}" for x in times["build"])
                 + "; bg.deploy " + " ".join(f"{x:.2f}" for x in times["bg"]))
    notes.append(f"{label}: inside: dbt's own elapsed_time (run_results.json, after start-up and "
                 f"parse) run {median(elapsed['run']):.2f} s, build {median(elapsed['build']):.2f} s; "
                 f"bg.deployments.duration {median([x[6] for x in bg_rows]):.2f} s")
    def slowest(pairs):
        top = sorted(pairs, key=lambda p: -p[1])[:a.slowest]
        return ", ".join(f"{u.split('.')[2] if u.startswith('model.') else u.split('.')[2][:40]} {t:.2f}"
                         for u, t in top)
    if a.slowest:
        notes.append(f"{label}: slowest nodes, s: dbt build {slowest(node_times['build'].items())}; "
                     f"bg.deploy {slowest(bg_steps)}")
    notes.append(f"{label}: not timed: dbt compile of v2, the manifest bg.deploy takes: {t_compile:.1f} s "
                 f"(whole project), {t_compile_sel:.1f} s (--select state:modified+ only); "
                 f"dbt run of v1 (2 threads, both sides at once) {max(v1_times.values()):.1f} s")
    for n in notes:
        if "MISMATCH" in n or "DIFFERENT" in n:
            ok_all = False
    if not same_selection:
        ok_all = False
    cluster.execute("postgres", f"DROP DATABASE {db}")
    return row, notes, ok_all


def fmt(x):
    return "—" if x is None else f"{x:.2f}"


def print_increments(rows):
    """The incremental models of the increment cases: their own time on each side, the
    switch's, and the targets (within 1.5× of dbt's; within 1.5× between table sizes)."""
    print("| table rows | increment | model | dbt run s | dbt build s | bg.deploy s | bg / dbt run "
          "| promote s | rollback s |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    ok = True
    for r in rows:
        for model, t in r["inc"].items():
            ratio = t["bg"] / t["run"] if t["bg"] and t["run"] else None
            print(f"| {r['table_rows']:,} | {r['increment_rows']:,} | {model} | {fmt(t['run'])} | "
                  f"{fmt(t['build'])} | {fmt(t['bg'])} | "
                  + ("—" if ratio is None else f"{ratio:.2f}×")
                  + f" | {fmt(r['switch'].get('promote'))} | {fmt(r['switch'].get('rollback'))} |")
            met = ratio is not None and ratio <= 1.5
            ok &= met
            print(f"target: {model} at {r['table_rows']:,} rows within 1.5× of dbt run's: "
                  + ("met" if met else "NOT met"))
    if len(rows) > 1:
        small, big = rows[0], rows[-1]
        for model in small["inc"]:
            a, b = small["inc"][model]["bg"], big["inc"][model]["bg"]
            growth = b / a if a and b else None
            met = growth is not None and growth <= 1.5
            ok &= met
            print(f"target: {model}'s bg.deploy time from {small['table_rows']:,} to "
                  f"{big['table_rows']:,} table rows grows " + ("—" if growth is None else f"{growth:.2f}×")
                  + " (at most 1.5×): " + ("met" if met else "NOT met"))
    print()
    return ok


def main():
    ap = argparse.ArgumentParser(description="bg.deploy against dbt run / dbt build, same change")
    ap.add_argument("--scales", default="small,large", help="small, large or both (default)")
    ap.add_argument("--small-models", type=int, default=200)
    ap.add_argument("--small-rows", type=int, default=2000, help="rows per source table")
    ap.add_argument("--small-edits", type=int, default=6, help="models whose body v2 edits")
    ap.add_argument("--small-reps", type=int, default=3)
    ap.add_argument("--large-rows", type=int, default=10_000_000, help="event rows of the source")
    ap.add_argument("--increment", type=float, default=0.05,
                    help="share of the events arriving after v1 is built")
    ap.add_argument("--increment-rows", default="1000000,10000000",
                    help="increment scale: event rows of each case (the table fct_events grows to)")
    ap.add_argument("--increment-events", type=int, default=10_000,
                    help="increment scale: events arriving after v1 is built, the same in every case")
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--large-reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, choices=[1, 2], help="dbt threads")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--slowest", type=int, default=6,
                    help="print the N slowest nodes of the last dbt build and deployment")
    ap.add_argument("--quick", action="store_true",
                    help="try it: 60 small models, 300,000 large rows, 2 repetitions")
    a = ap.parse_args()
    if a.quick:
        a.small_models, a.large_rows, a.customers = 60, 300_000, 20_000
        a.small_edits = 3
        a.small_reps = a.large_reps = 2
    scales = [s for s in a.scales.split(",") if s]
    if any(s not in ("small", "large", "increment") for s in scales):
        ap.error("--scales takes small, large, increment, or a list of them")
    # the increment scale is one case per table size
    scales = [x for s in scales for x in
              ([f"increment-{n}" for n in a.increment_rows.split(",")] if s == "increment" else [s])]

    t_start = time.perf_counter()
    cluster = Cluster()
    rows, notes, ok = [], [], True
    for s in scales:
        row, n, good = run_scale(cluster, s, a)
        rows.append(row)
        notes += n
        ok &= good

    head = ["scale", "selected", "built: run / build / bg", "dbt run s", "dbt build s",
            "bg.deploy s", "run / bg", "build / bg"]
    table = [[r["scale"], r["selected"], r["built"], fmt(r["run"]), fmt(r["build"]), fmt(r["bg"]),
              f"{r['run'] / r['bg']:.1f}×", f"{r['build'] / r['bg']:.1f}×"] for r in rows]
    widths = [max(len(head[i]), *(len(r[i]) for r in table)) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(c.rjust(w) if i > 2 else c.ljust(w)
                                           for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    print()
    print(line(head))
    print("|" + "|".join("-" * (w + 1) + (":" if i > 2 else "-") for i, w in enumerate(widths)) + "|")
    for r in table:
        print(line(r))
    print()
    inc_rows = [r for r in rows if r["label"].startswith("increment")]
    if inc_rows:
        ok &= print_increments(inc_rows)
    for n in notes:
        print(n)
    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    version = cluster.execute("postgres", "SHOW server_version")[0][0].split()[0]
    dbt_version = subprocess.run([DBT, "--version"], capture_output=True, text=True).stdout
    core = next((l.split(":", 1)[1].strip() for l in dbt_version.splitlines() if "installed" in l), "?")
    reps = {"small": a.small_reps, "large": a.large_reps, "increment": a.large_reps}
    print("medians of " + " / ".join(f"{reps[s.split('-')[0]]} ({s})" for s in scales) + f" runs; dbt threads {a.threads}; "
          f"PostgreSQL {version}, dbt-core {core}, {os.cpu_count()} × {cpu}; "
          f"load average at the end {os.getloadavg()[0]:.1f}; bench run {time.perf_counter() - t_start:.0f} s")
    if not ok:
        log("the two sides did not do the same thing, or something failed (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
