#!/usr/bin/env python3
"""bluegreen's side of the deploy oracle: do with bg.deploy what dbt did, and compare.

For each scenario gen.py prepared: a fresh database (bgdo_<scenario>) restored from the
dump of dbt's version-1 build; the extension; bg.transfer_ownership of every live schema
and the source grants; bg.create_project(version 1's manifest).  Then, stage by stage:
the stage's SQL on the sources, bg.deploy (of the stage's manifest, compiled against this
database; or, for a refresh, of nothing), and these checks against what dbt did:

  deploy              the deployment is `built`, or `failed` exactly when dbt's run had
                      an error-severity test fail (or a model error)
  models built        bluegreen built exactly the models `dbt run` ran
  <model> built       ... with status ok, into the shadow of the relation dbt wrote
  <model> columns     the shadow relation has dbt's kind and columns (names, types, order)
  <model> rows        ... and dbt's rows, as a multiset
  <model> config      ... and dbt's indexes, constraints, NOT NULLs, comments, grants
  tests run           bluegreen ran exactly the tests `dbt test` ran
  <test> result       ... each with dbt's status (pass/warn/fail/error) and failure count
  removed             a model gone from the project, and the old relation of a model that
                      moves (another schema or alias), are to be removed at promote (dbt
                      leaves them; see README)
and, in a promoting stage, `promote` and `live <model> columns/rows/config` for every
model of the project: the live relations equal dbt's, and `removed <model>`: the old
relations removed or moved away are no longer live; then `rollback` and `rolled back
<model>`: every relation as it was before the stage, the old ones back; then the stage
deployed and promoted again, `again live <model> ...`: dbt's again.

Prints `ok - ...` / `not ok - ...` per check (details as `#` lines), then `N passed, N
failed`; exits 1 on any failure.
"""

import argparse
import json
import os
import subprocess
import sys

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relations as rel  # noqa: E402


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, problems):
        """problems: None/empty for ok, or a string or a list of lines."""
        if not problems:
            self.passed += 1
            print(f"ok - {name}", flush=True)
            return True
        if isinstance(problems, str):
            problems = [problems]
        self.failed += 1
        print(f"not ok - {name}: {problems[0]}", flush=True)
        for line in problems[1:]:
            print(f"#   {line}", flush=True)
        return False


def short(ids, limit=8):
    ids = sorted(ids)
    text = ", ".join(ids[:limit])
    if len(ids) > limit:
        text += f", ... ({len(ids) - limit} more)"
    return "[" + text + "]"


def first_line(e):
    return (getattr(e, "pgerror", None) or str(e)).strip().splitlines()[0]


def set_problems(got, want, what):
    out = []
    if got - want:
        out.append(f"only bluegreen {what} {short(got - want)}")
    if want - got:
        out.append(f"only dbt {what} {short(want - got)}")
    return "; ".join(out) or None


class Scenario:
    def __init__(self, report, directory, keep):
        with open(os.path.join(directory, "expected.json"), encoding="utf-8") as fh:
            self.exp = json.load(fh)
        self.dir = directory
        self.report = report
        self.keep = keep
        self.name = self.exp["name"]
        self.db = self.exp["db"]

    def read(self, path):
        with open(os.path.join(self.dir, path), encoding="utf-8") as fh:
            return fh.read()

    def admin(self, statement):
        conn = psycopg2.connect(dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.close()

    def run(self):
        r = self.report
        self.admin(f'DROP DATABASE IF EXISTS "{self.db}"')
        self.admin(f'CREATE DATABASE "{self.db}"')
        try:
            restore = subprocess.run(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.db,
                 "-f", os.path.join(self.dir, self.exp["dump"])],
                capture_output=True, text=True)
            if not r.check(f"{self.name} setup: restore dbt's version 1",
                           restore.returncode and restore.stderr.strip().splitlines()[-5:]):
                return
            self.conn = psycopg2.connect(dbname=self.db)
            self.conn.autocommit = True
            self.cur = self.conn.cursor()
            try:
                self.cur.execute("SET client_min_messages = warning")
                self.cur.execute("CREATE EXTENSION bluegreen")
                for schema in self.exp["live_schemas"]:
                    self.cur.execute("CALL bg.transfer_ownership(%s)", (schema,))
                self.grant_sources()
                self.cur.execute("CALL bg.create_project(%s)", (self.read(self.exp["v1_manifest"]),))
            except psycopg2.Error as e:
                r.check(f"{self.name} setup: bluegreen takes over version 1", first_line(e))
                return
            r.check(f"{self.name} setup: bluegreen takes over version 1", None)
            for stage in self.exp["stages"]:
                if not self.stage(stage):
                    break
        finally:
            if getattr(self, "conn", None) is not None:
                self.conn.close()
            if not self.keep:
                self.admin(f'DROP DATABASE IF EXISTS "{self.db}"')

    def grant_sources(self):
        self.cur.execute("GRANT USAGE ON SCHEMA raw TO bluegreen_builder; "
                         "GRANT SELECT ON ALL TABLES IN SCHEMA raw TO bluegreen_builder")

    def last_deployment(self):
        self.cur.execute("SELECT deployment_id, status, failed_node, error FROM bg.deployments "
                         "ORDER BY deployment_id DESC LIMIT 1")
        return self.cur.fetchone()

    def stage(self, stage):
        r, cur = self.report, self.cur
        p = f"{self.name} {stage['label']}"
        if stage["between"]:
            cur.execute(stage["between"])
            self.grant_sources()

        # what is live before the stage, for its rollback to bring back: the relations of
        # the project after it, and those it removes or moves away
        self.before = {uid: rel.snapshot(cur, *where) for uid, where in stage["live"].items()} \
            if stage["promote"] else {}
        self.gone_before = {uid: rel.snapshot(cur, *where) for uid, where in stage["gone"].items()} \
            if stage["promote"] else {}

        # deploy
        before = self.last_deployment()
        error = self.deploy(stage)
        d = self.last_deployment()
        dbt_failed = sorted(u for u, t in stage["dbt_test"].items()
                            if t["status"] in ("fail", "error"))
        dbt_failed += sorted(u for u, m in stage["dbt_run"].items() if m["status"] == "error")
        want = "failed" if dbt_failed else "built"
        if d is None or d == before:
            r.check(f"{p} deploy", f"no deployment recorded: {error}")
            return False
        problems = []
        if d[1] != want:
            problems.append(f"deployment {d[0]} is {d[1]}, dbt's run says {want}")
            if error:
                problems.append(f"bg.deploy: {error}")
            if d[2]:
                problems.append(f"failed at {d[2]}: {d[3]}")
            if dbt_failed:
                problems.append(f"dbt failed {short(dbt_failed)}")
        elif want == "built" and error:
            problems.append(f"built, but bg.deploy raised: {error}")
        elif want == "failed" and not error:
            problems.append("failed, but bg.deploy raised no error")
        r.check(f"{p} deploy ({want})", problems)

        cur.execute("SELECT unique_id, action, status, relation, failures, message, in_place "
                    "FROM bg.deployment_steps WHERE deployment_id = %s", (d[0],))
        steps = {}
        for uid, action, status, relation, failures, message, in_place in cur.fetchall():
            steps.setdefault(action, {})[uid] = dict(status=status, relation=relation,
                                                     failures=failures, message=message,
                                                     in_place=in_place)
        built, tested = steps.get("build", {}), steps.get("test", {})

        # models
        r.check(f"{p} models built = dbt run", set_problems(set(built), set(stage["dbt_run"]), "builds"))
        for uid in sorted(stage["dbt_run"]):
            model = stage["dbt_run"][uid]
            schema, name = model["relation"]
            step = built.get(uid)
            if step is None:
                r.check(f"{p} {uid} built", "bluegreen did not build it")
                continue
            want_status = "ok" if model["status"] == "success" else model["status"]
            problems = []
            if step["status"] != want_status:
                problems.append(f"status {step['status']}, dbt {model['status']}")
                if step["message"]:
                    problems.append(f"bluegreen: {step['message']}")
                if model.get("message") and model["status"] != "success":
                    problems.append(f"dbt: {model['message']}")
            says = stage.get("refused", {}).get(uid)
            if says and step["status"] == "error" and says not in (step["message"] or ""):
                problems.append(f"bluegreen refused it for another reason than dbt "
                                f"(no {says!r}): {step['message']}")
            if step["relation"] != f"{schema}.{name}":
                problems.append(f"relation {step['relation']}, dbt {schema}.{name}")
            r.check(f"{p} {uid} built", problems)
            if not problems and model["status"] == "error":
                # both refused it: say why, each in its own words
                said = " ".join((model.get("message") or "").split())
                print(f"# dbt: {said.split(' > in macro')[0].split(' compiled code at')[0]}",
                      flush=True)
                print(f"# bluegreen: {step['message']}", flush=True)
            why = stage.get("dbt_differs", {}).get(uid)
            # an increment kept in place: the live table, which stays, has the kind,
            # columns and config; the shadow view shows its rows after the increment
            table = (schema, name) if step["in_place"] else None
            if model["status"] == "success" and isinstance(why, str):
                # documented: bluegreen builds what dbt run --full-refresh builds
                print(f"# {uid}: {why}", flush=True)
                self.compare(f"{p} {uid} (as dbt --full-refresh)", (schema + "__bg_shadow", name),
                             stage["relations_full_refresh"][f"{schema}.{name}"], table)
            elif model["status"] == "success" and why:
                # documented: dbt's, with bluegreen's way for some config
                print(f"# {uid}: {why['reason']}", flush=True)
                want = json.loads(json.dumps(stage["relations"][f"{schema}.{name}"]))
                want["config"].update(why["config"])
                self.compare(f"{p} {uid} (config bluegreen's way)", (schema + "__bg_shadow", name),
                             want, table)
            elif model["status"] == "success":
                self.compare(f"{p} {uid}", (schema + "__bg_shadow", name),
                             stage["relations"][f"{schema}.{name}"], table)

        # tests
        r.check(f"{p} tests run = dbt test", set_problems(set(tested), set(stage["dbt_test"]), "runs"))
        for uid in sorted(stage["dbt_test"]):
            test = stage["dbt_test"][uid]
            step = tested.get(uid)
            if step is None:
                r.check(f"{p} {uid} result", "bluegreen did not run it")
                continue
            problems = []
            if step["status"] != test["status"]:
                problems.append(f"{step['status']}, dbt {test['status']}")
            elif step["failures"] != test["failures"] and test["status"] != "error":
                problems.append(f"{step['failures']} failures, dbt {test['failures']}")
            if problems and step["message"]:
                problems.append(f"bluegreen: {step['message']}")
            if problems and test.get("message"):
                problems.append(f"dbt: {test['message']}")
            r.check(f"{p} {uid} result ({test['status']})", problems)

        if stage["gone"] or steps.get("remove"):
            r.check(f"{p} removed", set_problems(set(steps.get("remove", {})),
                                                 set(stage["gone"]), "removes"))

        if not stage["promote"]:
            return True
        if not self.call(f"{p} promote", "CALL bg.promote()"):
            return False
        self.compare_live(f"{p} live", stage)
        self.check_gone(f"{p} removed", stage)

        # rollback brings back exactly what was live before the stage (increments taken
        # back out of the tables they were applied to); the stage deployed and promoted
        # again is dbt's again: nothing lost or repeated
        if not self.call(f"{p} rollback", "CALL bg.rollback()"):
            return False
        for uid in sorted(stage["live"]):
            schema, name = stage["live"][uid]
            was, now = self.before[uid], rel.snapshot(cur, schema, name)
            if was is None or now is None:
                r.check(f"{p} rolled back {uid}", None if was is None and now is None else
                        f"{schema}.{name} {'is live again' if now else 'is gone'}")
                continue
            r.check(f"{p} rolled back {uid}",
                    [line for part in (rel.diff_structure(now, was),
                                       rel.diff_rows(rel.aligned_rows(now, was), was["rows"]),
                                       rel.diff_config(now, was)) for line in (part or [])])
        for uid in sorted(stage["gone"]):
            schema, name = stage["gone"][uid]
            was, now = self.gone_before[uid], rel.snapshot(cur, schema, name)
            if was is None or now is None:
                r.check(f"{p} rolled back removed {uid}", None if was is None and now is None else
                        f"{schema}.{name} {'is live again' if now else 'did not come back'}")
                continue
            r.check(f"{p} rolled back removed {uid}",
                    [line for part in (rel.diff_structure(now, was),
                                       rel.diff_rows(rel.aligned_rows(now, was), was["rows"]),
                                       rel.diff_config(now, was)) for line in (part or [])])
        error = self.deploy(stage)
        if not self.call(f"{p} deployed and promoted again", "CALL bg.promote()", error):
            return False
        self.compare_live(f"{p} again live", stage)
        self.check_gone(f"{p} again removed", stage)
        return True

    def check_gone(self, label, stage):
        """The relations the stage removes or moves away are not live (dbt leaves them)."""
        for uid in sorted(stage["gone"]):
            schema, name = stage["gone"][uid]
            if stage["live"].get(uid) == [schema, name]:
                continue        # (another model took the name)
            self.report.check(f"{label} {uid} ({schema}.{name})",
                              rel.snapshot(self.cur, schema, name) and f"{schema}.{name} is still live")

    def call(self, label, sql, error=None):
        """Run sql; check label: ok, or the error (or an earlier one); whether it ran."""
        try:
            self.cur.execute(sql)
        except psycopg2.Error as e:
            self.report.check(label, error or first_line(e))
            return False
        self.report.check(label, None)
        return True

    def compare_live(self, label, stage):
        """Every relation of the project, live, against dbt's after the stage."""
        for uid in sorted(stage["live"]):
            schema, name = stage["live"][uid]
            self.compare(f"{label} {uid}", (schema, name), stage["relations"][f"{schema}.{name}"])

    def deploy(self, stage):
        """bg.deploy of the stage; its error's first line, or None."""
        try:
            if stage["kind"] == "refresh":
                self.cur.execute("CALL bg.deploy()")
            else:
                self.cur.execute("CALL bg.deploy(%s, full_refresh => %s)",
                                 (self.read(stage["manifest"]), stage["full_refresh"]))
        except psycopg2.Error as e:
            return first_line(e)
        return None

    def compare(self, label, where, want, table=None):
        """where's rows against want's; its kind, columns and config too, or table's
        (the live table an increment kept in place goes into)."""
        r = self.report
        got = rel.snapshot(self.cur, *where)
        shape = rel.snapshot(self.cur, *table) if table else got
        if got is None or shape is None:
            missing = where if got is None else table
            r.check(f"{label} columns", f"no relation {missing[0]}.{missing[1]}")
            return
        r.check(f"{label} columns", rel.diff_structure(shape, want))
        r.check(f"{label} rows", rel.diff_rows(rel.aligned_rows(got, want), want["rows"]))
        r.check(f"{label} config", rel.diff_config(shape, want))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="the directory gen.py wrote")
    ap.add_argument("--keep", action="store_true", help="keep the databases")
    ap.add_argument("only", nargs="*", help="scenario names (default: all)")
    args = ap.parse_args()

    with open(os.path.join(args.work, "index.json"), encoding="utf-8") as fh:
        index = [s for s in json.load(fh) if not args.only or s["name"] in args.only]
    report = Report()
    print(f"# deploy oracle: {len(index)} scenarios", flush=True)
    for s in index:
        sc = Scenario(report, s["dir"], args.keep)
        print(f"# {sc.name}: {sc.exp['doc']} ({sc.exp['dbt']})", flush=True)
        try:
            sc.run()
        except psycopg2.Error as e:
            report.check(f"{sc.name}", f"unexpected error: {first_line(e)}")
    print(f"{report.passed} passed, {report.failed} failed")
    sys.exit(1 if report.failed or not report.passed else 0)


if __name__ == "__main__":
    main()
