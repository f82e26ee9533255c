/*
 * contract.c
 *		Enforced model contracts: the CREATE TABLE of a contract, and the check that a
 *		model's code matches its contract, made as dbt-postgres makes it.
 *
 * The contract's columns come in the order dbt lists them (config.c keeps that order),
 * with their column constraints; model-level constraints follow. Column names are the
 * names dbt's SQL gives them, quoted; data types, check expressions, foreign key
 * targets and custom constraints are SQL from the manifest, spliced as dbt splices
 * them, and the assembled statement is parsed and checked before it runs
 * (bg_run_checked, bg_redirect_ddl). What the check accepts is what dbt accepts: see
 * "The check" below.
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "parser/parse_type.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "build.h"
#include "config.h"
#include "privilege.h"
#include "redirect.h"
#include "search_path.h"
#include "spi.h"

static void
append_names(StringInfo buf, List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		appendStringInfo(buf, "%s%s", lc == list_head(names) ? "" : ", ",
						 quote_identifier(lfirst(lc)));
}

/* One constraint clause; column is NULL for a model-level constraint. */
static const char *
constraint_clause(const char *what, BgConstraint *c, const char *column)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (c->name)
		appendStringInfo(&buf, "CONSTRAINT %s ", quote_identifier(c->name));
	if (strcmp(c->type, "not_null") == 0 && column)
		appendStringInfoString(&buf, "NOT NULL");
	else if (strcmp(c->type, "unique") == 0 || strcmp(c->type, "primary_key") == 0)
	{
		appendStringInfoString(&buf, strcmp(c->type, "unique") == 0 ? "UNIQUE" : "PRIMARY KEY");
		if (!column)
		{
			appendStringInfoString(&buf, " (");
			append_names(&buf, c->columns);
			appendStringInfoChar(&buf, ')');
		}
	}
	else if (strcmp(c->type, "check") == 0 && c->expression)
		appendStringInfo(&buf, "CHECK (%s)", c->expression);
	else if (strcmp(c->type, "foreign_key") == 0)
	{
		if (!column)
		{
			appendStringInfoString(&buf, "FOREIGN KEY (");
			append_names(&buf, c->columns);
			appendStringInfoString(&buf, ") ");
		}
		if (c->to)
		{
			appendStringInfo(&buf, "REFERENCES %s (", c->to);
			append_names(&buf, c->to_columns);
			appendStringInfoChar(&buf, ')');
		}
		else if (c->expression)
			appendStringInfo(&buf, "REFERENCES %s", c->expression);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: a foreign_key constraint has neither \"to\" nor \"expression\"", what)));
	}
	else if (strcmp(c->type, "custom") == 0 && c->expression)
		appendStringInfoString(&buf, c->expression);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: contract constraint of type \"%s\"%s%s is not one bluegreen can build",
						what, c->type, column ? " on column " : "", column ? column : "")));
	return buf.data;
}

/* The contract's columns: the model's documented columns, each with a data_type. */
static List *
contract_columns(const char *what, BgNode *n)
{
	BgModelConfig *c = bg_node_config(n);
	ListCell   *lc;

	foreach(lc, c->columns)
	{
		BgModelColumn *col = lfirst(lc);

		if (col->data_type == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: contract column \"%s\" has no data_type", what, col->name)));
	}
	if (c->columns == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the contract is enforced but lists no columns", what)));
	return c->columns;
}

/*
 * A contract column's data_type as dbt writes it into SQL: with contract.alias_types
 * (the default), dbt's model context translates it through the adapter's Column class
 * (Column.translate_type: TYPE_LABELS, where dbt-postgres has "STRING" for "TEXT").
 */
static const char *
contract_data_type(BgNode *n, BgModelColumn *col)
{
	if (bg_node_config(n)->contract_alias_types && pg_strcasecmp(col->data_type, "string") == 0)
		return "TEXT";
	return col->data_type;
}

/*
 * A contract column's name in SQL. dbt writes it into its statements as it is unless
 * the column has quote: true (get_empty_schema_sql, table_columns_and_constraints), so
 * PostgreSQL folds a plain name to lower case: column "Amount" is amount, as in dbt's
 * table. A name that is no identifier written as it is fails in dbt's SQL: refused.
 */
static char *
contract_name(const char *what, BgModelColumn *col)
{
	char	   *name;
	int			len;

	if (col->quote)
	{
		name = pstrdup(col->name);
		truncate_identifier(name, strlen(name), false);
		return name;
	}
	name = bg_identifier_at(col->name, &len, NULL);
	if (name == NULL || col->name[len] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s: contract column \"%s\" is not a name dbt can write into SQL unquoted",
						what, col->name),
				 errhint("Give the column quote: true, as dbt needs too.")));
	return name;
}

/*
 * The CREATE [UNLOGGED] TABLE of model n's enforced contract, as target: the contract's
 * columns, in its order, with their constraints. Foreign keys to models being rebuilt
 * are pointed at their shadow copies by the caller (bg_redirect_ddl).
 */
char *
bg_contract_table_sql(const char *what, BgNode *n, const char *target, bool unlogged)
{
	BgModelConfig *c = bg_node_config(n);
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE %sTABLE %s (", unlogged ? "UNLOGGED " : "", target);
	foreach(lc, contract_columns(what, n))
	{
		BgModelColumn *col = lfirst(lc);
		ListCell   *k;

		appendStringInfo(&buf, "%s\n  %s %s", lc == list_head(c->columns) ? "" : ",",
						 quote_identifier(contract_name(what, col)), contract_data_type(n, col));
		foreach(k, col->constraints)
			appendStringInfo(&buf, " %s", constraint_clause(what, lfirst(k), col->name));
	}
	foreach(lc, c->constraints)
	{
		BgConstraint *con = lfirst(lc);

		if (strcmp(con->type, "not_null") == 0)
		{
			/* a model-level not_null names columns: one NOT NULL each */
			ListCell   *k;

			foreach(k, con->columns)
				appendStringInfo(&buf, ",\n  CHECK (%s IS NOT NULL)", quote_identifier(lfirst(k)));
			continue;
		}
		appendStringInfo(&buf, ",\n  %s", constraint_clause(what, con, NULL));
	}
	appendStringInfoString(&buf, "\n)");
	return buf.data;
}

/* The contract's column names, quoted, in order: "a", "b". */
char *
bg_contract_column_list(const char *what, BgNode *n)
{
	StringInfoData cols;
	ListCell   *lc;

	initStringInfo(&cols);
	foreach(lc, contract_columns(what, n))
		appendStringInfo(&cols, "%s%s", cols.len ? ", " : "",
						 quote_identifier(contract_name(what, lfirst(lc))));
	return cols.data;
}

/* ------------------------------------------------------------------------
 * The check, as dbt-postgres makes it
 *
 * assert_columns_equivalent (dbt-adapters 1.24, macros/relations/column/
 * columns_spec_ddl.sql and macros/adapters/columns.sql) runs the model's code, and
 * "select cast(null as <data_type>) as <name>, ..." for the contract
 * (get_empty_schema_sql), each as "select * from (...) where false limit 0", and
 * reads the columns of both results from the driver (get_column_schema_from_query):
 * each one's name, and the name psycopg2 gives the type OID the server sends
 * (dbt-postgres's data_type_code_to_name), STRING read as TEXT (Column.TYPE_LABELS).
 * It refuses the model when the two have different numbers of columns, or a column of
 * the code has no contract column of its name, or one whose type psycopg2 names
 * otherwise. A type OID carries no length, precision or scale, the server sends a
 * domain as its base type (printtup.c), and psycopg2 has one name for several types:
 * so varchar(10) matches text, numeric(5,2) numeric, smallint integer, timetz time;
 * bigint does not match integer, nor timestamptz timestamp. A type psycopg2 does not
 * know matches itself only ("unknown type_code <oid>").
 * ------------------------------------------------------------------------
 */
typedef struct DbtTypeName
{
	Oid			type;
	const char *name;
} DbtTypeName;

/*
 * psycopg2 2.9's names for the types it knows (psycopg2.extensions.string_types in
 * dbt's process): its built-in typecasters, and the JSON and range ones it registers
 * when imported (it names the int4range, numrange and int8range casters alike "type").
 */
static const DbtTypeName dbt_type_names[] = {
	{CHAROID, "TEXT"}, {NAMEOID, "TEXT"}, {TEXTOID, "TEXT"}, {BPCHAROID, "TEXT"},
	{VARCHAROID, "TEXT"},
	{INT2OID, "INTEGER"}, {INT4OID, "INTEGER"}, {INT8OID, "LONGINTEGER"},
	{FLOAT4OID, "FLOAT"}, {FLOAT8OID, "FLOAT"}, {NUMERICOID, "DECIMAL"},
	{BOOLOID, "BOOLEAN"}, {BYTEAOID, "BINARY"}, {OIDOID, "ROWID"},
	{DATEOID, "DATE"}, {TIMEOID, "TIME"}, {TIMETZOID, "TIME"},
	{TIMESTAMPOID, "DATETIME"}, {TIMESTAMPTZOID, "DATETIMETZ"}, {INTERVALOID, "INTERVAL"},
	{UNKNOWNOID, "UNKNOWN"},
	{CHARARRAYOID, "STRINGARRAY"}, {NAMEARRAYOID, "STRINGARRAY"},
	{TEXTARRAYOID, "STRINGARRAY"}, {BPCHARARRAYOID, "STRINGARRAY"},
	{VARCHARARRAYOID, "STRINGARRAY"},
	{INT2ARRAYOID, "INTEGERARRAY"}, {INT2VECTORARRAYOID, "INTEGERARRAY"},
	{INT4ARRAYOID, "INTEGERARRAY"}, {INT8ARRAYOID, "LONGINTEGERARRAY"},
	{FLOAT4ARRAYOID, "FLOATARRAY"}, {FLOAT8ARRAYOID, "FLOATARRAY"},
	{NUMERICARRAYOID, "DECIMALARRAY"}, {BOOLARRAYOID, "BOOLEANARRAY"},
	{BYTEAARRAYOID, "BINARYARRAY"}, {OIDARRAYOID, "ROWIDARRAY"},
	{OIDVECTORARRAYOID, "ROWIDARRAY"}, {DATEARRAYOID, "DATEARRAY"},
	{TIMEARRAYOID, "TIMEARRAY"}, {TIMETZARRAYOID, "TIMEARRAY"},
	{TIMESTAMPARRAYOID, "DATETIMEARRAY"}, {TIMESTAMPTZARRAYOID, "DATETIMETZARRAY"},
	{INTERVALARRAYOID, "INTERVALARRAY"}, {CIDRARRAYOID, "CIDRARRAY"},
	{INETARRAYOID, "INETARRAY"}, {MACADDRARRAYOID, "MACADDRARRAY"},
	{JSONOID, "JSON"}, {JSONBOID, "JSONB"}, {JSONARRAYOID, "JSONARRAY"},
	{JSONBARRAYOID, "JSONBARRAY"},
	{INT4RANGEOID, "type"}, {NUMRANGEOID, "type"}, {INT8RANGEOID, "type"},
	{INT4RANGEARRAYOID, "typeARRAY"}, {NUMRANGEARRAYOID, "typeARRAY"},
	{INT8RANGEARRAYOID, "typeARRAY"},
	{TSRANGEOID, "tsrange"}, {TSTZRANGEOID, "tstzrange"}, {DATERANGEOID, "daterange"},
	{TSRANGEARRAYOID, "tsrangeARRAY"}, {TSTZRANGEARRAYOID, "tstzrangeARRAY"},
	{DATERANGEARRAYOID, "daterangeARRAY"},
};

/* What dbt-postgres calls type t: psycopg2's name, or NULL for a type it does not know. */
static const char *
dbt_type_name(Oid t)
{
	t = getBaseType(t);
	for (int i = 0; i < lengthof(dbt_type_names); i++)
		if (dbt_type_names[i].type == t)
			return dbt_type_names[i].name;
	return NULL;
}

/* Whether dbt-postgres takes types a and b for the same. */
static bool
dbt_same_type(Oid a, Oid b)
{
	const char *na = dbt_type_name(a);
	const char *nb = dbt_type_name(b);

	if (na == NULL && nb == NULL)
		return getBaseType(a) == getBaseType(b);
	return na != NULL && nb != NULL && strcmp(na, nb) == 0;
}

/* A contract column as the check reads it: its name in SQL and its type. */
typedef struct ContractColumn
{
	char	   *name;
	Oid			type;
	int32		typmod;
} ContractColumn;

/* The contract's data_type of col, resolved as CREATE TABLE and dbt's cast resolve it. */
static void
contract_type(const char *what, BgNode *n, BgModelColumn *col, ContractColumn *cc)
{
	TypeName   *tn = typeStringToTypeName(contract_data_type(n, col));
	Type		found = LookupTypeName(NULL, tn, NULL, false);

	if (found == NULL)
	{
		char	   *hint = list_length(tn->names) == 1 ?
			bg_search_path_hint(BG_PATH_TYPE, strVal(linitial(tn->names))) : NULL;

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s: contract column \"%s\" has data_type \"%s\": type \"%s\" does not exist",
						what, col->name, col->data_type, TypeNameToString(tn)),
				 hint ? errhint("%s", hint) : 0));
	}
	ReleaseSysCache(found);
	typenameTypeIdAndMod(NULL, tn, &cc->type, &cc->typmod);
}

static int
line_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/*
 * dbt refuses to build a contracted model whose code does not match its contract;
 * so does bluegreen, by the same rule (above), naming each difference as dbt's table
 * of mismatches lists them, by column name.
 */
void
bg_check_contract(const char *what, const char *select_sql, BgNode *n)
{
	List	   *columns = contract_columns(what, n);
	int			ncontract = list_length(columns);
	ContractColumn *contract = palloc(sizeof(ContractColumn) * ncontract);
	char	   *probe = psprintf("SELECT * FROM (\n%s) AS bg_contract_probe LIMIT 0", select_sql);
	TupleDesc	desc;
	bool		refused;
	bool		retyped = false;
	List	   *lines = NIL;
	StringInfoData detail;
	ListCell   *lc;

	bg_pin_manifest_settings();
	foreach(lc, columns)
	{
		ContractColumn *cc = &contract[foreach_current_index(lc)];

		cc->name = contract_name(what, lfirst(lc));
		contract_type(what, n, lfirst(lc), cc);
	}
	bg_check_single_select(what, probe,
						   "the query bluegreen builds from its code and its contract's columns");
	bg_spi_exec(probe, SPI_OK_SELECT, 0, NULL, NULL, NULL);
	desc = SPI_tuptable->tupdesc;

	refused = desc->natts != ncontract;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		ContractColumn *match = NULL;

		for (int k = 0; k < ncontract && match == NULL; k++)
			if (strcmp(contract[k].name, NameStr(att->attname)) == 0)
				match = &contract[k];
		if (match == NULL)
		{
			refused = true;
			lines = lappend(lines, psprintf("column \"%s\" of the code is not in the contract",
											NameStr(att->attname)));
		}
		else if (!dbt_same_type(att->atttypid, match->type))
		{
			refused = retyped = true;
			lines = lappend(lines, psprintf("column \"%s\" is %s in the code and %s in the contract",
											NameStr(att->attname),
											format_type_with_typemod(att->atttypid, att->atttypmod),
											format_type_with_typemod(match->type, match->typmod)));
		}
	}
	if (!refused)
		return;
	for (int k = 0; k < ncontract; k++)
	{
		bool		in_code = false;

		for (int i = 0; i < desc->natts; i++)
			in_code |= strcmp(contract[k].name, NameStr(TupleDescAttr(desc, i)->attname)) == 0;
		if (!in_code)
			lines = lappend(lines, psprintf("column \"%s\" of the contract is not in the code",
											contract[k].name));
	}
	/* "column "x" ...": sorted by the column's name, as dbt sorts them */
	list_sort(lines, line_cmp);
	initStringInfo(&detail);
	foreach(lc, lines)
		appendStringInfo(&detail, "%s%s", detail.len ? "; " : "", (char *) lfirst(lc));
	if (lines == NIL)
		appendStringInfo(&detail, "the code has %d columns and the contract %d",
						 desc->natts, ncontract);
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("%s: the code does not match its enforced contract", what),
			 errdetail("%s.", detail.data),
			 !retyped ? 0 :
			 errhint("Types are compared as dbt-postgres compares them, by kind, without length, "
					 "precision or scale: text and varchar alike, smallint and integer alike, "
					 "but not integer and bigint, nor timestamp and timestamptz.")));
}
