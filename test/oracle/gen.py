#!/usr/bin/env python3
"""Ask dbt what each scenario must select.

For every scenario of scenarios.py this writes the old and the new project under
WORK/builds/<content hash>/, compiles each with dbt-postgres (`dbt compile`, so the
manifests are the ones a user would hand to bluegreen, compiled code included), and runs
`dbt ls --state <old target>` on the new project once per state selector.  The answers go
to WORK/index.json, which runner.py compares with bg.plan.

A project with a packages.yml gets its packages first, as a user's does (`dbt deps`).

dbt is slow to start and slow to parse, so:
  * dbt runs in-process (dbtRunner), in at most --jobs worker processes;
  * a project is compiled once however many scenarios share it (most share the base), and
    both builds and dbt's answers are found again by content hash on the next run;
  * a scenario's new project is parsed once; `compile` and the ~18 `ls` calls all reuse
    that parsed manifest.

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
#   modified+    what a deploy builds: bg.plan's `selected`.
#   <S>          the nodes dbt's state method S itself matches, i.e. `dbt ls --select
#                state:S --indirect-selection empty`: bg.plan's state_selectors is a
#                property of each node, and an unchanged test does not match
#                state:modified.body just because the model it tests does.
#   <S>@ls       the same with dbt's default (eager) indirect selection, which adds the tests
#                attached to the matching nodes: what a plain `dbt ls --select state:S`
#                prints.  Kept to explain mismatches; `modified+` needs no such variant
#                because "+" reaches those tests anyway.
QUERIES = {"all": (None, None), "modified+": ("state:modified+", None)}
for _s in SUB_SELECTORS:
    QUERIES[_s] = ("state:" + _s, "empty")
    QUERIES[_s + "@ls"] = ("state:" + _s, None)

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


def log_tail(build, lines=15):
    try:
        with open(os.path.join(build, "logs", "dbt.log"), encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return "(no dbt.log)"


# ---------------------------------------------------------------------------------------
# Worker side.  dbt is imported only here so that the parent stays light and each worker
# pays the import once.

_ADAPTER_FLAGS = None


def _dbt(args, manifest=None):
    from dbt.cli.main import dbtRunner
    import dbt.adapters.base.impl as adapter_impl
    # Every adapter dbt creates appends its behaviour flags to this module-level list and
    # never takes them off, so each invocation in a long-lived process gets slower than the
    # last (seconds per `ls` after a few hundred).  Put the list back as it was at start.
    global _ADAPTER_FLAGS
    flags = getattr(adapter_impl, "DEFAULT_BASE_BEHAVIOR_FLAGS", None)
    if isinstance(flags, list):
        if _ADAPTER_FLAGS is None:
            _ADAPTER_FLAGS = list(flags)
        flags[:] = _ADAPTER_FLAGS
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        res = dbtRunner(manifest=manifest).invoke(args)
    return res, out.getvalue()


def _args(build, target=None):
    proj = os.path.join(build, "project")
    target = target or os.path.join(build, "target")
    return ["--project-dir", proj, "--profiles-dir", proj, "--target-path", target,
            "--log-path", os.path.join(build, "logs"), "--no-use-colors", "--quiet"]


def scratch_dir(build):
    """A target directory of this process's own, for commands whose output is not kept:
    the compiled target may be in use, and another worker may run dbt on the same project."""
    return os.path.join(build, f"scratch.{os.getpid()}")


def install_packages(build):
    """`dbt deps` for a project with a packages.yml, as a user installs its packages (the
    scenarios' are local: paths); once per build.  Returns an error or None."""
    proj = os.path.join(build, "project")
    done = os.path.join(proj, ".bg_deps_done")
    if not os.path.exists(os.path.join(proj, "packages.yml")) or os.path.exists(done):
        return None
    res, out = _dbt(["deps", "--project-dir", proj, "--profiles-dir", proj,
                     "--log-path", os.path.join(build, "logs"), "--no-use-colors", "--quiet"])
    if not res.success:
        return f"dbt deps failed: {res.exception}\n{out}\n{log_tail(build)}"
    open(done, "w").close()
    return None


def compile_project(build):
    """Parse and compile one project; return (manifest object, error)."""
    err = install_packages(build)
    if err:
        return None, err
    # Parsing first and handing the result to `compile` costs one parse for both; the
    # manifest.json written is the one a plain `dbt compile` writes.
    res, out = _dbt(["parse", "--no-partial-parse"] + _args(build, target=scratch_dir(build)))
    if not res.success:
        return None, f"dbt parse failed: {res.exception}\n{out}\n{log_tail(build)}"
    manifest = res.result
    if not os.path.exists(os.path.join(build, "compiled.ok")):
        res, out = _dbt(["compile", "--threads", "1"] + _args(build), manifest=manifest)
        if not res.success:
            return None, f"dbt compile failed: {res.exception}\n{out}\n{log_tail(build)}"
        open(os.path.join(build, "compiled.ok"), "w").close()
    return manifest, None


def compile_job(build):
    try:
        return build, compile_project(build)[1]
    finally:
        shutil.rmtree(scratch_dir(build), ignore_errors=True)


def select_job(job):
    """Compile a scenario's new project and ask dbt's selectors about it."""
    name, old_build, new_build, out_path = job
    try:
        return name, ask_dbt(old_build, new_build, out_path)
    finally:
        shutil.rmtree(scratch_dir(new_build), ignore_errors=True)


def ask_dbt(old_build, new_build, out_path):
    manifest, err = compile_project(new_build)
    if err:
        return err
    common = _args(new_build, target=scratch_dir(new_build))
    answers = {}
    for qname, (select, indirect) in QUERIES.items():
        args = ["ls"] + common + ["--state", os.path.join(old_build, "target"),
                                  "--output", "json", "--output-keys", "unique_id",
                                  "--resource-type"] + RESOURCE_TYPES
        if select:
            args += ["--select", select]
        if indirect:
            args += ["--indirect-selection", indirect]
        res, out = _dbt(args, manifest=manifest)
        if not res.success:
            return f"dbt ls --select {select} failed: {res.exception}\n{out}"
        answers[qname] = sorted(json.loads(line)["unique_id"] for line in res.result)
    with open(out_path, "w") as fh:
        json.dump(answers, fh, indent=1)
    return None


# ---------------------------------------------------------------------------------------

def node_ids(manifest_path):
    """unique_ids of the enabled nodes of RESOURCE_TYPES in a manifest."""
    with open(manifest_path) as fh:
        m = json.load(fh)
    # A test of a disabled model stays in "nodes", with enabled: false.
    return {uid for uid, n in list(m["nodes"].items()) + list(m["sources"].items())
            if n["resource_type"] in RESOURCE_TYPES
            and n.get("config", {}).get("enabled", True)}


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
    for key, files in builds.items():
        build = os.path.join(work, "builds", key)
        if not os.path.exists(os.path.join(build, "compiled.ok")):
            write_project(os.path.join(build, "project"), files)
            shutil.rmtree(os.path.join(build, "target"), ignore_errors=True)

    gen_key = hashlib.sha256(SELF).hexdigest()[:12]
    olds = sorted({old for _, old, _ in plan
                   if not os.path.exists(os.path.join(old, "compiled.ok"))})
    jobs, claimed = [], set()
    for s, old_build, new_build in plan:
        s["expected_path"] = os.path.join(
            work, "expected",
            f"{os.path.basename(old_build)}-{os.path.basename(new_build)}-{gen_key}.json")
        if os.path.exists(s["expected_path"]):
            continue
        os.makedirs(os.path.dirname(s["expected_path"]), exist_ok=True)
        # Two jobs must not compile the same project at once.
        if new_build in claimed or new_build in olds:
            olds.append(new_build)
        claimed.add(new_build)
        jobs.append((s["name"], old_build, new_build, s["expected_path"]))

    t0 = time.time()
    failed = False
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(max(1, args.jobs)) as pool:
        # The old projects first: every `ls` reads an old manifest.json as its --state.
        for build, err in pool.imap_unordered(compile_job, sorted(set(olds))):
            if err:
                print(f"gen: {os.path.basename(build)}: {err}", file=sys.stderr)
                failed = True
        if failed:
            sys.exit(2)
        for name, err in pool.imap_unordered(select_job, jobs):
            if err:
                print(f"gen: {name}: {err}", file=sys.stderr)
                failed = True
    if failed:
        sys.exit(2)
    if jobs:
        print(f"gen: compiled and asked dbt about {len(jobs)} scenarios in "
              f"{time.time() - t0:.0f}s", file=sys.stderr)

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

    # After a full run, whatever no scenario uses any more is an old version's leftovers.
    if not args.only:
        keep = set(builds) | {os.path.basename(s["expected_path"]) for s, _, _ in plan}
        for sub in ("builds", "expected"):
            for entry in os.listdir(os.path.join(work, sub)):
                if entry not in keep:
                    shutil.rmtree(os.path.join(work, sub, entry), ignore_errors=True)
                    if os.path.isfile(os.path.join(work, sub, entry)):
                        os.remove(os.path.join(work, sub, entry))


if __name__ == "__main__":
    main()
