--
-- Bad manifests. Whatever is wrong with a manifest -- it is not JSON, not a dbt
-- manifest, has fields of the wrong type, a dependency cycle, or names that would not be
-- safe or exact as PostgreSQL identifiers -- bg.create_project and bg.plan refuse it with
-- an ERROR that has an errcode and names the node and the field, and nothing is recorded.
--
-- The manifests are built with manifest() and model() of 10_plan.sql, or written out.
--

-- refused(): run CALL bg.create_project(manifest, name) and show the error it raises as
-- "SQLSTATE: message", with its DETAIL and HINT. A manifest that is accepted makes the
-- statement fail instead (and so records nothing either).
CREATE FUNCTION refused(manifest text, name text DEFAULT NULL, with_detail boolean DEFAULT true)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
    hint text;
BEGIN
    BEGIN
        EXECUTE 'CALL bg.create_project($1, $2)' USING manifest, name;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        RETURN SQLSTATE || ': ' || SQLERRM
            || CASE WHEN with_detail AND detail <> '' THEN E'\n    DETAIL: ' || detail ELSE '' END
            || CASE WHEN hint <> '' THEN E'\n    HINT: ' || hint ELSE '' END;
    END;
    RAISE EXCEPTION 'bg.create_project accepted the manifest';
END
$$;

-- The same with the manifest as jsonb.
CREATE FUNCTION refused(manifest jsonb, name text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
    hint text;
BEGIN
    BEGIN
        EXECUTE 'CALL bg.create_project($1, $2)' USING manifest, name;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        RETURN SQLSTATE || ': ' || SQLERRM
            || CASE WHEN detail <> '' THEN E'\n    DETAIL: ' || detail ELSE '' END
            || CASE WHEN hint <> '' THEN E'\n    HINT: ' || hint ELSE '' END;
    END;
    RAISE EXCEPTION 'bg.create_project accepted the manifest';
END
$$;

-- plan_refused(): the same for SELECT * FROM bg.plan(manifest, project).
CREATE FUNCTION plan_refused(manifest text, project text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
    hint text;
BEGIN
    BEGIN
        PERFORM * FROM bg.plan(manifest, project);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        RETURN SQLSTATE || ': ' || SQLERRM
            || CASE WHEN detail <> '' THEN E'\n    DETAIL: ' || detail ELSE '' END
            || CASE WHEN hint <> '' THEN E'\n    HINT: ' || hint ELSE '' END;
    END;
    RAISE EXCEPTION 'bg.plan accepted the manifest';
END
$$;

-- intake(): a manifest of project "intake" with the given nodes, sources and macros;
-- orders(): its model "orders", well formed, or with the given change (a JSON merge
-- patch: null removes a field).
CREATE FUNCTION intake(nodes jsonb, sources jsonb DEFAULT '{}', macros jsonb DEFAULT '{}')
RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT manifest(nodes, macros, sources, project_name => 'intake')
$$;
CREATE FUNCTION orders(change jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_build_object('model.intake.orders',
    merge(model('orders', 'select 1 as order_id', project => 'intake') -> 'model.intake.orders',
          change))
$$;

-- nothing_registered(): bluegreen's tables hold what they held before the bad manifests.
CREATE TEMP TABLE registered_before AS
SELECT (SELECT count(*) FROM bg.project) AS projects,
       (SELECT count(*) FROM bg.manifest) AS manifests,
       (SELECT count(*) FROM bg.node) AS nodes,
       (SELECT count(*) FROM bg.macro) AS macros;
CREATE FUNCTION nothing_registered() RETURNS text LANGUAGE sql AS $$
SELECT CASE WHEN (SELECT count(*) FROM bg.project) = b.projects
             AND (SELECT count(*) FROM bg.manifest) = b.manifests
             AND (SELECT count(*) FROM bg.node) = b.nodes
             AND (SELECT count(*) FROM bg.macro) = b.macros
            THEN 'nothing was registered'
            ELSE 'SOMETHING WAS REGISTERED' END
  FROM registered_before AS b
$$;

-- One line per refusal.
\pset format unaligned
\pset tuples_only on

-- Unbroken, the manifest the cases below break is a good one: bg.plan reads it (a plan
-- records nothing). Its model orders is analytics.orders, which belongs to project
-- shop: a plan for another project is refused, naming the owner of the relation.
SELECT unique_id, action FROM bg.plan(intake(orders()), 'shop') ORDER BY unique_id;
SELECT unique_id, action FROM bg.plan(intake(orders()), 'crm_marketing') ORDER BY unique_id;

--
-- Not JSON, or not a manifest
--

-- An empty document (the file was empty, or the variable unset).
SELECT refused('');
SELECT refused(E' \n\t ');
-- No manifest at all.
SELECT refused(NULL);
-- The file's name instead of its contents.
SELECT refused('target/manifest.json');
-- JSON, but not an object.
SELECT refused('[]');
SELECT refused('null');
-- A document cut short: inside a node ...
SELECT refused(left(intake(orders()), strpos(intake(orders()), '"raw_code"') + 12));
-- ... and at the top level, after a comma.
SELECT refused('{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, ');
-- Something after the closing brace: text, or a second brace.
SELECT refused(intake(orders()) || ' xyz');
SELECT refused(intake(orders()) || '}');
-- What JSON does not allow inside a node: a misspelt literal, single quotes, a trailing
-- comma, a comment, a leading zero.
SELECT refused(replace(intake(orders()), '"enabled": true', '"enabled": tru'));
SELECT refused(replace(intake(orders()), '"enabled": true', '"enabled": ''yes'''));
SELECT refused(replace(intake(orders()), '"tags": []', '"tags": ["a",]'));
SELECT refused(replace(intake(orders()), '"tags": []', '"tags": /* none */ []'));
SELECT refused(replace(intake(orders()), '"tags": []', '"tags": 01'));
-- Bad JSON outside the nodes too (in "docs", which bluegreen does not keep).
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"doc.x": [1, 2,}'));
-- What bluegreen passes over without keeping (docs, a column's meta, a node's refs) is
-- held to JSON's grammar all the same, and each fault named as json-c names it: a bad
-- escape, a short \u escape, a raw control character in a string, numbers and literals
-- cut short, a missing colon or comma, an unquoted key, a document that ends inside.
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"doc.x": "a\qb"}'));
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"doc.x": "\u12"}'));
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"doc.x": "a' || chr(9) || 'b"}'));
-- Where bluegreen keeps a value, it holds it to the same grammar, although json-c would
-- take NaN, Infinity, 1. and -01 there; and in the metadata, a raw control character or
-- a single-quoted key.
SELECT refused(replace(intake(orders()), '"version": null', '"version": NaN'));
SELECT refused(replace(intake(orders()), '"version": null', '"version": 1.'));
SELECT refused(replace(intake(orders()), '"version": null', '"version": -01'));
SELECT refused(replace(intake(orders('{"fqn": ["intake", "XYZ"]}')), '"XYZ"', 'Infinity'));
SELECT refused(replace(intake(orders()), '"project_name": "intake"', '"project_name": "in' || chr(9) || 'take"'));
SELECT refused(replace(intake(orders()), '"adapter_type": "postgres"', '"env": {''a'': 1}, "adapter_type": "postgres"'));
-- A unit test listed under another key than its unique_id.
SELECT refused(jsonb_set(intake(orders())::jsonb, '{unit_tests}',
    '{"unit_test.intake.orders.t": {"unique_id": "unit_test.intake.orders.other", "depends_on": {"nodes": ["model.intake.orders"]}}}')::text);
-- ... wherever in a long string it stands (the scanner reads strings eight bytes at a time).
SELECT count(*) AS tabs_refused
  FROM generate_series(0, 17) AS i
 WHERE refused(replace(intake(orders()), '"docs": {}',
                       '"docs": {"doc.x": "' || repeat('a', i) || chr(9) || repeat('b', 20) || '"}'))
       LIKE '22P02: manifest is not valid JSON: invalid string sequence in "docs"%';
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"n": 1.}'));
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"n": -}'));
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"n": 2e+}'));
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"n": nul}'));
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"n" 1}'));
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"a": 1 "b": 2}'));
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {"a": [1 2]}'));
SELECT refused(replace(intake(orders()), '"docs": {}', '"docs": {a: 1}'));
SELECT refused(left(intake(orders()), strpos(intake(orders()), '"docs": {}') + 7) || '{"d": "unfinished');
SELECT refused(replace(intake(orders('{"columns": {"order_id": {"name": "order_id", "meta": {"x": "XYZ"}}}}')), '"XYZ"', '[1,]'));
SELECT refused(replace(intake(orders('{"refs": [{"name": "XYZ"}]}')), '"XYZ"', 'tru'));
-- Bytes that are not UTF-8 never reach bluegreen: PostgreSQL refuses them as text.
SELECT refused(convert_from('\x7bff7d'::bytea, 'UTF8'));
-- Another dbt artifact: run_results.json instead of manifest.json.
SELECT refused('{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                              "dbt_version": "1.9.4"}, "results": [], "elapsed_time": 1.5}');
SELECT nothing_registered();

--
-- Not the manifest bluegreen reads
--

-- No metadata, or metadata of the wrong type.
SELECT refused('{"nodes": {}}');
SELECT refused('{"metadata": [], "nodes": {}}');
-- No schema version, or one that is not a string.
SELECT refused('{"metadata": {"dbt_version": "1.9.4"}, "nodes": {}}');
SELECT refused('{"metadata": {"dbt_schema_version": 12}, "nodes": {}}');
-- Manifests of dbt before 1.5 (v8) or after 1.11 (v13).
SELECT refused(replace(intake(orders()), '/manifest/v12.json', '/manifest/v8.json'));
SELECT refused(replace(intake(orders()), '/manifest/v12.json', '/manifest/v13.json'));
-- A schema that is not dbt's.
SELECT refused(replace(intake(orders()), 'https://schemas.getdbt.com/dbt/manifest/v12.json',
                       'https://example.com/schema.json'));
-- No nodes, or nodes of the wrong type.
SELECT refused('{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}}');
SELECT refused(replace(intake(orders()), '"nodes": {', '"nodes": [{'));
-- Macros or sources of the wrong type.
SELECT refused(replace(intake(orders()), '"macros": {}', '"macros": []'));
SELECT refused(replace(intake(orders()), '"sources": {}', '"sources": "raw"'));
-- No project name in the manifest, and none given; or an empty one given.
SELECT refused(replace(intake(orders()), '"project_name": "intake", ', ''));
SELECT refused(intake(orders()), name => '');
-- A project of that name is registered already (10_plan.sql registered "shop").
SELECT refused(intake(orders()), name => 'shop');
-- The same node twice.
SELECT refused(replace(intake(orders()), '"nodes": {',
                       '"nodes": {"model.intake.orders": ' || (orders() ->> 'model.intake.orders') || ', '));
-- A section twice: read in turn, the first would count, where jsonb and dbt keep the last.
SELECT refused(replace(intake(orders()), '"nodes": {', '"nodes": {}, "nodes": {'));
SELECT refused(replace(intake(orders()), '"macros": {}', '"macros": {}, "macros": {}'));
SELECT plan_refused(replace(intake(orders()), '"nodes": {', '"nodes": {}, "nodes": {'), 'shop');
SELECT nothing_registered();

--
-- Nodes of the wrong shape
--

-- A node that is not an object.
SELECT refused(intake('{"model.intake.orders": "orders.sql"}'));
-- unique_id missing, not a string, or not the key the node is listed under.
SELECT refused(intake(orders('{"unique_id": null}')));
SELECT refused(intake(orders('{"unique_id": 42}')));
SELECT refused(intake(orders('{"unique_id": "model.intake.order"}')));
-- resource_type missing or unknown.
SELECT refused(intake(orders('{"resource_type": null}')));
SELECT refused(intake(orders('{"resource_type": "widget"}')));
-- A model without a schema.
SELECT refused(intake(orders('{"schema": null}')));
-- config not an object; config.materialized not a string.
SELECT refused(intake(orders('{"config": "table"}')));
SELECT refused(intake(orders('{"config": {"materialized": ["table"]}}')));
-- depends_on.nodes not an array, or an array of something else than strings.
SELECT refused(intake(orders('{"depends_on": {"nodes": "model.intake.customers"}}')));
SELECT refused(intake(orders('{"depends_on": {"nodes": [1]}}')));
SELECT refused(intake(orders('{"depends_on": {"macros": [null]}}')));
-- contract.enforced not a boolean.
SELECT refused(intake(orders('{"contract": {"enforced": "yes"}}')));
-- columns not an object, a column not an object, a column's description or data_type
-- not a string.
SELECT refused(intake(orders('{"columns": ["order_id"]}')));
SELECT refused(intake(orders('{"columns": {"order_id": "integer"}}')));
SELECT refused(intake(orders('{"columns": {"order_id": {"name": "order_id", "description": 7}}}')));
SELECT refused(intake(orders('{"columns": {"order_id": {"name": "order_id", "data_type": 4}}}')));
-- description a number; raw_code not a string.
SELECT refused(intake(orders('{"description": 42}')));
SELECT refused(intake(orders('{"raw_code": ["select 1"]}')));
-- A source without identifier; a macro without macro_sql; a disabled entry that is not
-- an array of nodes.
SELECT refused(intake(orders(), sources => source('raw', 'orders', extra => '{"identifier": null}')));
SELECT refused(intake(orders(), macros => '{"macro.intake.m": {"unique_id": "macro.intake.m"}}'));
SELECT refused(replace(intake(orders()), '"disabled": {}', '"disabled": {"model.intake.old": {}}'));
SELECT nothing_registered();

--
-- The dependency graph
--

-- A dependency on a node the manifest does not have ...
SELECT refused(intake(orders('{"depends_on": {"nodes": ["model.intake.stg_orders"]}}')));
-- ... or has only disabled.
SELECT refused(replace(intake(orders('{"depends_on": {"nodes": ["model.intake.stg_orders"]}}')),
                       '"disabled": {}',
                       '"disabled": {"model.intake.stg_orders": [' ||
                       (model('stg_orders', 'select 1', project => 'intake') ->> 'model.intake.stg_orders') || ']}'));
-- A model that depends on itself.
SELECT refused(intake(orders('{"depends_on": {"nodes": ["model.intake.orders"]}}')));
-- Two models that depend on each other, and a cycle of three.
SELECT refused(intake(model('a', 'select 1', depends_on => '{model.intake.b}', project => 'intake')
                   || model('b', 'select 1', depends_on => '{model.intake.a}', project => 'intake')));
SELECT refused(intake(model('a', 'select 1', depends_on => '{model.intake.c}', project => 'intake')
                   || model('b', 'select 1', depends_on => '{model.intake.a}', project => 'intake')
                   || model('c', 'select 1', depends_on => '{model.intake.b}', project => 'intake')));
-- Two models that would build the same relation: same schema and alias ...
SELECT refused(intake(model('orders', 'select 1', alias => 'fct_orders', project => 'intake')
                   || model('orders_v2', 'select 2', alias => 'fct_orders', project => 'intake')));
-- ... or one's alias is the other's name.
SELECT refused(intake(orders() || model('orders_v2', 'select 2', alias => 'orders', project => 'intake')));
SELECT nothing_registered();

--
-- Names that PostgreSQL would truncate, or that only an accident or an attack produces
--

-- An alias or schema of 64 bytes (PostgreSQL keeps 63), in ASCII or in two-byte letters.
SELECT refused(intake(orders(jsonb_build_object('alias', repeat('o', 64)))));
SELECT refused(intake(orders(jsonb_build_object('schema', repeat('s', 64)))));
SELECT refused(intake(orders(jsonb_build_object('alias', repeat('é', 32)))));
-- An empty alias.
SELECT refused(intake(orders('{"alias": ""}')));
-- A quote, a semicolon, an injection attempt, a backslash.
SELECT refused(intake(orders('{"alias": "order\"s"}')));
SELECT refused(intake(orders('{"alias": "orders;"}')));
SELECT refused(intake(orders('{"schema": "x\"; DROP TABLE x; --"}')));
SELECT refused(intake(orders('{"alias": "orders\\"}')));
SELECT refused(intake(orders('{"database": "db;"}')));
-- Control characters: a tab, a newline, DEL.
SELECT refused(intake(orders('{"alias": "ord\ters"}')));
SELECT refused(intake(orders('{"schema": "analytics\n"}')));
SELECT refused(intake(orders('{"alias": "orders\u007f"}')));
-- A \u0000 escape, which no PostgreSQL text can hold.
SELECT refused(replace(intake(orders('{"alias": "ordersXYZ"}')), 'XYZ', '\u0000'));
SELECT refused(replace(intake(orders('{"compiled_code": "select 1XYZ"}')), 'XYZ', '\u0000'));
-- ... also where bluegreen stores a value as the manifest has it without reading all of it
-- (a config's meta, a column's meta, a constraint, a test's metadata, and keys there).
SELECT refused(replace(intake(orders('{"config": {"meta": {"owner": "aXYZ"}}}')), 'XYZ', '\u0000'));
SELECT refused(replace(intake(orders('{"config": {"meta": {"aXYZ": 1}}}')), 'XYZ', '\u0000'));
SELECT refused(replace(intake(orders('{"columns": {"order_id": {"name": "order_id", "meta": {"k": "XYZ"}}}}')), 'XYZ', '\u0000'));
SELECT refused(replace(intake(orders('{"constraints": [{"type": "check", "expression": "XYZ"}]}')), 'XYZ', '\u0000'));
-- ... and in a key bluegreen reads, where json-c would cut the key short ("alias\u0000x"
-- would stand in for "alias"), or in a string inside a value it keeps.
SELECT refused(replace(replace(intake(orders()), '"alias": "orders"', '"alias": "orders", "aliasXYZx": "evil"'),
                       'XYZ', '\u0000'));
SELECT refused(replace(intake(orders('{"config": {"persist_docs": {"xXYZy": true}}}')), 'XYZ', '\u0000'));
SELECT refused(replace(intake(orders('{"fqn": ["intake", "oXYZ"]}')), 'XYZ', '\u0000'));
-- but not where it keeps nothing: a node's own meta is read by no one (the plan below
-- reads the manifest, then finds no such project)
SELECT plan_refused(replace(intake(orders('{"meta": {"note": "aXYZ", "tags": "x"}}')), 'XYZ', '\u0000'), 'nope');
-- A 10 MB alias: the message stays short.
SELECT refused(intake(orders(jsonb_build_object('alias', repeat('o', 10 * 1024 * 1024)))),
               with_detail => false);
SELECT nothing_registered();

--
-- Deep nesting
--

-- 200 nested arrays in a config value, and 100,000 in "docs".
SELECT refused(replace(intake(orders()), '"tags": []',
                       '"tags": ' || repeat('[', 200) || repeat(']', 200)));
SELECT refused(replace(intake(orders()), '"docs": {}',
                       '"docs": ' || repeat('[', 100000) || repeat(']', 100000)));
SELECT nothing_registered();

--
-- The jsonb overload reads the same way
--

SELECT refused('[]'::jsonb);
SELECT refused('{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v7.json"}, "nodes": {}}'::jsonb);
SELECT refused(intake(orders('{"depends_on": {"nodes": ["model.intake.orders"]}}'))::jsonb);
SELECT refused(intake(orders('{"alias": "orders;"}'))::jsonb);
SELECT nothing_registered();

--
-- bg.plan
--

-- bg.plan reads manifests as bg.create_project does.
SELECT plan_refused(NULL);
SELECT plan_refused('', 'shop');
SELECT plan_refused(intake(orders('{"schema": "x\"; DROP TABLE x; --"}')), 'shop');
-- A project that does not exist.
SELECT plan_refused(intake(orders()), 'intake');
-- Two projects exist (shop and crm_marketing, from 10_plan.sql), and none is named.
SELECT plan_refused(intake(orders()));
SELECT nothing_registered();

--
-- Names that are unusual but exact are accepted, and quoted wherever they are used
--
\pset format aligned
\pset tuples_only off

-- A project "names" with one model, and a plan that adds models with such names: 63 bytes
-- (the longest PostgreSQL keeps), upper case, spaces and dots, letters beyond ASCII. A
-- shadow schema name that would be too long keeps a prefix and gains a digest.
CALL bg.create_project(manifest(model('plain', 'select 1', project => 'names'),
                                project_name => 'names'));
SELECT unique_id, live_relation, shadow_relation
  FROM bg.plan(manifest(
         model('plain', 'select 1', project => 'names')
      || model('long_alias', 'select 1', alias => repeat('a', 63), project => 'names')
      || model('long_schema', 'select 1', schema => repeat('s', 63), project => 'names')
      || model('upper', 'select 1', alias => 'Orders', project => 'names')
      || model('spaces', 'select 1', schema => 'sales reports', alias => 'orders.v2', project => 'names')
      || model('accents', 'select 1', schema => 'ventes_été', alias => 'commandes_journalières', project => 'names')
      || model('kanji', 'select 1', schema => '販売', alias => '注文', project => 'names')
      || model('long_letters', 'select 1', schema => repeat('é', 31) || 's', alias => repeat('é', 31) || 'x', project => 'names'),
         project_name => 'names'), 'names')
 ORDER BY unique_id;

-- Column names written with escapes, as json.dumps writes any name that is not ASCII.
SELECT count(*) AS planned
  FROM bg.plan(replace(manifest(model('plain', 'select 1', project => 'names')
                             || model('cols', 'select 1', project => 'names'), project_name => 'names'),
                       '"columns": {}',
                       '"columns": {"pr\u00e9nom": {"name": "pr\u00e9nom", "description": "first"}, "a\"b": {}}'),
               'names');

-- Escapes are decoded wherever they stand in a string (read eight bytes at a time).
SELECT count(*) AS aliases, bool_and(p.live_relation = 'analytics.' || quote_ident(repeat('a', i) || 'é' || repeat('b', 9 - i % 9)))
       AS each_as_written
  FROM generate_series(0, 17) AS i,
       bg.plan(replace(manifest(model('plain', 'select 1', project => 'names')
                             || model('esc', 'select 1', alias => repeat('a', i) || 'XYZ' || repeat('b', 9 - i % 9),
                                      project => 'names'), project_name => 'names'), 'XYZ', '\u00e9'),
               'names') AS p
 WHERE p.unique_id = 'model.names.esc';

-- A lone UTF-16 surrogate escape (\ud800) is not a character: the JSON parser reads it as
-- U+FFFD, the replacement character.
SELECT unique_id, live_relation, encode(convert_to(live_relation, 'UTF8'), 'hex') AS bytes
  FROM bg.plan(replace(manifest(model('plain', 'select 1', project => 'names')
                             || model('surrogate', 'select 1', alias => 'aXYZb', project => 'names'),
                                project_name => 'names'), 'XYZ', '\ud800'), 'names')
 WHERE unique_id = 'model.names.surrogate';
