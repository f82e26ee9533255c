"""A synthetic dbt project that runs, for bench/promote: two versions of one project.

bench/genproject.py writes projects that dbt only parses; this one writes projects that
dbt and bluegreen build, with the same shape: sources -> staging views (25%) ->
three intermediate layers (50%: mostly views, some tables) -> marts (25%: mostly tables,
some views), grouped in domains that mostly reference their own models, one to three
upstream models per model. Every model has the same columns, so any model can join any
other on id:

    id bigint, grp int, amount numeric, created_at timestamptz, payload text, version text

Each staging model reads its own source table raw.src_NNNN (raw_sql() creates them);
other models join their upstream models on id (one to one), so every table model holds as
many rows as a source table.

Versions. In the old version ("v1") a staging model says 'v1' as version and every other
model passes on the greatest version of its upstream models. The new version ("v2") edits some
models (or all of them) to say 'v2': dbt's state:modified+ then selects the edited models
and everything downstream, and readers can tell which version each relation holds.
No ephemeral or incremental models and no tests: every model is one relation, rebuilt the
same way by dbt and by bluegreen.

Everything is decided by a seeded random generator: the same parameters give the same
files. Used as a module by bench/promote.py; run alone it writes one version:

    python3 bench/promote_project.py --models 120 --edit 3 --version v2 --out /tmp/proj
"""

import argparse
import json
import os
import random
import shutil

PROJECT = "bench_promote"
SCHEMA = "analytics"
DOMAINS = ["finance", "marketing", "sales", "support", "product", "growth", "billing",
           "logistics", "inventory", "risk", "partners", "web", "payments", "catalog"]
NOUNS = ["orders", "customers", "payments", "invoices", "sessions", "events", "accounts",
         "refunds", "shipments", "tickets", "leads", "campaigns", "clicks", "carts", "items"]


class Model:
    __slots__ = ("name", "layer", "domain", "refs", "source", "materialized")

    def __init__(self, name, layer, domain):
        self.name, self.layer, self.domain = name, layer, domain
        self.refs, self.source, self.materialized = [], None, "view"


def build_graph(n_models, seed=42):
    """Exactly n_models models in dependency order, and the source tables they read."""
    rnd = random.Random(seed)
    n_stg = max(1, n_models * 25 // 100)
    n_mart = max(1, n_models * 25 // 100) if n_models >= 4 else 0
    n_int = n_models - n_stg - n_mart
    n_int1 = n_int * 45 // 100
    n_int2 = n_int * 35 // 100
    counts = [("stg", n_stg), ("int1", n_int1), ("int2", n_int2),
              ("int3", n_int - n_int1 - n_int2), ("mart", n_mart)]
    n_domains = max(2, min(len(DOMAINS) * 8, n_models // 20))
    domains = [DOMAINS[i % len(DOMAINS)] + ("" if i < len(DOMAINS) else str(i // len(DOMAINS)))
               for i in range(n_domains)]
    upstream_layers = {"int1": ["stg"], "int2": ["stg", "int1", "int1"],
                       "int3": ["int1", "int2", "int2"], "mart": ["int1", "int2", "int3", "int3"]}
    models, sources = [], []
    by = {}                               # (layer, domain) -> models; layer -> models
    for layer, count in counts:
        for i in range(count):
            d = domains[i % n_domains]
            prefix = {"stg": "stg", "mart": rnd.choice(["fct", "fct", "dim", "rpt"])}.get(layer, "int")
            m = Model(f"{prefix}_{d}__{rnd.choice(NOUNS)}_{len(models) + 1}", layer, d)
            if layer == "stg":
                m.source = f"src_{len(sources) + 1:04d}"
                sources.append(m.source)
            else:
                layers = [x for x in upstream_layers[layer] if by.get(x)]
                if not layers:            # tiny projects: the previous layers are empty
                    layers = [x for x in ("stg", "int1", "int2", "int3") if by.get(x)]
                k = rnd.choices([1, 2, 3], weights=[45, 40, 15])[0]
                for _ in range(k * 4):
                    if len(m.refs) >= k:
                        break
                    x = rnd.choice(layers)
                    same = by.get((x, d)) if rnd.random() < 0.85 else None
                    pool = same or by[x]
                    up = rnd.choice(pool)
                    if up not in m.refs:
                        m.refs.append(up)
                if layer == "mart":
                    m.materialized = rnd.choices(["table", "view"], weights=[80, 20])[0]
                else:
                    m.materialized = rnd.choices(["view", "table"], weights=[70, 30])[0]
            models.append(m)
            by.setdefault(layer, []).append(m)
            by.setdefault((layer, d), []).append(m)
    return models, sources


def downstream(models, names):
    """names and every model downstream of them (dbt's +), as a set of names."""
    out = set(names)
    for m in models:                      # dependency order: one pass suffices
        if any(r.name in out for r in m.refs):
            out.add(m.name)
    return out


def scans(m):
    """How many source-table scans a query of m costs (views expand, tables do not)."""
    if m.source:
        return 1
    return sum(1 if (r.materialized == "table") else scans(r) for r in m.refs)


def choose_edits(models, n_edit, seed=42):
    """Staging and first-layer models a pull request edits: the ones whose downstream
    closure is largest, so that the change reaches marts, views and tables alike."""
    rnd = random.Random(seed + 1)
    pool = [m for m in models if m.layer in ("stg", "int1")]
    rnd.shuffle(pool)
    pool.sort(key=lambda m: -len(downstream(models, [m.name])))
    return [m.name for m in pool[:n_edit]]


def model_sql(m, edited):
    head = f"{{{{ config(materialized='{m.materialized}') }}}}\n"
    if m.source:
        version = "'v2'" if edited else "'v1'"
        return (head + "select\n    id,\n    grp,\n    amount,\n    created_at,\n    payload,\n"
                f"    {version}::text as version\nfrom {{{{ source('raw', '{m.source}') }}}}\n")
    ctes = ",\n".join(f"up{i} as (\n    select * from {{{{ ref('{r.name}') }}}}\n)"
                      for i, r in enumerate(m.refs))
    amount = " + ".join(["up0.amount"] + [f"coalesce(up{i}.amount, 0)" for i in range(1, len(m.refs))])
    if len(m.refs) > 1:
        amount = f"({amount}) / {len(m.refs)}"
    joins = "".join(f"\nleft join up{i} on up{i}.id = up0.id" for i in range(1, len(m.refs)))
    version = "'v2'::text" if edited else \
        ("greatest(" + ", ".join(f"up{i}.version" for i in range(len(m.refs))) + ")" if len(m.refs) > 1
         else "up0.version")
    return (head + f"with\n{ctes}\nselect\n    up0.id,\n    up0.grp,\n    ({amount})::numeric(14, 2) as amount,\n"
            f"    up0.created_at,\n    up0.payload,\n    {version} as version\nfrom up0{joins}\n")


def write_project(root, models, sources, edited):
    """One version of the project under root; edited: names of models that say 'v2'."""
    if os.path.exists(root):
        shutil.rmtree(root)

    def put(rel, text):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    put("dbt_project.yml", f"""name: {PROJECT}
version: "1.0.0"
config-version: 2
profile: {PROJECT}
model-paths: ["models"]
target-path: target
clean-targets: [target]
""")
    # dbt connects for compile and run; the database comes from BENCH_DB (compiled code
    # names it, and bluegreen refuses code compiled for another database).
    put("profiles.yml", f"""{PROJECT}:
  target: bench
  outputs:
    bench:
      type: postgres
      host: "{{{{ env_var('PGHOST', '/tmp') }}}}"
      port: "{{{{ env_var('PGPORT', '5432') | as_number }}}}"
      user: "{{{{ env_var('PGUSER', 'postgres') }}}}"
      password: ""
      dbname: "{{{{ env_var('BENCH_DB', 'bench_promote') }}}}"
      schema: {SCHEMA}
      threads: "{{{{ env_var('BENCH_DBT_THREADS', '2') | as_number }}}}"
""")
    # dbt's default schema naming: <target schema>_<custom schema>; none here, all in analytics.
    put("models/_sources.yml", json.dumps({"version": 2, "sources": [{
        "name": "raw", "schema": "raw",
        "tables": [{"name": s} for s in sources]}]}, indent=1) + "\n")
    layer_dir = {"stg": "staging", "int1": "intermediate", "int2": "intermediate",
                 "int3": "intermediate", "mart": "marts"}
    for m in models:
        put(f"models/{layer_dir[m.layer]}/{m.domain}/{m.name}.sql", model_sql(m, m.name in edited))


def raw_sql(sources, rows):
    """SQL that creates schema raw and its source tables with rows rows each."""
    names = ", ".join(f"'{s}'" for s in sources)
    return f"""
CREATE SCHEMA IF NOT EXISTS raw;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY[{names}]::text[] LOOP
    EXECUTE format($q$CREATE TABLE raw.%I AS
      SELECT g::bigint AS id, (g %% 97)::int AS grp,
             ((g * 7919) %% 1000000 / 100.0)::numeric(12, 2) AS amount,
             timestamptz '2024-01-01' + g * interval '1 minute' AS created_at,
             md5(g::text) AS payload
        FROM generate_series(1::bigint, {int(rows)}) AS g$q$, t);
    EXECUTE format('ALTER TABLE raw.%I ADD PRIMARY KEY (id)', t);
  END LOOP;
END $$;
ANALYZE;
"""


def generate(out, n_models, edit, version, seed=42):
    """Write one version ("v1" or "v2") of the project to out; return its models, sources
    and the edited model names. edit: how many models v2 edits, or "all"."""
    models, sources = build_graph(n_models, seed)
    edited = set(m.name for m in models) if edit == "all" else set(choose_edits(models, edit, seed))
    write_project(out, models, sources, edited if version == "v2" else set())
    return models, sources, edited


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=120)
    ap.add_argument("--edit", default="3", help="models the new version edits, or all")
    ap.add_argument("--version", choices=["v1", "v2"], default="v1")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    models, sources, edited = generate(a.out, a.models, a.edit if a.edit == "all" else int(a.edit),
                                       a.version, a.seed)
    closure = downstream(models, edited)
    print(json.dumps({"models": len(models), "sources": len(sources),
                      "tables": sum(m.materialized == "table" for m in models),
                      "edited": sorted(edited), "selected": len(closure)}))


if __name__ == "__main__":
    main()
