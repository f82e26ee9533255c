"""Synthetic dbt projects for the benchmarks: an "old" and a "new" version of one project.

The shape follows real warehouses: sources -> staging -> intermediate (three sub-layers) ->
marts, split into business domains that mostly reference their own models, a few hub models
(customers, dates, products...) that many marts join, one to four upstream models per model,
not_null / unique / relationships tests on key columns, a few project macros used by some
models, and a mix of view, table, incremental and ephemeral materializations.

The new version changes about 1% of the models the way a pull request does: SQL body edits,
two config edits in a properties file (plus a tag-only edit, which dbt does not count as a
modification), one new mart and one edited macro, so that dbt's state:modified+ selects a
realistic downstream closure.

Everything is decided by a seeded random generator: the same parameters give the same files.
Used as a module by bench/plan.py; run alone it writes one pair of projects:

    python3 bench/genproject.py --models 1000 --out /tmp/proj
"""

import argparse
import json
import os
import random
import shutil

PROJECT = "acme"

DOMAIN_WORDS = ["finance", "marketing", "sales", "support", "product", "growth", "billing",
                "logistics", "inventory", "hr", "risk", "fraud", "partners", "web", "mobile",
                "ads", "search", "payments", "subscriptions", "catalog"]
NOUNS = ["orders", "customers", "payments", "invoices", "sessions", "events", "accounts",
         "refunds", "shipments", "tickets", "leads", "campaigns", "clicks", "carts", "items",
         "plans", "users", "visits", "returns", "quotes", "contracts", "vendors", "stores",
         "devices", "reviews", "coupons", "balances", "ledgers", "transfers", "alerts"]
HUB_NAMES = ["customers", "dates", "products", "accounts", "currencies", "regions", "employees",
             "stores", "channels", "suppliers", "countries", "calendars", "plans", "segments",
             "warehouses", "carriers", "brands", "categories", "languages", "timezones"]
EXTRA_COLS = ["status", "amount_cents", "currency", "country", "channel", "quantity", "score",
              "category", "source_system", "is_active", "discount_cents", "tax_cents", "region",
              "segment", "priority", "owner_id", "external_ref", "version"]

MACROS = {
    "cents_to_dollars": ("column_name, scale=2",
                         "({{ column_name }} / 100)::numeric(16, {{ scale }})"),
    "safe_divide": ("numerator, denominator",
                    "case when {{ denominator }} = 0 then null "
                    "else {{ numerator }}::numeric / {{ denominator }} end"),
    "date_trunc_day": ("column_name",
                       "date_trunc('day', {{ column_name }})::date"),
    "is_recent": ("column_name, days=30",
                  "{{ column_name }} >= current_date - interval '{{ days }} days'"),
    "surrogate_key": ("a, b",
                      "md5(coalesce({{ a }}::text, '') || '-' || coalesce({{ b }}::text, ''))"),
}
# The macro the new version edits (called by a few dozen models per 10,000).
EDITED_MACRO = "surrogate_key"


class Model:
    __slots__ = ("name", "layer", "domain", "refs", "source", "cols", "materialized", "macros",
                 "is_hub")

    def __init__(self, name, layer, domain):
        self.name, self.layer, self.domain = name, layer, domain
        self.refs, self.source, self.macros = [], None, []
        self.cols, self.materialized, self.is_hub = [], "view", False


def build_graph(n_models, seed):
    """Return (models in dependency order, sources dict system -> [tables])."""
    rnd = random.Random(seed)
    n_domains = max(4, n_models // 100)
    domains = [f"{DOMAIN_WORDS[i % len(DOMAIN_WORDS)]}{'' if i < len(DOMAIN_WORDS) else i // len(DOMAIN_WORDS)}"
               for i in range(n_domains)]
    n_stg = n_models * 25 // 100
    n_int = n_models * 50 // 100
    n_mart = n_models - n_stg - n_int
    n_hubs = max(5, n_models // 500)

    models, by_layer = [], {"stg": [], "int1": [], "int2": [], "int3": [], "mart": []}
    per_domain = {(layer, d): [] for layer in by_layer for d in domains}
    sources = {}
    counter = {}

    def new_model(prefix, layer, domain):
        noun = rnd.choice(NOUNS)
        key = (prefix, domain, noun)
        counter[key] = counter.get(key, 0) + 1
        name = f"{prefix}_{domain}__{noun}"
        if counter[key] > 1:
            name += f"_{counter[key]}"
        m = Model(name, layer, domain)
        m.cols = ["id", f"{noun[:-1] if noun.endswith('s') else noun}_key", "created_at",
                  "updated_at"] + rnd.sample(EXTRA_COLS, rnd.randint(2, 6))
        models.append(m)
        by_layer[layer].append(m)
        per_domain[(layer, domain)].append(m)
        return m

    # Staging: one per source table; source systems are the domains' raw schemas.
    for i in range(n_stg):
        d = domains[i % n_domains]
        m = new_model("stg", "stg", d)
        table = m.name.split("__", 1)[1]
        sources.setdefault(f"raw_{d}", []).append(table)
        m.source = (f"raw_{d}", table)
        m.materialized = "view"

    # Hubs: conformed dimensions built in the first intermediate layer.
    hubs = []
    for i in range(n_hubs):
        d = domains[i % n_domains]
        hub_word = HUB_NAMES[i % len(HUB_NAMES)] + ("" if i < len(HUB_NAMES) else str(i // len(HUB_NAMES)))
        m = Model(f"dim_{hub_word}", "int1", d)
        m.cols = ["id", f"{hub_word}_key", "name", "created_at", "updated_at", "is_active"]
        m.is_hub, m.materialized = True, "table"
        models.append(m)
        by_layer["int1"].append(m)
        per_domain[("int1", d)].append(m)
        m.refs = pick_upstream(rnd, [by_layer["stg"]], per_domain, ["stg"], d, domains, 1, 3)
        hubs.append(m)
    # Zipf-like hub popularity: the first hubs are joined far more often.
    hub_weights = [1.0 / (i + 1) for i in range(len(hubs))]

    layer_plan = [("int1", n_int * 45 // 100 - n_hubs, ["stg"]),
                  ("int2", n_int * 35 // 100, ["stg", "int1", "int1"]),
                  ("int3", n_int - n_int * 45 // 100 - n_int * 35 // 100, ["int1", "int2", "int2"]),
                  ("mart", n_mart, ["int1", "int2", "int3", "int3", "stg"])]
    for layer, count, up_layers in layer_plan:
        for i in range(count):
            d = domains[i % n_domains]
            prefix = "int" if layer.startswith("int") else rnd.choice(["fct", "fct", "dim", "rpt"])
            m = new_model(prefix, layer, d)
            k = rnd.choices([1, 2, 3, 4], weights=[35, 35, 20, 10])[0]
            m.refs = pick_upstream(rnd, [by_layer[x] for x in up_layers], per_domain, up_layers,
                                   d, domains, k, k)
            hub_p = {"int1": 0.02, "int2": 0.10, "int3": 0.15, "mart": 0.35}[layer]
            if rnd.random() < hub_p:
                h = rnd.choices(hubs, weights=hub_weights)[0]
                if h not in m.refs:
                    m.refs.append(h)
            if layer == "mart":
                m.materialized = rnd.choices(["table", "incremental", "view"], weights=[70, 15, 15])[0]
            else:
                m.materialized = rnd.choices(["view", "ephemeral", "table"], weights=[75, 15, 10])[0]
    for m in models:
        if m.layer != "stg" and rnd.random() < 0.06:
            m.macros = rnd.sample(sorted(MACROS), rnd.randint(1, 2))
    return models, sources


def pick_upstream(rnd, pools, per_domain, layers, domain, domains, k_min, k_max):
    """Pick k upstream models: mostly from the same domain, sometimes from a neighbour."""
    k = rnd.randint(k_min, k_max)
    chosen = []
    for _ in range(k * 4):
        if len(chosen) >= k:
            break
        layer = rnd.choice(layers)
        if rnd.random() < 0.85:
            d = domain
        else:
            d = domains[(domains.index(domain) + rnd.choice([-1, 1])) % len(domains)]
        pool = per_domain[(layer, d)] or pools[layers.index(layer)]
        if not pool:
            continue
        m = rnd.choice(pool)
        if m not in chosen:
            chosen.append(m)
    return chosen


def model_sql(m, edited=False, pad=0, rnd=None):
    """The .sql file of a model. edited: the variant a pull request would make."""
    out = []
    if m.materialized == "incremental":
        out.append("{{ config(materialized='incremental', unique_key='id') }}\n")
    out.append("with\n")
    ctes = []
    if m.source:
        ctes.append(("source", f"select * from {{{{ source('{m.source[0]}', '{m.source[1]}') }}}}"))
    for i, r in enumerate(m.refs):
        ctes.append((f"up{i}", f"select * from {{{{ ref('{r.name}') }}}}"))
    out.append(",\n".join(f"{alias} as (\n    {q}\n)" for alias, q in ctes))
    first = ctes[0][0]
    cols = []
    for c in m.cols:
        if c == "amount_cents" and "cents_to_dollars" in m.macros:
            cols.append(f"{{{{ cents_to_dollars('{first}.amount_cents') }}}} as amount")
        elif c == "score" and "safe_divide" in m.macros:
            cols.append(f"{{{{ safe_divide('{first}.score', '{first}.quantity') }}}} as score_ratio")
        elif c == "created_at" and "date_trunc_day" in m.macros:
            cols.append(f"{{{{ date_trunc_day('{first}.created_at') }}}} as created_day")
        elif c == "external_ref" and "surrogate_key" in m.macros:
            cols.append(f"{{{{ surrogate_key('{first}.id', '{first}.external_ref') }}}} as external_ref")
        else:
            cols.append(f"{first}.{c}")
    for i in range(1, len(ctes)):
        cols.append(f"{ctes[i][0]}.updated_at as {ctes[i][0]}_updated_at")
    if edited:
        cols.append(f"coalesce({first}.updated_at, {first}.created_at) as last_changed_at")
    joins = "".join(f"\n    left join {ctes[i][0]} on {ctes[i][0]}.id = {first}.id"
                    for i in range(1, len(ctes)))
    where = []
    if "is_recent" in m.macros:
        where.append(f"{{{{ is_recent('{first}.updated_at') }}}}")
    if m.materialized == "incremental":
        where.append("{% if is_incremental() %}" + f"{first}.updated_at > (select max(updated_at) from {{{{ this }}}})"
                     + "{% else %}true{% endif %}")
    if edited and m.source:
        where.append(f"{first}.id is not null")
    out.append(",\nfinal as (\n    select\n        " + ",\n        ".join(cols)
               + f"\n    from {first}{joins}"
               + (("\n    where " + "\n      and ".join(where)) if where else "") + "\n)\n")
    if pad:
        out.append(padding(m, pad, rnd))
    out.append("select * from final\n")
    return "".join(out)


def padding(m, size, rnd):
    """A long but plausible SQL comment block (a changelog and column notes) to make bodies big."""
    lines = ["/*\n"]
    n = 0
    while n < size:
        line = (f"  {rnd.randint(2019, 2025)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} "
                f"{rnd.choice(m.cols)}: {rnd.choice(['backfilled', 'renamed', 'recast', 'deduplicated', 'reviewed'])} "
                f"for ticket {rnd.choice(DOMAIN_WORDS).upper()}-{rnd.randint(100, 9999)}, "
                f"see the {rnd.choice(NOUNS)} runbook section {rnd.randint(1, 40)}\n")
        lines.append(line)
        n += len(line)
    lines.append("*/\n")
    return "".join(lines)


def choose_changes(models, seed, frac=0.01):
    """Models whose body the new version edits, and models whose config it edits."""
    rnd = random.Random(seed + 1)
    candidates = [m for m in models if not m.is_hub]
    # With the config edits, the new model and the edited macro's callers: about frac in all.
    n_body = max(3, round(len(models) * frac * 0.75))
    body = set(m.name for m in rnd.sample(candidates, n_body))
    rest = [m for m in candidates if m.name not in body]
    # Config edits in a properties file: a view becomes a table, a table gets grants, and a
    # table gets a tag (dbt leaves tags out of its config comparison: not a modification).
    views = [m for m in rest if m.materialized == "view" and m.layer != "stg"]
    tables = rnd.sample([m for m in rest if m.materialized == "table"], 2)
    config = {rnd.choice(views).name: {"materialized": "table"},
              tables[0].name: {"grants": {"select": ["reporting"]}},
              tables[1].name: {"tags": ["finance_critical"]}}
    return body, config


def write_project(root, models, sources, version, body_changes, config_changes, pad, seed):
    """Write one version ("old" or "new") of the project under root."""
    if os.path.exists(root):
        shutil.rmtree(root)
    new = version == "new"
    w = Writer(root)
    w.put("dbt_project.yml", f"""name: {PROJECT}
version: "1.0.0"
config-version: 2
profile: bench
model-paths: ["models"]
macro-paths: ["macros"]
test-paths: ["tests"]
target-path: target
clean-targets: [target]
models:
  {PROJECT}:
    staging:
      +materialized: view
    intermediate:
      +materialized: view
    marts:
      +materialized: table
""")
    w.put("profiles.yml", """bench:
  target: bench
  outputs:
    bench:
      type: postgres
      host: "{{ env_var('PGHOST', '/tmp') }}"
      port: "{{ env_var('PGPORT', '5432') | as_number }}"
      user: "{{ env_var('PGUSER', 'postgres') }}"
      password: ""
      dbname: postgres
      schema: analytics
      threads: 2
""")
    for name, (args, body) in sorted(MACROS.items()):
        if new and name == EDITED_MACRO:
            body = "md5(coalesce({{ a }}::text, '_null_') || '-' || coalesce({{ b }}::text, '_null_'))"
        w.put(f"macros/{name}.sql", f"{{% macro {name}({args}) %}}\n    {body}\n{{% endmacro %}}\n")

    for system, tables in sorted(sources.items()):
        doc = {"version": 2, "sources": [{
            "name": system, "schema": system,
            "description": f"Raw {system[4:]} data loaded by the ingestion tool.",
            "tables": [{"name": t, "description": f"One row per {t.split('_')[0]} record.",
                        "columns": [{"name": "id", "data_tests": ["not_null"]}] if i % 10 == 0 else []}
                       for i, t in enumerate(tables)]}]}
        w.put(f"models/staging/{system[4:]}/_sources.yml", dump_yaml(doc))

    layer_dir = {"stg": "staging", "int1": "intermediate", "int2": "intermediate",
                 "int3": "intermediate", "mart": "marts"}
    props = {}
    trnd = random.Random(seed + 3)
    for m in models:
        path = f"models/{layer_dir[m.layer]}/{m.domain}/{m.name}.sql"
        edited = new and m.name in body_changes
        w.put(path, model_sql(m, edited, pad, random.Random(f"{seed}:{m.name}") if pad else None))
        entry = {"name": m.name, "description": f"{m.name.replace('__', ' ').replace('_', ' ')}: one row per id."}
        folder_default = "table" if m.layer == "mart" else "view"
        if m.materialized not in (folder_default, "incremental"):
            entry["config"] = {"materialized": m.materialized}
        if new and m.name in config_changes:
            entry.setdefault("config", {}).update(config_changes[m.name])
        cols = []
        for c in m.cols[:4]:
            col = {"name": c, "description": f"The {c.replace('_', ' ')}."}
            tests = []
            if c == "id" and m.materialized != "ephemeral":
                if m.is_hub or trnd.random() < 0.30:
                    tests.append("not_null")
                if m.is_hub or trnd.random() < 0.15:
                    tests.append("unique")
            if c.endswith("_key") and m.refs and m.materialized != "ephemeral" and trnd.random() < 0.03:
                parent = next((r for r in m.refs if r.materialized != "ephemeral"), None)
                if parent:
                    tests.append({"relationships": {"arguments": {"to": f"ref('{parent.name}')",
                                                                  "field": "id"}}})
            if tests:
                col["data_tests"] = tests
            cols.append(col)
        entry["columns"] = cols
        props.setdefault(f"models/{layer_dir[m.layer]}/{m.domain}/_models.yml", []).append(entry)

    if new:
        # One new mart joining two existing models of the first domain.
        d = models[0].domain
        ups = [m for m in models if m.domain == d and m.layer in ("int3", "int2")][:2]
        nm = Model(f"fct_{d}__weekly_summary", "mart", d)
        nm.refs, nm.cols, nm.materialized = ups, ["id", "week_key", "created_at", "updated_at"], "table"
        w.put(f"models/marts/{d}/{nm.name}.sql", model_sql(nm, False, pad, random.Random(seed)))
        props[f"models/marts/{d}/_models.yml"].append(
            {"name": nm.name, "description": "Weekly summary.",
             "columns": [{"name": "id", "data_tests": ["not_null", "unique"]}]})

    for path, entries in sorted(props.items()):
        w.put(path, dump_yaml({"version": 2, "models": entries}))


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


def generate(out, n_models, seed=42, pad=0):
    """Write out/old and out/new; return a summary dict."""
    models, sources = build_graph(n_models, seed)
    body, config = choose_changes(models, seed)
    write_project(os.path.join(out, "old"), models, sources, "old", body, config, pad, seed)
    write_project(os.path.join(out, "new"), models, sources, "new", body, config, pad, seed)
    return {"models": len(models), "sources": sum(len(t) for t in sources.values()),
            "body_changes": len(body), "config_changes": len(config) - 1, "tag_changes": 1,
            "new_models": 1,
            "edited_macros": 1,
            "macro_callers": sum(1 for m in models if EDITED_MACRO in m.macros and "external_ref" in m.cols)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pad", type=int, default=0, help="bytes of SQL comment added to each model body")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    print(json.dumps(generate(a.out, a.models, a.seed, a.pad)))


if __name__ == "__main__":
    main()
