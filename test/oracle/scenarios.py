"""The oracle's scenarios: a base dbt project and the edits that make each new version.

Every scenario is a pair of projects (old, new).  dbt's own `state:` selectors, run on the
compiled pair, say which nodes a deploy of `new` over a live `old` must select; bg.plan is
checked against that.  The base project is small but has one of everything the selectors
look at: views, tables, an ephemeral and an incremental model, an enforced contract,
persisted docs (one from a docs block), a versioned model, a seed, a snapshot, a source with
freshness, generic (one of our own), singular tests, an analysis, macros that call macros,
a var, a chain and a diamond.

Each scenario also states a few things dbt must report for it (`must`, `must_not`,
`nothing`).  They
do not test bluegreen; they make sure the edit really produces the change the scenario is
named after, so a scenario cannot silently degrade into "nothing changed".
"""

import os
import textwrap


def _d(text):
    return textwrap.dedent(text).lstrip("\n")


BASE = {
    "dbt_project.yml": _d("""
        name: acme
        version: "1.0.0"
        profile: acme
        config-version: 2

        vars:
          min_payment_cents: 0

        models:
          acme:
            staging:
              +materialized: view
            marts:
              +materialized: table
              segment_report:
                +materialized: "{{ var('report_materialization', 'table') }}"
            graph:
              +materialized: view
        """),
    "profiles.yml": _d("""
        acme:
          target: dev
          outputs:
            dev:
              type: postgres
              host: "{{ env_var('PGHOST', 'localhost') }}"
              port: "{{ env_var('PGPORT', '5432') | int }}"
              user: "{{ env_var('PGUSER', 'postgres') }}"
              password: "{{ env_var('PGPASSWORD', '') }}"
              dbname: "{{ env_var('PGDATABASE', 'postgres') }}"
              schema: analytics
              threads: 1
        """),
    # Several macros in one file: editing one must not mark the others modified.
    "macros/money.sql": _d("""
        {% macro cents_to_dollars(column) -%}
            ({{ column }} / 100.0)
        {%- endmacro %}

        {% macro round_money(expr) -%}
            round({{ expr }}, 2)
        {%- endmacro %}

        {% macro format_money(expr) -%}
            {{ round_money(expr) }}
        {%- endmacro %}
        """),
    "tests/generic/positive.sql": _d("""
        {% test positive(model, column_name) %}
        select * from {{ model }} where {{ column_name }} < 0
        {% endtest %}
        """),
    "models/marts/customers.md": _d("""
        {% docs number_of_orders %}
        Orders the customer placed, whatever their status.
        {% enddocs %}
        """),
    "seeds/countries.csv": "code,name\nDE,Germany\nFR,France\nNL,Netherlands\n",
    "seeds/_seeds.yml": _d("""
        version: 2
        seeds:
          - name: countries
            columns:
              - name: code
                data_tests: [unique]
        """),
    "snapshots/customers_snapshot.sql": _d("""
        {% snapshot customers_snapshot %}
        {{ config(target_schema='snapshots', unique_key='id',
                  strategy='timestamp', updated_at='created_at') }}
        select * from {{ source('raw', 'customers') }}
        {% endsnapshot %}
        """),
    "models/staging/_sources.yml": _d("""
        version: 2
        sources:
          - name: raw
            schema: raw
            tables:
              - name: customers
              - name: orders
                config:
                  loaded_at_field: ordered_at
                  freshness:
                    warn_after: {count: 1, period: day}
                columns:
                  - name: id
                    data_tests: [unique]
              - name: payments
              - name: returns
        """),
    "models/staging/stg_customers.sql": _d("""
        select id as customer_id, name, country_code, created_at
        from {{ source('raw', 'customers') }}
        """),
    "models/staging/stg_orders.sql": _d("""
        select id as order_id, customer_id, ordered_at::date as order_date, status
        from {{ source('raw', 'orders') }}
        """),
    "models/staging/stg_payments.sql": _d("""
        select id as payment_id, order_id, method, {{ cents_to_dollars('amount_cents') }} as amount
        from {{ source('raw', 'payments') }}
        where amount_cents >= {{ var('min_payment_cents') }}
        """),
    "models/staging/stg_countries.sql": _d("""
        {{ config(materialized='ephemeral') }}
        select code as country_code, name as country_name
        from {{ ref('countries') }}
        """),
    "models/staging/_staging.yml": _d("""
        version: 2
        models:
          - name: stg_customers
            columns:
              - name: customer_id
                data_tests: [unique, not_null]
          - name: stg_orders
            columns:
              - name: order_id
                data_tests: [unique]
              - name: customer_id
                data_tests:
                  - relationships:
                      arguments:
                        to: ref('stg_customers')
                        field: customer_id
              - name: status
                data_tests:
                  - accepted_values:
                      arguments:
                        values: [placed, shipped, completed, returned]
          - name: stg_payments
            columns:
              - name: payment_id
                data_tests: [unique]
        """),
    "models/marts/orders.sql": _d("""
        select o.order_id, o.customer_id, o.order_date, o.status,
               coalesce(sum(p.amount), 0)::numeric as amount
        from {{ ref('stg_orders') }} as o
        left join {{ ref('stg_payments') }} as p using (order_id)
        group by o.order_id, o.customer_id, o.order_date, o.status
        """),
    "models/marts/customers.sql": _d("""
        select c.customer_id, c.name, k.country_name,
               count(o.order_id) as number_of_orders,
               coalesce(sum(o.amount), 0) as lifetime_value
        from {{ ref('stg_customers') }} as c
        left join {{ ref('stg_countries') }} as k using (country_code)
        left join {{ ref('orders') }} as o using (customer_id)
        group by c.customer_id, c.name, k.country_name
        """),
    "models/marts/daily_revenue.sql": _d("""
        {{ config(materialized='incremental', unique_key='order_date',
                  incremental_strategy='delete+insert') }}
        select order_date, {{ format_money('sum(amount)') }} as revenue
        from {{ ref('orders') }}
        {% if is_incremental() %}
        where order_date >= (select max(order_date) from {{ this }})
        {% endif %}
        group by order_date
        """),
    # Configured in YAML only, so that config scenarios leave its raw code alone.
    "models/marts/order_stats.sql": _d("""
        select status, count(*) as orders
        from {{ ref('orders') }}
        group by status
        """),
    "models/marts/customer_segments_v1.sql": _d("""
        select customer_id,
               case when lifetime_value > 100 then 'gold' else 'standard' end as segment
        from {{ ref('customers') }}
        """),
    "models/marts/customer_segments_v2.sql": _d("""
        select customer_id,
               case when lifetime_value > 500 then 'platinum'
                    when lifetime_value > 100 then 'gold'
                    else 'standard' end as segment
        from {{ ref('customers') }}
        """),
    "models/marts/segment_report.sql": _d("""
        select segment, count(*) as customers
        from {{ ref('customer_segments') }}
        group by segment
        """),
    "models/marts/_marts.yml": _d("""
        version: 2
        models:
          - name: orders
            description: One row per order.
            config:
              contract:
                enforced: true
            columns:
              - name: order_id
                data_type: integer
                description: The order.
                data_tests: [not_null]
              - name: customer_id
                data_type: integer
              - name: order_date
                data_type: date
              - name: status
                data_type: text
              - name: amount
                data_type: numeric
                description: Paid for the order, in dollars.

          - name: customers
            description: One row per customer.
            config:
              persist_docs:
                relation: true
                columns: true
            columns:
              - name: customer_id
                description: The customer.
                data_tests: [unique]
              - name: number_of_orders
                description: '{{ doc("number_of_orders") }}'
              - name: lifetime_value
                description: Paid over all orders, in dollars.

          - name: daily_revenue
            columns:
              - name: order_date
                data_tests: [unique]
              - name: revenue
                data_tests: [positive]

          - name: order_stats
            config:
              materialized: view
            columns:
              - name: status
                data_tests: [not_null]

          - name: customer_segments
            latest_version: 1
            columns:
              - name: customer_id
                data_tests: [not_null]
            versions:
              - v: 1
              - v: 2
        """),
    "models/graph/chain_a.sql": "select order_id, order_date from {{ ref('stg_orders') }}\n",
    "models/graph/chain_b.sql": "select * from {{ ref('chain_a') }}\n",
    "models/graph/chain_c.sql": "select * from {{ ref('chain_b') }}\n",
    "models/graph/chain_d.sql": "select * from {{ ref('chain_c') }}\n",
    "models/graph/dia_top.sql": "select payment_id, amount from {{ ref('stg_payments') }}\n",
    "models/graph/dia_left.sql": "select * from {{ ref('dia_top') }} where amount < 50\n",
    "models/graph/dia_right.sql": "select * from {{ ref('dia_top') }} where amount >= 50\n",
    "models/graph/dia_bottom.sql": _d("""
        select * from {{ ref('dia_left') }}
        union all
        select * from {{ ref('dia_right') }}
        """),
    "models/graph/_graph.yml": _d("""
        version: 2
        models:
          - name: dia_bottom
            columns:
              - name: payment_id
                data_tests: [unique]
        """),
    "tests/assert_revenue_not_negative.sql": _d("""
        select * from {{ ref('daily_revenue') }} where revenue < 0
        """),
    "analyses/revenue_by_month.sql": _d("""
        select date_trunc('month', order_date) as month, sum(revenue) as revenue
        from {{ ref('daily_revenue') }}
        group by 1
        """),
}


# ---------------------------------------------------------------------------------------
# Edits.  Each one asserts that the text it replaces is there exactly once, so a change to
# the base project that would turn an edit into a no-op fails loudly instead.

def replace(files, path, old, new):
    text = files[path]
    if text.count(old) != 1:
        raise AssertionError(f"{path}: expected exactly one {old!r}, found {text.count(old)}")
    files[path] = text.replace(old, new)


def append(files, path, text):
    files[path] = files[path] + text


def move(files, old, new):
    files[new] = files.pop(old)


# ---------------------------------------------------------------------------------------
# Scenarios.  `new` (and optionally `old`) each edit their own copy of BASE in place.  `must` maps a
# selector to ids dbt has to select; `must_not` to ids it must not; `nothing` asserts that
# state:modified+ is empty.  Short ids ("orders") mean models of this project.

SCENARIOS = []


def scenario(name, doc, must=None, must_not=None, nothing=False, old=None, fresh=False,
             base=None):
    """base: the project both versions start from (default BASE)."""
    def register(new):
        SCENARIOS.append(dict(name=name, doc=doc, new=new, old=old, must=must or {},
                              must_not=must_not or {}, nothing=nothing, fresh=fresh,
                              base=base))
        return new
    return register


@scenario("no_change", "the same project compiled again", nothing=True, fresh=True)
def _(f):
    pass


@scenario("body_change", "a staging model's SQL changes; everything downstream follows",
          must={"modified.body": ["stg_payments"],
                "modified+": ["stg_payments", "orders", "customers", "daily_revenue",
                              "dia_bottom", "segment_report", "analysis.acme.revenue_by_month",
                              "test.acme.assert_revenue_not_negative"]},
          must_not={"modified+": ["stg_orders", "stg_customers", "chain_a"]})
def _(f):
    replace(f, "models/staging/stg_payments.sql", "select id as payment_id, order_id, method,",
            "select id as payment_id, order_id, lower(method) as method,")


@scenario("body_comment_only", "only a SQL comment is added: dbt compares the raw text",
          must={"modified.body": ["chain_b"], "modified+": ["chain_b", "chain_c", "chain_d"]},
          must_not={"modified+": ["chain_a"]})
def _(f):
    append(f, "models/graph/chain_b.sql", "-- kept for the finance team\n")


@scenario("body_ephemeral", "an ephemeral model changes: its (built) dependents are selected",
          must={"modified.body": ["stg_countries"], "modified+": ["customers"]})
def _(f):
    replace(f, "models/staging/stg_countries.sql", "name as country_name",
            "initcap(name) as country_name")


@scenario("config_materialization", "a view becomes a table (config in YAML)",
          must={"modified.configs": ["order_stats"]},
          must_not={"modified.body": ["order_stats"]})
def _(f):
    replace(f, "models/marts/_marts.yml", "      materialized: view\n",
            "      materialized: table\n")


@scenario("config_custom_key", "a custom config key under meta is set in YAML",
          must={"modified.configs": ["orders"]})
def _(f):
    replace(f, "models/marts/_marts.yml",
            "    config:\n      contract:\n",
            "    config:\n      meta:\n        owner: finance\n"
            "      contract:\n")


@scenario("config_project_level", "a folder's materialization changes in dbt_project.yml",
          must={"modified.configs": ["chain_a", "chain_d", "dia_top", "dia_bottom"]},
          must_not={"modified.configs": ["stg_orders", "orders"]})
def _(f):
    replace(f, "dbt_project.yml", "    graph:\n      +materialized: view",
            "    graph:\n      +materialized: table")


@scenario("config_post_hook", "a post-hook is added in the model file (so its body changes too)",
          must={"modified.configs": ["customers"]})
def _(f):
    replace(f, "models/marts/customers.sql", "select c.customer_id",
            "{{ config(post_hook='analyze {{ this }}') }}\nselect c.customer_id")


@scenario("config_incremental_strategy", "an incremental model switches to merge",
          must={"modified.configs": ["daily_revenue"]})
def _(f):
    replace(f, "models/marts/daily_revenue.sql", "incremental_strategy='delete+insert'",
            "incremental_strategy='merge'")


@scenario("config_tags_only", "tags are not part of dbt's config comparison", nothing=True)
def _(f):
    replace(f, "models/staging/_staging.yml", "  - name: stg_orders\n",
            "  - name: stg_orders\n    config:\n      tags: [nightly]\n")


@scenario("alias_change", "a model is given an alias",
          must={"modified.relation": ["order_stats"]},
          must_not={"modified.configs": ["order_stats"]})
def _(f):
    replace(f, "models/marts/_marts.yml", "      materialized: view\n",
            "      materialized: view\n      alias: order_statistics\n")


@scenario("schema_change", "a model moves to a custom schema",
          must={"modified.relation": ["daily_revenue"],
                "modified+": ["test.acme.assert_revenue_not_negative"]})
def _(f):
    replace(f, "models/marts/daily_revenue.sql", "unique_key='order_date',",
            "unique_key='order_date', schema='finance',")


@scenario("persist_docs_on", "persist_docs is switched on for a documented model",
          must={"modified.configs": ["orders"]},
          must_not={"modified.persisted_descriptions": ["orders"]})
def _(f):
    replace(f, "models/marts/_marts.yml",
            "    config:\n      contract:\n",
            "    config:\n      persist_docs: {relation: true, columns: true}\n"
            "      contract:\n")


@scenario("persist_docs_off", "persist_docs is switched off",
          must={"modified.configs": ["customers"]})
def _(f):
    replace(f, "models/marts/_marts.yml",
            "      persist_docs:\n        relation: true\n"
            "        columns: true\n",
            "      persist_docs:\n        relation: false\n"
            "        columns: false\n")


@scenario("persisted_description", "the description of a model with persist_docs changes",
          must={"modified.persisted_descriptions": ["customers"]},
          must_not={"modified.configs": ["customers"], "modified.body": ["customers"]})
def _(f):
    replace(f, "models/marts/_marts.yml", "description: One row per customer.",
            "description: One row per customer, with what they spent.")


@scenario("persisted_column_description", "a persisted column description changes",
          must={"modified.persisted_descriptions": ["customers"]})
def _(f):
    replace(f, "models/marts/_marts.yml", "description: Paid over all orders, in dollars.",
            "description: Paid over all orders, in dollars, refunds deducted.")


@scenario("description_not_persisted", "a description changes where docs are not persisted",
          nothing=True)
def _(f):
    replace(f, "models/marts/_marts.yml", "description: One row per order.",
            "description: One row per order, placed or not.")


@scenario("contract_type_change", "a column of an enforced contract changes type",
          must={"modified.contract": ["orders"]})
def _(f):
    replace(f, "models/marts/_marts.yml",
            "      - name: amount\n        data_type: numeric",
            "      - name: amount\n        data_type: float")


@scenario("contract_column_added", "a column is added to a contracted model",
          must={"modified.contract": ["orders"], "modified.body": ["orders"]})
def _(f):
    replace(f, "models/marts/orders.sql", "as amount\n",
            "as amount,\n       count(p.payment_id)::integer as payments\n")
    replace(f, "models/marts/_marts.yml",
            "        description: Paid for the order, in dollars.\n",
            "        description: Paid for the order, in dollars.\n"
            "      - name: payments\n        data_type: integer\n")


@scenario("contract_enforced_on", "a contract starts being enforced on a view",
          must={"modified.contract": ["order_stats"], "modified.configs": ["order_stats"]})
def _(f):
    replace(f, "models/marts/_marts.yml",
            "  - name: order_stats\n    config:\n      materialized: view\n    columns:\n"
            "      - name: status\n        data_tests: [not_null]\n",
            "  - name: order_stats\n    config:\n      materialized: view\n      contract:\n"
            "        enforced: true\n    columns:\n"
            "      - name: status\n        data_type: text\n"
            "        data_tests: [not_null]\n"
            "      - name: orders\n        data_type: bigint\n")


@scenario("macro_direct", "a macro a model calls changes",
          must={"modified.macros": ["stg_payments"]},
          must_not={"modified.macros": ["daily_revenue"]})
def _(f):
    replace(f, "macros/money.sql", "({{ column }} / 100.0)", "({{ column }}::numeric / 100)")


@scenario("macro_nested", "a macro changes that models reach only through another macro",
          must={"modified.macros": ["daily_revenue"]},
          must_not={"modified.macros": ["stg_payments"]})
def _(f):
    replace(f, "macros/money.sql", "round({{ expr }}, 2)", "round(({{ expr }})::numeric, 2)")


@scenario("macro_new_unused", "a macro nothing calls is added", nothing=True)
def _(f):
    f["macros/unused.sql"] = "{% macro shout(s) %}upper({{ s }}){% endmacro %}\n"


@scenario("macro_generate_schema_name",
          "generate_schema_name is overridden: dbt compares unrendered config, so no node "
          "is modified although rendered schemas change", nothing=True)
def _(f):
    f["macros/generate_schema_name.sql"] = _d("""
        {% macro generate_schema_name(custom_schema_name, node) -%}
            {{ custom_schema_name or target.schema }}
        {%- endmacro %}
        """)


@scenario("var_in_config", "a var that a dbt_project.yml config renders changes: dbt "
          "compares unrendered config, so nothing is modified although the model's "
          "materialization changes", nothing=True)
def _(f):
    replace(f, "dbt_project.yml", "min_payment_cents: 0",
            "min_payment_cents: 0\n  report_materialization: view")


@scenario("var_change", "a project var used in SQL changes: the raw code is the same, so "
          "dbt selects nothing although the compiled code differs", nothing=True)
def _(f):
    replace(f, "dbt_project.yml", "min_payment_cents: 0", "min_payment_cents: 100")


@scenario("new_model", "a model with a test is added",
          must={"new": ["top_customers"], "modified+": ["top_customers"]},
          must_not={"modified+": ["customers"]})
def _(f):
    f["models/marts/top_customers.sql"] = _d("""
        select * from {{ ref('customers') }} order by lifetime_value desc limit 10
        """)
    f["models/marts/_top.yml"] = _d("""
        version: 2
        models:
          - name: top_customers
            columns:
              - name: customer_id
                data_tests: [unique]
        """)


def _drop_order_stats(f):
    del f["models/marts/order_stats.sql"]
    replace(f, "models/marts/_marts.yml",
            "  - name: order_stats\n    config:\n      materialized: view\n    columns:\n"
            "      - name: status\n        data_tests: [not_null]\n\n", "")


@scenario("removed_model", "a leaf model and its test are deleted", nothing=True)
def _(f):
    _drop_order_stats(f)


@scenario("renamed_model", "a model is renamed: a new node and a removed one",
          must={"new": ["order_status_counts"]})
def _(f):
    move(f, "models/marts/order_stats.sql", "models/marts/order_status_counts.sql")
    replace(f, "models/marts/_marts.yml", "- name: order_stats", "- name: order_status_counts")


def _disable_order_stats(f):
    replace(f, "models/marts/_marts.yml", "      materialized: view\n",
            "      materialized: view\n      enabled: false\n")


@scenario("disabled_model", "a model is disabled: it counts as removed", nothing=True)
def _(f):
    _disable_order_stats(f)


@scenario("enabled_model", "a disabled model is enabled again: it is new",
          old=_disable_order_stats, must={"new": ["order_stats"]})
def _(f):
    pass


@scenario("disabled_model_changed", "a disabled model is changed and stays disabled",
          old=_disable_order_stats, nothing=True)
def _(f):
    _disable_order_stats(f)
    replace(f, "models/marts/order_stats.sql", "count(*) as orders", "count(*) as n_orders")


@scenario("version_added", "a new model version, latest_version pinned",
          must={"new": ["model.acme.customer_segments.v3"]},
          must_not={"modified+": ["model.acme.customer_segments.v1", "segment_report"]})
def _(f):
    f["models/marts/customer_segments_v3.sql"] = _d("""
        select customer_id, 'standard' as segment from {{ ref('customers') }}
        """)
    replace(f, "models/marts/_marts.yml", "      - v: 2\n",
            "      - v: 2\n      - v: 3\n")


@scenario("version_latest_changed", "latest_version moves from 1 to 2",
          must={"modified": ["model.acme.customer_segments.v1",
                             "model.acme.customer_segments.v2"],
                "modified+": ["segment_report"]})
def _(f):
    replace(f, "models/marts/_marts.yml", "latest_version: 1", "latest_version: 2")


@scenario("access_change", "a model's access becomes public (same_ref_representation)",
          must={"modified": ["chain_c"]},
          must_not={"modified.body": ["chain_c"]})
def _(f):
    f["models/graph/_access.yml"] = _d("""
        version: 2
        models:
          - name: chain_c
            access: public
        """)


@scenario("moved_file", "a model file moves to another folder: its fqn changes",
          must={"modified": ["chain_d"]},
          must_not={"modified.body": ["chain_d"]})
def _(f):
    move(f, "models/graph/chain_d.sql", "models/graph/tail/chain_d.sql")


@scenario("seed_content", "a seed's CSV gains a row",
          must={"modified.body": ["seed.acme.countries"],
                "modified+": ["stg_countries", "customers"]})
def _(f):
    append(f, "seeds/countries.csv", "BE,Belgium\n")


@scenario("seed_config", "a seed's column types are configured",
          must={"modified.configs": ["seed.acme.countries"]})
def _(f):
    replace(f, "seeds/_seeds.yml", "  - name: countries\n",
            "  - name: countries\n    config:\n      column_types: {code: char(2)}\n")


@scenario("snapshot_body", "a snapshot's query changes",
          must={"modified.body": ["snapshot.acme.customers_snapshot"]})
def _(f):
    replace(f, "snapshots/customers_snapshot.sql", "select * from",
            "select id, name, country_code, created_at from")


@scenario("snapshot_config", "a snapshot switches to the check strategy",
          must={"modified.configs": ["snapshot.acme.customers_snapshot"]})
def _(f):
    replace(f, "snapshots/customers_snapshot.sql",
            "strategy='timestamp', updated_at='created_at'",
            "strategy='check', check_cols='all'")


@scenario("test_severity", "a generic test is downgraded to a warning",
          must={"modified.configs": ["test.acme.unique_stg_payments_payment_id"]})
def _(f):
    replace(f, "models/staging/_staging.yml",
            "      - name: payment_id\n        data_tests: [unique]",
            "      - name: payment_id\n        data_tests:\n"
            "          - unique:\n              config:\n"
            "                severity: warn")


@scenario("test_added", "a generic test is added",
          must={"new": ["test.acme.not_null_stg_payments_method"]},
          must_not={"modified+": ["stg_payments"]})
def _(f):
    replace(f, "models/staging/_staging.yml",
            "      - name: payment_id\n        data_tests: [unique]\n",
            "      - name: payment_id\n        data_tests: [unique]\n"
            "      - name: method\n        data_tests: [not_null]\n")


@scenario("test_removed", "a generic test is removed", nothing=True)
def _(f):
    replace(f, "models/staging/_staging.yml", "data_tests: [unique, not_null]",
            "data_tests: [unique]")


@scenario("test_singular_body", "a singular test's SQL changes",
          must={"modified.body": ["test.acme.assert_revenue_not_negative"]},
          must_not={"modified+": ["daily_revenue"]})
def _(f):
    replace(f, "tests/assert_revenue_not_negative.sql", "where revenue < 0",
            "where revenue < 0 or revenue is null")


@scenario("chain", "the head of a four-model chain changes",
          must={"modified.body": ["chain_a"],
                "modified+": ["chain_a", "chain_b", "chain_c", "chain_d"]},
          must_not={"modified+": ["stg_orders"]})
def _(f):
    replace(f, "models/graph/chain_a.sql", "select order_id, order_date",
            "select order_id, order_date, status")


@scenario("diamond_top", "the top of a diamond changes",
          must={"modified+": ["dia_top", "dia_left", "dia_right", "dia_bottom"]})
def _(f):
    replace(f, "models/graph/dia_top.sql", "select payment_id, amount",
            "select payment_id, round(amount, 2) as amount")


@scenario("diamond_side", "one side of a diamond changes",
          must={"modified+": ["dia_left", "dia_bottom"]},
          must_not={"modified+": ["dia_top", "dia_right"]})
def _(f):
    replace(f, "models/graph/dia_left.sql", "amount < 50", "amount < 40")


@scenario("source_freshness", "a source's loaded_at_field and freshness change",
          must={"modified": ["source.acme.raw.orders"], "modified+": ["stg_orders", "chain_d"]})
def _(f):
    replace(f, "models/staging/_sources.yml", "loaded_at_field: ordered_at",
            "loaded_at_field: updated_at")
    replace(f, "models/staging/_sources.yml", "{count: 1, period: day}",
            "{count: 6, period: hour}")


@scenario("source_identifier", "a source table is read from another relation",
          must={"modified.relation": ["source.acme.raw.payments"],
                "modified+": ["stg_payments", "dia_bottom"]})
def _(f):
    replace(f, "models/staging/_sources.yml", "      - name: payments\n",
            "      - name: payments\n        identifier: payments_v2\n")


@scenario("source_added", "a source table is added: it is new, but dbt's state:modified "
          "does not count a new source as modified", nothing=True,
          must={"new": ["source.acme.raw.refunds"]})
def _(f):
    append(f, "models/staging/_sources.yml", "      - name: refunds\n")


@scenario("source_removed", "an unused source table is removed", nothing=True)
def _(f):
    replace(f, "models/staging/_sources.yml", "      - name: returns\n", "")


@scenario("snapshot_removed", "a snapshot is deleted", nothing=True)
def _(f):
    del f["snapshots/customers_snapshot.sql"]


@scenario("generic_test_macro", "a custom generic test's definition changes",
          must={"modified.macros": ["test.acme.positive_daily_revenue_revenue"]},
          must_not={"modified+": ["daily_revenue"]})
def _(f):
    replace(f, "tests/generic/positive.sql", "< 0", "<= 0")


@scenario("docs_block_persisted", "a docs block used by a persisted column description changes",
          must={"modified.persisted_descriptions": ["customers"]},
          must_not={"modified.body": ["customers"]})
def _(f):
    replace(f, "models/marts/customers.md", "whatever their status", "returned ones included")


@scenario("body_trailing_blank_lines", "blank lines are added at the end of a model's SQL: "
          "dbt strips them from the raw code, so nothing changes", nothing=True)
def _(f):
    append(f, "models/graph/chain_c.sql", "\n\n")


@scenario("yaml_moved", "a model's properties move to another YAML file", nothing=True)
def _(f):
    block = ("  - name: stg_payments\n    columns:\n"
             "      - name: payment_id\n        data_tests: [unique]\n")
    replace(f, "models/staging/_staging.yml", block, "")
    f["models/staging/_payments.yml"] = "version: 2\nmodels:\n" + block


@scenario("contract_columns_reordered", "a contract lists the same columns in another order: "
          "dbt's contract checksum sorts them", nothing=True)
def _(f):
    replace(f, "models/marts/_marts.yml",
            "      - name: order_date\n        data_type: date\n"
            "      - name: status\n        data_type: text\n",
            "      - name: status\n        data_type: text\n"
            "      - name: order_date\n        data_type: date\n")


@scenario("analysis_body", "an analysis changes",
          must={"modified.body": ["analysis.acme.revenue_by_month"]})
def _(f):
    replace(f, "analyses/revenue_by_month.sql", "date_trunc('month', order_date)",
            "date_trunc('quarter', order_date)")


@scenario("many_changes", "a release: body, macro, config, new and removed models at once",
          must={"modified.body": ["dia_right"], "modified.macros": ["daily_revenue"],
                "modified.configs": ["chain_b"], "new": ["top_customers"]})
def _(f):
    replace(f, "models/graph/dia_right.sql", "amount >= 50", "amount >= 40")
    replace(f, "macros/money.sql", "round({{ expr }}, 2)", "round({{ expr }}, 3)")
    f["models/graph/chain_b.sql"] = ("{{ config(materialized='table') }}\n"
                                     + f["models/graph/chain_b.sql"])
    f["models/marts/top_customers.sql"] = "select * from {{ ref('customers') }} limit 10\n"
    _drop_order_stats(f)


# ---------------------------------------------------------------------------------------
# The product demo (demo/shop, version 1 to version 2) is a scenario of its own: whatever the
# demo shows about selection must be what dbt would do.

DEMO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "demo", "shop")


def read_tree(root, skip=("v2", "target", "logs", "dbt_packages")):
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            path = os.path.normpath(os.path.join(rel, name))
            with open(os.path.join(dirpath, name), encoding="utf-8") as fh:
                files[path] = fh.read()
    return files


def demo_pair():
    v1 = read_tree(DEMO_DIR)
    v2 = dict(v1)
    v2.update(read_tree(os.path.join(DEMO_DIR, "v2"), skip=()))
    return v1, v2


DEMO_SCENARIO = dict(name="demo_shop_v1_to_v2", doc="the product demo, version 1 to 2",
                     must={"modified.body": ["model.shop.stg_payments"],
                           "new": ["model.shop.revenue_by_payment_method"],
                           "modified+": ["model.shop.daily_revenue"]},
                     must_not={"modified+": ["model.shop.stg_orders"]},
                     nothing=False, fresh=False)


# ---------------------------------------------------------------------------------------
# A project that uses a package.  Real projects depend on packages such as dbt_utils;
# "ledger" depends on bg_utils (test/packages/bg_utils), a package of the tests' own in
# dbt_utils's style, installed as a user installs one: packages.yml with a local: path
# (here a copy inside the project, so that a scenario can change the package too), then
# dbt deps (gen.py).  Its models call the package's macros directly (a surrogate key, a
# star, a date spine; each dispatches to default__<name>, dbt_utils's way) and through a
# macro of the project's own, and its tests are the package's generic tests.

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "packages",
                           "bg_utils")
PACKAGE_PATH = "local_packages/bg_utils"

LEDGER = {
    "dbt_project.yml": _d("""
        name: ledger
        version: "1.0.0"
        profile: ledger
        config-version: 2

        models:
          ledger:
            +materialized: view
        """),
    "profiles.yml": BASE["profiles.yml"].replace("acme:", "ledger:", 1),
    "packages.yml": f"packages:\n  - local: {PACKAGE_PATH}\n",
    "macros/keys.sql": _d("""
        {#- the project's own key for customers, made with the package's macro -#}
        {% macro customer_key(column) -%}
            {{ bg_utils.generate_surrogate_key(["'customer'", column]) }}
        {%- endmacro %}
        """),
    "models/_sources.yml": _d("""
        version: 2
        sources:
          - name: raw
            schema: raw
            tables:
              - name: customers
              - name: orders
              - name: payments
        """),
    "models/stg_orders.sql": _d("""
        select {{ bg_utils.generate_surrogate_key(['id', 'customer_id']) }} as order_key,
               id as order_id, customer_id, ordered_at::date as order_date, status
        from {{ source('raw', 'orders') }}
        """),
    "models/stg_payments.sql": _d("""
        select {{ bg_utils.star(source('raw', 'payments'), except=['method']) }}
        from {{ source('raw', 'payments') }}
        """),
    "models/customers.sql": _d("""
        select {{ customer_key('id') }} as customer_key, id as customer_id, name
        from {{ source('raw', 'customers') }}
        """),
    "models/calendar.sql": _d("""
        {{ bg_utils.date_spine('day', "'2024-01-01'", "'2024-03-01'") }}
        """),
    "models/daily_orders.sql": _d("""
        select c.date_day, count(o.order_id) as orders
        from {{ ref('calendar') }} as c
        left join {{ ref('stg_orders') }} as o on o.order_date = c.date_day
        group by c.date_day
        """),
    "models/_models.yml": _d("""
        version: 2
        models:
          - name: stg_orders
            columns:
              - name: order_key
                data_tests: [unique]
          - name: stg_payments
            columns:
              - name: amount_cents
                data_tests:
                  - bg_utils.accepted_range:
                      arguments:
                        min_value: 0
                  - bg_utils.accepted_range:
                      name: payment_amount_below_limit
                      arguments:
                        max_value: 100000
          - name: daily_orders
            data_tests:
              - bg_utils.expression_is_true:
                  arguments:
                    expression: "orders >= 0"
        """),
}
LEDGER.update({os.path.join(PACKAGE_PATH, path): text
               for path, text in read_tree(PACKAGE_DIR).items()})
PKG = os.path.join(PACKAGE_PATH, "macros")


def _override_date_spine(f):
    """The project overrides the package's date_spine, dbt_utils's way: a dispatch config
    that searches the project first, and a default__date_spine of its own."""
    f["dbt_project.yml"] += _d("""

        dispatch:
          - macro_namespace: bg_utils
            search_order: [ledger, bg_utils]
        """)
    f["macros/date_spine.sql"] = _d("""
        {% macro default__date_spine(datepart, start_date, end_date) -%}
        select cast(d as date) as date_{{ datepart }}
        from generate_series(cast({{ start_date }} as date), cast({{ end_date }} as date) - 1, interval '1 day') as d
        {%- endmacro %}
        """)


@scenario("pkg_macro", "a package macro that some models call (one through a macro of the "
          "project's) changes",
          base=LEDGER,
          must={"modified.macros": ["stg_orders", "customers"],
                "modified+": ["daily_orders", "test.ledger.unique_stg_orders_order_key"]},
          must_not={"modified+": ["calendar", "stg_payments"]})
def _(f):
    replace(f, f"{PKG}/generate_surrogate_key.sql", """fields.append("'-'")""",
            """fields.append("'|'")""")


@scenario("pkg_wrapper", "the project's macro that wraps a package macro changes",
          base=LEDGER,
          must={"modified.macros": ["customers"]},
          must_not={"modified+": ["stg_orders"]})
def _(f):
    replace(f, "macros/keys.sql", """["'customer'", column]""", """["'cust'", column]""")


@scenario("pkg_call", "a model's call to a package macro changes",
          base=LEDGER,
          must={"modified.body": ["stg_orders"], "modified+": ["daily_orders"]},
          must_not={"modified.macros": ["stg_orders"], "modified+": ["customers"]})
def _(f):
    replace(f, "models/stg_orders.sql", "generate_surrogate_key(['id', 'customer_id'])",
            "generate_surrogate_key(['id'])")


@scenario("pkg_override_added", "the project overrides a package macro (dispatch config and "
          "a default__ macro of its own)",
          base=LEDGER, must={"modified+": ["calendar"]})
def _(f):
    _override_date_spine(f)


@scenario("pkg_override_changed", "the project's override of a package macro changes",
          base=LEDGER, old=_override_date_spine,
          must={"modified.macros": ["calendar"], "modified+": ["daily_orders"]},
          must_not={"modified+": ["stg_orders"]})
def _(f):
    _override_date_spine(f)
    replace(f, "macros/date_spine.sql", "cast(d as date) as", "d::date as")


@scenario("pkg_overridden_macro", "a package macro the project overrides changes: dispatch "
          "finds the project's, so nothing is modified", base=LEDGER, old=_override_date_spine,
          nothing=True)
def _(f):
    _override_date_spine(f)
    replace(f, f"{PKG}/date_spine.sql", "select cast(spine.d as date)", "select spine.d::date")


@scenario("pkg_test_arguments", "the arguments of package generic tests change: each is "
          "another test, new, and the old one removed (a test's unique_id holds its "
          "arguments: in its name, or for a named test in the hash after it)",
          base=LEDGER,
          must={"new": ["test.ledger.bg_utils_accepted_range_stg_payments_amount_cents__1",
                        "test.ledger.payment_amount_below_limit"]},
          must_not={"modified+": ["stg_payments"]})
def _(f):
    replace(f, "models/_models.yml", "min_value: 0", "min_value: 1")
    replace(f, "models/_models.yml", "max_value: 100000", "max_value: 50000")


@scenario("pkg_test_macro", "a package generic test's definition changes",
          base=LEDGER,
          must={"modified.macros": ["test.ledger.payment_amount_below_limit"]},
          must_not={"modified+": ["stg_payments", "daily_orders"]})
def _(f):
    replace(f, f"{PKG}/generic_tests/accepted_range.sql", "where not (true", "where not (1 = 1")


def build_all():
    """Return [(scenario, old_files, new_files)] for every scenario."""
    out = []
    for s in SCENARIOS:
        old = dict(s["base"] or BASE)
        if s["old"]:
            s["old"](old)
        new = dict(s["base"] or BASE)
        s["new"](new)
        out.append((s, old, new))
    v1, v2 = demo_pair()
    out.append((DEMO_SCENARIO, v1, v2))
    return out
