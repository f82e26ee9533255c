/*
 * contract.c
 *		Enforced model contracts: the CREATE TABLE of a contract, and the check that a
 *		model's code produces exactly the contract's columns.
 *
 * The contract's columns come in the order dbt lists them (config.c keeps that order),
 * with their column constraints; model-level constraints follow. Names are quoted;
 * data types, check expressions, foreign key targets and custom constraints are SQL
 * from the manifest, spliced as dbt splices them, and the assembled statement is parsed
 * and checked before it runs (bg_run_checked, bg_redirect_ddl).
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"

#include "build.h"
#include "config.h"
#include "privilege.h"
#include "redirect.h"
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
						 quote_identifier(col->name), col->data_type);
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
						 quote_identifier(((BgModelColumn *) lfirst(lc))->name));
	return cols.data;
}

/*
 * dbt refuses to build a contracted model whose code does not produce exactly the
 * contract's columns with the contract's types; so does bluegreen, naming each
 * difference.
 */
void
bg_check_contract(const char *what, const char *select_sql, BgNode *n)
{
	List	   *contract = contract_columns(what, n);
	char	   *probe = psprintf("SELECT * FROM (\n%s) AS bg_contract_probe LIMIT 0", select_sql);
	TupleDesc	desc;
	StringInfoData diff;
	ListCell   *lc;

	bg_pin_manifest_settings();
	bg_check_single_select(what, probe);
	bg_spi_exec(probe, SPI_OK_SELECT, 0, NULL, NULL, NULL);
	desc = SPI_tuptable->tupdesc;
	initStringInfo(&diff);
	foreach(lc, contract)
	{
		BgModelColumn *cc = lfirst(lc);
		bool		found = false;

		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			Oid			want;
			int32		want_mod;

			if (strcmp(NameStr(att->attname), cc->name) != 0)
				continue;
			found = true;
			typenameTypeIdAndMod(NULL, typeStringToTypeName(cc->data_type), &want, &want_mod);
			if (want != att->atttypid)
				appendStringInfo(&diff, "%scolumn \"%s\" is %s in the code and %s in the contract",
								 diff.len ? "; " : "", cc->name,
								 format_type_be(att->atttypid), format_type_be(want));
		}
		if (!found)
			appendStringInfo(&diff, "%scolumn \"%s\" of the contract is not in the code",
							 diff.len ? "; " : "", cc->name);
	}
	for (int i = 0; i < desc->natts; i++)
	{
		bool		found = false;

		foreach(lc, contract)
			if (strcmp(((BgModelColumn *) lfirst(lc))->name, NameStr(TupleDescAttr(desc, i)->attname)) == 0)
				found = true;
		if (!found)
			appendStringInfo(&diff, "%scolumn \"%s\" of the code is not in the contract",
							 diff.len ? "; " : "", NameStr(TupleDescAttr(desc, i)->attname));
	}
	if (diff.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: the code does not match its enforced contract", what),
				 errdetail("%s.", diff.data)));
}
