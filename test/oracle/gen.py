#!/usr/bin/env python3
"""Ask dbt what each scenario must select.

For every scenario of scenarios.py this writes the old and the new project under
WORK/builds/<content hash>/, compiles each with dbt-postgres (`dbt compile`, so the
manifests are the ones a user would hand to bluegreen, compiled code included), and runs
`dbt ls --state <old target>` on the new project once per state selector.  The answers go
to WORK/index.json, which runner.py compares with bg.plan.

dbt is slow to start and slow to parse, so:
  * dbt runs in-process (dbtRunner), in at most --jobs worker processes;
  * a project is compiled once however many scenarios share it (most share the base), and
    is found again by the hash of its files on the next run;
  * the new project is parsed once per scenario and the ~18 `ls` calls reuse that manifest.

Compiling needs a database connection (is_incremental() looks at the target schema), taken
from PGHOST/PGPORT/PGUSER/PGDATABASE; nothing is built in it.
"""

import argparse
import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios  # noqa: E402

# The resource types bg.plan reports on.  Exposures, metrics and unit tests are outside
# what bluegreen deploys.
RESOURCE_TYPES = ["model", "seed", "snapshot", "test", "source", "analysis"]

# bg.plan's state_selectors vocabulary: dbt's state selectors, without "+".
SUB_SELECTORS = ["new", "modified", "modified.body", "modified.configs", "modified.relation",
                 "modified.persisted_descriptions", "modified.contract", "modified.macros"]

# What is asked of dbt for every scenario: name -> (--select, --indirect-selection).
#   all          every node of the new project: bg.plan must have a row for each.
#   modified+    what a deploy builds; bg.plan's `selected`.
#   <S>          `dbt ls --select state:S` exactly as a user would type it.  With dbt's
#                default (eager) indirect selection this includes the tests attached to
#                matching nodes, and that is what the contract compares with.
#   <S>@method   the same with --indirect-selection empty: the nodes the state method itself
#                matches.  Recorded so that a mismatch report can tell a selector bug from
#                a test-attachment bug.
QUERIES = {"all": (None, None), "modified+": ("state:modified+", None)}
for _s in SUB_SELECTORS:
    QUERIES[_s] = ("state:" + _s, None)
    QUERIES[_s + "@method"] = ("state:" + _s, "empty")

SELF = open(os.path.abspath(__file__), "rb").read()


def dbt_version():
    from importlib.metadata import version
    return f"dbt-core {version('dbt-core')}, dbt-postgres {version('dbt-postgres')}"


def content_key(files, salt=""):
    h = hashlib.sha256()
    h.update(dbt_version().encode())
    h.update(salt.encode())
    for path in sorted(files):
        h.update(b"\0" + path.encode() + b"\0" + files[path].encode())
    return h.hexdigest()[:16]


def write_project(root, files):
    if os.path.exists(root):
        shutil.rmtree(root)
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as fh:
            fh.write(text)


def log_tail(log_dir, lines=40):
    try:
        with open(os.path.join(log_dir, "dbt.log"), encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return "(no dbt.log)"


# ---------------------------------------------------------------------------------------
# Worker side.  dbt is imported only here so that the parent stays light and each worker
# pays the import once.

def _dbt(args, manifest=None):
    from dbt.cli.main import dbtRunner
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        res = dbtRunner(manifest=manifest).invoke(args)
    return res, out.getvalue()


def compile_job(build):
    proj, target, logs = (os.path.join(build, d) for d in ("project", "target", "logs"))
    t0 = time.time()
    res, out = _dbt(["compile", "--project-dir", proj, "--profiles-dir", proj,
                     "--target-path", target, "--log-path", logs, "--threads", "1",
                     "--no-use-colors", "--quiet"])
    if not res.success:
        return build, f"dbt compile failed: {res.exception}\n{out}\n{log_tail(logs)}"
    open(os.path.join(build, "compiled.ok"), "w").close()
    return build, f"compiled in {time.time() - t0:.1f}s"


def select_job(job):
    name, old_build, new_build, scratch, out_path = job
    proj = os.path.join(new_build, "project")
    old_target = os.path.join(old_build, "target")
    common = ["--project-dir", proj, "--profiles-dir", proj, "--target-path", scratch,
              "--log-path", os.path.join(scratch, "logs"), "--no-use-colors", "--quiet"]
    os.makedirs(scratch, exist_ok=True)
    # Parsing (rather than loading the compiled manifest.json) is what `dbt ls` does when a
    # user runs it, so the oracle sees the project the way dbt itself does.
    res, out = _dbt(["parse", "--no-partial-parse"] + common)
    if not res.success:
        return name, f"dbt parse failed: {res.exception}\n{out}"
    manifest = res.result
    answers = {}
    for qname, (select, indirect) in QUERIES.items():
        args = ["ls"] + common + ["--state", old_target, "--output", "json",
                                  "--output-keys", "unique_id", "--resource-type"]
        args += RESOURCE_TYPES
        if select:
            args += ["--select", select]
        if indirect:
            args += ["--indirect-selection", indirect]
        res, out = _dbt(args, manifest=manifest)
        if not res.success:
            return name, f"dbt ls --select {select} failed: {res.exception}\n{out}"
        answers[qname] = sorted(json.loads(line)["unique_id"] for line in res.result)
    with open(out_path, "w") as fh:
        json.dump(answers, fh, indent=1)
    return name, None


# ---------------------------------------------------------------------------------------

def node_ids(manifest_path):
    """unique_ids of the enabled nodes of RESOURCE_TYPES in a manifest."""
    with open(manifest_path) as fh:
        m = json.load(fh)
    ids = {uid for uid, n in m["nodes"].items() if n["resource_type"] in RESOURCE_TYPES}
    ids |= set(m["sources"])
    return ids


def expand(project, ids):
    return [i if "." in i else f"model.{project}.{i}" for i in ids]


def sanity(s, project, answers):
    """The scenario's own claims about dbt's answers; a failure is a broken scenario."""
    problems = []
    for sel, ids in s["must"].items():
        missing = [i for i in expand(project, ids)
                   if not any(a == i or a.startswith(i + ".") for a in answers[sel])]
        if missing:
            problems.append(f"dbt's {sel} lacks {missing}")
    for sel, ids in s["must_not"].items():
        extra = [i for i in expand(project, ids) if i in answers[sel]]
        if extra:
            problems.append(f"dbt's {sel} has {extra}")
    if s["nothing"] and answers["modified+"]:
        problems.append(f"dbt selects {answers['modified+']} where nothing should change")
    if not s["nothing"] and not answers["modified+"]:
        problems.append("dbt selects nothing")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="build directory (kept between runs)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="scenario names")
    args = ap.parse_args()

    # No network from dbt: no usage statistics, no version check.
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_VERSION_CHECK", "false")

    work = os.path.abspath(args.work)
    all_pairs = scenarios.build_all()
    if args.only:
        unknown = set(args.only) - {s["name"] for s, _, _ in all_pairs}
        if unknown:
            sys.exit(f"gen: unknown scenarios {sorted(unknown)}")
        all_pairs = [p for p in all_pairs if p[0]["name"] in args.only]

    builds = {}
    plan = []
    for s, old, new in all_pairs:
        ok = content_key(old)
        nk = content_key(new, salt=s["name"] if s["fresh"] else "")
        builds[ok] = old
        builds[nk] = new
        plan.append((s, os.path.join(work, "builds", ok), os.path.join(work, "builds", nk)))

    to_compile = []
    for key, files in builds.items():
        build = os.path.join(work, "builds", key)
        if not os.path.exists(os.path.join(build, "compiled.ok")):
            write_project(os.path.join(build, "project"), files)
            shutil.rmtree(os.path.join(build, "target"), ignore_errors=True)
            to_compile.append(build)

    t0 = time.time()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(max(1, args.jobs)) as pool:
        failed = False
        for build, msg in pool.imap_unordered(compile_job, to_compile):
            if not msg.startswith("compiled"):
                print(f"gen: {os.path.basename(build)}: {msg}", file=sys.stderr)
                failed = True
        if failed:
            sys.exit(2)
        if to_compile:
            print(f"gen: compiled {len(to_compile)} projects in {time.time() - t0:.0f}s",
                  file=sys.stderr)

        gen_key = hashlib.sha256(SELF).hexdigest()[:12]
        jobs = []
        for s, old_build, new_build in plan:
            out = os.path.join(work, "expected",
                               f"{os.path.basename(old_build)}-{os.path.basename(new_build)}"
                               f"-{gen_key}.json")
            if not os.path.exists(out):
                os.makedirs(os.path.dirname(out), exist_ok=True)
                scratch = os.path.join(work, "scratch", s["name"])
                jobs.append((s["name"], old_build, new_build, scratch, out))
            s["expected_path"] = out
        t0 = time.time()
        for name, err in pool.imap_unordered(select_job, jobs):
            if err:
                print(f"gen: {name}: {err}", file=sys.stderr)
                failed = True
        if failed:
            sys.exit(2)
        if jobs:
            print(f"gen: asked dbt about {len(jobs)} scenarios in {time.time() - t0:.0f}s",
                  file=sys.stderr)

    index = []
    broken = []
    for s, old_build, new_build in plan:
        with open(s["expected_path"]) as fh:
            answers = json.load(fh)
        old_manifest = os.path.join(old_build, "target", "manifest.json")
        new_manifest = os.path.join(new_build, "target", "manifest.json")
        with open(new_manifest) as fh:
            project = json.load(fh)["metadata"]["project_name"]
        answers["removed"] = sorted(node_ids(old_manifest) - node_ids(new_manifest))
        for problem in sanity(s, project, answers):
            broken.append(f"{s['name']}: {problem}")
        index.append(dict(name=s["name"], doc=s["doc"], old_manifest=old_manifest,
                          new_manifest=new_manifest, dbt=answers))
    if broken:
        print("gen: scenarios that do not test what they claim:", file=sys.stderr)
        for b in broken:
            print("  " + b, file=sys.stderr)
        sys.exit(2)

    with open(os.path.join(work, "index.json"), "w") as fh:
        json.dump(dict(dbt=dbt_version(), resource_types=RESOURCE_TYPES,
                       sub_selectors=SUB_SELECTORS, scenarios=index), fh, indent=1)


if __name__ == "__main__":
    main()
