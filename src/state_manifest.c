/*
 * state_manifest.c
 *		A BgManifest written to and read back from bg.manifest, bg.node and bg.macro:
 *		the only code that reads or writes those tables.
 *
 * Nodes are written as rows formed here, a batch at a time, through a bulk-insert state
 * (as COPY writes them): registering ten thousand nodes is a handful of heap calls, not
 * ten thousand round trips through the executor.
 *
 * Every manifest is also kept whole as one value, its compact state (state_compact.c),
 * written from the same field list, which plan and deploy read back instead of the rows.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "compat.h"
#include "manifest.h"
#include "state_compact.h"
#include "privilege.h"
#include "spi.h"
#include "state.h"

/*
 * Nodes per INSERT, and the bytes of their rows: bound the memory a batch takes at once
 * (compiled code, decoded from the manifest's text as it is stored, is most of it).
 */
#define STORE_BATCH 2000
#define STORE_BATCH_BYTES (1024 * 1024)

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


static char *node_select_sql = NULL;

/* The SELECT that reads the columns of node_fields back in their order; made once. */
static void
make_node_sql(void)
{
	StringInfoData sel;
	MemoryContext old;

	if (node_select_sql != NULL)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	initStringInfo(&sel);
	appendStringInfoString(&sel, "SELECT ");
	for (int k = 0; k < N_NODE_FIELDS; k++)
	{
		const NodeField *f = &node_fields[k];

		appendStringInfo(&sel, "%s%s%s%s%s", k ? ", " : "",
						 f->code ? "CASE WHEN $2 THEN " : "", f->column,
						 f->kind == FIELD_JSON ? "::text" : "", f->code ? " END" : "");
	}
	appendStringInfoString(&sel, " FROM bg.node WHERE manifest_id OPERATOR(pg_catalog.=) $1"
						   " ORDER BY ordinal");
	node_select_sql = sel.data;
	MemoryContextSwitchTo(old);
}

/*
 * Where each column of bg.node's row type is filled from: 0 manifest_id, 1 ordinal,
 * 2 + k node_fields[k]. Found by name once per backend; every column must have a source.
 */
static int *node_row_source = NULL;
static Oid	node_row_relid = InvalidOid;	/* the table node_row_source was made for */
static Oid	node_row_type = InvalidOid;

static TupleDesc
node_row_desc(void)
{
	Oid			relid = get_relname_relid("node", get_namespace_oid("bg", false));
	TupleDesc	desc;

	if (!OidIsValid(relid))
		elog(ERROR, "bluegreen's table bg.node does not exist");
	node_row_type = get_rel_type_id(relid);
	desc = lookup_rowtype_tupdesc_copy(node_row_type, -1);
	/* made again for a table made again (the extension dropped and created) */
	if (node_row_source == NULL || relid != node_row_relid)
	{
		int		   *source = MemoryContextAlloc(TopMemoryContext, sizeof(int) * desc->natts);

		if (node_row_source)
			pfree(node_row_source);
		node_row_source = NULL;

		for (int a = 0; a < desc->natts; a++)
		{
			const char *name = NameStr(TupleDescAttr(desc, a)->attname);

			source[a] = -1;
			if (TupleDescAttr(desc, a)->attisdropped)
				continue;
			if (strcmp(name, "manifest_id") == 0)
				source[a] = 0;
			else if (strcmp(name, "ordinal") == 0)
				source[a] = 1;
			for (int k = 0; k < N_NODE_FIELDS; k++)
				if (strcmp(name, node_fields[k].column) == 0)
					source[a] = 2 + k;
			if (source[a] < 0)
				elog(ERROR, "bluegreen's node_fields has no field for column bg.node.%s", name);
		}
		node_row_source = source;
		node_row_relid = relid;
	}
	return desc;
}

/*
 * Nodes are written as COPY writes rows: with a bulk-insert state, whose own small ring of
 * buffers the table's pages pass through, rather than one shared buffer claimed for each
 * of its pages (a manifest's rows are tens of megabytes: a fifth of the default
 * shared_buffers, and of the backend's memory when it counts what it touched); several
 * rows to a heap call; each index entry made as the executor makes it. bg.node has no
 * triggers but its foreign key's, and its foreign key is the manifest row this
 * transaction has just written, which nobody else can see, let alone delete; its NOT
 * NULL columns are checked here.
 */
typedef struct NodeWriter
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bulk;
	MemoryContext cxt;			/* where the slots live */
	TupleTableSlot *slots[STORE_BATCH];
	CommandId	cid;
} NodeWriter;

static void
node_writer_open(NodeWriter *w)
{
	(void) node_row_desc();		/* the column sources, and bg.node's oid */
	memset(w, 0, sizeof(*w));
	w->rel = table_open(node_row_relid, RowExclusiveLock);
	w->estate = CreateExecutorState();
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	ExecOpenIndices(w->rri, false);
	w->bulk = GetBulkInsertState();
	w->cid = GetCurrentCommandId(true);
	w->cxt = CurrentMemoryContext;
}

static void
node_writer_close(NodeWriter *w)
{
	for (int i = 0; i < STORE_BATCH && w->slots[i]; i++)
		ExecDropSingleTupleTableSlot(w->slots[i]);
	FreeBulkInsertState(w->bulk);
	ExecCloseIndices(w->rri);
	FreeExecutorState(w->estate);
	table_close(w->rel, NoLock);
}

/*
 * Nodes from m->nodes[from] on, as rows of bg.node formed here, once (the JSON texts,
 * checked at intake, not parsed again by json's input function). Stores at most
 * STORE_BATCH nodes, or a little more than STORE_BATCH_BYTES of rows; returns the
 * position after the last node stored.
 */
static int
store_nodes(NodeWriter *w, BgManifest *m, int64 manifest_id, int from)
{
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "bluegreen store batch",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext row_cxt = AllocSetContextCreate(batch, "bluegreen store row",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(batch);
	TupleDesc	desc = RelationGetDescr(w->rel);
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	int			n = 0;
	Size		bytes = 0;

	for (; n < STORE_BATCH && from + n < m->n_nodes && bytes < STORE_BATCH_BYTES; n++)
	{
		BgNode	   *x = m->nodes[from + n];
		HeapTuple	row;

		MemoryContextSwitchTo(row_cxt);

		for (int a = 0; a < desc->natts; a++)
		{
			int			src = node_row_source[a];
			const NodeField *f = src >= 2 ? &node_fields[src - 2] : NULL;

			nulls[a] = false;
			if (src < 0)
				nulls[a] = true;
			else if (src == 0)
				values[a] = Int64GetDatum(manifest_id);
			else if (src == 1)
				values[a] = Int32GetDatum(from + n);
			else if (f->kind == FIELD_BOOL)
				values[a] = BoolGetDatum(*(bool *) FIELD(x, f));
			else if (f->kind == FIELD_TEXT_ARRAY)	/* none: an empty array */
				values[a] = bg_text_array(*(char ***) FIELD(x, f),
										  *(char ***) FIELD(x, f) ? *(int *) ((char *) x + f->count_offset) : 0);
			else
			{
				Size		len;
				const char *text = bg_node_field_text(x, f, &len);

				nulls[a] = text == NULL;
				if (text)
					values[a] = PointerGetDatum(cstring_to_text_with_len(text, (int) len));
			}
			if (nulls[a] && TupleDescAttr(desc, a)->attnotnull)
				elog(ERROR, "bluegreen's node %s has no value for bg.node.%s", x->unique_id,
					 NameStr(TupleDescAttr(desc, a)->attname));
		}
		MemoryContextSwitchTo(batch);
		row = heap_form_tuple(desc, values, nulls);
		bytes += row->t_len;
		if (w->slots[n] == NULL)
		{
			MemoryContextSwitchTo(w->cxt);
			w->slots[n] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
			MemoryContextSwitchTo(batch);
		}
		/* the slot's own, so that the heap's materializing does not copy it again */
		ExecStoreHeapTuple(row, w->slots[n], true);
		MemoryContextReset(row_cxt);
	}
	table_multi_insert(w->rel, w->slots, n, w->cid, 0, w->bulk);
	for (int i = 0; i < n; i++)
	{
		List	   *recheck = bg_insert_index_tuples(w->rri, w->slots[i], w->estate);

		Assert(recheck == NIL); /* no deferrable constraint */
		list_free(recheck);
		ExecClearTuple(w->slots[i]);
		ResetPerTupleExprContext(w->estate);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(batch);
	return from + n;
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

static int64
manifest_store(BgManifest *m, int64 project_id)
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

	{
		NodeWriter	w;

		node_writer_open(&w);
		for (int from = 0; from < m->n_nodes;)
			from = store_nodes(&w, m, manifest_id, from);
		node_writer_close(&w);
	}
	store_macros(m, manifest_id);

	/* last, so that its parts and the rows' batches are never in memory together */
	bg_state_store(m, manifest_id);
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
	Datum		values[N_NODE_FIELDS];
	bool		nulls[N_NODE_FIELDS];
} Row;

static void
row_deform(Row *row, HeapTuple tup, TupleDesc desc)
{
	Assert(desc->natts <= N_NODE_FIELDS);
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

static BgManifest *
manifest_load(int64 manifest_id, BgManifestLoad what)
{
	BgManifest *m = bg_manifest_create();
	MemoryContext old;
	bool		with_code = what == BG_LOAD_CODE;
	Datum		values[2] = {Int64GetDatum(manifest_id), BoolGetDatum(with_code)};
	Oid			types[2] = {INT8OID, BOOLOID};

	bg_spi_exec("SELECT schema_version, dbt_version, project_name, adapter_type, invocation_id,"
				"  generated_at, source_bytes"
				"  FROM bg.manifest WHERE manifest_id OPERATOR(pg_catalog.=) $1",
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

	/* the compact state when there is one and the code is not asked for; else the rows */
	if (!with_code && bg_state_load(m, manifest_id, what == BG_LOAD_TEXTS))
		return m;

	make_node_sql();
	bg_spi_exec(node_select_sql, SPI_OK_SELECT, 2, types, values, NULL);
	old = MemoryContextSwitchTo(m->cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Row			row;
		BgNode	   *x = bg_manifest_new_node(m);

		row_deform(&row, SPI_tuptable->vals[r], SPI_tuptable->tupdesc);
		for (int k = 0; k < N_NODE_FIELDS; k++)
		{
			const NodeField *f = &node_fields[k];

			switch (f->kind)
			{
				case FIELD_TEXT:
				case FIELD_JSON:
					*(char **) FIELD(x, f) = get_text(&row, k + 1);
					break;
				case FIELD_TEXT_ARRAY:
					*(char ***) FIELD(x, f) =
						get_text_array(&row, k + 1, (int *) ((char *) x + f->count_offset));
					break;
				case FIELD_BOOL:
					*(bool *) FIELD(x, f) = get_bool(&row, k + 1);
					break;
			}
		}
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

/* Store manifest m of the project; returns its manifest_id. */
int64
bg_manifest_store(BgManifest *m, int64 project_id)
{
	BgUserSwitch sw;
	int64		id;

	bg_become_extension_owner(&sw);
	id = manifest_store(m, project_id);
	bg_restore_user(&sw);
	return id;
}

/*
 * Manifest manifest_id as it was stored, as much of it as what asks for (read from the
 * rows, it has at least that).
 */
BgManifest *
bg_manifest_load(int64 manifest_id, BgManifestLoad what)
{
	BgUserSwitch sw;
	BgManifest *m;

	bg_become_extension_owner(&sw);
	m = manifest_load(manifest_id, what);
	bg_restore_user(&sw);
	return m;
}
