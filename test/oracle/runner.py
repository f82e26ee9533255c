#!/usr/bin/env python3
"""Compare bg.plan with dbt's own selectors, scenario by scenario.

Reads the index gen.py wrote.  For each scenario it registers the old manifest as a
project named after the scenario (bg.create_project), plans the new manifest against it
(bg.plan) and checks:

  rows       one row per enabled node of the new manifest, one action = 'remove' row per
             node that is gone (deleted, renamed or disabled), no node twice;
  modified+  the nodes with selected = what `dbt ls --select state:modified+` lists;
  S          for each dbt state selector S (new, modified, modified.body, ...): the nodes
             whose state_selectors contain S = the nodes dbt's state method S matches
             (`dbt ls --select state:S --indirect-selection empty`; see gen.py).

Only the resource types gen.py asked dbt about are compared.  Prints one line per check,
`ok - <scenario> <check>` or `not ok - <scenario> <check>: <the differing ids>`, then
`<n> passed, <m> failed`; exits 1 if anything failed.
"""

import argparse
import json
import sys

import psycopg2

PLAN_SQL = """
SELECT unique_id, resource_type, selected, action, state_selectors
FROM bg.plan(%s, %s)
"""


def short_list(ids, limit=12):
    ids = sorted(ids)
    text = ", ".join(ids[:limit])
    if len(ids) > limit:
        text += f", ... ({len(ids) - limit} more)"
    return "[" + text + "]"


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name):
        self.passed += 1
        print(f"ok - {name}", flush=True)

    def not_ok(self, name, why, notes=()):
        self.failed += 1
        print(f"not ok - {name}: {why}", flush=True)
        for note in notes:
            print(f"#   {note}", flush=True)

    def compare(self, name, got, want, hint=None):
        """got: from bg.plan; want: from dbt."""
        if got == want:
            self.ok(name)
            return
        parts = []
        if got - want:
            parts.append(f"only bg.plan selects {short_list(got - want)}")
        if want - got:
            parts.append(f"only dbt selects {short_list(want - got)}")
        notes = []
        if hint is not None and got == hint and got != want:
            notes.append("bg.plan also lists the tests attached to matching nodes, as dbt's "
                         "eager indirect selection does; state_selectors is per node")
        self.not_ok(name, "; ".join(parts), notes)


def check_scenario(cur, report, scn, resource_types, sub_selectors):
    name = scn["name"]
    dbt = scn["dbt"]
    checks = ["rows", "modified+"] + sub_selectors
    with open(scn["old_manifest"], encoding="utf-8") as fh:
        old_text = fh.read()
    with open(scn["new_manifest"], encoding="utf-8") as fh:
        new_text = fh.read()
    try:
        cur.execute("CALL bg.create_project(%s, %s)", (old_text, name))
        cur.execute(PLAN_SQL, (new_text, name))
        rows = cur.fetchall()
    except psycopg2.Error as e:
        msg = (e.pgerror or str(e)).strip().splitlines()[0]
        for check in checks:
            report.not_ok(f"{name} {check}", f"error: {msg}")
        return

    rows = [r for r in rows if r[1] in resource_types]

    # rows
    seen, twice = set(), set()
    for uid, *_ in rows:
        (twice if uid in seen else seen).add(uid)
    present = {r[0] for r in rows if r[3] != "remove"}
    removed = {r[0] for r in rows if r[3] == "remove"}
    want_present, want_removed = set(dbt["all"]), set(dbt["removed"])
    problems = []
    if twice:
        problems.append(f"more than one row for {short_list(twice)}")
    if want_present - present:
        problems.append(f"no row for {short_list(want_present - present)}")
    if present - want_present:
        problems.append(f"rows for nodes dbt does not list {short_list(present - want_present)}")
    if removed != want_removed:
        if want_removed - removed:
            problems.append(f"not marked remove {short_list(want_removed - removed)}")
        if removed - want_removed:
            problems.append(f"marked remove but not removed {short_list(removed - want_removed)}")
    if problems:
        report.not_ok(f"{name} rows", "; ".join(problems))
    else:
        report.ok(f"{name} rows")

    report.compare(f"{name} modified+", {r[0] for r in rows if r[2]}, set(dbt["modified+"]))

    for sel in sub_selectors:
        got = {r[0] for r in rows if r[4] and sel in r[4]}
        report.compare(f"{name} {sel}", got, set(dbt[sel]),
                       hint=set(dbt[sel + "@ls"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="the directory gen.py built in")
    ap.add_argument("--dbname", required=True, help="a database with bluegreen installed")
    ap.add_argument("only", nargs="*", help="scenario names (default: all)")
    args = ap.parse_args()

    with open(f"{args.work}/index.json", encoding="utf-8") as fh:
        index = json.load(fh)
    scenarios = [s for s in index["scenarios"] if not args.only or s["name"] in args.only]
    print(f"# dbt oracle: {len(scenarios)} scenarios, {index['dbt']}", flush=True)

    report = Report()
    try:
        conn = psycopg2.connect(dbname=args.dbname)
    except psycopg2.Error as e:
        report.not_ok("connect", str(e).strip())
        scenarios = []
    # Each scenario registers its baseline in a transaction that is rolled back: the
    # scenarios share relation names, and a relation belongs to one project at a time.
    for scn in scenarios:
        with conn.cursor() as cur:
            check_scenario(cur, report, scn, set(index["resource_types"]),
                           index["sub_selectors"])
        conn.rollback()
    print(f"{report.passed} passed, {report.failed} failed")
    sys.exit(1 if report.failed or not report.passed else 0)


if __name__ == "__main__":
    main()
