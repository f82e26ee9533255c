{#-
    Running bluegreen's procedures from dbt, and reporting what they said.

    Every call goes through bluegreen._run: one statement, its values bound as parameters
    (the manifest of a large project is tens of MB: it is never spliced into SQL text, and
    dbt's log shows the statement's first 512 characters only).

    Transactions. bluegreen's deploy commits after each step when it is called outside a
    transaction block, so its progress is visible and the record of a failure survives the
    error. dbt-postgres begins no transaction of its own in a run-operation (it sends one
    COMMIT when it opens the connection, and psycopg2 sends no BEGIN after it), so these
    calls already run outside a transaction block, as from psql. In case a transaction is
    open anyway (another adapter version, or a hook), _run commits it first: the call is
    then never atomic.

    What bluegreen said. psycopg2 keeps the NOTICEs and WARNINGs of the connection (the
    last 50); _run logs them as dbt log lines after the call, and the operations then read
    back bluegreen's record (bg.deployments, bg.deployment_steps, the plan a promote
    returns) and log that too, so a deployment of any size is reported. When bluegreen
    raises an ERROR, dbt stops the operation with it (exit code 1); what was recorded
    before the error stays in bg.deployments (see bg_status).

    What to do next. bluegreen's errors and notices end with a hint naming the next call.
    A dbt user cannot CALL a procedure or hand bluegreen a manifest file, so _run tells
    bluegreen that its caller is this package (bluegreen.interface = dbt, set for the
    connection): the hints then name this package's macros and dbt commands instead.
-#}

{#-
    run one statement; returns its rows (a list of tuples) when fetch is true. With
    log_notices false it returns [rows, notices] and leaves the logging to the caller.
-#}
{% macro _run(sql, bindings=none, fetch=false, log_notices=true) %}
    {%- if not execute -%}
        {{ return([] if log_notices else [[], []]) }}
    {%- endif -%}
    {%- do bluegreen._leave_transaction() -%}
    {%- set connection_cursor = adapter.add_query(sql, false, bindings, true) -%}
    {%- set cursor = connection_cursor[1] -%}
    {%- set rows = cursor.fetchall() if fetch else [] -%}
    {%- if not log_notices -%}
        {%- set notices = cursor.connection.notices | list -%}
        {%- do cursor.connection.notices.clear() -%}
        {{ return([rows, notices]) }}
    {%- endif -%}
    {%- do bluegreen._log_notices(cursor.connection.notices) -%}
    {{ return(rows) }}
{% endmacro %}

{#- a query whose rows the macros read: no notices expected, none logged -#}
{% macro _query(sql, bindings=none) %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set connection_cursor = adapter.add_query(sql, false, bindings, true) -%}
    {{ return(connection_cursor[1].fetchall()) }}
{% endmacro %}

{#-
    commit what the connection has open, so a procedure runs outside a transaction block;
    and say that hints are for a dbt user (set for the connection, and kept by the commit)
-#}
{% macro _leave_transaction() %}
    {%- set connection_cursor = adapter.add_query(
            "select pg_catalog.now() operator(pg_catalog.=) pg_catalog.statement_timestamp(),"
            "       pg_catalog.set_config('bluegreen.interface', 'dbt', false)",
            false, none, true) -%}
    {%- set cursor = connection_cursor[1] -%}
    {%- if not cursor.fetchall()[0][0] -%}
        {%- do adapter.add_query('commit', false, none, true) -%}
    {%- endif -%}
    {%- do cursor.connection.notices.clear() -%}
{% endmacro %}

{#-
    log NOTICEs and WARNINGs as dbt lines and forget them; "skip" holds texts not to
    repeat (the statements of a promote, logged from its plan instead)
-#}
{% macro _log_notices(notices, skip=none) %}
    {%- if notices | length >= 50 -%}
        {%- do log('bluegreen: (earlier messages were dropped by the driver; the record below is complete)', info=true) -%}
    {%- endif -%}
    {%- for notice in notices -%}
        {%- set text = notice.rstrip() -%}
        {%- if text.startswith('NOTICE:  ') -%}
            {%- set text = text[9:] -%}
        {%- endif -%}
        {%- if skip is none or text not in skip -%}
            {%- do log('bluegreen: ' ~ text.replace('\n', '\n           '), info=true) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do notices.clear() -%}
{% endmacro %}

{#- the project a macro acts on: its argument, else var('bluegreen_project'), else this dbt project's name -#}
{% macro _project(project) %}
    {%- if project is not none -%}
        {{ return(project) }}
    {%- endif -%}
    {{ return(var('bluegreen_project', project_name)) }}
{% endmacro %}

{#- log rows as an aligned table -#}
{% macro _log_table(columns, rows) %}
    {%- set widths = [] -%}
    {%- for column in columns -%}
        {%- set i = loop.index0 -%}
        {%- set width = namespace(value=column | length) -%}
        {%- for row in rows -%}
            {%- set cell = bluegreen._cell(row[i]) -%}
            {%- if cell | length > width.value -%}
                {%- set width.value = cell | length -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do widths.append(width.value) -%}
    {%- endfor -%}
    {%- set line = namespace(text='') -%}
    {%- for column in columns -%}
        {%- set line.text = line.text ~ ('  ' if not loop.first else '') ~ column.ljust(widths[loop.index0]) -%}
    {%- endfor -%}
    {%- do log('  ' ~ line.text.rstrip(), info=true) -%}
    {%- for row in rows -%}
        {%- set line.text = '' -%}
        {%- for column in columns -%}
            {%- set line.text = line.text ~ ('  ' if not loop.first else '') ~ bluegreen._cell(row[loop.index0]).ljust(widths[loop.index0]) -%}
        {%- endfor -%}
        {%- do log('  ' ~ line.text.rstrip(), info=true) -%}
    {%- endfor -%}
{% endmacro %}

{% macro _cell(value) %}
    {%- if value is none -%}
        {{ return('') }}
    {%- elif value is string -%}
        {{ return(value) }}
    {%- elif value is true or value is false -%}
        {{ return('true' if value else 'false') }}
    {%- elif value is iterable and value is not mapping -%}
        {{ return(value | join(', ')) }}
    {%- endif -%}
    {{ return(value | string) }}
{% endmacro %}
