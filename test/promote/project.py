"""The small dbt project the promote suite deploys, and what it needs in a database.

Project "pt" (schema analytics), read by a view outside the project:

    raw.orders -> stg_orders (view) -> orders (table) -> summary (table) -> reporting.summary_v
                                  \\-> test orders_amount_positive

Version 1 is live; version 2 changes stg_orders (amounts doubled, version 'v2'), so a
deploy of v2 rebuilds all three models downstream and promote re-points
reporting.summary_v. Every relation says which version it is, and summary's totals must
match orders': a reader that saw one version of one relation and the other of another
can tell.

Variants of v2 stretch or stop a deploy at a known point (for the isolation specs and
the crash tests):
    v2_gate1 / v2_gate3   model 1 (stg_orders) / model 3 (summary) reads raw.gate, so the
                          build waits while another session holds a lock on raw.gate
    v2_gate_test          the test reads raw.gate: the deploy waits in its test step
    v2_slow               orders and summary each sleep 0.6 s while they are built
    v2_bad                orders divides by zero: the build fails
    v2_badtest            the test fails (error severity)

Manifests are written in the shape of dbt's target/manifest.json (schema v12), reduced
to the fields bluegreen reads, like the helpers of sql/10_plan.sql.
"""
import hashlib
import json

PROJECT = "pt"
LIVE_SCHEMAS = ("analytics", "reporting", "raw")


def _q(db, schema, name):
    return '"%s"."%s"."%s"' % (db, schema, name)


def _model(db, name, code, materialized, depends):
    uid = "model.pt." + name
    config = {"enabled": True, "materialized": materialized, "persist_docs": {}, "tags": []}
    return uid, {
        "unique_id": uid, "resource_type": "model", "package_name": PROJECT, "name": name,
        "path": name + ".sql", "original_file_path": "models/%s.sql" % name,
        "fqn": [PROJECT, name], "database": db, "schema": "analytics", "alias": name,
        "checksum": {"name": "sha256", "checksum": hashlib.sha256(code.encode()).hexdigest()},
        "config": config, "unrendered_config": {"materialized": materialized},
        "raw_code": code, "compiled_code": code, "language": "sql", "description": "",
        "columns": {}, "depends_on": {"macros": [], "nodes": list(depends)},
        "contract": {"enforced": False, "alias_types": True, "checksum": None},
        "constraints": [], "access": "protected", "version": None, "latest_version": None,
        "deprecation_date": None,
    }


def _test(db, name, code, depends):
    uid = "test.pt." + name
    return uid, {
        "unique_id": uid, "resource_type": "test", "package_name": PROJECT, "name": name,
        "path": name + ".sql", "original_file_path": "tests/%s.sql" % name,
        "fqn": [PROJECT, name], "database": db, "schema": "analytics_dbt_test__audit",
        "alias": name,
        "checksum": {"name": "sha256", "checksum": hashlib.sha256(code.encode()).hexdigest()},
        "config": {"enabled": True, "materialized": "test", "severity": "ERROR"},
        "unrendered_config": {}, "raw_code": code, "compiled_code": code, "language": "sql",
        "description": "", "columns": {},
        "depends_on": {"macros": [], "nodes": list(depends)},
    }


def _source(db, name):
    uid = "source.pt.raw." + name
    return uid, {
        "unique_id": uid, "resource_type": "source", "package_name": PROJECT,
        "source_name": "raw", "name": name, "fqn": [PROJECT, "raw", name], "database": db,
        "schema": "raw", "identifier": name, "loaded_at_field": None,
        "freshness": {"warn_after": None, "error_after": None},
        "quoting": {"database": None, "schema": None, "identifier": None},
        "external": None, "description": "", "columns": {}, "config": {"enabled": True},
        "unrendered_config": {},
    }


def model_code(db, variant):
    """The compiled code of each model and of the test, per variant."""
    version = "v1" if variant == "v1" else "v2"
    amount = "amount" if version == "v1" else "(amount * 2)::numeric(12,2)"
    gate = " WHERE (SELECT count(*) FROM %s) >= 0" % _q(db, "raw", "gate")
    slow = " WHERE (SELECT count(*) FROM pg_catalog.pg_sleep(0.6)) = 1"
    code = {
        "stg_orders": "SELECT id, %s AS amount, '%s'::text AS version FROM %s"
                      % (amount, version, _q(db, "raw", "orders")),
        "orders": "SELECT id, amount, version FROM %s" % _q(db, "analytics", "stg_orders"),
        "summary": "SELECT version, count(*) AS n, sum(amount) AS total FROM %s GROUP BY version"
                   % _q(db, "analytics", "orders"),
        "orders_amount_positive": "SELECT * FROM %s WHERE amount <= 0"
                                  % _q(db, "analytics", "orders"),
    }
    if variant == "v2_gate1":
        code["stg_orders"] += gate
    elif variant == "v2_gate3":
        code["summary"] = code["summary"].replace(" GROUP BY", gate + " GROUP BY")
    elif variant == "v2_gate_test":
        code["orders_amount_positive"] += gate.replace(" WHERE", " AND")
    elif variant == "v2_slow":
        code["orders"] += slow
        code["summary"] = code["summary"].replace(" GROUP BY", slow + " GROUP BY")
    elif variant == "v2_bad":
        code["orders"] = "SELECT id, amount / 0 AS amount, version FROM %s" \
                         % _q(db, "analytics", "stg_orders")
    elif variant == "v2_badtest":
        code["orders_amount_positive"] = "SELECT * FROM %s WHERE version = 'v2'" \
                                         % _q(db, "analytics", "orders")
    return code


VARIANTS = ("v1", "v2", "v2_gate1", "v2_gate3", "v2_gate_test", "v2_slow", "v2_bad",
            "v2_badtest")


def manifest(db, variant):
    """The manifest.json text of one variant, for database db."""
    code = model_code(db, variant)
    nodes = dict([
        _model(db, "stg_orders", code["stg_orders"], "view",
               ["source.pt.raw.orders"] + (["source.pt.raw.gate"] if variant == "v2_gate1" else [])),
        _model(db, "orders", code["orders"], "table", ["model.pt.stg_orders"]),
        _model(db, "summary", code["summary"], "table", ["model.pt.orders"]),
        _test(db, "orders_amount_positive", code["orders_amount_positive"], ["model.pt.orders"]),
    ])
    doc = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": "1.9.4", "generated_at": "2025-01-01T00:00:00.000000Z",
            "invocation_id": "00000000-0000-0000-0000-000000000001",
            "project_name": PROJECT, "adapter_type": "postgres",
        },
        "nodes": nodes,
        "sources": dict([_source(db, "orders"), _source(db, "gate")]),
        "macros": {}, "disabled": {}, "docs": {}, "exposures": {}, "metrics": {},
        "groups": {}, "selectors": {}, "semantic_models": {}, "unit_tests": {},
        "saved_queries": {},
    }
    return json.dumps(doc)


# Everything the suite needs in a database, once: the sources, the helpers in schema pt
# (checksums, and pt.reset, which puts v1 live and registers it), the manifests.
BASE_SQL = r"""
CREATE SCHEMA raw;
CREATE TABLE raw.orders (id integer PRIMARY KEY, amount numeric(12,2) NOT NULL);
INSERT INTO raw.orders SELECT i, (i % 97) + 1 FROM generate_series(1, %(rows)s) AS i;
CREATE TABLE raw.gate (id integer);
ANALYZE raw.orders;

CREATE SCHEMA pt;
CREATE TABLE pt.manifest (name text PRIMARY KEY, body text NOT NULL);
-- readers.sql (pgbench) counts the transactions that saw each version here
CREATE SEQUENCE pt.seen_v1;
CREATE SEQUENCE pt.seen_v2;

-- One row per relation of the live schemas: kind, owner, columns, and an md5 of its
-- rows in a fixed order. Two states of production are equal when these rows are.
CREATE FUNCTION pt.checksums()
RETURNS TABLE (relation text, kind "char", owner name, columns text, n bigint, md5 text)
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid, n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner) AS o
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('analytics', 'reporting', 'raw')
              AND c.relkind IN ('r', 'v', 'm', 'p')
            ORDER BY 2, 3 LOOP
    relation := format('%I.%I', r.nspname, r.relname);
    kind := r.relkind;
    owner := r.o;
    SELECT string_agg(format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', '
                      ORDER BY a.attnum)
      INTO columns FROM pg_attribute a
     WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('SELECT count(*), md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), ''''))'
                   ' FROM %s AS t', relation) INTO n, md5;
    RETURN NEXT;
  END LOOP;
END $$;

-- A fresh start: bluegreen (re)installed, v1 built live by hand as dbt would have built
-- it, the schema handed to bluegreen, a view outside the project on summary, v1
-- registered; then, if asked, a deploy of another variant (built, not promoted).
CREATE PROCEDURE pt.reset(deploy text DEFAULT NULL) LANGUAGE plpgsql AS $$
DECLARE s text; m text;
BEGIN
  PERFORM set_config('client_min_messages', 'warning', false);
  DROP SCHEMA IF EXISTS reporting CASCADE;
  FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'analytics%' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
  DROP EXTENSION IF EXISTS bluegreen;
  CREATE EXTENSION bluegreen;
  CREATE SCHEMA analytics;
  EXECUTE format('CREATE VIEW analytics.stg_orders AS %s', pt.code('v1', 'stg_orders'));
  EXECUTE format('CREATE TABLE analytics.orders AS %s', pt.code('v1', 'orders'));
  EXECUTE format('CREATE TABLE analytics.summary AS %s', pt.code('v1', 'summary'));
  CALL bg.transfer_ownership('analytics');
  GRANT USAGE ON SCHEMA raw TO bluegreen_builder;
  GRANT SELECT ON ALL TABLES IN SCHEMA raw TO bluegreen_builder;
  CREATE SCHEMA reporting;
  CREATE VIEW reporting.summary_v AS SELECT version, n, total FROM analytics.summary;
  m := (SELECT body FROM pt.manifest WHERE name = 'v1');
  CALL bg.create_project(m);
  IF deploy IS NOT NULL THEN
    m := (SELECT body FROM pt.manifest WHERE name = deploy);
    CALL bg.deploy(m);
  END IF;
END $$;

-- The manifest of a variant, for CALL bg.deploy(pt.m('v2')).
CREATE FUNCTION pt.m(variant text) RETURNS text LANGUAGE sql AS $$
SELECT body FROM pt.manifest WHERE name = variant
$$;

-- For the isolation specs: run stmt (a CALL) and say how it ended in lines that are the
-- same on every run: the error with the pid of the session named "holder" (by
-- application_name) shown as <holder>, how long it took, and what the detail tells.
CREATE FUNCTION pt.try(stmt text, holder text DEFAULT NULL,
                       lo text DEFAULT '0s', hi text DEFAULT '0.5s')
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); msg text; det text; st text; hpid int;
        took interval;
BEGIN
  BEGIN
    EXECUTE stmt;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, st = RETURNED_SQLSTATE;
  END;
  took := clock_timestamp() - t0;
  IF holder IS NOT NULL THEN
    SELECT pid INTO hpid FROM pg_stat_activity WHERE application_name = holder;
  END IF;
  IF hpid IS NOT NULL THEN
    msg := replace(msg, 'backend ' || hpid, 'backend <' || holder || '>');
    det := replace(det, 'backend ' || hpid || ' ', 'backend <' || holder || '> ');
  END IF;
  RETURN NEXT CASE WHEN st IS NULL THEN 'ok'
              ELSE format('ERROR %s: %s', st, regexp_replace(msg, 'backend \d+', 'backend <other>', 'g')) END;
  RETURN NEXT format('took between %s and %s: %s', lo, hi,
                     took >= lo::interval AND took < hi::interval);
  IF det <> '' AND holder IS NOT NULL THEN
    RETURN NEXT format('detail names %s: %s', holder,
                       det LIKE format('%%backend <%s> (user %%, application %L, %%', holder, holder));
  END IF;
END $$;

-- For the isolation specs: true once the session named app has started waiting for a
-- lock n separate times (promote retrying), false after timeout seconds.
CREATE FUNCTION pt.lock_waits(app text, n int, timeout float8 DEFAULT 10) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE target int; waiting boolean; was boolean := false; edges int := 0;
        t_end timestamptz := clock_timestamp() + timeout * interval '1s';
BEGIN
  SELECT pid INTO target FROM pg_stat_activity WHERE application_name = app;
  WHILE clock_timestamp() < t_end LOOP
    waiting := EXISTS (SELECT FROM pg_locks WHERE pid = target AND NOT granted);
    IF waiting AND NOT was THEN
      edges := edges + 1;
      IF edges >= n THEN RETURN true; END IF;
    END IF;
    was := waiting;
    PERFORM pg_sleep(0.002);
  END LOOP;
  RETURN false;
END $$;

-- For the isolation specs: read live relations, one transaction per read, for some
-- seconds; whether some had to wait (behind promote's lock requests), whether
-- every wait was short, and the versions seen.
CREATE PROCEDURE pt.timed_reads(seconds float8, INOUT some_waited boolean DEFAULT NULL,
                                INOUT all_waits_under_300ms boolean DEFAULT NULL,
                                INOUT versions text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE t_end timestamptz := clock_timestamp() + seconds * interval '1s'; t0 timestamptz;
        w interval; maxw interval := '0s'; waits int := 0; v text; seen text[] := '{}';
BEGIN
  WHILE clock_timestamp() < t_end LOOP
    t0 := clock_timestamp();
    SELECT s.version || '/' || (SELECT min(o.version) FROM analytics.orders AS o)
      INTO v FROM reporting.summary_v AS s;
    w := clock_timestamp() - t0;
    COMMIT;
    IF w > interval '20ms' THEN waits := waits + 1; END IF;
    maxw := greatest(maxw, w);
    IF NOT v = ANY (seen) THEN seen := seen || v; END IF;
    PERFORM pg_sleep(0.005);
    COMMIT;
  END LOOP;
  some_waited := waits > 0;
  all_waits_under_300ms := maxw < interval '300ms';
  versions := array_to_string(seen, ',');
END $$;

CREATE FUNCTION pt.code(variant text, model text) RETURNS text LANGUAGE sql AS $$
SELECT body::jsonb #>> ARRAY['nodes', 'model.pt.' || model, 'compiled_code']
  FROM pt.manifest WHERE name = variant
$$;
"""


def install(conn, db, rows=2000):
    """Create the sources, helpers and manifests in database db (conn: autocommit)."""
    cur = conn.cursor()
    cur.execute(BASE_SQL.replace("%(rows)s", str(int(rows))))
    for v in VARIANTS:
        cur.execute("INSERT INTO pt.manifest VALUES (%s, %s)", (v, manifest(db, v)))


def checksums(conn):
    """pt.checksums() of the database conn is connected to (see install): two states of
    production are equal when these are."""
    cur = conn.cursor()
    cur.execute("SELECT * FROM pt.checksums()")
    return tuple(cur.fetchall())


def differences(a, b):
    """What differs between two checksum sets, one line per relation."""
    da = {r[0]: r for r in a}
    db = {r[0]: r for r in b}
    return "\n".join("%s: %s -> %s" % (rel, da[rel][1:] if rel in da else "absent",
                                       db[rel][1:] if rel in db else "absent")
                     for rel in sorted(set(da) | set(db)) if da.get(rel) != db.get(rel))
