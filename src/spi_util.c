/*
 * spi_util.c
 *		One way to run SQL through SPI, and small helpers for building its inputs.
 *
 * Every statement bluegreen runs goes through bg_spi_exec, which checks the exact return
 * code expected and, when a statement fails in a way the caller did not expect, reports
 * the statement. Values always travel as parameters; identifiers are quoted by the
 * callers with quote_identifier before they become part of the SQL text.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "bluegreen.h"

void
bg_spi_exec(const char *sql, int expected, int nargs, Oid *argtypes, Datum *values,
			const char *nulls)
{
	int			rc;

	if (nargs > 0)
		rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	else
		rc = SPI_execute(sql, false, 0);
	if (rc != expected)
		elog(ERROR, "SPI returned %s where %s was expected, for: %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected), sql);
}

/* A text[] Datum of n C strings; NULL items become SQL NULLs. */
Datum
bg_text_array(char **items, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *isnull = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1];
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		isnull[i] = items[i] == NULL;
		elems[i] = isnull[i] ? (Datum) 0 : CStringGetTextDatum(items[i]);
	}
	dims[0] = n;
	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return PointerGetDatum(construct_md_array(elems, isnull, 1, dims, lbs, TEXTOID, -1,
											  false, TYPALIGN_INT));
}

/* schema.name, each part quoted as needed */
char *
bg_qualified_name(const char *schema, const char *name)
{
	return quote_qualified_identifier(schema, name);
}
