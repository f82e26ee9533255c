-- test/upgrade: everything CREATE EXTENSION bluegreen makes, one line per object and
-- property, sorted. A database brought to this version by ALTER EXTENSION UPDATE must
-- describe exactly as one where this version was installed fresh.
WITH member AS (
    SELECT d.classid, d.objid
      FROM pg_depend AS d JOIN pg_extension AS e ON e.oid = d.refobjid
     WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'bluegreen'
       AND d.deptype = 'e'),
rel AS (
    SELECT c.* FROM pg_class AS c JOIN member AS m
        ON m.classid = 'pg_class'::regclass AND m.objid = c.oid)
SELECT regexp_replace(line, '\s+', ' ', 'g') FROM (
    SELECT 'extension ' || extversion || ' relocatable ' || extrelocatable AS line
      FROM pg_extension WHERE extname = 'bluegreen'
    UNION ALL
    SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM member
    UNION ALL  -- routines: the whole definition, who may run them, the comment
    SELECT CASE WHEN p.prokind = 'a'
                THEN format('aggregate %s(%s) transition %s state %s final %s combine %s initial %s',
                            p.oid::regproc, pg_get_function_arguments(p.oid), a.aggtransfn,
                            a.aggtranstype::regtype, a.aggfinalfn, a.aggcombinefn, a.agginitval)
                ELSE pg_get_functiondef(p.oid) END
           || ' acl ' || coalesce(p.proacl::text, '-')
           || ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
      FROM pg_proc AS p JOIN member AS m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
      LEFT JOIN pg_aggregate AS a ON a.aggfnoid = p.oid
    UNION ALL  -- relations
    SELECT format('relation %s kind %s persistence %s owner %s acl %s options %s comment %s',
                  oid::regclass, relkind, relpersistence, relowner::regrole, relacl, reloptions,
                  obj_description(oid, 'pg_class'))
      FROM rel
    UNION ALL  -- columns, and their order
    SELECT format('column %s.%s %s not null %s default %s identity %s generated %s storage %s compression %s acl %s comment %s',
                  rel.oid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated, a.attstorage,
                  a.attcompression, a.attacl, col_description(rel.oid, a.attnum))
      FROM rel JOIN pg_attribute AS a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef AS ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    UNION ALL
    SELECT format('columns of %s: %s', rel.oid::regclass, string_agg(a.attname, ', ' ORDER BY a.attnum))
      FROM rel JOIN pg_attribute AS a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
     GROUP BY rel.oid
    UNION ALL
    SELECT format('view %s: %s', oid::regclass, pg_get_viewdef(oid)) FROM rel WHERE relkind IN ('v', 'm')
    UNION ALL
    SELECT format('constraint %s on %s: %s', co.conname, co.conrelid::regclass, pg_get_constraintdef(co.oid))
      FROM pg_constraint AS co JOIN rel ON rel.oid = co.conrelid
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index AS i JOIN rel ON rel.oid = i.indrelid
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid)
      FROM pg_trigger AS t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('sequence %s %s increment %s min %s max %s cycle %s', s.seqrelid::regclass,
                  s.seqtypid::regtype, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle)
      FROM pg_sequence AS s JOIN rel ON rel.oid = s.seqrelid
    UNION ALL
    SELECT format('event trigger %s on %s runs %s tags %s enabled %s', evtname, evtevent,
                  evtfoid::regproc, evttags, evtenabled)
      FROM pg_event_trigger AS t JOIN member AS m
        ON m.classid = 'pg_event_trigger'::regclass AND m.objid = t.oid
    UNION ALL
    SELECT format('schema %s owner %s acl %s comment %s', nspname, nspowner::regrole, nspacl,
                  obj_description(oid, 'pg_namespace'))
      FROM pg_namespace WHERE nspname = 'bg'
    UNION ALL  -- what pg_dump dumps of bluegreen's tables and sequences
    SELECT format('dumped %s where %s', cfg::regclass, cond)
      FROM pg_extension, unnest(extconfig, extcondition) AS u(cfg, cond)
     WHERE extname = 'bluegreen'
    UNION ALL  -- the roles, and who is a member of whom among them
    SELECT format('role %s super %s login %s createdb %s createrole %s replication %s bypassrls %s inherit %s',
                  rolname, rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication,
                  rolbypassrls, rolinherit)
      FROM pg_roles WHERE rolname LIKE 'bluegreen%'
    UNION ALL
    SELECT format('%s is a member of %s', member::regrole, roleid::regrole)
      FROM pg_auth_members
     WHERE roleid::regrole::text LIKE 'bluegreen%' AND member::regrole::text LIKE 'bluegreen%'
) AS described
ORDER BY 1;
