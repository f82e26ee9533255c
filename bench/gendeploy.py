"""Runnable dbt projects for bench/deploy: an old (v1) and a new (v2) version, and the SQL that
loads their source data. Unlike bench/genproject.py (whose projects are only parsed), every
model here runs and every test passes.

Two shapes:

small  N models over a few thousand rows per source table, where per-model overhead
       dominates: sources -> staging views (20%) -> three intermediate layers (50%: views,
       tables, ephemeral models) -> marts (30%: tables, views, incremental models; row-level or
       aggregated per customer). Every non-mart model has the same columns (id, customer_id,
       status, amount_cents, quantity, created_at, updated_at) and keeps the id of its first
       upstream model, so left joins on id keep ids unique and the not_null / unique /
       accepted_values / relationships tests pass. v2 edits the bodies of a few staging and
       intermediate models (same columns, same rows), as a pull request does.

large  a handful of models over a source of R event rows (10 million by default), where the SQL
       itself dominates: two staging views, three tables (two aggregates over every event and
       a monthly rollup) and an incremental model (delete+insert by event_id) that joins every
       event to its customer. v2 edits the staging view of the events (the amount's
       expression; same columns, same rows), which selects every model downstream of it.
       The source is loaded by SQL with generate_series; its last rows arrive after v1 is
       built (increment_sql), so that the incremental model has an increment to apply.

Everything is decided by a seeded random generator: the same parameters give the same files.
Used as a module by bench/deploy.py; run alone it writes one pair of projects and the SQL:

    python3 bench/gendeploy.py small --models 300 --out /tmp/proj
    python3 bench/gendeploy.py large --rows 10000000 --out /tmp/proj
"""

import argparse
import json
import os
import random
import shutil

PROJECT = "bench_deploy"
STATUSES = ["new", "paid", "shipped", "returned"]


def profiles_yml(threads):
    """Two targets on the database of PGDATABASE: bluegreen's live schema and dbt's own."""
    out = ["bench_deploy:", "  target: bg", "  outputs:"]
    for target, schema in (("bg", "analytics"), ("dbt", "dbt_analytics")):
        out += [f"    {target}:",
                "      type: postgres",
                "      host: \"{{ env_var('PGHOST', '/tmp') }}\"",
                "      port: \"{{ env_var('PGPORT', '5432') | as_number }}\"",
                "      user: \"{{ env_var('PGUSER', 'postgres') }}\"",
                "      password: \"\"",
                "      dbname: \"{{ env_var('PGDATABASE', 'postgres') }}\"",
                f"      schema: {schema}",
                f"      threads: {threads}"]
    return "\n".join(out) + "\n"


DBT_PROJECT = f"""name: {PROJECT}
version: "1.0.0"
config-version: 2
profile: {PROJECT}
model-paths: ["models"]
test-paths: ["tests"]
target-path: target
clean-targets: [target]
models:
  {PROJECT}:
    +materialized: view
"""


class Writer:
    def __init__(self, root):
        self.root = root

    def put(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def dump_yaml(obj):
    """YAML is a superset of JSON: write JSON, no PyYAML needed."""
    return json.dumps(obj, indent=1) + "\n"


def not_null():
    return "not_null"


def unique():
    return "unique"


def accepted_values(values):
    return {"accepted_values": {"arguments": {"values": values}}}


def relationships(to, field):
    return {"relationships": {"arguments": {"to": f"ref('{to}')", "field": field}}}


# ------------------------------------------------------------------------------------------
# small: many small models
# ------------------------------------------------------------------------------------------

class Model:
    __slots__ = ("name", "layer", "refs", "source", "materialized", "aggregate", "tests")

    def __init__(self, name, layer):
        self.name, self.layer = name, layer
        self.refs, self.source, self.materialized = [], None, "view"
        self.aggregate, self.tests = False, {}


def small_graph(n_models, seed):
    rnd = random.Random(seed)
    n_stg = max(2, n_models * 20 // 100)
    n_int = max(3, n_models * 50 // 100)
    n_mart = max(1, n_models - n_stg - n_int)
    models, layers = [], {"stg": [], "int1": [], "int2": [], "int3": []}

    for i in range(n_stg):
        m = Model(f"stg_src_{i:03d}", "stg")
        m.source = f"src_{i:03d}"
        models.append(m)
        layers["stg"].append(m)
    plan = [("int1", n_int * 40 // 100, ["stg"]),
            ("int2", n_int * 35 // 100, ["stg", "int1", "int1"]),
            ("int3", n_int - n_int * 40 // 100 - n_int * 35 // 100, ["int1", "int2", "int2"])]
    for layer, count, up in plan:
        for i in range(count):
            m = Model(f"{layer}_{i:03d}", layer)
            k = rnd.choices([1, 2, 3], weights=[40, 40, 20])[0]
            m.refs = pick(rnd, [layers[x] for x in up], k)
            m.materialized = rnd.choices(["view", "table", "ephemeral"], weights=[70, 20, 10])[0]
            models.append(m)
            layers[layer].append(m)
    upstream = layers["int1"] + layers["int2"] + layers["int3"] * 2
    for i in range(n_mart):
        m = Model(f"mart_{i:03d}", "mart")
        m.refs = pick(rnd, [upstream], rnd.choices([1, 2, 3], weights=[40, 40, 20])[0])
        m.materialized = rnd.choices(["table", "view", "incremental"], weights=[75, 15, 10])[0]
        m.aggregate = m.materialized != "incremental" and rnd.random() < 0.5
        models.append(m)

    # A handful of generic tests: about one model in six has some.
    trnd = random.Random(seed + 7)
    for m in models:
        if m.materialized == "ephemeral" or trnd.random() > 0.17:
            continue
        tests = {"id": [not_null()]}
        if trnd.random() < 0.5:
            tests["id"].append(unique())
        if not m.aggregate and trnd.random() < 0.3:
            tests["status"] = [accepted_values(STATUSES)]
        first = m.refs[0] if m.refs else None
        if first and first.materialized != "ephemeral" and not m.aggregate and trnd.random() < 0.2:
            tests["id"].append(relationships(first.name, "id"))
        m.tests = tests
    return models


def pick(rnd, pools, k):
    chosen = []
    for _ in range(k * 4):
        if len(chosen) >= k:
            break
        pool = rnd.choice(pools)
        if pool:
            m = rnd.choice(pool)
            if m not in chosen:
                chosen.append(m)
    return chosen


def small_edits(models, n_edits, seed):
    """The models whose bodies v2 edits: about half staging, half first intermediate layer."""
    rnd = random.Random(seed + 1)
    stg = [m for m in models if m.layer == "stg"]
    int1 = [m for m in models if m.layer == "int1"]
    n_stg = min(len(stg), (n_edits + 1) // 2)
    return {m.name for m in rnd.sample(stg, n_stg) + rnd.sample(int1, min(len(int1), n_edits - n_stg))}


def small_sql(m, edited):
    if m.source:
        status = "coalesce(lower(status), 'unknown')" if edited else "lower(status)"
        return (f"select\n    id,\n    customer_id,\n    {status} as status,\n    amount_cents,\n"
                f"    quantity,\n    created_at,\n    updated_at\n"
                f"from {{{{ source('raw', '{m.source}') }}}}\n")
    out = []
    if m.materialized != "view":
        cfg = f"materialized='{m.materialized}'"
        if m.materialized == "incremental":
            cfg += ", unique_key='id'"
        out.append(f"{{{{ config({cfg}) }}}}\n\n")
    ctes = ",\n".join(f"up{i} as (\n    select * from {{{{ ref('{r.name}') }}}}\n)"
                      for i, r in enumerate(m.refs))
    out.append(f"with\n{ctes}\n")
    amount = "up0.amount_cents" if not edited else "coalesce(up0.amount_cents, 0)"
    amount += "".join(f" + coalesce(up{i}.amount_cents, 0)" for i in range(1, len(m.refs)))
    updated = ("greatest(" + ", ".join(f"up{i}.updated_at" for i in range(len(m.refs))) + ")"
               if len(m.refs) > 1 else "up0.updated_at")
    joins = "".join(f"\nleft join up{i} on up{i}.id = up0.id" for i in range(1, len(m.refs)))
    if m.aggregate:
        out.append("select\n    up0.customer_id as id,\n    count(*) as orders,\n"
                   f"    sum({amount}) as amount_cents,\n    sum(up0.quantity) as quantity,\n"
                   f"    max({updated}) as updated_at\n"
                   f"from up0{joins}\ngroup by up0.customer_id\n")
        return "".join(out)
    out.append("select\n    up0.id,\n    up0.customer_id,\n    up0.status,\n"
               f"    {amount} as amount_cents,\n    up0.quantity,\n    up0.created_at,\n"
               f"    {updated} as updated_at\n"
               f"from up0{joins}\n")
    if m.materialized == "incremental":
        out.append("{% if is_incremental() %}\n"
                   "where up0.updated_at > (select max(updated_at) from {{ this }})\n"
                   "{% endif %}\n")
    return "".join(out)


def small_source_sql(n_sources, rows):
    """Create schema raw and its tables src_000.. with `rows` rows each, in SQL."""
    return f"""
CREATE SCHEMA raw;
DO $$
BEGIN
  FOR i IN 0..{n_sources - 1} LOOP
    EXECUTE pg_catalog.format($q$
      CREATE TABLE raw.%I AS
      SELECT g::bigint AS id,
             (g * 7919 + %s) %% 500 AS customer_id,
             (ARRAY['new', 'paid', 'shipped', 'Returned'])[1 + (g + %s) %% 4] AS status,
             ((g * (37 + %s)) %% 100000)::bigint AS amount_cents,
             1 + (g + %s) %% 5 AS quantity,
             timestamp '2024-01-01' + g * interval '17 minutes' AS created_at,
             timestamp '2024-01-02' + g * interval '17 minutes' AS updated_at
        FROM generate_series(1, {rows}) AS g$q$,
      'src_' || pg_catalog.lpad(i::text, 3, '0'), i, i, i, i);
  END LOOP;
END $$;
"""


def small_sources_yml(n_sources):
    return dump_yaml({"version": 2, "sources": [{
        "name": "raw", "schema": "raw",
        "tables": [{"name": f"src_{i:03d}"} for i in range(n_sources)]}]})


def write_small(root, version, models, edits, threads):
    if os.path.exists(root):
        shutil.rmtree(root)
    w = Writer(root)
    w.put("dbt_project.yml", DBT_PROJECT)
    w.put("profiles.yml", profiles_yml(threads))
    n_sources = sum(1 for m in models if m.source)
    w.put("models/staging/_sources.yml", small_sources_yml(n_sources))
    props = {}
    for m in models:
        folder = {"stg": "staging", "mart": "marts"}.get(m.layer, "intermediate")
        w.put(f"models/{folder}/{m.name}.sql", small_sql(m, version == "new" and m.name in edits))
        if m.tests:
            props.setdefault(folder, []).append(
                {"name": m.name,
                 "columns": [{"name": c, "data_tests": t} for c, t in m.tests.items()]})
    for folder, entries in props.items():
        w.put(f"models/{folder}/_models.yml", dump_yaml({"version": 2, "models": entries}))


def generate_small(out, n_models, rows, n_edits, seed, threads):
    """Write out/old and out/new; return (source SQL, increment SQL, summary)."""
    models = small_graph(n_models, seed)
    edits = small_edits(models, n_edits, seed)
    for version in ("old", "new"):
        write_small(os.path.join(out, version), version, models, edits, threads)
    n_sources = sum(1 for m in models if m.source)
    kinds = {}
    for m in models:
        kinds[m.materialized] = kinds.get(m.materialized, 0) + 1
    summary = {"models": len(models), "sources": n_sources, "source_rows": n_sources * rows,
               "rows_per_source": rows, "edited": sorted(edits), "materializations": kinds,
               "tests": sum(len(t) for m in models for t in m.tests.values())}
    return small_source_sql(n_sources, rows), None, summary


# ------------------------------------------------------------------------------------------
# large: a few models over a big source
# ------------------------------------------------------------------------------------------

LARGE_MODELS = {
    "stg_events": """select
    event_id,
    customer_id,
    event_type,
    amount_cents,
    {amount} as amount,
    occurred_at,
    occurred_at::date as event_date
from {{{{ source('raw', 'events') }}}}
""",
    "stg_customers": """select
    customer_id,
    name,
    country,
    signed_up_at
from {{ source('raw', 'customers') }}
""",
    "dim_customers": """{{ config(materialized='table') }}

with stats as (
    select
        customer_id,
        count(*) as events,
        sum(amount) as lifetime_amount,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at
    from {{ ref('stg_events') }}
    group by customer_id
)
select
    c.customer_id,
    c.name,
    c.country,
    c.signed_up_at,
    coalesce(s.events, 0) as events,
    coalesce(s.lifetime_amount, 0) as lifetime_amount,
    s.first_event_at,
    s.last_event_at
from {{ ref('stg_customers') }} as c
left join stats as s using (customer_id)
""",
    "fct_daily_revenue": """{{ config(materialized='table') }}

select
    event_date,
    event_type,
    count(*) as events,
    sum(amount) as amount,
    max(occurred_at) as last_event_at
from {{ ref('stg_events') }}
group by event_date, event_type
""",
    "fct_events": """{{ config(materialized='incremental', unique_key='event_id') }}

select
    e.event_id,
    e.customer_id,
    c.country,
    e.event_type,
    e.amount,
    e.occurred_at,
    e.event_date
from {{ ref('stg_events') }} as e
join {{ ref('stg_customers') }} as c using (customer_id)
{% if is_incremental() %}
where e.occurred_at > (select max(occurred_at) from {{ this }})
{% endif %}
""",
    "rpt_monthly_revenue": """{{ config(materialized='table') }}

select
    date_trunc('month', occurred_at)::date as month,
    country,
    count(*) as events,
    count(*) filter (where event_type = 'purchase') as purchases,
    sum(amount) as amount
from {{ ref('fct_events') }}
group by 1, 2
""",
}

LARGE_TESTS = {
    "stg_customers": {"customer_id": [not_null(), unique()]},
    "dim_customers": {"customer_id": [not_null(), unique()]},
    "fct_daily_revenue": {"event_type": [accepted_values(["view", "click", "cart", "purchase",
                                                           "refund"])]},
    "fct_events": {"event_id": [not_null()],
                   "customer_id": [relationships("dim_customers", "customer_id")]},
    "rpt_monthly_revenue": {"month": [not_null()]},
}


def large_source_sql(rows, first_rows, customers):
    """raw.customers and the first `first_rows` of raw.events; the rest comes with
    large_increment_sql, after v1 is built."""
    return f"""
CREATE SCHEMA raw;
CREATE TABLE raw.customers AS
SELECT g AS customer_id,
       'customer ' || g AS name,
       (ARRAY['de', 'fr', 'us', 'uk', 'es', 'it', 'nl', 'se'])[1 + g % 8] AS country,
       timestamp '2023-01-01' + g * interval '1 minute' AS signed_up_at
  FROM generate_series(1, {customers}) AS g;
CREATE TABLE raw.events (
    event_id bigint NOT NULL,
    customer_id integer NOT NULL,
    event_type text NOT NULL,
    amount_cents integer NOT NULL,
    occurred_at timestamp NOT NULL
);
{large_events_sql(1, first_rows, rows, customers)}
"""


def large_events_sql(lo, hi, rows, customers):
    # Events spread over a year in event_id order, so the last ones are the most recent.
    return f"""INSERT INTO raw.events
SELECT g,
       1 + (g * 7919) % {customers},
       (ARRAY['view', 'click', 'view', 'cart', 'view', 'purchase', 'click', 'refund'])[1 + (g * 31) % 8],
       (g * 37) % 20000,
       timestamp '2024-01-01' + (g::float8 / {rows}) * interval '365 days'
  FROM generate_series({lo}::bigint, {hi}::bigint) AS g;"""


def write_large(root, version, threads, indexed=False):
    if os.path.exists(root):
        shutil.rmtree(root)
    w = Writer(root)
    w.put("dbt_project.yml", DBT_PROJECT)
    w.put("profiles.yml", profiles_yml(threads))
    w.put("models/staging/_sources.yml", dump_yaml({"version": 2, "sources": [{
        "name": "raw", "schema": "raw", "tables": [{"name": "events"}, {"name": "customers"}]}]}))
    for name, sql in LARGE_MODELS.items():
        if name == "stg_events":
            sql = sql.format(amount="round(amount_cents / 100.0, 2)" if version == "new"
                             else "amount_cents / 100.0")
        if name == "fct_events" and indexed:
            sql = sql.replace("unique_key='event_id')",
                              "unique_key='event_id',\n"
                              "          indexes=[{'columns': ['event_id'], 'unique': true},\n"
                              "                   {'columns': ['occurred_at']}])")
        folder = "staging" if name.startswith("stg_") else "marts"
        w.put(f"models/{folder}/{name}.sql", sql)
    w.put("models/_models.yml", dump_yaml({"version": 2, "models": [
        {"name": m, "columns": [{"name": c, "data_tests": t} for c, t in cols.items()]}
        for m, cols in LARGE_TESTS.items()]}))


def generate_large(out, rows, increment_frac, customers, threads, indexed=False):
    """Write out/old and out/new; return (source SQL, increment SQL, summary). indexed:
    the events indexed by time and fct_events by key and time, as a team whose increments
    are small next to the table sets them up, so that finding the increment and the rows
    it replaces costs what the increment costs."""
    for version in ("old", "new"):
        write_large(os.path.join(out, version), version, threads, indexed)
    first = rows - max(1, int(rows * increment_frac))
    summary = {"models": len(LARGE_MODELS), "source_rows": rows, "customers": customers,
               "rows_at_v1": first, "increment_rows": rows - first,
               "edited": ["stg_events"],
               "materializations": {"view": 2, "table": 3, "incremental": 1},
               "tests": sum(len(t) for cols in LARGE_TESTS.values() for t in cols.values())}
    return (large_source_sql(rows, first, customers)
            + ("CREATE INDEX ON raw.events (occurred_at);\n" if indexed else ""),
            large_events_sql(first + 1, rows, rows, customers), summary)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shape", choices=["small", "large"])
    ap.add_argument("--models", type=int, default=300)
    ap.add_argument("--rows", type=int, default=None,
                    help="small: rows per source table (2000); large: event rows (10,000,000)")
    ap.add_argument("--edits", type=int, default=6)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.shape == "small":
        src, inc, summary = generate_small(a.out, a.models, a.rows or 2000, a.edits, a.seed, 1)
    else:
        src, inc, summary = generate_large(a.out, a.rows or 10_000_000, 0.05, 200_000, 1)
    with open(os.path.join(a.out, "sources.sql"), "w") as f:
        f.write(src)
    if inc:
        with open(os.path.join(a.out, "increment.sql"), "w") as f:
            f.write(inc)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
