"""test/standby: readers on a hot standby while deploy, promote and rollback run on the
primary (run starts the standby and passes it in BG_STANDBY_HOST/BG_STANDBY_PORT).

    load        reader threads on the standby (REPEATABLE READ transactions over orders,
                the view outside the project and stg_orders; the same at READ COMMITTED;
                one statement joining all three; REPEATABLE READ in promote's order)
                while the primary runs cycles of deploy, promote, rollback, deploy,
                promote: every read one whole version, no relation missing, both versions
                seen, every switch visible on the standby once replayed; recovery
                conflicts (deadlocks with the startup process included) counted, not failed
    locks       lock replay: a standby transaction holding the relations a promote moves
                (READ COMMITTED, idle: locks and no snapshot) holds up the replay, and the
                standby readers queued behind it, until it ends, or until
                max_standby_streaming_delay ends it
    snapshots   a standby snapshot older than the build, read after the promote: without
                hot_standby_feedback (the primary cannot know of it); with it, reported
                by the walsender only; with it and a physical replication slot
    caught up   the standby replays everything: every live relation's checksum equal to
                the primary's

Prints one "ok - ..." / "not ok - ..." line per check, the figures as "# ..." lines, and
a last line "N passed, M failed"; exits non-zero on any failure. Uses the primary of
PGHOST/PGPORT/PGUSER in a database of its own (bg_standby), dropped at the end.
"""
import os
import sys
import threading
import time

import psycopg2
import psycopg2.extensions
import psycopg2.errors

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "promote"))
import project  # noqa: E402  (test/promote/project.py: the project, pt.reset, pt.checksums)

DB = "bg_standby"
SB_HOST = os.environ["BG_STANDBY_HOST"]
SB_PORT = os.environ["BG_STANDBY_PORT"]
SLOT = os.environ.get("BG_STANDBY_SLOT", "bgstandby_%d" % os.getpid())
CYCLES = int(os.environ.get("BG_STANDBY_CYCLES", "5"))
KINDS = ("rr", "rc", "join", "ordered")
PAUSE = 0.3                  # after each switch is replayed, before the next step (s)
DEADLINE = "5s"              # bluegreen.promote_deadline on the primary

from tap import check, note  # noqa: E402  (test/tap.py)
import tap  # noqa: E402



def primary(db=DB, app="bgsb_driver"):
    conn = psycopg2.connect(dbname=db, application_name=app)
    conn.autocommit = True
    return conn


def standby(db=DB, app="bgsb_monitor", autocommit=True):
    conn = psycopg2.connect(dbname=db, host=SB_HOST, port=SB_PORT, application_name=app)
    conn.autocommit = autocommit
    return conn


def query(conn, sql, args=None):
    """Run one statement of the harness. On an autocommit connection to the standby, a
    statement the startup process cancels (a recovery conflict, which this suite counts
    for the readers, not for itself) is run again, up to 5 times."""
    for attempt in range(5):
        cur = conn.cursor()
        try:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
        except (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected):
            if not conn.autocommit or attempt == 4:
                raise
            time.sleep(0.05)


def scalar(conn, sql, args=None):
    return query(conn, sql, args)[0][0]


def error_of(conn, sql, args=None):
    try:
        query(conn, sql, args)
        return None
    except psycopg2.Error as e:
        return (e.diag.message_primary or str(e)).strip()


checksums = project.checksums
differences = project.differences


def wait_until(pred, timeout=10, step=0.01):
    t_end = time.time() + timeout
    while time.time() < t_end:
        if pred():
            return True
        time.sleep(step)
    return False


def flush_lsn(p):
    """Where the primary's WAL is flushed to: everything the driver committed (the
    database runs with synchronous_commit = on) is before it."""
    return scalar(p, "SELECT pg_current_wal_flush_lsn()::text")


def replayed(mon, lsn):
    return scalar(mon, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))


def wait_replay(mon, lsn, timeout=40):
    """Wait until the standby has replayed lsn; the seconds it took, or None."""
    t0 = time.time()
    if wait_until(lambda: replayed(mon, lsn), timeout, 0.005):
        return time.time() - t0
    return None


LIVE_SQL = ("SELECT (SELECT min(version) FROM analytics.orders),"
            " (SELECT string_agg(version, ',') FROM reporting.summary_v),"
            " (SELECT string_agg(DISTINCT version, ',') FROM analytics.stg_orders)")


def live_version(conn):
    """The version every live relation shows in a fresh snapshot ('v1'/'v2'), or the mix."""
    o, s, g = query(conn, LIVE_SQL)[0]
    return o if o == s == g else "mixed %s/%s/%s" % (o, s, g)


STARTUP_PID = None          # the standby's startup process (replays the WAL)


def conflict(e):
    """How the startup process ended our statement (or session), or None:
    "40001 <message>: <detail>" for a recovery conflict (the statement cancelled, or an
    idle session terminated), "40P01 deadlock with the startup process" for a deadlock
    whose other side is the startup process (replaying a lock it waits for while we hold
    one it needs). Any other error is not a conflict."""
    if not isinstance(e, psycopg2.Error):
        return None
    text = str(e)
    primary_msg = (e.diag.message_primary or "").strip()
    detail = (e.diag.message_detail or "").strip()
    if "conflict with recovery" in text and e.pgcode in ("40001", "40P01", None):
        return "%s %s: %s" % (e.pgcode or "(connection closed)",
                              primary_msg or text.strip().splitlines()[0],
                              detail or "(no detail)")
    if e.pgcode == "40P01" and STARTUP_PID is not None \
            and ("blocked by process %d." % STARTUP_PID) in detail:
        return "40P01 deadlock with the startup process"
    return None


# ---------------------------------------------------------------------------
# readers: what one snapshot (or one statement) saw
# ---------------------------------------------------------------------------
O_SQL = "SELECT min(version), count(*), sum(amount) FROM analytics.orders"
S_SQL = "SELECT version, n, total FROM reporting.summary_v"
G_SQL = ("SELECT min(version), count(*), sum(amount), count(DISTINCT version)"
         " FROM analytics.stg_orders")
JOIN_SQL = """
SELECT o.version, o.n, o.total, s.version, s.n, s.total, g.version, g.n, g.total, g.versions
  FROM (SELECT min(version) AS version, count(*) AS n, sum(amount) AS total FROM analytics.orders) AS o,
       reporting.summary_v AS s,
       (SELECT min(version) AS version, count(*) AS n, sum(amount) AS total,
               count(DISTINCT version) AS versions FROM analytics.stg_orders) AS g
"""


# the same, reading stg_orders first, orders next: the order in which promote locks them
ORDERED_JOIN_SQL = """
SELECT o.version, o.n, o.total, s.version, s.n, s.total, g.version, g.n, g.total, g.versions
  FROM (SELECT min(version) AS version, count(*) AS n, sum(amount) AS total,
               count(DISTINCT version) AS versions FROM analytics.stg_orders) AS g,
       (SELECT min(version) AS version, count(*) AS n, sum(amount) AS total FROM analytics.orders) AS o,
       reporting.summary_v AS s
"""


def judge(o, s, g):
    """o, s: (version, rows, total) or None; g: (version, rows, total, versions). The
    version all three show, with summary's totals those of orders and stg_orders, or
    None (a mix, or a relation read empty)."""
    if o is None or s is None or g is None:
        return None
    if o[1] == 0 or g[3] != 1:
        return None
    if o[0] == s[0] == g[0] and o[1] == s[1] == g[1] and o[2] == s[2] == g[2]:
        return o[0]
    return None


def read_three(cur, promotes_order=False):
    """orders, summary_v, stg_orders (as client code would); or in promote's order."""
    if promotes_order:
        cur.execute(G_SQL)
        g = cur.fetchone()
    cur.execute(O_SQL)
    o = cur.fetchone()
    cur.execute(S_SQL)
    s = cur.fetchall()
    if not promotes_order:
        cur.execute(G_SQL)
        g = cur.fetchone()
    s = s[0] if len(s) == 1 else None
    return o, s, g


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}            # (kind, version) -> n
        self.mixed = []           # (kind, what it read)
        self.missing = []         # messages
        self.conflicts = {}       # (kind, what conflict() says) -> n
        self.errors = []          # (kind, sqlstate, message)
        self.tx = []              # (kind, begin, end)


class Reader(threading.Thread):
    """Reads the three relations on the standby until stopped, one snapshot at a time:
       rr    BEGIN ISOLATION LEVEL REPEATABLE READ; orders; summary_v; stg_orders; COMMIT
       rc    the same at READ COMMITTED (each statement its own snapshot, locks held)
       join  one statement joining all three (one snapshot), autocommit
       ordered  rr, reading in the order in which promote locks and moves them
                (stg_orders, orders, summary_v)"""

    def __init__(self, kind, stats, stop, n):
        super().__init__(daemon=True)
        self.kind, self.stats, self.stop, self.n = kind, stats, stop, n
        self.conn = None

    def connect(self):
        conn = standby(app="bgsb_%s_%d" % (self.kind, self.n), autocommit=self.kind == "join")
        if self.kind in ("rr", "ordered"):
            conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
        elif self.kind == "rc":
            conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_READ_COMMITTED)
        return conn

    def once(self):
        cur = self.conn.cursor()
        if self.kind == "join":
            cur.execute(JOIN_SQL)
            rows = cur.fetchall()
            if len(rows) != 1:
                return None, rows
            r = rows[0]
            o, s, g = (r[0], r[1], r[2]), (r[3], r[4], r[5]), (r[6], r[7], r[8], r[9])
        else:
            o, s, g = read_three(cur, self.kind == "ordered")
            self.conn.commit()
        return judge(o, s, g), (o, s, g)

    def run(self):
        st = self.stats
        while not self.stop.is_set():
            t0 = time.time()
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = self.connect()
                    t0 = time.time()
                version, what = self.once()
                t1 = time.time()
                with st.lock:
                    st.tx.append((self.kind, t0, t1))
                    if version is None:
                        st.mixed.append((self.kind, what))
                    else:
                        st.seen[(self.kind, version)] = st.seen.get((self.kind, version), 0) + 1
            except psycopg2.Error as e:
                with st.lock:
                    c = conflict(e)
                    if c:
                        st.conflicts[(self.kind, c)] = st.conflicts.get((self.kind, c), 0) + 1
                    elif e.pgcode == "42P01":
                        st.missing.append("%s: %s" % (self.kind, e.diag.message_primary))
                    else:
                        st.errors.append((self.kind, e.pgcode, str(e).strip()))
                try:
                    self.conn.rollback()
                except Exception:
                    try:
                        self.conn.close()
                    except Exception:
                        pass
                    self.conn = None
            time.sleep(0.002)
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass


def latency_stats(values_s):
    if not values_s:
        return "no transactions"
    v = sorted(values_s)
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))] * 1000.0
    return "%d, p50 %.1f ms, p99 %.1f ms, max %.0f ms" % (len(v), p(0.5), p(0.99), v[-1] * 1000.0)


# ---------------------------------------------------------------------------
# load: readers on the standby, cycles of switches on the primary
# ---------------------------------------------------------------------------
def load(p, mon, ref):
    query(p, "CALL pt.reset()")
    query(p, "SET bluegreen.promote_deadline = %s", (DEADLINE,))
    wait_replay(mon, flush_lsn(p))
    stats = Stats()
    stats0 = standby_conflicts(mon)
    stop = threading.Event()
    readers = [Reader(kind, stats, stop, i) for i, kind in
               enumerate(["rr", "rr", "rc", "join", "ordered"])]
    for r in readers:
        r.start()
    time.sleep(0.5)

    ops = []            # (what, error, seconds on the primary, seconds to replay, standby, primary)
    windows = []        # (begin, end) of each switch: its start until the standby replayed it
    live = "v1"
    for cycle in range(CYCLES):
        target = "v2" if live == "v1" else "v1"
        steps = [("deploy %s" % target, "CALL bg.deploy(pt.m(%s))" % ("'%s'" % target), False),
                 ("promote %s" % target, "CALL bg.promote()", True),
                 ("rollback to %s" % live, "CALL bg.rollback()", True),
                 ("deploy %s" % target, "CALL bg.deploy(pt.m(%s))" % ("'%s'" % target), False),
                 ("promote %s" % target, "CALL bg.promote()", True)]
        for what, sql, switch in steps:
            t0 = time.time()
            err = error_of(p, sql)
            t1 = time.time()
            lag = wait_replay(mon, flush_lsn(p))
            t2 = time.time()
            if switch:
                windows.append((t0, t2))
            on_standby = retry_conflicts(lambda: live_version(mon))
            ops.append(("cycle %d: %s" % (cycle + 1, what), err, t1 - t0, lag, on_standby,
                        live_version(p)))
            time.sleep(PAUSE)
        live = target
        query(p, "CALL bg.cleanup()")
    time.sleep(0.3)
    stop.set()
    for r in readers:
        r.join(30)

    bad = ["%s: %s" % (o[0], o[1]) for o in ops if o[1]]
    check("load: %d cycles of deploy, promote, rollback, deploy, promote succeed on the primary "
          "while %d readers read on the standby" % (CYCLES, len(readers)), not bad, "\n".join(bad))
    lags = [o[3] for o in ops if o[3] is not None]
    wrong = ["%s: standby %s, primary %s, replayed in %s" % (o[0], o[4], o[5], o[3])
             for o in ops if o[3] is None or o[4] != o[5] or o[5] not in ("v1", "v2")]
    check("load: each step replayed on the standby, where a new snapshot then shows the "
          "primary's live version whole (%d steps)" % len(ops), not wrong, "\n".join(wrong))
    note("load: replay after each step: median %.0f ms, max %.0f ms (%s)" % (
        sorted(lags)[len(lags) // 2] * 1000 if lags else 0, max(lags) * 1000 if lags else 0,
        ", ".join("%s %.0f" % (o[0].split(": ")[1], (o[3] or 0) * 1000)
                  for o in ops if o[3] is not None and o[3] > 0.2) or "none over 200 ms"))

    total = sum(stats.seen.values())
    by_kind = {}
    for (kind, version), n in stats.seen.items():
        by_kind.setdefault(kind, {})[version] = n
    note("load: reads on the standby: %s" % "; ".join(
        "%s v1 %d, v2 %d" % (k, by_kind.get(k, {}).get("v1", 0), by_kind.get(k, {}).get("v2", 0))
        for k in KINDS))
    n_conf = sum(stats.conflicts.values())
    note("load: the standby's pg_stat_database_conflicts: %s"
         % (conflicts_since(mon, stats0) or "nothing cancelled"))
    note("load: recovery conflicts (reads ended by the startup process): %d" % n_conf)
    kinds = {}
    for (kind, what), n in stats.conflicts.items():
        kinds.setdefault(what, {})[kind] = n
    for what, per in sorted(kinds.items()):
        note("load:   %d x %s (%s)" % (sum(per.values()), what,
                                       ", ".join("%s %d" % (k, per[k]) for k in KINDS if k in per)))
    during = [e - b for _, b, e in stats.tx if any(b < we and e > wb for wb, we in windows)]
    note("load: read latency, all: %s" % latency_stats([e - b for _, b, e in stats.tx]))
    note("load: read latency, overlapping a switch (its start until the standby replayed it): %s"
         % latency_stats(during))

    check("load: every read on the standby saw one whole version (%d reads; v1 %d, v2 %d), "
          "none mixed or empty" % (total + len(stats.mixed),
                                   sum(n for (k, v), n in stats.seen.items() if v == "v1"),
                                   sum(n for (k, v), n in stats.seen.items() if v == "v2")),
          not stats.mixed and total > 0,
          "\n".join("%s read %s" % m for m in stats.mixed[:20]))
    check("load: no read on the standby found a relation missing", not stats.missing,
          "\n".join(stats.missing[:20]))
    check("load: no read on the standby failed other than by a recovery conflict",
          not stats.errors, "\n".join("%s %s %s" % e for e in stats.errors[:20]))
    both = [k for k in KINDS
            if by_kind.get(k, {}).get("v1", 0) > 0 and by_kind.get(k, {}).get("v2", 0) > 0]
    check("load: every kind of reader saw both versions on the standby", len(both) == len(KINDS),
          by_kind)
    wait_replay(mon, flush_lsn(p))
    a, b = checksums(p), retry_conflicts(lambda: checksums(mon))
    check("load: then every relation on the standby is exactly as on the primary, "
          "which is as after a promote of %s" % live,
          a == b and a == ref[live], differences(a, b) or differences(ref[live], a))
    return live


def retry_conflicts(fn, tries=5):
    for i in range(tries):
        try:
            return fn()
        except psycopg2.Error as e:
            if not conflict(e) or i == tries - 1:
                raise
            time.sleep(0.1)


# ---------------------------------------------------------------------------
# locks: lock replay holds up the standby's replay and its readers
# ---------------------------------------------------------------------------
def startup_waits(mon):
    """The startup process is waiting for a lock (an AccessExclusiveLock it replays)."""
    return scalar(mon, "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                       " WHERE a.backend_type = 'startup' AND NOT l.granted"
                       " AND l.mode = 'AccessExclusiveLock')")


def standby_conflicts(mon):
    """The standby's own count of queries it cancelled in bg_standby, by cause."""
    rows = query(mon, "SELECT confl_tablespace, confl_lock, confl_snapshot, confl_bufferpin,"
                      " confl_deadlock FROM pg_stat_database_conflicts WHERE datname = %s", (DB,))
    names = ("tablespace", "lock", "snapshot", "bufferpin", "deadlock")
    return dict(zip(names, rows[0])) if rows else {}


def conflicts_since(mon, before, wait_for=None):
    """What standby_conflicts added since before (waiting up to 2 s for wait_for)."""
    def delta():
        now = standby_conflicts(mon)
        return {k: now[k] - before.get(k, 0) for k in now if now[k] - before.get(k, 0)}
    if wait_for:
        wait_until(lambda: delta().get(wait_for, 0) > 0, 2, 0.05)
    return delta()


def startup_wait(mon):
    """What the startup process waits for now (wait_event_type/wait_event), or 'nothing'."""
    rows = query(mon, "SELECT wait_event_type || '/' || wait_event FROM pg_stat_activity"
                      " WHERE backend_type = 'startup' AND wait_event IS NOT NULL")
    return rows[0][0] if rows else "nothing"


class ReplayWatch(threading.Thread):
    """When the standby replays lsn (its own connection)."""

    def __init__(self, lsn):
        super().__init__(daemon=True)
        self.lsn, self.at = lsn, None
        self.conn = standby(app="bgsb_replay_watch")

    def run(self):
        if wait_replay(self.conn, self.lsn) is not None:
            self.at = time.time()
        self.conn.close()


class Timed(threading.Thread):
    """One statement on its own standby connection: how long it took and how it ended."""

    def __init__(self, sql, app):
        super().__init__(daemon=True)
        self.conn = standby(app=app)
        self.sql = sql
        self.result = self.error = None
        self.took = None

    def run(self):
        t0 = time.time()
        try:
            self.result = query(self.conn, self.sql)
        except psycopg2.Error as e:
            self.error = e
        self.took = time.time() - t0
        self.conn.close()


def set_standby(mon, settings):
    """ALTER SYSTEM on the standby (allowed in recovery), then reload."""
    for name, value in settings.items():
        if value is None:
            query(mon, "ALTER SYSTEM RESET %s" % name)
        else:
            query(mon, "ALTER SYSTEM SET %s = %%s" % name, (value,))
    query(mon, "SELECT pg_reload_conf()")
    want = {n: v for n, v in settings.items() if v is not None}
    return wait_until(lambda: all(scalar(mon, "SELECT current_setting(%s) = %s", (n, v))
                                  for n, v in want.items()), 10, 0.05)


def locks(p, mon, live):
    """A standby transaction at READ COMMITTED that read the three relations and idles
    (holding their AccessShareLocks, but no snapshot: only a lock can conflict) while
    the primary promotes; then a new standby reader of all three."""
    hold = 2.0
    for part, delay in (("within max_standby_streaming_delay", None),
                        ("past max_standby_streaming_delay = 1s", "1s")):
        target = "v2" if live == "v1" else "v1"
        if delay:
            set_standby(mon, {"max_standby_streaming_delay": delay})
        wait_replay(mon, flush_lsn(p))
        stats0 = standby_conflicts(mon)
        holder = standby(app="bgsb_holder", autocommit=False)
        cur = holder.cursor()
        first = judge(*read_three(cur))
        t_read = time.time()
        err = error_of(p, "CALL bg.deploy(pt.m(%s))", (target,)) or error_of(p, "CALL bg.promote()")
        t_promoted = time.time()
        lsn = flush_lsn(p)
        watch = ReplayWatch(lsn)
        watch.start()
        blocked = wait_until(lambda: startup_waits(mon), 1.0)
        still_old = not replayed(mon, lsn)
        newcomer = Timed(ORDERED_JOIN_SQL, "bgsb_newcomer")
        newcomer.start()
        time.sleep(max(0.0, t_read + hold - time.time()))
        again = holder_err = None
        try:
            again = judge(*read_three(cur))
            holder.commit()
        except psycopg2.Error as e:
            holder_err = e
        t_end = time.time()
        watch.join(40)
        lag = watch.at and watch.at - t_promoted
        t_replayed = watch.at or time.time()
        newcomer.join(10)
        try:
            holder.close()
        except psycopg2.Error:
            pass
        cancelled = conflicts_since(mon, stats0, "lock" if delay else None)
        fresh = retry_conflicts(lambda: live_version(mon))
        check("locks (%s): the promote is done on the primary at once (%.0f ms after the standby "
              "read); on the standby, the startup process waits for the AccessExclusiveLock it "
              "replays, held up by the idle transaction" % (part, (t_promoted - t_read) * 1000),
              err is None and blocked and still_old,
              "promote: %s, startup waiting for a lock: %s, not yet replayed: %s" % (err, blocked, still_old))
        if delay is None:
            check("locks (%s): the holder is not cancelled and reads %s whole again %.1f s "
                  "later; the promote is replayed as it commits (%.0f ms after the primary's "
                  "promote, %.0f ms after the holder's commit)"
                  % (part, live, hold, (t_replayed - t_promoted) * 1000, (t_replayed - t_end) * 1000),
                  holder_err is None and first == live and again == live and lag is not None
                  and t_replayed - t_end < 0.5,
                  "first %s, again %s, error %s, lag %s" % (first, again, holder_err, lag))
        else:
            # idle in its transaction, the holder is terminated (FATAL), which libpq
            # reports as a closed connection: pg_stat_database_conflicts counts it
            c = conflict(holder_err) or (holder_err is not None and holder.closed
                                         and cancelled.get("lock", 0) >= 1
                                         and "terminated (pg_stat_database_conflicts.confl_lock)")
            check("locks (%s): the holder, having read %s whole, is ended by the startup "
                  "process (%s); the promote is replayed %.0f ms after the primary's"
                  % (part, live, c, (t_replayed - t_promoted) * 1000),
                  bool(c) and first == live and lag is not None
                  and t_replayed - t_promoted < hold - 0.3,
                  "first %s, error %s, lag %s, cancelled %s" % (first, holder_err, lag, cancelled))
        ne = newcomer.error
        ended = conflict(ne) if ne is not None else None
        got = None
        if ne is None and newcomer.result and len(newcomer.result) == 1:
            r = newcomer.result[0]
            got = judge((r[0], r[1], r[2]), (r[3], r[4], r[5]), (r[6], r[7], r[8], r[9]))
        note("locks (%s): a new standby reader of the three (in promote's order), started while "
             "the replay waits: %s after %.0f ms; the standby cancelled: %s"
             % (part, ("read %s" % got) if ne is None else ("ended: %s" % (ended or ne)),
                (newcomer.took or 0) * 1000, cancelled or "nothing"))
        check("locks (%s): that new reader queues behind the startup process (%.0f ms), then "
              "reads %s whole or is ended by a recovery conflict; a new snapshot then shows %s"
              % (part, (newcomer.took or 0) * 1000, target, target),
              (newcomer.took or 0) > 0.5 and (got == target or (ne is not None and ended))
              and fresh == target,
              "newcomer: %s %s; fresh %s" % (got, ne, fresh))
        if delay:
            set_standby(mon, {"max_standby_streaming_delay": None})
        live = fresh if fresh in ("v1", "v2") else target
    wait_replay(mon, flush_lsn(p))
    return live


# ---------------------------------------------------------------------------
# snapshots: a standby snapshot older than the build
# ---------------------------------------------------------------------------
def xid_of(conn, sql, args=None):
    rows = query(conn, sql, args)
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def old_snapshot(p, mon, live, label, horizon_sql=None):
    """A standby REPEATABLE READ transaction takes its snapshot (SELECT 1) before the
    build; the primary deploys and promotes; 1 s later (the promote replayed, unless it
    waited or the replay is held up) the transaction reads the three relations, then
    ends. What it read, and how the promote went."""
    target = "v2" if live == "v1" else "v1"
    wait_replay(mon, flush_lsn(p))
    old = standby(app="bgsb_old_snapshot", autocommit=False)
    old.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
    cur = old.cursor()
    cur.execute("SELECT 1")
    xmin = xid_of(mon, "SELECT backend_xmin::text FROM pg_stat_activity WHERE pid = %s",
                  (old.get_backend_pid(),))
    reported = None
    if horizon_sql:
        # the primary has been told of the standby's snapshot (wal_receiver_status_interval 1s)
        wait_until(lambda: (xid_of(p, horizon_sql) or 0) == xmin, 5, 0.05)
        reported = xid_of(p, horizon_sql)
    err = error_of(p, "CALL bg.deploy(pt.m(%s))", (target,))
    horizon = xid_of(p, "SELECT built_horizon::text FROM bg.deployment"
                        " ORDER BY deployment_id DESC LIMIT 1")
    res = {}

    def promote():
        t0 = time.time()
        res["error"] = error_of(p, "CALL bg.promote()")
        res["took"] = time.time() - t0
        res["lsn"] = flush_lsn(p)
    th = threading.Thread(target=promote, daemon=True)
    th.start()
    time.sleep(1.0)
    done = "lsn" in res
    was_replayed = done and replayed(mon, res["lsn"])
    waiting = startup_wait(mon)
    try:
        o, s, g = read_three(cur)
        seen = judge(o, s, g) or "mixed: orders %s, summary_v %s, stg_orders %s" % (o, s, g)
    except psycopg2.Error as e:
        seen = "ended: %s" % (conflict(e) or e)
    try:
        old.rollback()
        old.close()
    except psycopg2.Error:
        pass
    th.join(20)
    wait_replay(mon, flush_lsn(p))
    now = retry_conflicts(lambda: live_version(mon))
    where = ("the promote done on the primary and replayed" if was_replayed else
             "the promote done on the primary, its replay held up: the startup process "
             "waits for %s" % waiting if done else
             "the promote still waiting on the primary")
    note("snapshots (%s): the standby snapshot's xmin %s, %s, the build's horizon %s; "
         "read 1 s after the promote began (%s): %s; the promote %s after %.0f ms; then a "
         "new snapshot: %s"
         % (label, xmin, "reported to the primary as %s" % reported if horizon_sql
            else "not reported to the primary", horizon, where, seen,
            "failed (%s)" % res.get("error") if res.get("error") else "done",
            res.get("took", 0) * 1000, now))
    return {"seen": seen, "error": err or res.get("error"), "took": res.get("took"),
            "target": target, "old": live, "now": now, "xmin": xmin, "reported": reported,
            "horizon": horizon, "replayed": was_replayed,
            "live": now if now in ("v1", "v2") else live}


def snapshots(p, mon, live):
    try:
        return _snapshots(p, mon, live)
    finally:
        # the standby as it was; the slot dropped (inactive once the standby leaves it)
        set_standby(mon, {"hot_standby_feedback": None, "primary_slot_name": None})
        if scalar(p, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (SLOT,)):
            wait_until(lambda: not scalar(p, "SELECT coalesce(bool_or(active), false)"
                                             " FROM pg_replication_slots WHERE slot_name = %s",
                                          (SLOT,)), 10, 0.05)
            err = error_of(p, "SELECT pg_drop_replication_slot(%s)", (SLOT,))
            if err:
                note("could not drop slot %s yet: %s (run drops it)" % (SLOT, err))
        wait_until(lambda: scalar(mon, "SELECT count(*) FROM pg_stat_wal_receiver"
                                       " WHERE status = 'streaming'") == 1, 10, 0.05)


def promote_waits(p, mon, live, case, xmin_sql, reporter, then):
    """One old standby snapshot whose xmin reaches the primary (xmin_sql reads it there):
    promote must wait for it, the snapshot read the old version whole. Returns what is
    live after."""
    r = old_snapshot(p, mon, live, case, xmin_sql)
    check("snapshots (%s): promote waits for the standby snapshot older than the build "
          "that %s (xmin %s, horizon %s), which then reads %s whole%s (read: %s; the "
          "promote took %.0f ms)"
          % (case, reporter, r["reported"], r["horizon"], r["old"], then, r["seen"],
             (r["took"] or 0) * 1000),
          r["error"] is None and r["seen"] == r["old"] and r["took"] is not None
          and r["took"] >= 0.9 and r["now"] == r["target"], r)
    return r["live"]


def _snapshots(p, mon, live):
    # 1. without hot_standby_feedback the primary cannot know of the standby's snapshot
    r = old_snapshot(p, mon, live, "no hot_standby_feedback")
    live = r["live"]
    check("snapshots (no hot_standby_feedback): promote does not wait for a standby "
          "snapshot the primary is not told of (done in %.0f ms)" % ((r["took"] or 0) * 1000),
          r["error"] is None and r["took"] is not None and r["took"] < 1.0
          and r["now"] == r["target"], r)

    # 2. hot_standby_feedback: the walsender's xmin is the standby's oldest snapshot
    set_standby(mon, {"hot_standby_feedback": "on"})
    walsender = "SELECT backend_xmin::text FROM pg_stat_replication LIMIT 1"
    wait_until(lambda: xid_of(p, walsender) is not None, 5, 0.05)
    live = promote_waits(p, mon, live, "hot_standby_feedback, no slot", walsender,
                         "the walsender reports", "")

    # 3. hot_standby_feedback through a physical replication slot: the slot's xmin
    query(p, "SELECT pg_create_physical_replication_slot(%s, true)", (SLOT,))
    set_standby(mon, {"primary_slot_name": SLOT})
    slot = "SELECT xmin::text FROM pg_replication_slots WHERE slot_name = '%s' AND active" % SLOT
    wait_until(lambda: xid_of(p, slot) is not None, 10, 0.05)
    live = promote_waits(p, mon, live, "hot_standby_feedback, slot", slot,
                         "the slot's xmin reports", ", and switches once it ends")

    # the price: with no standby session at all, the slot's xmin is the standby's horizon
    # as of its last feedback message, older than a build that just ended
    target = "v2" if live == "v1" else "v1"
    took = []
    for _ in range(2):
        wait_replay(mon, flush_lsn(p))
        time.sleep(0.3)
        err = error_of(p, "CALL bg.deploy(pt.m(%s))" % ("'%s'" % target))
        t0 = time.time()
        err = err or error_of(p, "CALL bg.promote()")
        took.append("%.0f ms" % ((time.time() - t0) * 1000) if not err else err)
        live, target = target, live
    note("snapshots (hot_standby_feedback, slot): with no standby session, deploy then promote: "
         "the promote took %s (it waits for the standby's next feedback, "
         "wal_receiver_status_interval = 1s here, 10s by default)" % ", ".join(took))
    return live


# ---------------------------------------------------------------------------
def main():
    t0 = time.time()
    try:
        admin = primary("postgres")
        mon0 = standby("postgres")
    except psycopg2.Error as e:
        check("setup: connect to the primary and the standby", False, e)
        tap.summary()
        sys.exit(1)
    streaming = wait_until(lambda: scalar(mon0, "SELECT count(*) FROM pg_stat_wal_receiver"
                                                " WHERE status = 'streaming'") == 1, 30, 0.05)
    check("setup: a hot standby (pg_basebackup, then streaming) of the primary, read-only",
          streaming and scalar(mon0, "SELECT pg_is_in_recovery()")
          and scalar(mon0, "SHOW transaction_read_only") == "on",
          query(mon0, "SELECT row_to_json(r) FROM pg_stat_wal_receiver r"))
    mon0.close()
    if not streaming:
        tap.summary()
        sys.exit(1)

    query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
    query(admin, "CREATE DATABASE %s" % DB)
    # commits flushed at once, so the standby receives each as it happens
    query(admin, "ALTER DATABASE %s SET synchronous_commit = on" % DB)
    p = primary()
    mon = None
    try:
        project.install(p, DB)
        query(p, "SET client_min_messages = warning")
        query(p, "CALL pt.reset()")
        ref = {"v1": checksums(p)}
        query(p, "CALL bg.deploy(pt.m('v2'))")
        query(p, "CALL bg.promote()")
        ref["v2"] = checksums(p)
        lsn = flush_lsn(p)
        wait_until(lambda: scalar(admin, "SELECT replay_lsn >= %s::pg_lsn FROM pg_stat_replication"
                                         " LIMIT 1", (lsn,)) or False, 30, 0.02)
        mon = standby()
        global STARTUP_PID
        STARTUP_PID = scalar(mon, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'")
        mon_ok = wait_replay(mon, lsn) is not None
        a, b = checksums(p), checksums(mon)
        check("setup: the project on the primary (v1 live, then v2 promoted), replayed on the "
              "standby: every relation's checksum equal", mon_ok and a == b, differences(a, b))

        steps = [("load", lambda live: load(p, mon, ref)),
                 ("locks", lambda live: locks(p, mon, live)),
                 ("snapshots", lambda live: snapshots(p, mon, live))]
        live = "v2"
        for name, fn in steps:
            try:
                live = fn(live) or live
            except Exception:
                import traceback
                check("%s ran to its end" % name, False, traceback.format_exc())
                try:
                    live = live_version(p)
                except Exception:
                    pass

        lsn = flush_lsn(p)
        lag = wait_replay(mon, lsn)
        a, b = checksums(p), retry_conflicts(lambda: checksums(mon))
        check("caught up: the standby replayed everything (%s), and every live relation's "
              "checksum on the standby equals the primary's (%d relations, %s live)"
              % (lsn, len(a), live_version(p)),
              lag is not None and a == b and live_version(p) in ref and a == ref[live_version(p)],
              differences(a, b) or differences(ref.get(live_version(p), ()), a))
    finally:
        for c in (mon, p):
            try:
                c and c.close()
            except Exception:
                pass
        try:
            query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
            if scalar(admin, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (SLOT,)):
                query(admin, "SELECT pg_drop_replication_slot(%s)", (SLOT,))
        except psycopg2.Error as e:
            note("cleanup: %s" % e)
        admin.close()
    note("test/standby took %.0f s" % (time.time() - t0))
    sys.exit(0 if tap.summary() else 1)


if __name__ == "__main__":
    main()
