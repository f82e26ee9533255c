#!/usr/bin/env python3
"""Let dbt do every scenario, and keep what bluegreen will be held to.

For each scenario of scenarios.py, in a database named like the one bluegreen will use
(bgdo_<scenario>), dbt (after `dbt deps` for a version with a packages.yml):
  1. builds version 1: the raw data, `dbt seed`, `dbt run`, `dbt test`, then `dbt compile`
     (the manifest bluegreen registers as live); the database is dumped here (b_v1.sql):
     bluegreen's database starts as exactly this build of dbt's;
  2. for every stage: compiles the stage's version against the database as it stands
     (with --full-refresh for a full-refresh stage): the manifest bluegreen deploys; runs
     the stage's SQL on the sources; `dbt run` and `dbt test` (with `--select
     state:modified+ --state <previous version>` for a deploy, everything for a
     refresh); and records dbt's run_results and every relation it ran (kind, columns,
     rows, config; after a promoting stage, every relation of the project).
The database is then dropped.  bluegreen's side (runner.py) restores b_v1.sql into a fresh
database of the same name, so that every compiled manifest fits it.

Compiling a later stage against the database dbt has just moved on is compiling against
bluegreen's database after the promote: the same relations exist, and that is all
compilation reads (is_incremental()).

Everything lands in WORK/<scenario>-<key>/, where key hashes the scenario, dbt's version,
the server's and this code; a second run finds it there and runs no dbt at all.
"""

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenarios  # noqa: E402


def dbt_version():
    from importlib.metadata import version
    return f"dbt-core {version('dbt-core')}, dbt-postgres {version('dbt-postgres')}"


def server_version():
    import psycopg2
    with psycopg2.connect(dbname="postgres") as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version_num")
        return cur.fetchone()[0]


def dbname(s):
    return "bgdo_" + s["name"]


def scenario_key(s, salt):
    h = hashlib.sha256(salt.encode())
    h.update(json.dumps(s, sort_keys=True).encode())
    for f in ("gen.py", "relations.py"):
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:16]


def write_project(root, files):
    shutil.rmtree(root, ignore_errors=True)
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as fh:
            fh.write(text)


# ---------------------------------------------------------------------------------------
# Worker side: dbt in-process.

_ADAPTER_FLAGS = None


def copy_manifest(m):
    """A fresh copy of a parsed manifest for each command: a command compiles into the
    manifest it is given, and a `run` given the manifest a `compile` went through loses
    the CTEs of ephemeral models.  (copy.deepcopy and pickle go through dbt 1.11's
    Manifest.__reduce_ex__, whose arguments no longer match the fields.)  The private
    fields (lookups, lock, parsing info) start afresh, as after a parse."""
    new = object.__new__(type(m))
    for f in dataclasses.fields(m):
        if f.name.startswith("_"):
            if f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                value = f.default if f.default is not dataclasses.MISSING else None
        else:
            value = copy.deepcopy(getattr(m, f.name))
        object.__setattr__(new, f.name, value)
    return new


class DbtFailed(Exception):
    pass


class Work:
    """One scenario's dbt runs, in its directory."""

    def __init__(self, s, out):
        self.s = s
        self.out = out
        self.db = dbname(s)
        self.parsed = {}

    def log_tail(self, lines=25):
        try:
            with open(os.path.join(self.out, "logs", "dbt.log"), encoding="utf-8",
                      errors="replace") as fh:
                return "".join(fh.readlines()[-lines:])
        except OSError:
            return "(no dbt.log)"

    def dbt(self, version, command, target, extra=(), must_succeed=True):
        from dbt.cli.main import dbtRunner
        import dbt.adapters.base.impl as adapter_impl
        # Every adapter dbt creates appends its behaviour flags to this module-level list
        # and never takes them off; put the list back as it was (see test/oracle/gen.py).
        global _ADAPTER_FLAGS
        flags = getattr(adapter_impl, "DEFAULT_BASE_BEHAVIOR_FLAGS", None)
        if isinstance(flags, list):
            if _ADAPTER_FLAGS is None:
                _ADAPTER_FLAGS = list(flags)
            flags[:] = _ADAPTER_FLAGS
        proj = os.path.join(self.out, "projects", version)
        args = [command, "--project-dir", proj, "--profiles-dir", proj,
                "--target-path", os.path.join(self.out, "targets", target),
                "--log-path", os.path.join(self.out, "logs"), "--no-use-colors", "--quiet"]
        if command != "parse":
            args += ["--threads", "1"]
        args += list(extra)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            manifest = self.parsed.get(version)
            res = dbtRunner(manifest=copy_manifest(manifest) if manifest else None).invoke(args)
        if res.exception is not None or (must_succeed and not res.success):
            raise DbtFailed(f"dbt {' '.join([command] + list(extra))} ({version}) failed: "
                            f"{res.exception}\n{out.getvalue()}\n{self.log_tail()}")
        return res

    def parse(self, version):
        if version not in self.parsed:
            self.deps(version)
            res = self.dbt(version, "parse", f"parse_{version}", ["--no-partial-parse"])
            self.parsed[version] = res.result

    def deps(self, version):
        """`dbt deps` for a version with a packages.yml, as a user installs its packages."""
        from dbt.cli.main import dbtRunner
        proj = os.path.join(self.out, "projects", version)
        if not os.path.exists(os.path.join(proj, "packages.yml")):
            return
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            res = dbtRunner().invoke(["deps", "--project-dir", proj, "--profiles-dir", proj,
                                      "--log-path", os.path.join(self.out, "logs"),
                                      "--no-use-colors", "--quiet"])
        if not res.success:
            raise DbtFailed(f"dbt deps ({version}) failed: {res.exception}\n{out.getvalue()}\n"
                            f"{self.log_tail()}")

    def target_file(self, target, name):
        return os.path.join(self.out, "targets", target, name)

    def sql(self, text):
        import psycopg2
        if not text:
            return
        conn = psycopg2.connect(dbname=self.db)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(text)
        conn.close()

    def snapshot(self, relations):
        import psycopg2
        import relations as rel
        conn = psycopg2.connect(dbname=self.db)
        conn.autocommit = True
        out = {}
        with conn.cursor() as cur:
            for schema, name in relations:
                out[f"{schema}.{name}"] = rel.snapshot(cur, schema, name)
        conn.close()
        return out


def results(path):
    with open(path) as fh:
        return {r["unique_id"]: r for r in json.load(fh)["results"]}


def manifest_models(path):
    """{unique_id: [schema, alias]} of the enabled models with a relation."""
    with open(path) as fh:
        m = json.load(fh)
    return {uid: [n["schema"], n["alias"]] for uid, n in m["nodes"].items()
            if n["resource_type"] == "model" and n["config"].get("enabled", True)
            and n["config"].get("materialized") != "ephemeral"}


def relation_of(result):
    # "db"."schema"."name"; names in these projects need no quoting inside
    parts = [p.strip('"') for p in result["relation_name"].split(".")]
    return parts[1], parts[2]


def run_scenario(s, out):
    w = Work(s, out)
    import psycopg2
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{w.db}"')
        cur.execute(f'CREATE DATABASE "{w.db}"')
    os.environ["PGDATABASE"] = w.db
    try:
        for version, files in s["versions"].items():
            write_project(os.path.join(out, "projects", version), files)
        os.makedirs(os.path.join(out, "manifests"), exist_ok=True)
        w.sql(s["raw"])

        # version 1, built live by dbt
        w.parse("v1")
        w.dbt("v1", "seed", "v1")
        w.dbt("v1", "run", "v1")
        w.dbt("v1", "test", "v1")
        w.dbt("v1", "compile", "v1")
        shutil.copy(w.target_file("v1", "manifest.json"), os.path.join(out, "manifests", "v1.json"))
        pg_dump = os.path.join(subprocess.run(["pg_config", "--bindir"], capture_output=True,
                                              text=True, check=True).stdout.strip(), "pg_dump")
        subprocess.run([pg_dump, "--no-password", "-f", os.path.join(out, "b_v1.sql"), w.db],
                       check=True, capture_output=True)

        expected = dict(name=s["name"], doc=s["doc"], db=w.db, dbt=dbt_version(),
                        v1_manifest="manifests/v1.json", dump="b_v1.sql",
                        live_schemas=sorted({r[0] for r in manifest_models(
                            w.target_file("v1", "manifest.json")).values()}),
                        stages=[])
        state = "v1"
        live_manifest = w.target_file("v1", "manifest.json")
        for i, st in enumerate(s["stages"], 1):
            version = st["version"]
            label = f"{version}" if st["kind"] == "deploy" else f"{version} refresh"
            a_target = f"a_stage{i}"
            fr = ["--full-refresh"] if st["full_refresh"] else []
            stage = dict(label=label, kind=st["kind"], full_refresh=st["full_refresh"],
                         promote=st["promote"], between=st["between"])
            w.parse(version)
            select = []
            if st["kind"] == "deploy":
                # what bluegreen will deploy: compiled against the database as it is
                w.dbt(version, "compile", f"b_stage{i}", fr)
                stage["manifest"] = f"manifests/stage{i}.json"
                shutil.copy(w.target_file(f"b_stage{i}", "manifest.json"),
                            os.path.join(out, stage["manifest"]))
                select = ["--select", "state:modified+", "--state",
                          os.path.join(out, "targets", state)]
            w.sql(st["between"])
            w.dbt(version, "run", a_target, select + fr, must_succeed=False)
            shutil.copy(w.target_file(a_target, "run_results.json"),
                        w.target_file(a_target, "run_results.run.json"))
            w.dbt(version, "test", a_target, select, must_succeed=False)
            ran = results(w.target_file(a_target, "run_results.run.json"))
            tested = results(w.target_file(a_target, "run_results.json"))
            stage["dbt_run"] = {uid: dict(status=r["status"], relation=relation_of(r),
                                          message=r.get("message"))
                                for uid, r in ran.items()}
            stage["dbt_test"] = {uid: dict(status=r["status"], failures=r.get("failures"),
                                           message=r.get("message"))
                                 for uid, r in tested.items()}
            new_manifest = w.target_file(a_target, "manifest.json")
            before, after = manifest_models(live_manifest), manifest_models(new_manifest)
            stage["removed"] = sorted(set(before) - set(after))
            # a model whose schema or alias changes: its old relation, which dbt leaves
            # and bluegreen removes at promote (a move is a removal plus an addition)
            stage["moved"] = {uid: before[uid] for uid in sorted(set(before) & set(after))
                              if before[uid] != after[uid]}
            stage["gone"] = {uid: before[uid] for uid in stage["removed"]}
            stage["gone"].update(stage["moved"])
            wanted = {tuple(r["relation"]) for r in stage["dbt_run"].values()
                      if r["status"] == "success"}
            if st["promote"]:
                stage["live"] = after
                wanted |= {tuple(r) for r in after.values()}
            stage["relations"] = w.snapshot(sorted(wanted))
            stage["dbt_differs"] = st["dbt_differs"]
            # what dbt's error for each model it must refuse says (sanity checks dbt's)
            stage["refused"] = s["must"][i - 1].get("refused", {})
            full = [u for u, why in st["dbt_differs"].items() if isinstance(why, str)]
            if full:
                # what bluegreen builds instead: dbt's own --full-refresh build
                w.dbt(version, "run", f"a_stage{i}_full",
                      ["--full-refresh", "--select"] + [u.split(".")[-1] for u in full])
                stage["relations_full_refresh"] = w.snapshot(
                    sorted(tuple(stage["dbt_run"][u]["relation"]) for u in full))
            expected["stages"].append(stage)
            # bluegreen plans every deploy against what is live: a stage that does not
            # promote leaves it as it was, so the next stage's dbt compares with the
            # same state (dbt's database has moved on, which compiling the next
            # version reads: a stage after an unpromoted one must not depend on what
            # that one built, such as a new incremental model)
            if st["promote"]:
                state = a_target
                live_manifest = new_manifest

        problems = sanity(s, expected)
        if problems:
            raise DbtFailed("the scenario does not test what it claims:\n  "
                            + "\n  ".join(problems))
        with open(os.path.join(out, "expected.json"), "w") as fh:
            json.dump(expected, fh, indent=1)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{w.db}"')
        admin.close()


def sanity(s, expected):
    """The scenario's own claims about what dbt does in each stage."""
    problems = []
    for i, (must, stage) in enumerate(zip(s["must"], expected["stages"]), 1):
        ran = {u for u, r in stage["dbt_run"].items() if r["status"] == "success"}
        refused = must.get("refused", {})
        bad = [u for u, r in stage["dbt_run"].items()
               if r["status"] != "success" and u not in refused]
        if bad:
            problems.append(f"stage {i}: dbt did not build {bad}")
        # models dbt must refuse to build, each with an error saying so
        for uid, says in refused.items():
            r = stage["dbt_run"].get(uid)
            if r is None or r["status"] != "error" or says not in (r["message"] or ""):
                problems.append(f"stage {i}: {uid}: dbt did not refuse it with an error "
                                f"about {says!r}: {r}")
        missing = sorted(set(must.get("ran", ())) - ran)
        if missing:
            problems.append(f"stage {i}: dbt did not run {missing}")
        extra = sorted(set(must.get("not_ran", ())) & set(stage["dbt_run"]))
        if extra:
            problems.append(f"stage {i}: dbt ran {extra}")
        for uid, why in s["stages"][i - 1]["dbt_differs"].items():
            key = ".".join(stage["dbt_run"].get(uid, {}).get("relation", ["?", "?"]))
            dbt_rel = stage["relations"].get(key)
            if dbt_rel is None:
                problems.append(f"stage {i}: {uid}: dbt did not build it")
            elif isinstance(why, str):
                if dbt_rel == stage.get("relations_full_refresh", {}).get(key):
                    problems.append(f"stage {i}: {uid}: dbt run and dbt run --full-refresh "
                                    "build the same: the documented difference is gone")
            elif all(dbt_rel["config"][k] == v for k, v in why["config"].items()):
                problems.append(f"stage {i}: {uid}: dbt already has {why['config']}: the "
                                "documented difference is gone")
        for prefix, status in must.get("tests", {}).items():
            got = [r["status"] for u, r in stage["dbt_test"].items() if u.startswith(prefix)]
            if got != [status]:
                problems.append(f"stage {i}: {prefix}: dbt says {got}, the scenario {status}")
    return problems


def job(args):
    s, out = args
    t0 = time.time()
    try:
        run_scenario(s, out)
        open(os.path.join(out, "ok"), "w").close()
        return s["name"], None, time.time() - t0
    except Exception as e:  # noqa: BLE001 - reported to the parent
        return s["name"], f"{type(e).__name__}: {e}", time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()

    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_VERSION_CHECK", "false")

    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    all_s = scenarios.all_scenarios()
    if args.only:
        unknown = set(args.only) - {s["name"] for s in all_s}
        if unknown:
            sys.exit(f"gen: unknown scenarios {sorted(unknown)}")
    chosen = [s for s in all_s if not args.only or s["name"] in args.only]
    salt = dbt_version() + " pg " + server_version()
    dirs = {s["name"]: os.path.join(work, f"{s['name']}-{scenario_key(s, salt)}")
            for s in chosen}
    todo = [(s, dirs[s["name"]]) for s in chosen
            if not os.path.exists(os.path.join(dirs[s["name"]], "ok"))]
    # the longest first, so that two workers finish together
    todo.sort(key=lambda t: -len(t[0]["stages"]) * len(json.dumps(t[0]["versions"])))
    for _, out in todo:
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)

    failed = False
    t0 = time.time()
    if todo:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(max(1, min(args.jobs, len(todo)))) as pool:
            for name, err, secs in pool.imap_unordered(job, todo):
                if err:
                    print(f"gen: {name}: {err}", file=sys.stderr)
                    failed = True
                else:
                    print(f"gen: {name}: dbt ran it in {secs:.0f}s", file=sys.stderr)
        print(f"gen: dbt ran {len(todo)} scenarios in {time.time() - t0:.0f}s", file=sys.stderr)
    if failed:
        sys.exit(2)

    with open(os.path.join(work, "index.json"), "w") as fh:
        json.dump([dict(name=s["name"], dir=dirs[s["name"]]) for s in chosen], fh, indent=1)

    # leftovers of earlier versions of the scenarios
    if not args.only:
        keep = {os.path.basename(d) for d in dirs.values()} | {"index.json", "gen.log"}
        for entry in os.listdir(work):
            if entry not in keep:
                path = os.path.join(work, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


if __name__ == "__main__":
    main()
