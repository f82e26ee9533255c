"""The deploy oracle's scenarios: dbt projects in versions, their raw data, and the stages
that take them from one version to the next.

A scenario is
  versions   {"v1": files, "v2": files, ...}: whole dbt projects, path -> text;
  raw        SQL that creates the source schema "raw" before v1 is built;
  stages     what happens after v1 is live, in order.  Each stage is
               between       SQL run on the sources first (new rows arrive, rows change);
               kind          "deploy": dbt runs `state:modified+` of `version` against the
                             previous version, bluegreen deploys `version`;
                             "refresh": dbt runs the whole project again, bluegreen
                             re-runs its live manifest (bg.deploy() with no manifest);
               full_refresh  dbt runs with --full-refresh; bluegreen gets a manifest
                             compiled with --full-refresh and full_refresh => true;
               promote       bluegreen promotes after the deploy, and the live relations
                             of both databases are compared (the next stage starts there).
  must       what dbt has to do in each stage (models it runs, test statuses), so that a
             scenario cannot silently stop testing what it is named after.

Projects are plain dicts built by editing a base; `replace` insists on finding its text
exactly once, so an edit that no longer applies fails loudly.
"""

import os
import textwrap


def _d(text):
    return textwrap.dedent(text).lstrip("\n")


def replace(files, path, old, new):
    text = files[path]
    if text.count(old) != 1:
        raise AssertionError(f"{path}: expected exactly one {old!r}, found {text.count(old)}")
    files[path] = text.replace(old, new)


def profile(name):
    return _d(f"""
        {name}:
          target: dev
          outputs:
            dev:
              type: postgres
              host: "{{{{ env_var('PGHOST', 'localhost') }}}}"
              port: "{{{{ env_var('PGPORT', '5432') | int }}}}"
              user: "{{{{ env_var('PGUSER', 'postgres') }}}}"
              password: "{{{{ env_var('PGPASSWORD', '') }}}}"
              dbname: "{{{{ env_var('PGDATABASE', 'postgres') }}}}"
              schema: analytics
              threads: 1
        """)


def project_yml(name, extra=""):
    return _d(f"""
        name: {name}
        version: "1.0.0"
        profile: {name}
        config-version: 2

        models:
          {name}:
            staging:
              +materialized: view
            marts:
              +materialized: table
        """) + extra


# ---------------------------------------------------------------------------------------
# Source data.  Deterministic (generate_series and arithmetic, no random() or now()), so
# dbt's database and bluegreen's see exactly the same rows.

EVENTS_RAW = _d("""
    SET client_min_messages = warning;
    DROP SCHEMA IF EXISTS raw CASCADE;
    CREATE SCHEMA raw;
    CREATE TABLE raw.users (
        id integer PRIMARY KEY,
        name text NOT NULL,
        country_code text,
        signup_date date NOT NULL
    );
    INSERT INTO raw.users
    SELECT i, (ARRAY['ada', 'grace', 'alan', 'edsger', 'barbara'])[1 + i % 5] || i,
           (ARRAY['DE', 'FR', 'NL', 'IT'])[1 + i % 4], date '2024-01-01' + i
      FROM generate_series(1, 40) AS i;
    CREATE TABLE raw.events (
        id integer PRIMARY KEY,
        user_id integer NOT NULL,
        kind text,
        amount numeric(10,2) NOT NULL,
        batch integer NOT NULL,
        updated_at timestamp NOT NULL
    );
    INSERT INTO raw.events
    SELECT i, 1 + (i * 7) % 40, (ARRAY['view', 'click', 'buy'])[1 + i % 3],
           ((i * 37) % 1000) / 10.0, 1, timestamp '2024-03-01' + i * interval '1 hour'
      FROM generate_series(1, 300) AS i;
    """)


def events_batch(batch, first, last, touch_first, touch_last):
    """A new batch of events arrives (some without a kind, some of a new kind), and some
    older events change (amount, kind; updated_at moves to just after the batch's last
    event, so that the next batch is newer still)."""
    return _d(f"""
        INSERT INTO raw.events
        SELECT i, 1 + (i * 7) % 40,
               CASE WHEN i % 10 = 0 THEN NULL
                    ELSE (ARRAY['view', 'click', 'buy', 'refund'])[1 + i % 4] END,
               ((i * 37) % 1000) / 10.0, {batch},
               timestamp '2024-03-01' + i * interval '1 hour'
          FROM generate_series({first}, {last}) AS i;
        UPDATE raw.events
           SET amount = amount + 5, kind = 'buy',
               updated_at = timestamp '2024-03-01' + {last} * interval '1 hour'
                            + (id - {touch_first}) * interval '1 minute'
         WHERE id BETWEEN {touch_first} AND {touch_last};
        """)


# ---------------------------------------------------------------------------------------
# "gen": one project with one of everything bluegreen builds.

GEN_V1 = {
    "dbt_project.yml": project_yml("gen", _d("""
        seeds:
          gen:
            countries:
              +column_types: {code: text, name: text}
        """)),
    "profiles.yml": profile("gen"),
    "seeds/countries.csv": "code,name\nDE,Germany\nFR,France\nNL,Netherlands\n",
    "seeds/_seeds.yml": _d("""
        version: 2
        seeds:
          - name: countries
            columns:
              - name: code
                data_tests: [unique, not_null]
        """),
    "models/staging/_sources.yml": _d("""
        version: 2
        sources:
          - name: raw
            schema: raw
            tables:
              - name: users
              - name: events
        """),
    "models/staging/stg_users.sql": _d("""
        select id as user_id, name, country_code, signup_date
        from {{ source('raw', 'users') }}
        """),
    "models/staging/stg_events.sql": _d("""
        select id as event_id, user_id, kind, amount, batch, updated_at
        from {{ source('raw', 'events') }}
        """),
    "models/staging/countries_eph.sql": _d("""
        {{ config(materialized='ephemeral') }}
        select code as country_code, name as country_name
        from {{ ref('countries') }}
        """),
    "models/staging/_staging.yml": _d("""
        version: 2
        models:
          - name: stg_users
            columns:
              - name: user_id
                data_tests: [unique, not_null]
          - name: stg_events
            columns:
              - name: event_id
                data_tests: [unique]
              - name: kind
                data_tests:
                  - accepted_values:
                      arguments:
                        values: [view, click, buy, unknown]
                      config:
                        severity: warn
        """),
    # A table with indexes, grants, persisted docs and a post-hook.
    "models/marts/users_table.sql": _d("""
        {{ config(post_hook="update {{ this }} set name = upper(name) where user_id % 10 = 0") }}
        select u.user_id, u.name, u.country_code, c.country_name, u.signup_date
        from {{ ref('stg_users') }} as u
        left join {{ ref('countries_eph') }} as c using (country_code)
        """),
    # A view with grants and persisted docs.
    "models/marts/user_events.sql": _d("""
        select u.user_id, u.name, count(e.event_id) as events,
               coalesce(sum(e.amount), 0) as amount
        from {{ ref('users_table') }} as u
        left join {{ ref('stg_events') }} as e using (user_id)
        group by u.user_id, u.name
        """),
    "models/marts/kind_totals_mv.sql": _d("""
        {{ config(materialized='materialized_view', indexes=[{'columns': ['kind']}]) }}
        select kind, count(*) as events, sum(amount) as amount
        from {{ ref('stg_events') }}
        group by kind
        """),
    # An enforced contract with column and model constraints.
    "models/marts/events_contract.sql": _d("""
        select event_id, user_id, coalesce(kind, 'none') as kind,
               amount::numeric(10,2) as amount
        from {{ ref('stg_events') }}
        """),
    "models/marts/inc_append.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='append') }}
        select event_id, user_id, kind, amount
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where event_id > (select max(event_id) from {{ this }})
        {% endif %}
        """),
    "models/marts/inc_delete_insert.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='delete+insert',
                  unique_key='user_id') }}
        select user_id, count(*) as events, sum(amount) as amount,
               max(updated_at) as last_update
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where user_id in (select user_id from {{ ref('stg_events') }}
                          where updated_at > (select max(last_update) from {{ this }}))
        {% endif %}
        group by user_id
        """),
    "models/marts/inc_delete_insert_list.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='delete+insert',
                  unique_key=['user_id', 'kind'], on_schema_change='append_new_columns') }}
        select user_id, kind, count(*) as events, max(updated_at) as last_update
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where (user_id, kind) in (
            select user_id, kind from {{ ref('stg_events') }}
            where updated_at > (select max(last_update) from {{ this }}))
        {% endif %}
        group by user_id, kind
        """),
    "models/marts/inc_merge_update.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='merge',
                  unique_key='event_id', merge_update_columns=['amount', 'updated_at']) }}
        select event_id, user_id, kind, amount, updated_at
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where updated_at > (select max(updated_at) from {{ this }})
        {% endif %}
        """),
    "models/marts/inc_merge_exclude.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='merge',
                  unique_key=['event_id'], merge_exclude_columns=['first_seen'],
                  on_schema_change='sync_all_columns') }}
        select event_id, amount, updated_at, updated_at as first_seen, 'v1' as note
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where updated_at > (select max(updated_at) from {{ this }})
        {% endif %}
        """),
    # No strategy and a unique_key: dbt-postgres's default is delete+insert.
    "models/marts/inc_default.sql": _d("""
        {{ config(materialized='incremental', unique_key='kind') }}
        select kind, count(*) as events
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where kind in (select kind from {{ ref('stg_events') }}
                       where batch = (select max(batch) from {{ ref('stg_events') }}))
        {% endif %}
        group by kind
        """),
    # full_refresh: true in its config: dbt rebuilds it in full on every run.
    "models/marts/inc_always_full.sql": _d("""
        {{ config(materialized='incremental', full_refresh=true, unique_key='user_id') }}
        select user_id, count(*) as events
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where false
        {% endif %}
        group by user_id
        """),
    # on_schema_change ignore (the default): a column the increment adds is left out
    "models/marts/inc_ignore.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='append') }}
        select event_id, amount
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where event_id > (select max(event_id) from {{ this }})
        {% endif %}
        """),
    # incremental_predicates: dest rows they exclude are not matched (merge) or not
    # deleted (delete+insert), so their keys come twice, dbt's way
    "models/marts/inc_merge_predicates.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='merge',
                  unique_key='event_id',
                  incremental_predicates=['DBT_INTERNAL_DEST.event_id > 295']) }}
        select event_id, amount, updated_at
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where updated_at > (select max(updated_at) from {{ this }})
        {% endif %}
        """),
    "models/marts/inc_delete_insert_predicates.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='delete+insert',
                  unique_key='user_id',
                  incremental_predicates=['DBT_INTERNAL_DEST.user_id > 5']) }}
        select user_id, count(*) as events, max(updated_at) as last_update
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where user_id in (select user_id from {{ ref('stg_events') }}
                          where updated_at > (select max(last_update) from {{ this }}))
        {% endif %}
        group by user_id
        """),
    "models/marts/inc_delete_insert_list_predicates.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='delete+insert',
                  unique_key=['user_id', 'kind'], incremental_predicates=['user_id > 5']) }}
        select user_id, kind, count(*) as events, max(updated_at) as last_update
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where (user_id, kind) in (
            select user_id, kind from {{ ref('stg_events') }}
            where updated_at > (select max(last_update) from {{ this }}))
        {% endif %}
        group by user_id, kind
        """),
    # sync_all_columns with retyped columns: dbt retypes a column by adding a new one,
    # filling it, dropping the old and renaming (so it moves to the end), and leaves a
    # string column the increment has shorter alone
    "models/marts/inc_sync_retype.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='append',
                  on_schema_change='sync_all_columns') }}
        select event_id, amount::numeric(10,2) as amount, kind::varchar(20) as kind,
               batch, user_id
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where event_id > (select max(event_id) from {{ this }})
        {% endif %}
        """),
    # an enforced contract on an incremental model
    "models/marts/inc_contract.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='merge',
                  unique_key='event_id', on_schema_change='append_new_columns') }}
        select event_id, user_id, amount
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where updated_at > (select max(updated_at) from {{ ref('stg_events') }}
                            where batch = 1)
        {% endif %}
        """),
    # a varchar column the increment widens: dbt widens the table's column
    # (expand_target_column_types), whatever on_schema_change says
    "models/marts/inc_widened.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='append') }}
        select u.user_id, e.event_id, left(u.name, 6)::varchar(6) as short_name
        from {{ ref('stg_events') }} as e join {{ ref('stg_users') }} as u using (user_id)
        {% if is_incremental() %}
        where e.event_id > (select max(event_id) from {{ this }})
        {% endif %}
        """),
    # indexes config added to an existing incremental model
    "models/marts/inc_index_added.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='append',
                  indexes=[{'columns': ['event_id'], 'unique': true}]) }}
        select event_id, kind
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where event_id > (select max(event_id) from {{ this }})
        {% endif %}
        """),
    # hooks added to an existing incremental model: the pre-hook runs on the table
    # before the increment is computed, the post-hook after it is applied
    "models/marts/inc_hooked.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='append') }}
        select event_id, amount
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where event_id > (select max(event_id) from {{ this }})
        {% endif %}
        """),
    # a view that becomes a table
    "models/marts/kind_share.sql": _d("""
        {{ config(materialized='view') }}
        select kind, count(*) * 1.0 / sum(count(*)) over () as share
        from {{ ref('stg_events') }}
        group by kind
        """),
    # a view that becomes an incremental model: dbt builds it in full (is_incremental()
    # is false over a view, and the materialization takes an existing view for a full
    # refresh)
    "models/marts/view_to_incremental.sql": _d("""
        {{ config(materialized='view') }}
        select event_id, amount from {{ ref('stg_events') }}
        """),
    # a materialized view whose query changes (see the README: dbt refreshes it with its
    # old query unless --full-refresh).  It reads a source: over a view that dbt
    # rebuilds it would be dropped with that view (dbt drops the old view CASCADE) and
    # created afresh.
    "models/marts/mv_changed.sql": _d("""
        {{ config(materialized='materialized_view') }}
        select user_id, count(*) as events
        from {{ source('raw', 'events') }}
        group by user_id
        """),
    # Upstream of nothing that changes: neither dbt nor bluegreen may touch these.
    "models/marts/inc_users_only.sql": _d("""
        {{ config(materialized='incremental', unique_key='user_id') }}
        select user_id, name from {{ ref('stg_users') }}
        {% if is_incremental() %}
        where user_id > (select max(user_id) from {{ this }})
        {% endif %}
        """),
    "models/marts/users_by_signup_month.sql": _d("""
        select date_trunc('month', signup_date)::date as month, count(*) as users
        from {{ ref('stg_users') }}
        group by 1
        """),
    # unlogged (dbt-postgres's config): a table, and an incremental model
    "models/marts/unlogged_table.sql": _d("""
        {{ config(materialized='table', unlogged=true) }}
        select kind, count(*) as events from {{ ref('stg_events') }} group by kind
        """),
    "models/marts/inc_unlogged.sql": _d("""
        {{ config(materialized='incremental', unlogged=true, unique_key='event_id',
                  incremental_strategy='merge') }}
        select event_id, amount from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where event_id > (select max(event_id) from {{ this }})
        {% endif %}
        """),
    # Moved in v2: to another schema, and under another alias.
    "models/marts/moved_schema.sql": _d("""
        select kind, max(amount) as top_amount from {{ ref('stg_events') }} group by kind
        """),
    "models/marts/moved_alias.sql": _d("""
        select kind, min(amount) as low_amount from {{ ref('stg_events') }} group by kind
        """),
    # Removed in v2.
    "models/marts/legacy_report.sql": _d("""
        select country_code, count(*) as users from {{ ref('stg_users') }} group by 1
        """),
    # A custom schema (analytics_finance) and an alias.
    "models/finance/revenue.sql": _d("""
        {{ config(materialized='table', schema='finance', alias='revenue_by_kind') }}
        select kind, sum(amount) as revenue from {{ ref('stg_events') }} group by kind
        """),
    "models/marts/_marts.yml": _d("""
        version: 2
        models:
          - name: users_table
            description: One row per user, with the country's name.
            config:
              indexes:
                - columns: [user_id]
                  unique: true
                - columns: [country_code]
                  type: hash
              grants:
                select: [bgdo_reader]
              persist_docs:
                relation: true
                columns: true
            columns:
              - name: user_id
                description: The user.
                data_tests: [unique]
              - name: country_code
                description: Where the user lives.
                data_tests:
                  - relationships:
                      arguments:
                        to: ref('countries')
                        field: code
                      config:
                        where: "country_code is not null and country_code <> 'IT'"

          - name: user_events
            description: Events and amounts per user.
            config:
              materialized: view
              grants:
                select: [bgdo_reader]
              persist_docs:
                relation: true
                columns: true
            columns:
              - name: user_id
                description: The user.
                data_tests: [not_null]
              - name: amount
                description: Sum of the user's events.

          - name: events_contract
            config:
              contract:
                enforced: true
            constraints:
              - type: unique
                columns: [user_id, event_id]
            columns:
              - name: event_id
                data_type: integer
                constraints:
                  - type: not_null
                  - type: primary_key
                data_tests: [unique]
              - name: user_id
                data_type: integer
                constraints:
                  - type: not_null
                  - type: foreign_key
                    to: ref('users_table')
                    to_columns: [user_id]
              - name: kind
                data_type: text
              - name: amount
                data_type: numeric(10,2)
                constraints:
                  - type: check
                    expression: "amount >= 0"

          - name: inc_merge_update
            description: Events, merged by id; only amount and updated_at follow changes.
            config:
              persist_docs:
                relation: true
                columns: true
            columns:
              - name: event_id
                description: The event.
                data_tests: [unique]

          - name: inc_append
            config:
              grants:
                select: [bgdo_reader]

          - name: inc_contract
            config:
              contract:
                enforced: true
            columns:
              - name: event_id
                data_type: integer
                constraints:
                  - type: primary_key
              - name: user_id
                data_type: integer
                constraints:
                  - type: not_null
              - name: amount
                data_type: numeric(10,2)

          - name: inc_users_only
            columns:
              - name: user_id
                data_tests:
                  - relationships:
                      arguments:
                        to: ref('users_table')
                        field: user_id

          - name: kind_totals_mv
            description: Events per kind, materialized.
            config:
              persist_docs:
                relation: true
                columns: true
            columns:
              - name: kind
                description: The kind of event.
                data_tests: [unique]
        """),
    "tests/assert_inc_append_no_duplicates.sql": _d("""
        select event_id from {{ ref('inc_append') }} group by event_id having count(*) > 1
        """),
    "tests/assert_delete_insert_list_unique.sql": _d("""
        select user_id, kind from {{ ref('inc_delete_insert_list') }}
        group by user_id, kind having count(*) > 1
        """),
}


def gen_v2():
    f = dict(GEN_V1)
    # upstream change: everything reading stg_events is selected (incremental models
    # among them, unchanged themselves)
    replace(f, "models/staging/stg_events.sql", "user_id, kind, amount",
            "user_id, coalesce(kind, 'unknown') as kind, amount")
    # an ephemeral model changes: the table that inlines it is selected
    replace(f, "models/staging/countries_eph.sql", "name as country_name",
            "upper(name) as country_name")
    # a seed changes: dbt run does not load it; bluegreen carries it from live
    f["seeds/countries.csv"] += "IT,Italy\n"
    # changed incremental models: a new column, appended; a column swapped, synced
    replace(f, "models/marts/inc_delete_insert_list.sql", "max(updated_at) as last_update",
            "max(updated_at) as last_update, sum(amount) as amount")
    replace(f, "models/marts/inc_merge_exclude.sql", "'v1' as note",
            "(amount * 100)::integer as amount_cents")
    replace(f, "models/marts/inc_ignore.sql", "select event_id, amount",
            "select event_id, amount, kind")
    replace(f, "models/marts/inc_sync_retype.sql",
            "amount::numeric(10,2) as amount, kind::varchar(20) as kind,\n       batch,",
            "amount::float8 as amount, kind::varchar(10) as kind,\n       batch::bigint as batch,")
    replace(f, "models/marts/inc_widened.sql", "left(u.name, 6)::varchar(6)",
            "u.name::varchar(20)")
    replace(f, "models/marts/inc_index_added.sql",
            "indexes=[{'columns': ['event_id'], 'unique': true}]",
            "indexes=[{'columns': ['event_id'], 'unique': true}, {'columns': ['kind']}]")
    replace(f, "models/marts/inc_hooked.sql", "incremental_strategy='append'",
            "incremental_strategy='append',\n"
            "          pre_hook='delete from {{ this }} where event_id % 50 = 0',\n"
            "          post_hook='update {{ this }} set amount = 0 where event_id % 7 = 0'")
    replace(f, "models/marts/kind_share.sql", "materialized='view'", "materialized='table'")
    # a column added to an incremental model's contract (append_new_columns)
    replace(f, "models/marts/inc_contract.sql", "select event_id, user_id, amount",
            "select event_id, user_id, amount, kind")
    replace(f, "models/marts/_marts.yml",
            "      - name: amount\n        data_type: numeric(10,2)\n\n"
            "  - name: inc_users_only",
            "      - name: amount\n        data_type: numeric(10,2)\n"
            "      - name: kind\n        data_type: text\n\n"
            "  - name: inc_users_only")
    f["models/marts/view_to_incremental.sql"] = _d("""
        {{ config(materialized='incremental', unique_key='event_id') }}
        select event_id, amount from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where event_id > (select max(event_id) from {{ this }})
        {% endif %}
        """)
    replace(f, "models/marts/mv_changed.sql", "count(*) as events",
            "count(*) as events, sum(amount) as amount")
    # models moving: dbt builds the new relation and leaves the old one
    f["models/marts/moved_schema.sql"] = ("{{ config(schema='finance') }}\n"
                                          + f["models/marts/moved_schema.sql"])
    f["models/marts/moved_alias.sql"] = ("{{ config(alias='lowest_amounts') }}\n"
                                         + f["models/marts/moved_alias.sql"])
    # removed and new models
    del f["models/marts/legacy_report.sql"]
    f["models/marts/new_summary.sql"] = _d("""
        select kind, count(*) as events from {{ ref('inc_append') }} group by kind
        """)
    f["models/marts/inc_new.sql"] = _d("""
        {{ config(materialized='incremental', incremental_strategy='merge',
                  unique_key='user_id') }}
        select user_id, max(amount) as top_amount from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where updated_at > (select max(updated_at) from {{ ref('stg_events') }}) - interval '1 day'
        {% endif %}
        group by user_id
        """)
    return f


# Where dbt's `dbt run` does something bluegreen deliberately does not copy, the model is
# named in the stage's dbt_differs with the reason (see the README).  A reason alone:
# gen.py also has dbt rebuild the model with --full-refresh, and bluegreen's build must
# equal that.  A dict: bluegreen's build must equal dbt's with `config` (keys of
# relations.snapshot's config) as given instead of dbt's.
MV_QUERY_CHANGED = (
    "dbt run refreshes an existing materialized view whose query changed with its old "
    "query (dbt-postgres only compares the indexes config; the new query needs "
    "--full-refresh); bluegreen builds the new query, which is what dbt run --full-refresh "
    "builds")
MV_COLUMN_COMMENTS = dict(
    reason="dbt-postgres persists no column comments on a materialized view (it looks "
           "for the columns in information_schema.columns, which lists none of a "
           "materialized view's); bluegreen persists them as on tables and views",
    config={"column_comments": {"kind": "The kind of event."}})


def _m(*names, project):
    return [f"model.{project}.{n}" for n in names]


GEN = dict(
    name="generated",
    doc="views, tables, ephemeral, materialized view, every incremental strategy, "
        "contract, indexes/grants/docs/hooks, custom schema and alias, seed change, "
        "removed and new models, a warning test",
    versions={"v1": GEN_V1, "v2": gen_v2()},
    raw=EVENTS_RAW,
    stages=[dict(version="v2", kind="deploy",
                 between=events_batch(2, 301, 360, 291, 300),
                 dbt_differs={"model.gen.mv_changed": MV_QUERY_CHANGED,
                              "model.gen.kind_totals_mv": MV_COLUMN_COMMENTS})],
    must=[dict(
        ran=_m("stg_events", "users_table", "user_events", "kind_totals_mv", "events_contract",
               "inc_append", "inc_delete_insert", "inc_delete_insert_list", "inc_merge_update",
               "inc_merge_exclude", "inc_default", "inc_always_full", "revenue",
               "new_summary", "inc_new", "inc_ignore", "inc_merge_predicates",
               "inc_delete_insert_predicates", "inc_delete_insert_list_predicates",
               "inc_contract", "inc_sync_retype", "view_to_incremental",
               "unlogged_table", "inc_unlogged", "moved_schema", "moved_alias", "inc_widened",
               "inc_index_added", "inc_hooked", "kind_share", "mv_changed", project="gen"),
        not_ran=_m("stg_users", "inc_users_only", "users_by_signup_month", "legacy_report",
                   "countries_eph", project="gen"),
        tests={"test.gen.accepted_values_stg_events_kind__view__click__buy__unknown.": "warn"},
    )],
)


# ---------------------------------------------------------------------------------------
# "outcomes": what each test reports, dbt's way: severity, thresholds, fail_calc, limit,
# where; an error-severity test fails, so the deployment fails.

OUTCOMES_RAW = _d("""
    SET client_min_messages = warning;
    DROP SCHEMA IF EXISTS raw CASCADE;
    CREATE SCHEMA raw;
    CREATE TABLE raw.items (
        id integer PRIMARY KEY,
        category text NOT NULL,
        price numeric(8,2) NOT NULL,
        qty integer NOT NULL,
        note text
    );
    INSERT INTO raw.items
    SELECT i, (ARRAY['tools', 'toys', 'food'])[1 + i % 3], 5 + (i * 13) % 60, 1 + i % 7,
           'note ' || i
      FROM generate_series(1, 60) AS i;
    """)

OUTCOMES_V1 = {
    "dbt_project.yml": project_yml("outcomes"),
    "profiles.yml": profile("outcomes"),
    "models/staging/_sources.yml": _d("""
        version: 2
        sources:
          - name: raw
            schema: raw
            tables:
              - name: items
        """),
    "models/staging/stg_items.sql": _d("""
        select id as item_id, category, price, qty, note
        from {{ source('raw', 'items') }}
        """),
    "models/marts/item_totals.sql": _d("""
        select category, count(*) as items, sum(price * qty) as value
        from {{ ref('stg_items') }}
        group by category
        """),
    "models/marts/untouched.sql": "select 1 as one\n",
    "models/staging/_staging.yml": _d("""
        version: 2
        models:
          - name: stg_items
            columns:
              - name: item_id
                data_tests: [unique, not_null]
              - name: note
                data_tests:
                  - not_null:
                      config:
                        severity: warn
                  - not_null:
                      name: note_not_null_limited
                      config:
                        severity: warn
                        limit: 3
              - name: price
                data_tests:
                  - below:
                      name: price_below_100_thresholds
                      config:
                        warn_if: ">2"
                        error_if: ">50"
                  - below:
                      name: price_below_100_strict
                      config:
                        error_if: ">5"
              - name: qty
                data_tests:
                  - below:
                      name: qty_weighted
                      arguments:
                        upper: 5
                      config:
                        severity: warn
                        fail_calc: "coalesce(sum(qty), 0)"
                        where: "category <> 'food'"
          - name: item_totals
            columns:
              - name: category
                data_tests: [unique, not_null]
          - name: untouched
            columns:
              - name: one
                data_tests: [not_null]
        """),
    # A generic test of the project's own.
    "tests/generic/below.sql": _d("""
        {% test below(model, column_name, upper=100) %}
        select * from {{ model }} where {{ column_name }} >= {{ upper }}
        {% endtest %}
        """),
    "tests/assert_totals_positive.sql": _d("""
        select * from {{ ref('item_totals') }} where value <= 0
        """),
    "tests/assert_few_expensive.sql": _d("""
        {{ config(severity='warn', warn_if='>= 1') }}
        select * from {{ ref('stg_items') }} where price > 60
        """),
}


def outcomes_v2():
    f = dict(OUTCOMES_V1)
    replace(f, "models/staging/stg_items.sql", "category, price, qty, note",
            "category, price * 2 as price, qty, nullif(note, 'note ' || (id / 4 * 4)) as note")
    return f


OUTCOMES = dict(
    name="test_outcomes",
    doc="pass, warn and fail from severity, warn_if/error_if, fail_calc, limit, where; "
        "singular and custom generic tests; an error-severity failure fails the deployment",
    versions={"v1": OUTCOMES_V1, "v2": outcomes_v2()},
    raw=OUTCOMES_RAW,
    stages=[dict(version="v2", kind="deploy")],
    must=[dict(
        ran=_m("stg_items", "item_totals", project="outcomes"),
        not_ran=_m("untouched", project="outcomes"),
        tests={"test.outcomes.not_null_stg_items_note.": "warn",
               "test.outcomes.note_not_null_limited": "warn",
               "test.outcomes.price_below_100_thresholds": "warn",
               "test.outcomes.price_below_100_strict": "fail",
               "test.outcomes.qty_weighted": "warn",
               "test.outcomes.assert_few_expensive": "warn",
               "test.outcomes.assert_totals_positive": "pass"},
    )],
)


# ---------------------------------------------------------------------------------------
# "full_refresh": dbt run --full-refresh against bg.deploy(full_refresh => true) of a
# manifest compiled with --full-refresh.

FR_V1 = {
    "dbt_project.yml": project_yml("fr"),
    "profiles.yml": profile("fr"),
    "models/staging/_sources.yml": GEN_V1["models/staging/_sources.yml"],
    "models/staging/stg_events.sql": GEN_V1["models/staging/stg_events.sql"],
    "models/marts/inc_append.sql": GEN_V1["models/marts/inc_append.sql"],
    "models/marts/inc_merge_update.sql": GEN_V1["models/marts/inc_merge_update.sql"],
    "models/marts/inc_delete_insert.sql": GEN_V1["models/marts/inc_delete_insert.sql"],
    # full_refresh: false in its config: dbt keeps it incremental even under --full-refresh
    "models/marts/inc_never_full.sql": _d("""
        {{ config(materialized='incremental', full_refresh=false,
                  incremental_strategy='append') }}
        select event_id, amount from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where event_id > (select max(event_id) from {{ this }})
        {% endif %}
        """),
    "models/marts/kind_totals_mv.sql": GEN_V1["models/marts/kind_totals_mv.sql"],
    "models/marts/user_totals.sql": _d("""
        select user_id, sum(amount) as amount from {{ ref('inc_merge_update') }} group by 1
        """),
    "models/marts/_marts.yml": _d("""
        version: 2
        models:
          - name: inc_append
            columns:
              - name: event_id
                data_tests: [unique]
          - name: user_totals
            columns:
              - name: user_id
                data_tests: [unique, not_null]
        """),
}


def fr_v2():
    f = dict(FR_V1)
    replace(f, "models/staging/stg_events.sql", "user_id, kind, amount",
            "user_id, coalesce(kind, 'unknown') as kind, amount")
    # a changed incremental model: in full, the new column is filled for every row
    replace(f, "models/marts/inc_merge_update.sql", "kind, amount, updated_at",
            "kind, amount, updated_at, amount * 2 as double_amount")
    # a changed materialized view: --full-refresh replaces it with the new query
    replace(f, "models/marts/kind_totals_mv.sql", "sum(amount) as amount",
            "sum(amount) as amount, max(amount) as top_amount")
    return f


FULL_REFRESH = dict(
    name="full_refresh",
    doc="dbt run --full-refresh vs bg.deploy(full_refresh => true): every selected "
        "incremental model in full, except one with full_refresh: false",
    versions={"v1": FR_V1, "v2": fr_v2()},
    raw=EVENTS_RAW,
    stages=[dict(version="v2", kind="deploy", full_refresh=True,
                 between=events_batch(2, 301, 360, 291, 300))],
    must=[dict(ran=_m("stg_events", "inc_append", "inc_merge_update", "inc_delete_insert",
                      "inc_never_full", "kind_totals_mv", "user_totals", project="fr"))],
)


# ---------------------------------------------------------------------------------------
# "two_cycles": new source rows arrive between deploys, each deploy is promoted; after
# every cycle the live incremental models must equal dbt's: nothing lost or duplicated.

CYC_V1 = {
    "dbt_project.yml": project_yml("cyc"),
    "profiles.yml": profile("cyc"),
    "models/staging/_sources.yml": GEN_V1["models/staging/_sources.yml"],
    "models/staging/stg_events.sql": GEN_V1["models/staging/stg_events.sql"],
    # The increment does not read {{ this }}: it appends the latest batch.  Started from a
    # stale copy of the table, a deploy would lose the batches in between for good.
    "models/marts/inc_batches.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='append') }}
        select event_id, user_id, amount, batch
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where batch = (select max(batch) from {{ source('raw', 'events') }})
        {% endif %}
        """),
    "models/marts/inc_append.sql": GEN_V1["models/marts/inc_append.sql"],
    "models/marts/inc_merge_update.sql": GEN_V1["models/marts/inc_merge_update.sql"],
    "models/marts/inc_daily.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='delete+insert',
                  unique_key='day') }}
        select updated_at::date as day, count(*) as events, sum(amount) as amount
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where updated_at::date >= (select max(day) from {{ this }})
        {% endif %}
        group by 1
        """),
    "models/marts/user_totals.sql": FR_V1["models/marts/user_totals.sql"],
    "models/marts/_marts.yml": _d("""
        version: 2
        models:
          - name: inc_append
            columns:
              - name: event_id
                data_tests: [unique]
          - name: inc_batches
            columns:
              - name: event_id
                data_tests: [unique]
          - name: inc_daily
            columns:
              - name: day
                data_tests: [unique]
        """),
}


def cyc_v2():
    f = dict(CYC_V1)
    replace(f, "models/staging/stg_events.sql", "user_id, kind, amount",
            "user_id, coalesce(kind, 'unknown') as kind, amount")
    replace(f, "models/marts/inc_merge_update.sql",
            "merge_update_columns=['amount', 'updated_at']",
            "merge_update_columns=['amount', 'updated_at', 'kind'], "
            "on_schema_change='append_new_columns'")
    replace(f, "models/marts/inc_merge_update.sql", "kind, amount, updated_at",
            "kind, amount, updated_at, batch")
    # new in v2: built in full by the first deploy, incremental from the promoted table on
    f["models/marts/inc_late.sql"] = _d("""
        {{ config(materialized='incremental', incremental_strategy='delete+insert',
                  unique_key=['user_id', 'batch']) }}
        select user_id, batch, count(*) as events, sum(amount) as amount
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where batch >= (select max(batch) from {{ this }})
        {% endif %}
        group by user_id, batch
        """)
    return f


def cyc_v3():
    f = cyc_v2()
    replace(f, "models/staging/stg_events.sql", "from {{ source('raw', 'events') }}",
            "from {{ source('raw', 'events') }}\nwhere amount >= 0")
    return f


TWO_CYCLES = dict(
    name="two_cycles",
    doc="rows arrive between deploys; deploy v2 and promote, deploy v3 and promote, "
        "refresh and promote: live incremental models equal dbt's after every cycle",
    versions={"v1": CYC_V1, "v2": cyc_v2(), "v3": cyc_v3()},
    raw=EVENTS_RAW,
    stages=[dict(version="v2", kind="deploy", promote=True,
                 between=events_batch(2, 301, 360, 291, 300)),
            dict(version="v3", kind="deploy", promote=True,
                 between=events_batch(3, 361, 420, 351, 360)),
            dict(version="v3", kind="refresh", promote=True,
                 between=events_batch(4, 421, 470, 411, 420))],
    must=[dict(ran=_m("inc_batches", "inc_append", "inc_merge_update", "inc_daily",
                      project="cyc")),
          dict(ran=_m("inc_batches", "inc_append", "inc_merge_update", "inc_daily",
                      "inc_late", project="cyc")),
          dict(ran=_m("stg_events", "inc_batches", "inc_append", "inc_merge_update",
                      "inc_daily", "inc_late", "user_totals", project="cyc"))],
)


# ---------------------------------------------------------------------------------------
# "contracts": enforced contracts that dbt-postgres accepts although the code's types
# are not the contract's (text for varchar, smallint for integer, numeric of another
# precision, a domain for its base type, names in capitals), built by both; then, each
# in a deploy of its own (bluegreen stops at a model's error, dbt goes on), contracts
# dbt refuses, refused by both.

CT_RAW = _d("""
    SET client_min_messages = warning;
    DROP SCHEMA IF EXISTS raw CASCADE;
    CREATE SCHEMA raw;
    CREATE DOMAIN raw.label AS text;
    CREATE TABLE raw.items (
        id integer PRIMARY KEY,
        name text NOT NULL,
        price numeric(10,2) NOT NULL,
        sold_at timestamp NOT NULL
    );
    INSERT INTO raw.items
    SELECT i, (ARRAY['pen', 'notebook', 'ruler', 'stapler'])[1 + i % 4] || i,
           ((i * 37) % 1000) / 10.0, timestamp '2024-03-01' + i * interval '90 minutes'
      FROM generate_series(1, 30) AS i;
    """)

CT_V1 = {
    "dbt_project.yml": project_yml("ct"),
    "profiles.yml": profile("ct"),
    "models/staging/_sources.yml": _d("""
        version: 2
        sources:
          - name: raw
            schema: raw
            tables:
              - name: items
        """),
    "models/staging/stg_items.sql": "select id, name, price, sold_at from {{ source('raw', 'items') }}\n",
    "models/marts/item_count.sql": "select count(*) as items from {{ ref('stg_items') }}\n",
}


def _contract(name, columns, alias_types=True):
    """A model's YAML with an enforced contract; columns: [(name, data_type, extra)]."""
    out = f"  - name: {name}\n    config:\n      contract:\n        enforced: true\n"
    if not alias_types:
        out += "        alias_types: false\n"
    out += "    columns:\n"
    for col, data_type, extra in columns:
        out += f"      - name: {col}\n        data_type: {data_type}\n"
        for key, value in extra.items():
            out += f"        {key}: {value}\n"
    return out


# model: (code, materialized, [(column, data_type, extra YAML)]); all accepted by dbt
CT_ACCEPTED = {
    "text_as_varchar": ("select id, name from {{ ref('stg_items') }}", "table",
                        [("id", "int", {}), ("name", "varchar", {})]),
    "text_as_varchar_n": ("select id, name from {{ ref('stg_items') }}", "table",
                          [("id", "int4", {}), ("name", "varchar(20)", {})]),
    "varchar_as_text": ("select id::smallint as id, name::varchar(12) as name, "
                        "name::char(12) as padded from {{ ref('stg_items') }}", "table",
                        [("id", "integer", {}), ("name", "text", {}), ("padded", "text", {})]),
    "numbers": ("select id::bigint as id, price, price::numeric(5,1) as rounded, "
                "id::real as ratio from {{ ref('stg_items') }}", "table",
                [("id", "int8", {}), ("price", "numeric(12,4)", {}),
                 ("rounded", "decimal(20,6)", {}), ("ratio", "double precision", {})]),
    "times": ("select id, sold_at, sold_at as sold_at_s, sold_at::date as sold_on "
              "from {{ ref('stg_items') }}", "table",
              [("id", "integer", {}), ("sold_at", "timestamp(0)", {}),
               ("sold_at_s", "timestamp without time zone", {}), ("sold_on", "date", {})]),
    # matched by name, in any order; unquoted names written in capitals are folded
    "names": ("select name, id from {{ ref('stg_items') }}", "table",
              [("ID", "integer", {}), ("Name", "text", {})]),
    "domain_as_text": ("select id, name::raw.label as label from {{ ref('stg_items') }}", "table",
                       [("id", "integer", {}), ("label", "text", {})]),
    "other_types": ("select id, md5(name)::uuid as code, to_jsonb(name) as doc, "
                    "array[name] as tags from {{ ref('stg_items') }}", "table",
                    [("id", "integer", {}), ("code", "uuid", {}), ("doc", "jsonb", {}),
                     ("tags", "varchar[]", {})]),
    "view_varchar": ("select id, name from {{ ref('stg_items') }}", "view",
                     [("id", "integer", {}), ("name", "varchar(5)", {})]),
    # contract.alias_types (the default): dbt-postgres reads data_type string as text
    "string_alias": ("select id, name from {{ ref('stg_items') }}", "table",
                     [("id", "integer", {}), ("name", "string", {})]),
}

# model: (code, [(column, data_type, extra)], what dbt's error says); each refused by dbt
CT_REFUSED = {
    "integer_as_bigint": ("select id, name from {{ ref('stg_items') }}",
                          [("id", "bigint", {}), ("name", "text", {})], "contract"),
    "timestamptz_as_timestamp": ("select id, sold_at::timestamptz as sold_at from {{ ref('stg_items') }}",
                                 [("id", "integer", {}), ("sold_at", "timestamp", {})], "contract"),
    "missing_column": ("select id, name from {{ ref('stg_items') }}",
                       [("id", "integer", {}), ("name", "text", {}), ("price", "numeric(10,2)", {})],
                       "contract"),
    "extra_column": ("select id, name, price from {{ ref('stg_items') }}",
                     [("id", "integer", {}), ("name", "text", {})], "contract"),
    "quoted_name": ("select id, name from {{ ref('stg_items') }}",
                    [("id", "integer", {}), ("Name", "text", {"quote": "true"})], "contract"),
    # the check passes (TEXT and TEXT); the insert into varchar(4) fails
    "too_long_for_varchar": ("select id, name from {{ ref('stg_items') }}",
                             [("id", "integer", {}), ("name", "varchar(4)", {})], "too long"),
    # without alias_types, string is no PostgreSQL type
    "string_unaliased": ("select id, name from {{ ref('stg_items') }}",
                         [("id", "integer", {}), ("name", "string", {})],
                         'type "string" does not exist'),
}


def ct_version(models):
    """Version 1 with contracted models: {name: (code, materialized, columns)}; a model
    named *_unaliased has contract.alias_types false."""
    f = dict(CT_V1)
    yml = "version: 2\nmodels:\n"
    for name, (code, materialized, columns) in models.items():
        f[f"models/marts/{name}.sql"] = f"{{{{ config(materialized='{materialized}') }}}}\n{code}\n"
        yml += _contract(name, columns, alias_types=not name.endswith("_unaliased"))
    f["models/marts/_contracts.yml"] = yml
    return f


def contracts():
    versions = {"v1": CT_V1, "v2": ct_version(CT_ACCEPTED)}
    stages = [dict(version="v2", kind="deploy")]
    must = [dict(ran=_m(*CT_ACCEPTED, project="ct"), not_ran=_m("stg_items", "item_count", project="ct"))]
    # each refused contract is deployed on its own, against version 1 (nothing above is
    # promoted: the deploys are all planned against the same live version)
    for i, (name, (code, columns, says)) in enumerate(CT_REFUSED.items(), 3):
        versions[f"v{i}"] = ct_version({name: (code, "table", columns)})
        stages.append(dict(version=f"v{i}", kind="deploy"))
        must.append(dict(refused={f"model.ct.{name}": says}))
    return dict(
        name="contracts",
        doc="enforced contracts dbt-postgres accepts with other types than the code's "
            "(text/varchar, smallint/integer, numeric precision, domains, folded names), "
            "and each kind it refuses (type, missing and extra column, quoted name, too long, "
            "string without alias_types)",
        versions=versions, raw=CT_RAW, stages=stages, must=must)


# ---------------------------------------------------------------------------------------
# "moves": models that move to another alias or schema, change kind, widen their
# columns, become ephemeral or are removed, with nothing outside the project reading
# them: every change is compatible, so bg.promote goes through without force. dbt
# builds the new relations and leaves the old ones; bluegreen removes the old ones at
# promote (kept for rollback), and rollback brings them back.

MOVES_RAW = _d("""
    SET client_min_messages = warning;
    DROP SCHEMA IF EXISTS raw CASCADE;
    CREATE SCHEMA raw;
    CREATE TABLE raw.items (
        id integer PRIMARY KEY,
        name text NOT NULL,
        price numeric(10,2) NOT NULL,
        qty smallint NOT NULL
    );
    INSERT INTO raw.items
    SELECT i, 'item ' || i, ((i * 37) % 1000) / 10.0, i % 50
      FROM generate_series(1, 40) AS i;
    """)

MOVES_V1 = {
    "dbt_project.yml": project_yml("mv"),
    "profiles.yml": profile("mv"),
    "models/staging/_sources.yml": _d("""
        version: 2
        sources:
          - name: raw
            schema: raw
            tables:
              - name: items
        """),
    "models/staging/stg_items.sql": _d("""
        select id, name, price, qty from {{ source('raw', 'items') }}
        """),
    "models/marts/items.sql": _d("""
        select id, name, price, qty from {{ ref('stg_items') }}
        """),
    "models/marts/item_names.sql": _d("""
        {{ config(materialized='view') }}
        select id, name from {{ ref('stg_items') }}
        """),
    "models/marts/priced.sql": _d("""
        select id, price from {{ ref('items') }} where price > 10
        """),
    "models/marts/stock.sql": _d("""
        {{ config(materialized='view') }}
        select id, qty from {{ ref('stg_items') }}
        """),
    "models/marts/codes.sql": _d("""
        {{ config(materialized='view') }}
        select id, 'c' || id as code from {{ ref('stg_items') }}
        """),
    "models/marts/legacy.sql": _d("""
        select id from {{ ref('stg_items') }}
        """),
    "models/marts/_marts.yml": _d("""
        version: 2
        models:
          - name: items
            columns:
              - name: id
                data_tests: [unique, not_null]
        """),
}


def moves_v2():
    f = dict(MOVES_V1)
    # another alias, and wider columns (integer to bigint, smallint to integer,
    # numeric(10,2) to numeric(12,2))
    f["models/marts/items.sql"] = _d("""
        {{ config(alias='dim_items') }}
        select id::bigint as id, name, price::numeric(12,2) as price, qty::integer as qty
        from {{ ref('stg_items') }}
        """)
    # another schema (dbt's analytics_catalog)
    replace(f, "models/marts/item_names.sql", "materialized='view'",
            "materialized='view', schema='catalog'")
    # a table becomes a view, a view a table, a view ephemeral
    f["models/marts/priced.sql"] = "{{ config(materialized='view') }}\n" + f["models/marts/priced.sql"]
    replace(f, "models/marts/stock.sql", "materialized='view'", "materialized='table'")
    replace(f, "models/marts/codes.sql", "materialized='view'", "materialized='ephemeral'")
    del f["models/marts/legacy.sql"]
    return f


MOVES = dict(
    name="moves",
    doc="a new alias and a new schema, kinds changed, columns widened, a model made "
        "ephemeral and one removed, promoted without force: old relations removed, "
        "and back after rollback",
    versions={"v1": MOVES_V1, "v2": moves_v2()},
    raw=MOVES_RAW,
    stages=[dict(version="v2", kind="deploy", promote=True)],
    must=[dict(ran=_m("items", "item_names", "priced", "stock", project="mv"),
               not_ran=_m("stg_items", "codes", project="mv"))],
)


# ---------------------------------------------------------------------------------------
# The product demo: demo/shop, version 1 to version 2 (its v2/ laid over it), as demo/run
# assembles them.

DEMO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "demo", "shop")


def read_tree(root, skip=("v2", "target", "logs", "dbt_packages", ".user.yml")):
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            if rel == "." and name in skip:
                continue
            path = os.path.normpath(os.path.join(rel, name))
            with open(os.path.join(dirpath, name), encoding="utf-8") as fh:
                files[path] = fh.read()
    return files


def demo():
    v1 = read_tree(DEMO_DIR)
    v2 = dict(v1)
    v2.update(read_tree(os.path.join(DEMO_DIR, "v2"), skip=()))
    raw = v1.pop("raw.sql")
    v2.pop("raw.sql")
    return dict(
        name="demo_shop",
        doc="the product demo, demo/shop version 1 to 2",
        versions={"v1": v1, "v2": v2},
        raw=raw,
        stages=[dict(version="v2", kind="deploy")],
        must=[dict(ran=_m("stg_payments", "orders", "customers", "daily_revenue",
                          "revenue_by_payment_method", project="shop"),
                   not_ran=_m("stg_orders", "stg_customers", project="shop"))],
    )


# ---------------------------------------------------------------------------------------
# "packages": a project that uses a package, as real projects use dbt_utils.  bg_utils
# (test/packages/bg_utils, in dbt_utils's style) is installed from packages.yml with a
# local: path to a copy inside the project, so that a version can change the package too,
# then `dbt deps` (gen.py).  Models call its surrogate key, star and date spine (each
# dispatching to default__<name>), one through a macro of the project's; an incremental
# model merges on a surrogate key; tests are the package's generic tests.  v2 changes the
# package's surrogate key (what it hashes), the arguments of a package test, and
# overrides the package's date spine (dispatch config and a default__date_spine of the
# project's own); v3 changes the project's wrapper of a package macro, a model's call to
# one, and a package generic test.

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "packages",
                           "bg_utils")
PACKAGE_PATH = "local_packages/bg_utils"
PKG = PACKAGE_PATH + "/macros"

PKG_V1 = {
    "dbt_project.yml": project_yml("pkg"),
    "profiles.yml": profile("pkg"),
    "packages.yml": f"packages:\n  - local: {PACKAGE_PATH}\n",
    "macros/keys.sql": _d("""
        {#- the project's own key for users, made with the package's macro -#}
        {% macro user_key(column) -%}
            {{ bg_utils.generate_surrogate_key(["'user'", column]) }}
        {%- endmacro %}
        """),
    "models/staging/_sources.yml": GEN_V1["models/staging/_sources.yml"],
    # star is spelled out when dbt compiles, from the columns raw.events has then
    "models/staging/stg_events.sql": _d("""
        select {{ bg_utils.generate_surrogate_key(['id', 'user_id']) }} as event_key,
               {{ bg_utils.star(source('raw', 'events'), except=['batch']) }}
        from {{ source('raw', 'events') }}
        """),
    "models/marts/users.sql": _d("""
        select {{ user_key('id') }} as user_key, id as user_id, name
        from {{ source('raw', 'users') }}
        """),
    "models/marts/calendar.sql": _d("""
        {{ bg_utils.date_spine('day', "'2024-03-01'", "'2024-03-15'") }}
        """),
    "models/marts/daily_events.sql": _d("""
        select c.date_day, count(e.id) as events, coalesce(sum(e.amount), 0) as amount
        from {{ ref('calendar') }} as c
        left join {{ ref('stg_events') }} as e on e.updated_at::date = c.date_day
        group by c.date_day
        """),
    # merged on the surrogate key: a changed key definition leaves the old keys' rows in
    # place and adds the increment's under new keys, as dbt run does
    "models/marts/inc_events.sql": _d("""
        {{ config(materialized='incremental', incremental_strategy='merge',
                  unique_key='event_key') }}
        select event_key, user_id, amount, updated_at
        from {{ ref('stg_events') }}
        {% if is_incremental() %}
        where updated_at > (select max(updated_at) from {{ this }})
        {% endif %}
        """),
    "models/marts/_marts.yml": _d("""
        version: 2
        models:
          - name: users
            columns:
              - name: user_key
                data_tests: [unique, not_null]
          - name: daily_events
            data_tests:
              - bg_utils.expression_is_true:
                  arguments:
                    expression: "amount >= 0"
          - name: inc_events
            columns:
              - name: event_key
                data_tests: [unique]
        """),
    "models/staging/_staging.yml": _d("""
        version: 2
        models:
          - name: stg_events
            columns:
              - name: event_key
                data_tests: [unique]
              - name: amount
                data_tests:
                  - bg_utils.accepted_range:
                      arguments:
                        min_value: 0
                      config:
                        severity: warn
                  - bg_utils.accepted_range:
                      name: event_amount_below_limit
                      arguments:
                        max_value: 110
                        inclusive: false
                      config:
                        severity: warn
        """),
}
PKG_V1.update({os.path.join(PACKAGE_PATH, path): text
               for path, text in read_tree(PACKAGE_DIR).items()})


def pkg_v2():
    f = dict(PKG_V1)
    # the package's surrogate key: every key it makes changes
    replace(f, f"{PKG}/generate_surrogate_key.sql", """fields.append("'-'")""",
            """fields.append("'|'")""")
    # a package test's arguments: another test, which warns
    replace(f, "models/staging/_staging.yml", "min_value: 0", "min_value: 10")
    # the project overrides the package's date spine, end date included
    f["dbt_project.yml"] += _d("""

        dispatch:
          - macro_namespace: bg_utils
            search_order: [pkg, bg_utils]
        """)
    f["macros/date_spine.sql"] = _d("""
        {% macro default__date_spine(datepart, start_date, end_date) -%}
        select cast(d as date) as date_{{ datepart }}
        from generate_series(cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp),
                             interval '1 {{ datepart }}') as d
        {%- endmacro %}
        """)
    return f


def pkg_v3():
    f = pkg_v2()
    # the project's wrapper of a package macro, a model's call to one, a package test
    replace(f, "macros/keys.sql", """["'user'", column]""", """["'u'", column, "'v3'"]""")
    replace(f, "models/staging/stg_events.sql", "generate_surrogate_key(['id', 'user_id'])",
            "generate_surrogate_key(['id'])")
    replace(f, f"{PKG}/generic_tests/accepted_range.sql",
            "{{ '<=' if inclusive else '<' }} {{ max_value }}",
            "{{ '<=' if inclusive else '<' }} {{ max_value }} - 20")  # 90: it warns
    return f


PACKAGES = dict(
    name="packages",
    doc="a project that uses a package (bg_utils, local: in packages.yml, dbt deps): the "
        "package's surrogate key changed, a package test's arguments, the project "
        "overriding a package macro; then the project's wrapper of a package macro, a "
        "model's call to one, a package generic test",
    versions={"v1": PKG_V1, "v2": pkg_v2(), "v3": pkg_v3()},
    raw=EVENTS_RAW,
    stages=[dict(version="v2", kind="deploy", promote=True,
                 between=events_batch(2, 301, 360, 291, 300)),
            dict(version="v3", kind="deploy", promote=True,
                 between=events_batch(3, 361, 420, 351, 360))],
    must=[dict(ran=_m("stg_events", "users", "calendar", "daily_events", "inc_events",
                      project="pkg"),
               tests={"test.pkg.bg_utils_accepted_range_stg_events_amount__10.": "warn"}),
          dict(ran=_m("stg_events", "users", "daily_events", "inc_events", project="pkg"),
               not_ran=_m("calendar", project="pkg"),
               tests={"test.pkg.event_amount_below_limit.": "warn"})],
)


# ---------------------------------------------------------------------------------------
# "unit_tests": dbt unit tests, run by dbt test and by bg.deploy before the models they
# test. Inputs as dict and csv rows, a source, format sql, a column left out of a row
# (a typed NULL), a string longer than its varchar; expected rows naming some columns,
# as sql, and none. v2 changes two models and their tests (every unit test passes, one
# of them reads an input the deployment rebuilds); v3 changes a model's logic and not
# its test, which fails in both.

UNIT_RAW = _d("""
    SET client_min_messages = warning;
    DROP SCHEMA IF EXISTS raw CASCADE;
    CREATE SCHEMA raw;
    CREATE TABLE raw.customers (id integer PRIMARY KEY, name varchar(12) NOT NULL);
    INSERT INTO raw.customers
    SELECT i, (ARRAY['ada', 'grace', 'alan', 'edsger'])[1 + i % 4] || i
      FROM generate_series(1, 12) AS i;
    CREATE TABLE raw.orders (
        id integer PRIMARY KEY,
        customer integer NOT NULL,
        amount numeric(10,2) NOT NULL,
        status text,
        ordered_at date NOT NULL
    );
    INSERT INTO raw.orders
    SELECT i, 1 + (i * 5) % 12, ((i * 37) % 300) / 2.0,
           (ARRAY['paid', 'open', 'refunded', NULL])[1 + i % 4], date '2024-01-01' + i
      FROM generate_series(1, 80) AS i;
    """)

UNIT_V1 = {
    "dbt_project.yml": project_yml("ut"),
    "profiles.yml": profile("ut"),
    "models/staging/_sources.yml": _d("""
        version: 2
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
              - name: customers
        """),
    "models/staging/stg_orders.sql": _d("""
        select id as order_id, customer as customer_id, amount, status, ordered_at
        from {{ source('raw', 'orders') }}
        """),
    "models/staging/stg_customers.sql": _d("""
        select id as customer_id, name from {{ source('raw', 'customers') }}
        """),
    "models/marts/customer_totals.sql": _d("""
        select c.customer_id, upper(c.name) as customer_name, count(o.order_id) as orders,
               coalesce(sum(o.amount) filter (where o.status = 'paid'), 0) as paid_amount
        from {{ ref('stg_customers') }} c
        left join {{ ref('stg_orders') }} o using (customer_id)
        group by 1, 2
        """),
    "models/marts/order_flags.sql": _d("""
        select order_id, amount > 100 as big, status is not null as has_status
        from {{ ref('stg_orders') }}
        """),
    "models/marts/_unit_tests.yml": _d("""
        unit_tests:
          - name: sums_paid_orders
            model: customer_totals
            given:
              - input: ref('stg_customers')
                format: csv
                rows: |
                  customer_id,name
                  1,ada
                  2,a name longer than twelve
                  3,
              - input: ref('stg_orders')
                rows:
                  - {order_id: 10, customer_id: 1, amount: 5.50, status: paid}
                  - {order_id: 11, customer_id: 1, amount: 7, status: open}
                  - {order_id: 12, customer_id: 2, amount: 1.25, status: paid}
                  - {order_id: 13, customer_id: 2}
            expect:
              rows:
                - {customer_id: 1, customer_name: ADA, orders: 2, paid_amount: "5.50"}
                - {customer_id: 2, customer_name: A NAME LONGER THAN TWELVE, orders: 2, paid_amount: 1.25}
                - {customer_id: 3, customer_name: null, orders: 0, paid_amount: 0}
          - name: no_orders_no_rows
            model: order_flags
            given:
              - input: ref('stg_orders')
                rows: []
            expect:
              rows: []
          - name: flags_big
            model: order_flags
            given:
              - input: ref('stg_orders')
                format: sql
                rows: |
                  select 1 as order_id, 1 as customer_id, 150.00::numeric(10,2) as amount,
                         'paid'::text as status, date '2024-02-01' as ordered_at
                  union all
                  select 2, 1, 20.00, null, date '2024-02-02'
            expect:
              format: sql
              rows: |
                select 1 as order_id, true as big, true as has_status
                union all select 2, false, false
          - name: renames_columns
            model: stg_orders
            given:
              - input: source('raw', 'orders')
                rows:
                  - {id: 1, customer: 4, amount: 2.5, status: paid, ordered_at: "2024-03-01"}
            expect:
              rows:
                - {order_id: 1, customer_id: 4, status: paid}
        """),
}


def unit_v2():
    f = dict(UNIT_V1)
    # stg_orders gains a column and changes status; customer_totals averages; both tests
    # follow, and customer_totals's reads the rebuilt stg_orders's new column
    replace(f, "models/staging/stg_orders.sql", "amount, status, ordered_at",
            "amount, coalesce(status, 'unknown') as status, ordered_at, amount * 0 as discount")
    replace(f, "models/marts/customer_totals.sql", "as paid_amount\n",
            "as paid_amount,\n       round(avg(o.amount - o.discount), 2) as average\n")
    for old, new in [
            ("amount: 5.50, status: paid}", "amount: 5.50, status: paid, discount: 0}"),
            ("amount: 7, status: open}", "amount: 7, status: open, discount: 0}"),
            ("amount: 1.25, status: paid}", "amount: 1.25, status: paid, discount: 0}"),
            ("{order_id: 13, customer_id: 2}", "{order_id: 13, customer_id: 2, discount: 1}"),
            ('orders: 2, paid_amount: "5.50"}', 'orders: 2, paid_amount: "5.50", average: 6.25}'),
            ("orders: 2, paid_amount: 1.25}", "orders: 2, paid_amount: 1.25, average: 1.25}"),
            ("orders: 0, paid_amount: 0}", "orders: 0, paid_amount: 0, average: null}")]:
        replace(f, "models/marts/_unit_tests.yml", old, new)
    f["models/staging/_unit_tests.yml"] = _d("""
        unit_tests:
          - name: unknown_status
            model: stg_orders
            given:
              - input: source('raw', 'orders')
                rows:
                  - {id: 2, customer: 1, amount: 1, ordered_at: "2024-03-02"}
            expect:
              rows:
                - {order_id: 2, status: unknown, discount: "0.00"}
        """)
    return f


def unit_v3():
    f = unit_v2()
    # the logic changes, its test does not: dbt's unit test fails, and so does bluegreen's
    replace(f, "models/marts/order_flags.sql", "amount > 100 as big", "amount > 200 as big")
    return f


UNIT_TESTS = dict(
    name="unit_tests",
    doc="dbt unit tests: dict, csv and sql fixtures, a source input, an input rebuilt in the "
        "same deployment; passing and promoted, then one failing",
    versions={"v1": UNIT_V1, "v2": unit_v2(), "v3": unit_v3()},
    raw=UNIT_RAW,
    stages=[dict(version="v2", kind="deploy", promote=True),
            dict(version="v3", kind="deploy")],
    must=[dict(ran=_m("stg_orders", "customer_totals", "order_flags", project="ut"),
               not_ran=_m("stg_customers", project="ut"),
               tests={"unit_test.ut.customer_totals.sums_paid_orders": "pass",
                      "unit_test.ut.order_flags.flags_big": "pass",
                      "unit_test.ut.order_flags.no_orders_no_rows": "pass",
                      "unit_test.ut.stg_orders.renames_columns": "pass",
                      "unit_test.ut.stg_orders.unknown_status": "pass"}),
          dict(ran=_m("order_flags", project="ut"),
               not_ran=_m("stg_orders", "customer_totals", project="ut"),
               tests={"unit_test.ut.order_flags.flags_big": "fail",
                      "unit_test.ut.order_flags.no_orders_no_rows": "pass"})],
)


def all_scenarios():
    out = [demo(), GEN, OUTCOMES, FULL_REFRESH, TWO_CYCLES, MOVES, contracts(), PACKAGES,
           UNIT_TESTS]
    for s in out:
        for st in s["stages"]:
            st.setdefault("between", "")
            st.setdefault("full_refresh", False)
            st.setdefault("promote", False)
            st.setdefault("dbt_differs", {})
    return out
