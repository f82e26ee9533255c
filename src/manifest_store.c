/*
 * manifest_store.c
 *		A BgManifest written to and read back from bg.manifest, bg.node and bg.macro.
 *
 * Writing goes column-wise: each batch of nodes becomes one INSERT ... SELECT FROM
 * unnest(array, array, ...), so registering ten thousand nodes is a handful of
 * statements, not ten thousand round trips through the executor.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "bluegreen.h"

/* Nodes per INSERT: bounds the memory the column arrays take at once. */
#define STORE_BATCH 2000

typedef struct Column
{
	Oid			elemtype;
	Datum	   *values;
	bool	   *nulls;
} Column;

static void
column_init(Column *c, Oid elemtype, int n)
{
	c->elemtype = elemtype;
	c->values = palloc(sizeof(Datum) * Max(n, 1));
	c->nulls = palloc(sizeof(bool) * Max(n, 1));
}

static void
column_text(Column *c, int i, const char *s)
{
	c->nulls[i] = s == NULL;
	c->values[i] = s ? CStringGetTextDatum(s) : (Datum) 0;
}

static void
column_bool(Column *c, int i, bool b)
{
	c->nulls[i] = false;
	c->values[i] = BoolGetDatum(b);
}

static Datum
column_array(Column *c, int n)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (n == 0)
		return PointerGetDatum(construct_empty_array(c->elemtype));
	get_typlenbyvalalign(c->elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(c->values, c->nulls, 1, dims, lbs, c->elemtype,
											  typlen, typbyval, typalign));
}

/* text[] literal of a C string list, to travel inside a text[] of rows */
static char *
array_literal(char **items, int n)
{
	Oid			out;
	bool		isvarlena;

	getTypeOutputInfo(TEXTARRAYOID, &out, &isvarlena);
	return OidOutputFunctionCall(out, bg_text_array(items, n));
}

#define NODE_TEXT_COLUMNS 28
#define NODE_BOOL_COLUMNS 6

static const char *const node_insert_sql =
"INSERT INTO bg.node (manifest_id, ordinal, unique_id, resource_type, package_name, name, version,"
"  database_name, schema_name, alias, materialized, body_digest, config_canon, relation_canon,"
"  fqn_canon, ref_canon, source_canon, description_digest, column_docs_digest,"
"  contract_checksum, depends_on_nodes, depends_on_macros, config, columns, constraints,"
"  test_metadata, attached_node, compiled_code, original_file_path, description,"
"  disabled, generic_test, persist_relation_docs, persist_column_docs, contract_enforced, listed)"
" SELECT $1, $2 + u.ord::integer, u.c1, u.c2, u.c3, u.c4, u.c5, u.c6, u.c7, u.c8, u.c9, u.c10,"
"  u.c11, u.c12, u.c13, u.c14, u.c15, u.c16, u.c17, u.c18,"
"  u.c19::text[], u.c20::text[], u.c21::jsonb, u.c22::jsonb, u.c23::jsonb, u.c24::jsonb,"
"  u.c25, u.c26, u.c27, u.c28, u.b1, u.b2, u.b3, u.b4, u.b5, u.b6"
"  FROM ROWS FROM (pg_catalog.unnest($3::text[]), pg_catalog.unnest($4::text[]), "
"    pg_catalog.unnest($5::text[]), pg_catalog.unnest($6::text[]), "
"    pg_catalog.unnest($7::text[]), pg_catalog.unnest($8::text[]), "
"    pg_catalog.unnest($9::text[]), pg_catalog.unnest($10::text[]), "
"    pg_catalog.unnest($11::text[]), pg_catalog.unnest($12::text[]), "
"    pg_catalog.unnest($13::text[]), pg_catalog.unnest($14::text[]), "
"    pg_catalog.unnest($15::text[]), pg_catalog.unnest($16::text[]), "
"    pg_catalog.unnest($17::text[]), pg_catalog.unnest($18::text[]), "
"    pg_catalog.unnest($19::text[]), pg_catalog.unnest($20::text[]), "
"    pg_catalog.unnest($21::text[]), pg_catalog.unnest($22::text[]), "
"    pg_catalog.unnest($23::text[]), pg_catalog.unnest($24::text[]), "
"    pg_catalog.unnest($25::text[]), pg_catalog.unnest($26::text[]), "
"    pg_catalog.unnest($27::text[]), pg_catalog.unnest($28::text[]), "
"    pg_catalog.unnest($29::text[]), pg_catalog.unnest($30::text[]), "
"    pg_catalog.unnest($31::bool[]), pg_catalog.unnest($32::bool[]), "
"    pg_catalog.unnest($33::bool[]), pg_catalog.unnest($34::bool[]), "
"    pg_catalog.unnest($35::bool[]), pg_catalog.unnest($36::bool[]))"
"    WITH ORDINALITY AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15,"
"      c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, c28, b1, b2, b3, b4, b5, b6, ord)";

static void
store_nodes(BgManifest *m, int64 manifest_id, int from, int to)
{
	int			n = to - from;
	Column		t[NODE_TEXT_COLUMNS];
	Column		b[NODE_BOOL_COLUMNS];
	Datum		values[2 + NODE_TEXT_COLUMNS + NODE_BOOL_COLUMNS];
	Oid			types[2 + NODE_TEXT_COLUMNS + NODE_BOOL_COLUMNS];
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "bluegreen store batch",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(batch);

	for (int k = 0; k < NODE_TEXT_COLUMNS; k++)
		column_init(&t[k], TEXTOID, n);
	for (int k = 0; k < NODE_BOOL_COLUMNS; k++)
		column_init(&b[k], BOOLOID, n);

	for (int i = 0; i < n; i++)
	{
		BgNode	   *x = m->nodes[from + i];

		column_text(&t[0], i, x->unique_id);
		column_text(&t[1], i, x->resource_type);
		column_text(&t[2], i, x->package_name);
		column_text(&t[3], i, x->name);
		column_text(&t[4], i, x->version);
		column_text(&t[5], i, x->database);
		column_text(&t[6], i, x->schema);
		column_text(&t[7], i, x->alias);
		column_text(&t[8], i, x->materialized);
		column_text(&t[9], i, x->body_digest);
		column_text(&t[10], i, x->config_canon);
		column_text(&t[11], i, x->relation_canon);
		column_text(&t[12], i, x->fqn_canon);
		column_text(&t[13], i, x->ref_canon);
		column_text(&t[14], i, x->source_canon);
		column_text(&t[15], i, x->description_digest);
		column_text(&t[16], i, x->column_docs_digest);
		column_text(&t[17], i, x->contract_checksum);
		column_text(&t[18], i, array_literal(x->depends_nodes, x->n_depends_nodes));
		column_text(&t[19], i, array_literal(x->depends_macros, x->n_depends_macros));
		column_text(&t[20], i, x->config_json);
		column_text(&t[21], i, x->columns_json);
		column_text(&t[22], i, x->constraints_json);
		column_text(&t[23], i, x->test_metadata_json);
		column_text(&t[24], i, x->attached_node);
		column_text(&t[25], i, x->compiled_code);
		column_text(&t[26], i, x->original_file_path);
		column_text(&t[27], i, x->description);
		column_bool(&b[0], i, x->disabled);
		column_bool(&b[1], i, x->generic_test);
		column_bool(&b[2], i, x->persist_relation_docs);
		column_bool(&b[3], i, x->persist_column_docs);
		column_bool(&b[4], i, x->contract_enforced);
		column_bool(&b[5], i, x->listed);
	}

	values[0] = Int64GetDatum(manifest_id);
	types[0] = INT8OID;
	values[1] = Int32GetDatum(from);
	types[1] = INT4OID;
	for (int k = 0; k < NODE_TEXT_COLUMNS; k++)
	{
		values[2 + k] = column_array(&t[k], n);
		types[2 + k] = TEXTARRAYOID;
	}
	for (int k = 0; k < NODE_BOOL_COLUMNS; k++)
	{
		values[2 + NODE_TEXT_COLUMNS + k] = column_array(&b[k], n);
		types[2 + NODE_TEXT_COLUMNS + k] = BOOLARRAYOID;
	}
	bg_spi_exec(node_insert_sql, SPI_OK_INSERT, 2 + NODE_TEXT_COLUMNS + NODE_BOOL_COLUMNS,
				types, values, NULL);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(batch);
}

static void
store_macros(BgManifest *m, int64 manifest_id)
{
	Column		id,
				digest,
				deps;
	Datum		values[4];
	Oid			types[4] = {INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};

	column_init(&id, TEXTOID, m->n_macros);
	column_init(&digest, TEXTOID, m->n_macros);
	column_init(&deps, TEXTOID, m->n_macros);
	for (int i = 0; i < m->n_macros; i++)
	{
		BgMacro    *x = m->macros[i];

		column_text(&id, i, x->unique_id);
		column_text(&digest, i, x->sql_digest);
		column_text(&deps, i, array_literal(x->depends_macros, x->n_depends_macros));
	}
	values[0] = Int64GetDatum(manifest_id);
	values[1] = column_array(&id, m->n_macros);
	values[2] = column_array(&digest, m->n_macros);
	values[3] = column_array(&deps, m->n_macros);
	bg_spi_exec("INSERT INTO bg.macro (manifest_id, unique_id, sql_digest, depends_on_macros)"
				" SELECT $1, u.id, u.digest, u.deps::text[]"
				"   FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[]),"
				"                  pg_catalog.unnest($4::text[])) AS u(id, digest, deps)",
				SPI_OK_INSERT, 4, types, values, NULL);
}

int64
bg_manifest_store(BgManifest *m, int64 project_id)
{
	Datum		values[10];
	Oid			types[10] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	INT8OID, INT4OID, INT4OID};
	char		nulls[10];
	int64		manifest_id;
	bool		isnull;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(project_id);
	values[1] = Int32GetDatum(m->schema_version);
#define TEXT_OR_NULL(i, s) \
	do { if (s) values[i] = CStringGetTextDatum(s); else nulls[i] = 'n'; } while (0)
	TEXT_OR_NULL(2, m->dbt_version);
	TEXT_OR_NULL(3, m->project_name);
	TEXT_OR_NULL(4, m->adapter_type);
	TEXT_OR_NULL(5, m->invocation_id);
	TEXT_OR_NULL(6, m->generated_at);
#undef TEXT_OR_NULL
	values[7] = Int64GetDatum((int64) m->source_bytes);
	values[8] = Int32GetDatum(m->n_nodes);
	values[9] = Int32GetDatum(m->n_macros);
	bg_spi_exec("INSERT INTO bg.manifest (project_id, schema_version, dbt_version, project_name,"
				"  adapter_type, invocation_id, generated_at, source_bytes, node_count, macro_count)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING manifest_id",
				SPI_OK_INSERT_RETURNING, 10, types, values, nulls);
	manifest_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											  &isnull));

	for (int from = 0; from < m->n_nodes; from += STORE_BATCH)
		store_nodes(m, manifest_id, from, Min(from + STORE_BATCH, m->n_nodes));
	store_macros(m, manifest_id);
	return manifest_id;
}

/* ------------------------------------------------------------------------
 * Reading back
 *
 * Each row is deformed once (heap_deform_tuple) rather than column by column: a node row
 * has some thirty columns, and fetching them one at a time walks the tuple again for
 * every column past the first variable-width one.
 * ------------------------------------------------------------------------
 */
typedef struct Row
{
	Datum		values[40];
	bool		nulls[40];
} Row;

static void
row_deform(Row *row, HeapTuple tup, TupleDesc desc)
{
	Assert(desc->natts <= 40);
	heap_deform_tuple(tup, desc, row->values, row->nulls);
}

static char *
get_text(Row *row, int col)
{
	return row->nulls[col - 1] ? NULL : TextDatumGetCString(row->values[col - 1]);
}

static bool
get_bool(Row *row, int col)
{
	return !row->nulls[col - 1] && DatumGetBool(row->values[col - 1]);
}

static char **
get_text_array(Row *row, int col, int *n)
{
	Datum	   *elems;
	bool	   *elemnulls;
	char	  **items;

	*n = 0;
	if (row->nulls[col - 1])
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(row->values[col - 1]), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &elemnulls, n);
	items = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		items[i] = TextDatumGetCString(elems[i]);
	return items;
}

BgManifest *
bg_manifest_load(int64 manifest_id, bool with_code)
{
	BgManifest *m = bg_manifest_create();
	MemoryContext old;
	Datum		values[2] = {Int64GetDatum(manifest_id), BoolGetDatum(with_code)};
	Oid			types[2] = {INT8OID, BOOLOID};

	bg_spi_exec("SELECT schema_version, dbt_version, project_name, adapter_type, invocation_id,"
				"  generated_at, source_bytes FROM bg.manifest WHERE manifest_id OPERATOR(pg_catalog.=) $1",
				SPI_OK_SELECT, 1, types, values, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "bluegreen manifest " INT64_FORMAT " does not exist", manifest_id);
	old = MemoryContextSwitchTo(m->cxt);
	{
		Row			row;

		row_deform(&row, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
		m->schema_version = DatumGetInt32(row.values[0]);
		m->dbt_version = get_text(&row, 2);
		m->project_name = get_text(&row, 3);
		m->adapter_type = get_text(&row, 4);
		m->invocation_id = get_text(&row, 5);
		m->generated_at = get_text(&row, 6);
		m->source_bytes = (Size) DatumGetInt64(row.values[6]);
	}
	MemoryContextSwitchTo(old);

	bg_spi_exec("SELECT unique_id, resource_type, package_name, name, version, database_name,"
				"  schema_name, alias, materialized, body_digest, config_canon, relation_canon,"
				"  fqn_canon, ref_canon, source_canon, description_digest, column_docs_digest,"
				"  contract_checksum, depends_on_nodes, depends_on_macros, config::text,"
				"  columns::text, constraints::text, test_metadata::text, attached_node,"
				"  CASE WHEN $2 THEN compiled_code END, original_file_path, description,"
				"  disabled, generic_test, persist_relation_docs, persist_column_docs,"
				"  contract_enforced, listed"
				"  FROM bg.node WHERE manifest_id OPERATOR(pg_catalog.=) $1 ORDER BY ordinal",
				SPI_OK_SELECT, 2, types, values, NULL);
	old = MemoryContextSwitchTo(m->cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Row			row;
		BgNode	   *x = palloc0(sizeof(BgNode));

		row_deform(&row, SPI_tuptable->vals[r], SPI_tuptable->tupdesc);

		x->unique_id = get_text(&row, 1);
		x->resource_type = get_text(&row, 2);
		x->package_name = get_text(&row, 3);
		x->name = get_text(&row, 4);
		x->version = get_text(&row, 5);
		x->database = get_text(&row, 6);
		x->schema = get_text(&row, 7);
		x->alias = get_text(&row, 8);
		x->materialized = get_text(&row, 9);
		x->body_digest = get_text(&row, 10);
		x->config_canon = get_text(&row, 11);
		x->relation_canon = get_text(&row, 12);
		x->fqn_canon = get_text(&row, 13);
		x->ref_canon = get_text(&row, 14);
		x->source_canon = get_text(&row, 15);
		x->description_digest = get_text(&row, 16);
		x->column_docs_digest = get_text(&row, 17);
		x->contract_checksum = get_text(&row, 18);
		x->depends_nodes = get_text_array(&row, 19, &x->n_depends_nodes);
		x->depends_macros = get_text_array(&row, 20, &x->n_depends_macros);
		x->config_json = get_text(&row, 21);
		x->columns_json = get_text(&row, 22);
		x->constraints_json = get_text(&row, 23);
		x->test_metadata_json = get_text(&row, 24);
		x->attached_node = get_text(&row, 25);
		x->compiled_code = get_text(&row, 26);
		x->original_file_path = get_text(&row, 27);
		x->description = get_text(&row, 28);
		x->disabled = get_bool(&row, 29);
		x->generic_test = get_bool(&row, 30);
		x->persist_relation_docs = get_bool(&row, 31);
		x->persist_column_docs = get_bool(&row, 32);
		x->contract_enforced = get_bool(&row, 33);
		x->listed = get_bool(&row, 34);
		bg_manifest_add_node(m, x);
	}
	MemoryContextSwitchTo(old);

	bg_spi_exec("SELECT unique_id, sql_digest, depends_on_macros FROM bg.macro"
				" WHERE manifest_id OPERATOR(pg_catalog.=) $1",
				SPI_OK_SELECT, 1, types, values, NULL);
	old = MemoryContextSwitchTo(m->cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Row			row;
		BgMacro    *x = palloc0(sizeof(BgMacro));

		row_deform(&row, SPI_tuptable->vals[r], SPI_tuptable->tupdesc);

		x->unique_id = get_text(&row, 1);
		x->sql_digest = get_text(&row, 2);
		x->depends_macros = get_text_array(&row, 3, &x->n_depends_macros);
		bg_manifest_add_macro(m, x);
	}
	MemoryContextSwitchTo(old);
	return m;
}
