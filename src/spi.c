/*
 * spi.c
 *		One way to run SQL through SPI, one way to run work in a subtransaction, and
 *		small helpers for building SPI's inputs.
 *
 * Every statement bluegreen runs goes through bg_spi_exec, which checks the exact return
 * code expected and, when a statement fails in a way the caller did not expect, reports
 * the statement. Values always travel as parameters; identifiers are quoted by the
 * callers with quote_identifier before they become part of the SQL text.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "spi.h"
#include "util.h"

/*
 * Parameterized statements are bluegreen's own fixed catalog and bookkeeping queries,
 * run once per node or relation: a promote of thousands of relations runs each of them
 * thousands of times. Each is prepared once per backend and kept (SPI_keepplan); the
 * plan cache replans it by itself when the catalogs or search_path change under it.
 */
static HTAB *plan_cache = NULL;	/* SQL text -> SPIPlanPtr (BgIndexEntry) */

static SPIPlanPtr
cached_plan(const char *sql, int nargs, Oid *argtypes)
{
	BgIndexEntry *entry;

	if (plan_cache == NULL)
		plan_cache = bg_string_index("bluegreen SPI plans", TopMemoryContext, 64);
	entry = hash_search(plan_cache, &sql, HASH_FIND, NULL);
	if (entry == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed (%s) for: %s", SPI_result_code_string(SPI_result), sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed for: %s", sql);
		entry = hash_search(plan_cache, &sql, HASH_ENTER, NULL);
		entry->key = MemoryContextStrdup(TopMemoryContext, sql);
		entry->value = plan;
	}
	return (SPIPlanPtr) entry->value;
}

void
bg_spi_exec(const char *sql, int expected, int nargs, Oid *argtypes, Datum *values,
			const char *nulls)
{
	int			rc;

	if (nargs > 0)
		rc = SPI_execute_plan(cached_plan(sql, nargs, argtypes), values, nulls, false, 0);
	else
		rc = SPI_execute(sql, false, 0);
	if (rc != expected)
		elog(ERROR, "SPI returned %s where %s was expected, for: %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected), sql);
}

/*
 * Run fn(arg) in a subtransaction of its own: NULL when it ran, or its error (copied)
 * when it failed and the subtransaction was rolled back, undoing what it did.
 */
ErrorData *
bg_in_subxact(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

static void
exec_utility(void *sql)
{
	bg_spi_exec((const char *) sql, SPI_OK_UTILITY, 0, NULL, NULL, NULL);
}

/*
 * A utility statement that may fail without failing its caller (a comment on a column
 * the code does not produce, a drop that something else still needs, a VALIDATE after
 * the switch): NULL when it ran, or its error.
 */
ErrorData *
bg_spi_exec_subxact(const char *sql)
{
	return bg_in_subxact(exec_utility, (void *) sql);
}

/* An oid[] Datum of a List of Oids. */
Datum
bg_oid_array(List *oids)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(oids), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, oids)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	return PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
}

/* Run one of bluegreen's own statements (no fragment of the manifest); the rows it wrote. */
int64
bg_spi_rows(const char *sql, int expected)
{
	bg_spi_exec(sql, expected, 0, NULL, NULL, NULL);
	return (int64) SPI_processed;
}

/* The bigint one of bluegreen's own one-row queries returns (a count). */
int64
bg_spi_int8(const char *sql)
{
	bool		isnull;
	Datum		d;

	bg_spi_exec(sql, SPI_OK_SELECT, 0, NULL, NULL, NULL);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/* The first column of the last SPI result, a column of oids, as a List. */
List *
bg_spi_oids(void)
{
	List	   *oids = NIL;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			oids = lappend_oid(oids, DatumGetObjectId(d));
	}
	return oids;
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
