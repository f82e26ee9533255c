"""What the deploy oracle compares of a relation, read the same way in dbt's database and
in bluegreen's: its kind, its columns (names and format_type, in order), its rows (as a
multiset of text tuples), and the config dbt-postgres applies to it (indexes, constraints,
NOT NULL columns, comments, grants).

Names that legitimately differ between the two are left out: index and constraint names
are PostgreSQL's own (the same on both sides), but a shadow relation lives in
<schema>__bg_shadow until promote, so a constraint that references a shadow relation is
read with the live schema; the relation's owner (postgres where dbt built it, bluegreen
where bluegreen did) and its owner's own privileges are not compared.
"""

import collections
import re

from psycopg2 import sql

SHADOW = re.compile(r"__bg_shadow[.]")

KINDS = {"r": "table", "v": "view", "m": "materialized view", "p": "partitioned table",
         "f": "foreign table"}


def row_key(row):
    return [(v is None, v or "") for v in row]


def snapshot(cur, schema, name):
    """Everything compared of schema.name, as JSON-able data; None when it is missing."""
    cur.execute("""
        SELECT c.oid, c.relkind, obj_description(c.oid, 'pg_class'), c.relpersistence
          FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relname = %s""", (schema, name))
    found = cur.fetchone()
    if found is None:
        return None
    oid, relkind, comment, persistence = found
    cur.execute("""
        SELECT attname, format_type(atttypid, atttypmod), attnotnull,
               col_description(attrelid, attnum)
          FROM pg_attribute
         WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped
         ORDER BY attnum""", (oid,))
    attrs = cur.fetchall()
    columns = [[a[0], a[1]] for a in attrs]

    cur.execute(sql.SQL("SELECT {} FROM {}.{}").format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(a[0])) for a in attrs)
        if attrs else sql.SQL("1"),
        sql.Identifier(schema), sql.Identifier(name)))
    rows = sorted(([v for v in r] for r in cur.fetchall()), key=row_key)

    cur.execute("SELECT pg_get_indexdef(indexrelid), indisunique FROM pg_index "
                "WHERE indrelid = %s", (oid,))
    indexes = sorted(("UNIQUE " if uniq else "") + re.sub(r"^.* USING ", "USING ", d)
                     for d, uniq in cur.fetchall())
    cur.execute("SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s", (oid,))
    constraints = sorted(t + ": " + SHADOW.sub(".", d) for t, d in cur.fetchall())
    cur.execute("""
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
               a.privilege_type
          FROM pg_class AS c, aclexplode(c.relacl) AS a
         WHERE c.oid = %s AND a.grantee <> c.relowner
           -- bluegreen's builder reads every live relation: bluegreen's own, not the model's
           AND a.grantee <> COALESCE(to_regrole('bluegreen_builder'), 0)""", (oid,))
    grants = sorted(f"{p} to {g}" for g, p in cur.fetchall())
    return dict(
        kind=KINDS.get(relkind, relkind),
        columns=columns,
        rows=rows,
        config=dict(
            unlogged=persistence == "u",
            indexes=indexes,
            constraints=constraints,
            not_null=[a[0] for a in attrs if a[2]],
            comment=comment,
            column_comments={a[0]: a[3] for a in attrs if a[3] is not None},
            grants=grants,
        ),
    )


def fmt_row(row):
    return "(" + ", ".join("NULL" if v is None else v for v in row) + ")"


def aligned_rows(got, want):
    """got's rows with their values in the order of want's columns, when both have the
    same column names in another order (the columns check reports the order)."""
    gn, wn = [c[0] for c in got["columns"]], [c[0] for c in want["columns"]]
    if gn == wn or sorted(gn) != sorted(wn):
        return got["rows"]
    pos = [gn.index(n) for n in wn]
    return [[r[i] for i in pos] for r in got["rows"]]


def diff_rows(got, want, limit=4):
    """got: bluegreen's rows, want: dbt's.  None when equal as multisets; else lines."""
    g = collections.Counter(tuple(r) for r in got)
    w = collections.Counter(tuple(r) for r in want)
    if g == w:
        return None
    only_g = sorted((g - w).elements(), key=row_key)
    only_w = sorted((w - g).elements(), key=row_key)
    lines = [f"{len(got)} rows in bluegreen's, {len(want)} in dbt's; "
             f"{len(only_g)} only in bluegreen's, {len(only_w)} only in dbt's"]
    for label, rows in (("only bluegreen", only_g), ("only dbt", only_w)):
        for r in rows[:limit]:
            lines.append(f"{label}: {fmt_row(r)}")
        if len(rows) > limit:
            lines.append(f"{label}: ... {len(rows) - limit} more")
    return lines


def diff_structure(got, want):
    """Kind and columns.  None when equal; else lines."""
    lines = []
    if got["kind"] != want["kind"]:
        lines.append(f"bluegreen built a {got['kind']}, dbt a {want['kind']}")
    if got["columns"] != want["columns"]:
        gc = [f"{n} {t}" for n, t in got["columns"]]
        wc = [f"{n} {t}" for n, t in want["columns"]]
        if sorted(gc) == sorted(wc):
            lines.append("same columns in another order")
        lines.append("bluegreen: " + ", ".join(gc))
        lines.append("dbt:       " + ", ".join(wc))
    return lines or None


def diff_config(got, want):
    lines = []
    for key in want["config"]:
        g, w = got["config"][key], want["config"][key]
        if g != w:
            lines.append(f"{key}: bluegreen {g!r}")
            lines.append(f"{' ' * len(key)}  dbt       {w!r}")
    return lines or None
