"""test/promote: promote, rollback and deploy against concurrency and crashes.

    isolation   the specs in specs/ under PostgreSQL's isolationtester
    refusal     a failed deploy leaves production as it was and cannot be promoted;
                promote then rollback brings back every relation's checksum
    load        pgbench readers while deploy, promote and rollback run: no failed or
                aborted transaction, every reader saw one version, short waits
    crash       backends (and the server) killed during deploy and promote: production
                exactly as before or exactly as after, and the next deploy works

Prints one "ok - ..." / "not ok - ..." line per check and a last line "N passed, N
failed"; exits non-zero on any failure. Uses the server of PGHOST/PGPORT/PGUSER, in
databases of its own that it drops at the end; the crash part restarts that server
(data directory $PGHOST/data, as tools/pgcluster.sh lays it out) and leaves it running.
"""
import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import threading
import time

import psycopg2

import project

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
PGBIN = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
PGXS = os.path.dirname(subprocess.run(["pg_config", "--pgxs"], capture_output=True,
                                      text=True).stdout.strip())
ISOLATION = os.path.join(PGXS, "..", "test", "isolation", "pg_isolation_regress")
LOCK_TIMEOUT_MS = 100          # bluegreen.lock_timeout's default, which the load test uses

DB = "bg_promote"
ISO_DB = "bg_promote_iso"

from tap import check, note  # noqa: E402  (test/tap.py)
import tap  # noqa: E402



def connect(db=DB, app="pt_driver"):
    conn = psycopg2.connect(dbname=db, application_name=app)
    conn.autocommit = True
    return conn


def query(conn, sql, args=None):
    cur = conn.cursor()
    cur.execute(sql, args)
    return cur.fetchall() if cur.description else None


def scalar(conn, sql, args=None):
    return query(conn, sql, args)[0][0]


def error_of(conn, sql, args=None):
    """Run sql; return None or the error's primary message."""
    try:
        query(conn, sql, args)
        return None
    except psycopg2.Error as e:
        return e.diag.message_primary or str(e)


checksums = project.checksums
differences = project.differences


def create_db(name):
    admin = connect("postgres")
    query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    query(admin, "CREATE DATABASE %s" % name)
    # The test cluster runs with synchronous_commit = off, so a crash could lose the
    # last commits (a whole promote, say): atomically, but the checks expect them kept.
    query(admin, "ALTER DATABASE %s SET synchronous_commit = on" % name)
    admin.close()
    conn = connect(name)
    project.install(conn, name)
    return conn


def drop_db(name):
    try:
        admin = connect("postgres")
        query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        admin.close()
    except psycopg2.Error as e:
        note("could not drop database %s: %s" % (name, e))


# ---------------------------------------------------------------------------
# 1. isolation specs
# ---------------------------------------------------------------------------
SPEC_TITLES = {
    "promote_readers": "isolation: promote waits for a long reader in short lock timeouts, "
                       "lets new readers through, switches when it commits; gives up at the "
                       "deadline naming it, changing nothing",
    "promote_promote": "isolation: promote under way: a second promote, a rollback and a "
                       "deploy fail at once naming its backend",
    "deploy_promote": "isolation: deploy under way: promote, a second deploy, rollback and "
                      "abandon fail at once naming its backend; production untouched",
    "promote_locker": "isolation: promote gives up at the deadline against a session holding "
                      "a live relation exclusively, naming it",
    "promote_schema_ddl": "isolation: a table created in a live schema while promote renames "
                          "it stays live: promote waits, stops with nothing changed, and the "
                          "next promote switches with the table in place",
}


def isolation(work):
    create_db(ISO_DB).close()
    out = os.path.join(work, "isolation")
    os.makedirs(out, exist_ok=True)
    specs = sorted(os.path.basename(s)[:-5] for s in glob.glob(os.path.join(HERE, "specs", "*.spec")))
    proc = subprocess.run([ISOLATION, "--inputdir=" + HERE, "--outputdir=" + out,
                           "--bindir=" + PGBIN, "--use-existing", "--dbname=" + ISO_DB] + specs,
                          capture_output=True, text=True)
    status = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(?:test\s+|ok\s+\d+\s+-?\s*|not ok\s+\d+\s+-?\s*)(\w+)\s+\.\.\.\s+(\w+)", line.strip())
        if m:
            status[m.group(1)] = m.group(2)
    diffs = ""
    if os.path.exists(os.path.join(out, "regression.diffs")):
        diffs = open(os.path.join(out, "regression.diffs")).read()
    for spec in specs:
        good = status.get(spec) == "ok"
        detail = None
        if not good:
            # the part of regression.diffs that is about this spec
            parts = re.split(r"(?m)^diff ", diffs)
            mine = [p for p in parts if "/%s.out" % spec in p.split("\n", 1)[0]]
            detail = ("diff " + mine[0]) if mine else (proc.stdout + proc.stderr)
        check(SPEC_TITLES.get(spec, "isolation: " + spec), good, detail)
    drop_db(ISO_DB)


# ---------------------------------------------------------------------------
# 2. a failed deploy is refused; rollback restores every relation
# ---------------------------------------------------------------------------
def refusal(conn, states):
    query(conn, "CALL pt.reset()")
    before = checksums(conn)
    states["before"] = before

    for variant, expect in (("v2_bad", r"^deployment (\d+) failed at model model\.pt\.orders: division by zero$"),
                            ("v2_badtest", r"^deployment (\d+) failed: 1 error-severity test failed")):
        err = error_of(conn, "CALL bg.deploy(pt.m(%s))", (variant,))
        m = re.match(expect, err or "")
        check("refusal: deploy of %s fails with a clear error" % variant, m, err)
        dep = int(m.group(1)) if m else scalar(conn, "SELECT max(deployment_id) FROM bg.deployments")
        row = query(conn, "SELECT status, failed_node FROM bg.deployments WHERE deployment_id = %s", (dep,))
        check("refusal: bg.deployments records deployment %s of %s failed" % (dep, variant),
              row and row[0][0] == "failed", row)
        err = error_of(conn, "CALL bg.promote()")
        check("refusal: promote after the failed deploy of %s is refused" % variant,
              err and err.startswith("cannot promote: deployment %d of project \"pt\" failed" % dep), err)
        now = checksums(conn)
        check("refusal: after the failed deploy of %s and the refused promote, every live "
              "relation is as before" % variant, now == before, differences(before, now))

    query(conn, "CALL bg.deploy(pt.m('v2'))")
    now = checksums(conn)
    check("refusal: a good deploy leaves every live relation as before", now == before,
          differences(before, now))
    query(conn, "CALL bg.promote()")
    after = checksums(conn)
    states["after"] = after
    versions = query(conn, "SELECT (SELECT min(version) FROM analytics.orders), "
                           "(SELECT max(version) FROM analytics.stg_orders), "
                           "(SELECT version FROM reporting.summary_v)")[0]
    changed = {r[0] for r in before} ^ {r[0] for r in after} | \
        {a[0] for a, b in zip(before, after) if a != b}
    check("refusal: promote puts v2 live everywhere, the view outside the project included",
          versions == ("v2", "v2", "v2") and changed ==
          {"analytics.orders", "analytics.stg_orders", "analytics.summary", "reporting.summary_v"},
          "versions %s, changed %s" % (versions, sorted(changed)))
    query(conn, "CALL bg.rollback()")
    now = checksums(conn)
    check("refusal: rollback restores the checksum of every relation", now == before,
          differences(before, now))


# ---------------------------------------------------------------------------
# 3. readers under load
# ---------------------------------------------------------------------------
class LongReader(threading.Thread):
    """A reader in a long transaction on the live relations, for `seconds`."""

    def __init__(self, seconds):
        super().__init__(daemon=True)
        self.seconds = seconds
        self.conn = psycopg2.connect(dbname=DB, application_name="pt_long_reader")
        self.ready = threading.Event()
        self.error = None

    def run(self):
        try:
            cur = self.conn.cursor()
            cur.execute("SELECT count(*) FROM analytics.orders, reporting.summary_v")
            self.ready.set()
            time.sleep(self.seconds)
            self.conn.commit()
        except psycopg2.Error as e:
            self.error = e
        finally:
            self.ready.set()
            self.conn.close()


# ---------------------------------------------------------------------------
# 3. pg_dump across a promote
# ---------------------------------------------------------------------------
def dumped_versions(path):
    """{table: set of versions} of the COPY data of analytics' tables in a plain dump."""
    out = {}
    table = None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^COPY (analytics\.\w+) \((.*)\) FROM stdin;$", line)
        if m:
            table, cols = m.group(1), [c.strip() for c in m.group(2).split(",")]
            out[table] = set()
            at = cols.index("version")
        elif table and line.rstrip("\n") == "\\.":
            table = None
        elif table:
            out[table].add(line.rstrip("\n").split("\t")[at])
    return out


def dump(conn, states, work):
    """pg_dump takes its snapshot, then waits for a table another session holds (raw.gate);
    meanwhile v2 is built. Promote must not switch under the dump: with a short deadline it
    gives up naming pg_dump; with a long one it waits until the dump is done, which holds v1
    whole, and then switches."""
    query(conn, "CALL pt.reset()")
    path = os.path.join(work, "dump.sql")
    for deadline, gate_open_after in (("2s", None), ("30s", 1.0)):
        blocker = psycopg2.connect(dbname=DB, application_name="pt_gate")
        blocker.cursor().execute("LOCK TABLE raw.gate IN ACCESS EXCLUSIVE MODE")
        dumper = subprocess.Popen([os.path.join(PGBIN, "pg_dump"), "-d", DB, "-f", path],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waiting = wait_until(lambda: scalar(conn, "SELECT count(*) FROM pg_stat_activity"
                                                   " WHERE application_name = 'pg_dump'"
                                                   " AND wait_event_type = 'Lock'") == 1, 10, 0.02)
        query(conn, "CALL bg.deploy(pt.m('v2'))")
        query(conn, "SET bluegreen.promote_deadline = %s", (deadline,))
        if gate_open_after is None:
            try:
                query(conn, "CALL bg.promote()")
                err = None
            except psycopg2.Error as e:
                err = "%s\n%s" % (e.diag.message_primary, e.diag.message_detail)
            blocker.commit()
            blocker.close()
            dumper.communicate(timeout=60)
            check("dump: promote gives up at the deadline while a pg_dump that began before the "
                  "build is under way, naming it; production unchanged",
                  waiting and err and "older than the deployment's build" in err and "pg_dump" in err
                  and checksums(conn) == states["before"], err)
            # (dropped now, before the next dump begins: a dump fails on a view dropped
            # under it, as with any concurrent DROP VIEW)
            query(conn, "CALL bg.abandon()")
        else:
            opener = threading.Timer(gate_open_after, lambda: (blocker.commit(), blocker.close()))
            opener.start()
            t0 = time.time()
            err = error_of(conn, "CALL bg.promote()")
            took = time.time() - t0
            opener.join()
            _, dump_err = dumper.communicate(timeout=60)
            versions = dumped_versions(path) if dumper.returncode == 0 else {}
            check("dump: with a longer deadline promote waits for that pg_dump and then switches "
                  "(%.1f s); the dump holds v1 whole (%s)" % (took, versions),
                  waiting and err is None and took >= gate_open_after and dumper.returncode == 0
                  and set(versions) == {"analytics.orders", "analytics.summary"}
                  and all(v == {"v1"} for v in versions.values())
                  and checksums(conn) == states["after"],
                  err or dump_err or versions)
        query(conn, "RESET bluegreen.promote_deadline")
    query(conn, "CALL pt.reset()")


def latency_stats(values_us):
    if not values_us:
        return "no transactions"
    v = sorted(values_us)
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))] / 1000.0
    return "%d transactions, p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (len(v), p(0.5), p(0.99), v[-1] / 1000.0)


def load(conn, states, work, label, scripts, seconds, clients, deadline):
    """pgbench readers running `scripts` while deploy, promote behind a long reader,
    rollback, deploy, promote and rollback run one after the other."""
    query(conn, "CALL pt.reset()")
    query(conn, "SELECT setval('pt.seen_v1', 1, false), setval('pt.seen_v2', 1, false)")
    query(conn, "SET client_min_messages = notice")
    query(conn, "SET bluegreen.show_timing = off")
    query(conn, "SET bluegreen.promote_deadline = %s", ("%ds" % deadline,))
    logdir = os.path.join(work, "pgbench", re.sub(r"\W+", "_", label).strip("_"))
    os.makedirs(logdir, exist_ok=True)
    for f in glob.glob(os.path.join(logdir, "*")):
        os.remove(f)
    env = dict(os.environ, PGDATABASE=DB, PGAPPNAME="pt_pgbench")
    cmd = ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-l",
           "--log-prefix=" + os.path.join(logdir, "tx")]
    for script in scripts:
        cmd += ["-f", os.path.join(HERE, script)]
    bench = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    start = time.time()
    windows = []       # (what, start, end) of each switch
    events = []
    attempts = []

    def at(t):
        time.sleep(max(0.0, start + t - time.time()))

    def event(what, sql, switch=True):
        t0 = time.time()
        conn.notices.clear()
        err = error_of(conn, sql)
        if switch:
            windows.append((what, t0, time.time()))
        events.append((what, err))
        attempts.append((what, [int(m.group(1)) for n in conn.notices
                                for m in [re.search(r"locks granted at attempt (\d+)", n)] if m]))
        return err

    # a schedule that fits in `seconds` (4 deadlines and 4 s) even when every switch runs
    # to its deadline
    at(0.5)
    event("deploy", "CALL bg.deploy(pt.m('v2'))", switch=False)
    reader = LongReader(1.0)
    reader.start()
    reader.ready.wait(5)
    event("promote behind a long reader", "CALL bg.promote()")
    reader.join()
    if reader.error is not None:
        events.append(("the long reader", str(reader.error).strip()))
    at(0.5 + deadline + 1.0)
    event("rollback", "CALL bg.rollback()")
    at(0.5 + deadline + 1.5)
    event("deploy again", "CALL bg.deploy(pt.m('v2'))", switch=False)
    event("promote", "CALL bg.promote()")
    at(0.5 + 3 * deadline + 2.5)
    event("rollback again", "CALL bg.rollback()")
    in_time = time.time() - start < seconds
    if not in_time:
        events.append(("schedule", "the switches outlasted pgbench's %d s" % seconds))
    out, errout = bench.communicate(timeout=seconds + 60)
    for what, n in attempts:
        if n:
            note("%s: %s: locks granted at attempt %d" % (label, what, n[0]))

    bad = ["%s: %s" % e for e in events if e[1]]
    check("%s: deploy, promote behind a long reader, rollback, deploy, promote, rollback all "
          "succeed while pgbench reads (bluegreen.promote_deadline %d s)" % (label, deadline),
          not bad, "\n".join(bad))
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    processed = int(processed.group(1)) if processed else 0
    failed_tx = re.search(r"number of failed transactions: (\d+)", out)
    aborted = [l for l in errout.splitlines() if "aborted" in l or "ERROR" in l]
    check("%s: pgbench ran %d reader transactions, 0 failed, no client aborted, exit 0"
          % (label, processed),
          bench.returncode == 0 and processed > 0 and failed_tx is not None
          and int(failed_tx.group(1)) == 0 and not aborted,
          "exit %s\n%s\n%s" % (bench.returncode, out[-1500:], "\n".join(aborted[:20])))
    seen = query(conn, "SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM pt.seen_v1),"
                       "       (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM pt.seen_v2)")[0]
    check("%s: every reader transaction saw one whole version, old or new (v1 %d, v2 %d, of %d)"
          % (label, seen[0], seen[1], processed),
          seen[0] + seen[1] == processed and processed > 0, seen)
    check("%s: readers saw both versions (the switches happened under load)" % label,
          seen[0] > 0 and seen[1] > 0, seen)
    now = checksums(conn)
    state = "as before" if now == states["before"] else "as after" if now == states["after"] else "neither"
    check("%s: afterwards every relation is exactly as before or exactly as after (%s%s)"
          % (label, state, "" if bad else "; as before expected, all switches done"),
          state == "as before" or (bad and state == "as after"),
          differences(states["before"], now))

    # latencies from the per-transaction logs: client tx latency_us script epoch epoch_us
    all_tx, during = [], []
    for f in glob.glob(os.path.join(logdir, "tx*")):
        for line in open(f):
            parts = line.split()
            if len(parts) < 6 or not parts[2].isdigit():
                continue            # "failed" or "skipped": counted by the pgbench check
            lat = int(parts[2])
            end = int(parts[4]) + int(parts[5]) / 1e6
            begin = end - lat / 1e6
            all_tx.append(lat)
            if any(begin < w_end and end > w_start for _, w_start, w_end in windows):
                during.append(lat)
    note("%s: pgbench, %d clients, %d s: all %s" % (label, clients, seconds, latency_stats(all_tx)))
    note("%s: during promote and rollback: %s" % (label, latency_stats(during)))
    note("%s: " % label + ", ".join("%s %.0f ms" % (w[0], (w[2] - w[1]) * 1000) for w in windows))
    bound_ms = 3 * LOCK_TIMEOUT_MS
    worst = max(during) / 1000.0 if during else 0
    check("%s: no reader waited much longer than bluegreen.lock_timeout during the switches "
          "(max %.0f ms, bound %d ms)" % (label, worst, bound_ms),
          during and worst < bound_ms, latency_stats(during))


# ---------------------------------------------------------------------------
# 4. crash safety
# ---------------------------------------------------------------------------
def server_user_cmd(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def wait_server(timeout=60, db=DB):
    t_end = time.time() + timeout
    while time.time() < t_end:
        try:
            c = connect(db)
            if scalar(c, "SELECT NOT pg_is_in_recovery()"):
                return c
            c.close()
        except psycopg2.Error:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not come back in %d s" % timeout)


def wait_dead(conn, timeout=10):
    """Wait until the server drops conn (the postmaster ending every backend)."""
    t_end = time.time() + timeout
    while time.time() < t_end:
        try:
            query(conn, "SELECT 1")
        except psycopg2.Error:
            return True
        time.sleep(0.05)
    return False


def restart_immediate():
    data = os.path.join(os.environ["PGHOST"], "data")
    log = os.path.join(os.environ["PGHOST"], "server.log")
    subprocess.run(server_user_cmd([os.path.join(PGBIN, "pg_ctl"), "-D", data, "-m", "immediate",
                                    "-w", "stop"]), check=True, capture_output=True)
    subprocess.run(server_user_cmd([os.path.join(PGBIN, "pg_ctl"), "-D", data, "-l", log, "-w",
                                    "-t", "60", "start"]), check=True, capture_output=True)


class Victim(threading.Thread):
    """A session running one CALL, to be killed."""

    def __init__(self, sql, setup=()):
        super().__init__(daemon=True)
        self.conn = connect(app="pt_victim")
        for s in setup:
            query(self.conn, s)
        self.pid = self.conn.get_backend_pid()
        self.sql = sql
        self.error = None
        self.done = False

    def run(self):
        try:
            query(self.conn, self.sql)
        except psycopg2.Error as e:
            self.error = (e.diag.message_primary or str(e)).strip().splitlines()[0]
        self.done = True
        try:
            self.conn.close()
        except psycopg2.Error:
            pass


def waiting_on(conn, pid, relation):
    return scalar(conn, "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s AND NOT granted"
                        " AND relation = %s::regclass)", (pid, relation))


def wait_until(pred, timeout=10, step=0.01):
    t_end = time.time() + timeout
    while time.time() < t_end:
        if pred():
            return True
        time.sleep(step)
    return False


def kill(conn, victim, how):
    """Kill the victim's backend; returns a connection to the (restarted) server."""
    if how == "pg_terminate_backend":
        query(conn, "SELECT pg_terminate_backend(%s)", (victim.pid,))
        victim.join(10)
        return conn
    if how == "SIGKILL":
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(10)
        wait_dead(conn)
        try:
            conn.close()
        except psycopg2.Error:
            pass
        return wait_server()
    if how == "server stop -m immediate":
        restart_immediate()
        victim.join(10)
        try:
            conn.close()
        except psycopg2.Error:
            pass
        return wait_server()
    raise ValueError(how)


def deployment(conn, dep):
    row = query(conn, "SELECT status, coalesce(error, '') FROM bg.deployments WHERE deployment_id = %s", (dep,))
    return row[0] if row else ("absent", "")


def steps(conn, dep):
    return ", ".join("%s %s" % r for r in query(
        conn, "SELECT split_part(unique_id, '.', 3), status FROM bg.deployment_steps"
              " WHERE deployment_id = %s ORDER BY step", (dep,)))


def next_works(conn, states, label):
    """The next deploy, promote and rollback work, with the right states."""
    problems = []
    err = error_of(conn, "CALL bg.deploy(pt.m('v2'))")
    if err:
        problems.append("deploy: " + err)
    else:
        err = error_of(conn, "CALL bg.promote()")
        if err:
            problems.append("promote: " + err)
        else:
            now = checksums(conn)
            if now != states["after"]:
                problems.append("after promote:\n" + differences(states["after"], now))
            err = error_of(conn, "CALL bg.rollback()")
            if err:
                problems.append("rollback: " + err)
            now = checksums(conn)
            if now != states["before"]:
                problems.append("after rollback:\n" + differences(states["before"], now))
    check("%s: then deploy, promote and rollback work (checksums after each exact)" % label,
          not problems, "\n".join(problems))


def crash_deploy(conn, states, label, variant, how, point, gate):
    """Start a deploy of variant, wait for point, kill it; check what is left."""
    gate_conn = None
    if gate:
        gate_conn = psycopg2.connect(dbname=DB, application_name="pt_gate")
        gate_conn.cursor().execute("LOCK raw.gate IN ACCESS EXCLUSIVE MODE")
    victim = Victim("CALL bg.deploy(pt.m('%s'))" % variant,
                    ["SET bluegreen.show_timing = off", "SET client_min_messages = warning"])
    victim.start()
    if gate:
        reached = wait_until(lambda: waiting_on(conn, victim.pid, "raw.gate"))
    else:
        time.sleep(point)
        reached = not victim.done
    dep = scalar(conn, "SELECT max(deployment_id) FROM bg.deployments")
    where = steps(conn, dep) if dep else ""
    conn = kill(conn, victim, how)
    if gate_conn is not None:
        try:
            gate_conn.rollback()
            gate_conn.close()
        except psycopg2.Error:
            pass
    now = checksums(conn)
    status, error = deployment(conn, dep)
    note("%s: killed (%s) during %s; the deploy's session got: %s" % (label, how, where, victim.error))
    check("%s: killed in the middle of the deploy (steps then: %s)" % (label, where),
          reached and victim.error is not None, "victim: %s" % victim.error)
    check("%s: every live relation exactly as before" % label, now == states["before"],
          differences(states["before"], now))
    check("%s: bg.deployments shows deployment %s as building (its backend is gone)" % (label, dep),
          status == "building", (status, error))
    next_works(conn, states, label)
    status, error = deployment(conn, dep)
    check("%s: the next deploy marks deployment %s failed: \"%s\"" % (label, dep, error),
          status == "failed" and "exited before it finished" in error, (status, error))
    return conn


def crash_switch(conn, states, label, how, rollback=False, mid_switch=True):
    """Kill a promote (or rollback) while it waits for a lock held by another session."""
    if rollback:
        query(conn, "CALL bg.deploy(pt.m('v2'))")
        query(conn, "CALL bg.promote()")
    else:
        query(conn, "CALL bg.deploy(pt.m('v2'))")
    dep = scalar(conn, "SELECT max(deployment_id) FROM bg.deployments")
    expected = states["after"] if rollback else states["before"]
    holder = psycopg2.connect(dbname=DB, application_name="pt_holder")
    cur = holder.cursor()
    if mid_switch:
        # only the view outside the project: the switch locks the relations it moves,
        # then waits for the view it re-points, all inside its transaction
        cur.execute("COMMENT ON VIEW reporting.summary_v IS 'held'")
        target = "reporting.summary_v"
        setup = ["SET bluegreen.lock_timeout = '20s'"]
    else:
        # a reader of everything: the switch waits at its first relations, and retries
        cur.execute("SELECT count(*) FROM analytics.stg_orders, reporting.summary_v")
        target = None
        setup = []
    victim = Victim("CALL bg.%s()" % ("rollback" if rollback else "promote"),
                    setup + ["SET client_min_messages = warning"])
    victim.start()
    if target:
        reached = wait_until(lambda: waiting_on(conn, victim.pid, target))
        moved = scalar(conn, "SELECT count(*) FROM pg_locks WHERE pid = %s AND granted"
                             " AND mode = 'AccessExclusiveLock' AND relation IN"
                             " (SELECT oid FROM pg_class WHERE relname IN ('orders', 'stg_orders', 'summary'))",
                       (victim.pid,))
        where = "the switch, holding %d of the relations it moves, waiting for %s" % (moved, target)
        reached = reached and moved >= 3
    else:
        reached = wait_until(lambda: scalar(conn, "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s"
                                                  " AND NOT granted)", (victim.pid,)))
        time.sleep(0.3)
        reached = reached and not victim.done
        where = "the retry loop, waiting for a reader's lock"
    conn = kill(conn, victim, how)
    try:
        holder.rollback()
        holder.close()
    except psycopg2.Error:
        pass
    now = checksums(conn)
    status, error = deployment(conn, dep)
    note("%s: killed (%s) in %s; the session got: %s" % (label, how, where, victim.error))
    check("%s: killed in %s" % (label, where), reached, "victim: %s" % victim.error)
    check("%s: every live relation exactly as before the %s" % (label, "rollback" if rollback else "promote"),
          now == expected, differences(expected, now))
    want = "promoted" if rollback else "built"
    check("%s: bg.deployments shows deployment %s still %s" % (label, dep, want), status == want,
          (status, error))
    if rollback:
        err = error_of(conn, "CALL bg.rollback()")
        now = checksums(conn)
        check("%s: then rollback works (checksums exact)" % label,
              err is None and now == states["before"], err or differences(states["before"], now))
    else:
        err = error_of(conn, "CALL bg.promote()")
        now = checksums(conn)
        ok1 = err is None and now == states["after"]
        err2 = error_of(conn, "CALL bg.rollback()") if err is None else None
        now2 = checksums(conn)
        check("%s: then promote and rollback work (checksums exact)" % label,
              ok1 and err2 is None and now2 == states["before"],
              err or err2 or differences(states["after"], now) or differences(states["before"], now2))
    return conn


def crash(conn, states):
    D, S = crash_deploy, crash_switch
    scenarios = [
        ("crash deploy 1", D, ("v2_gate1", "pg_terminate_backend", None, True), {}),
        ("crash deploy 2", D, ("v2_gate3", "SIGKILL", None, True), {}),
        ("crash deploy 3", D, ("v2_gate_test", "pg_terminate_backend", None, True), {}),
        ("crash deploy 4", D, ("v2_slow", "SIGKILL", 0.9, False), {}),
        ("crash deploy 5", D, ("v2_slow", "server stop -m immediate", 0.5, False), {}),
        ("crash promote 1", S, ("pg_terminate_backend",), {"mid_switch": False}),
        ("crash promote 2", S, ("SIGKILL",), {"mid_switch": True}),
        ("crash promote 3", S, ("server stop -m immediate",), {"mid_switch": True}),
        ("crash promote 4", S, ("pg_terminate_backend",), {"mid_switch": True}),
        ("crash rollback 1", S, ("SIGKILL",), {"rollback": True, "mid_switch": True}),
    ]
    fresh = True
    for label, scenario, args, kwargs in scenarios:
        try:
            if fresh:
                query(conn, "CALL pt.reset()")
                query(conn, "SET client_min_messages = notice")
                fresh = False
            conn = scenario(conn, states, label, *args, **kwargs)
        except Exception:
            import traceback
            check("%s: ran to its end" % label, False, traceback.format_exc())
            conn = wait_server()
            fresh = True
    return conn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", nargs="*", default=None,
                    help="parts to run: isolation refusal dump load crash")
    ap.add_argument("--seconds", type=int, default=0,
                    help="pgbench's -T (default and least: 4 deadlines and 4 s)")
    ap.add_argument("--deadline", type=int, default=3,
                    help="bluegreen.promote_deadline (s) of the promotes under load")
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()
    args.seconds = max(args.seconds, 4 * args.deadline + 4)
    parts = args.only or ["isolation", "refusal", "dump", "load", "crash"]
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()

    def part(name, fn, *fargs):
        """Run one part; a harness error is a failed check, and the rest still runs."""
        try:
            return fn(*fargs)
        except Exception:
            import traceback
            check("%s ran to its end" % name, False, traceback.format_exc())
            try:
                wait_server(30, "postgres").close()
            except Exception:
                pass
            return None

    if "isolation" in parts:
        part("isolation", isolation, args.work)
    if set(parts) & {"refusal", "dump", "load", "crash"}:
        conn = create_db(DB)
        states = {}
        part("refusal", refusal, conn, states)
        if "before" not in states or "after" not in states:
            check("refusal gave the reference states the other parts compare with", False)
        else:
            if "dump" in parts:
                part("dump", dump, conn, states, args.work)
            if "load" in parts:
                # readers as client code writes them, in any order: orders, the view
                # outside the project, stg_orders (a transaction: read committed, repeatable
                # read, serializable), and all in one join
                part("load", load, conn, states, args.work, "load (any order)",
                     ["readers.sql", "readers_join.sql", "readers_rr.sql", "readers_serializable.sql"],
                     args.seconds, args.clients, args.deadline)
                # readers that take their locks in promote's order
                part("load", load, conn, states, args.work, "load (promote's order)",
                     ["readers_ordered.sql"], args.seconds, args.clients, args.deadline)
            if "crash" in parts:
                conn = part("crash", crash, conn, states) or conn
        try:
            conn.close()
        except psycopg2.Error:
            pass
        drop_db(DB)
    if "crash" in parts:
        try:
            c = wait_server(30, "postgres")
            left = scalar(c, "SELECT count(*) FROM pg_database WHERE datname IN (%s, %s)", (DB, ISO_DB))
            c.close()
            check("the server is up after the crash tests, and this suite's databases are gone",
                  left == 0, "%d left" % left)
        except Exception as e:
            check("the server is up after the crash tests", False, e)
    note("test/promote took %.0f s" % (time.time() - t0))
    sys.exit(0 if tap.summary() else 1)


if __name__ == "__main__":
    main()
