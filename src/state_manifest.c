/*
 * state_manifest.c
 *		A BgManifest written to and read back from bg.manifest, bg.node and bg.macro:
 *		the only code that reads or writes those tables.
 *
 * Writing goes column-wise: each batch of nodes becomes one INSERT ... SELECT FROM
 * unnest(array, array, ...), so registering ten thousand nodes is a handful of
 * statements, not ten thousand round trips through the executor.
 *
 * Every manifest is also kept whole as one value, its compact state (bg.manifest.state),
 * written from the same field list: planning compares a new manifest with the live one,
 * and reading some thirty columns of ten thousand rows back costs more than the rest of a
 * plan. The rows stay what SQL reads and what a deploy reads compiled code from.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "manifest.h"
#include "privilege.h"
#include "spi.h"
#include "state.h"

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

/*
 * The columns of bg.node, each with the BgNode field it holds: writing and reading both
 * go by this list, so a new field is one line here and one column in the table.
 */
typedef enum FieldKind
{
	FIELD_TEXT,
	FIELD_JSON,					/* JSON text, kept as json: verbatim, in dbt's key order */
	FIELD_TEXT_ARRAY,			/* char ** with its count */
	FIELD_BOOL
} FieldKind;

typedef struct NodeField
{
	const char *column;
	FieldKind	kind;
	size_t		offset;
	size_t		count_offset;	/* FIELD_TEXT_ARRAY: the int that counts the items */
	bool		code;			/* read only when the caller asks for compiled code */
} NodeField;

#define TEXT(c, f) {c, FIELD_TEXT, offsetof(BgNode, f), 0, false}
#define JSON(c, f) {c, FIELD_JSON, offsetof(BgNode, f), 0, false}
#define BOOL(c, f) {c, FIELD_BOOL, offsetof(BgNode, f), 0, false}
#define ARRAY(c, f, n) {c, FIELD_TEXT_ARRAY, offsetof(BgNode, f), offsetof(BgNode, n), false}

static const NodeField node_fields[] = {
	TEXT("unique_id", unique_id),
	TEXT("resource_type", resource_type),
	TEXT("package_name", package_name),
	TEXT("name", name),
	TEXT("version", version),
	BOOL("disabled", disabled),
	BOOL("listed", listed),
	BOOL("generic_test", generic_test),
	TEXT("database_name", database),
	TEXT("schema_name", schema),
	TEXT("alias", alias),
	TEXT("materialized", materialized),
	TEXT("body_digest", body_digest),
	TEXT("config_canon", config_canon),
	TEXT("relation_canon", relation_canon),
	TEXT("fqn_canon", fqn_canon),
	TEXT("ref_canon", ref_canon),
	TEXT("source_canon", source_canon),
	BOOL("persist_relation_docs", persist_relation_docs),
	BOOL("persist_column_docs", persist_column_docs),
	TEXT("description_digest", description_digest),
	TEXT("column_docs_digest", column_docs_digest),
	BOOL("contract_enforced", contract_enforced),
	TEXT("contract_checksum", contract_checksum),
	ARRAY("depends_on_nodes", depends_nodes, n_depends_nodes),
	ARRAY("depends_on_macros", depends_macros, n_depends_macros),
	JSON("config", config_json),
	JSON("columns", columns_json),
	JSON("constraints", constraints_json),
	JSON("test_metadata", test_metadata_json),
	TEXT("attached_node", attached_node),
	{"compiled_code", FIELD_TEXT, offsetof(BgNode, compiled_code), 0, true},
	TEXT("original_file_path", original_file_path),
	TEXT("description", description),
};

#define N_NODE_FIELDS lengthof(node_fields)

#define FIELD(node, f) ((char *) (node) + (f)->offset)

static char *node_insert_sql = NULL;
static char *node_select_sql = NULL;

/*
 * INSERT INTO bg.node (manifest_id, ordinal, <columns>)
 *   SELECT $1, $2 + u.ord, u.c1, u.c2::text[], u.c3::json, ...
 *     FROM ROWS FROM (unnest($3::text[]), unnest($4::bool[]), ...) WITH ORDINALITY AS u
 * and the SELECT that reads the same columns back in the same order; made once.
 */
static void
make_node_sql(void)
{
	StringInfoData ins;
	StringInfoData sel;
	StringInfoData from;
	MemoryContext old;

	if (node_insert_sql != NULL)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	initStringInfo(&ins);
	initStringInfo(&sel);
	initStringInfo(&from);
	appendStringInfoString(&ins, "INSERT INTO bg.node (manifest_id, ordinal");
	appendStringInfoString(&sel, "SELECT ");
	for (int k = 0; k < N_NODE_FIELDS; k++)
	{
		const NodeField *f = &node_fields[k];

		appendStringInfo(&ins, ", %s", f->column);
		appendStringInfo(&from, "%spg_catalog.unnest($%d::%s[])", k ? ", " : "", k + 3,
						 f->kind == FIELD_BOOL ? "bool" : "text");
		appendStringInfo(&sel, "%s%s%s%s%s", k ? ", " : "",
						 f->code ? "CASE WHEN $2 THEN " : "", f->column,
						 f->kind == FIELD_JSON ? "::text" : "", f->code ? " END" : "");
	}
	appendStringInfoString(&ins, ") SELECT $1, $2 OPERATOR(pg_catalog.+) u.ord::integer");
	for (int k = 0; k < N_NODE_FIELDS; k++)
	{
		const NodeField *f = &node_fields[k];

		appendStringInfo(&ins, ", u.c%d%s", k + 1,
						 f->kind == FIELD_JSON ? "::json" :
						 f->kind == FIELD_TEXT_ARRAY ? "::text[]" : "");
	}
	appendStringInfo(&ins, " FROM ROWS FROM (%s) WITH ORDINALITY AS u(", from.data);
	for (int k = 0; k < N_NODE_FIELDS; k++)
		appendStringInfo(&ins, "c%d, ", k + 1);
	appendStringInfoString(&ins, "ord)");
	appendStringInfoString(&sel, " FROM bg.node WHERE manifest_id OPERATOR(pg_catalog.=) $1"
						   " ORDER BY ordinal");
	node_select_sql = sel.data;
	node_insert_sql = ins.data;
	MemoryContextSwitchTo(old);
}

static void
store_nodes(BgManifest *m, int64 manifest_id, int from, int to)
{
	int			n = to - from;
	Column		col[N_NODE_FIELDS];
	Datum		values[2 + N_NODE_FIELDS];
	Oid			types[2 + N_NODE_FIELDS];
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "bluegreen store batch",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(batch);

	make_node_sql();
	for (int k = 0; k < N_NODE_FIELDS; k++)
		column_init(&col[k], node_fields[k].kind == FIELD_BOOL ? BOOLOID : TEXTOID, n);

	for (int i = 0; i < n; i++)
	{
		BgNode	   *x = m->nodes[from + i];

		for (int k = 0; k < N_NODE_FIELDS; k++)
		{
			const NodeField *f = &node_fields[k];

			switch (f->kind)
			{
				case FIELD_TEXT:
				case FIELD_JSON:
					column_text(&col[k], i, *(char **) FIELD(x, f));
					break;
				case FIELD_TEXT_ARRAY:
					column_text(&col[k], i,
								array_literal(*(char ***) FIELD(x, f),
											  *(int *) ((char *) x + f->count_offset)));
					break;
				case FIELD_BOOL:
					column_bool(&col[k], i, *(bool *) FIELD(x, f));
					break;
			}
		}
	}

	values[0] = Int64GetDatum(manifest_id);
	types[0] = INT8OID;
	values[1] = Int32GetDatum(from);
	types[1] = INT4OID;
	for (int k = 0; k < N_NODE_FIELDS; k++)
	{
		values[2 + k] = column_array(&col[k], n);
		types[2 + k] = node_fields[k].kind == FIELD_BOOL ? BOOLARRAYOID : TEXTARRAYOID;
	}
	bg_spi_exec(node_insert_sql, SPI_OK_INSERT, 2 + N_NODE_FIELDS, types, values, NULL);
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

/* ------------------------------------------------------------------------
 * The compact state: nodes and macros as one bytea
 *
 * Strings are kept NUL-terminated inside it, so that loaded nodes point into it and
 * nothing is copied; lengths are native int32s. Compiled code is left out. The header
 * names the field list the value was written with: a value of another list (another
 * version of bluegreen), or of the other byte order, is not recognised, and the rows are
 * read instead.
 * ------------------------------------------------------------------------
 */
#define STATE_MAGIC 0x42475331	/* "BGS1" */

typedef struct StateHeader
{
	uint32		magic;
	uint32		layout;
	int32		n_nodes;
	int32		n_macros;
} StateHeader;

static uint32
state_layout(void)
{
	uint32		h = 0;

	for (int k = 0; k < N_NODE_FIELDS; k++)
	{
		h = hash_combine(h, hash_bytes((const unsigned char *) node_fields[k].column,
									   strlen(node_fields[k].column)));
		h = hash_combine(h, (uint32) node_fields[k].kind | (node_fields[k].code ? 16 : 0));
	}
	return h;
}

/*
 * Written in parts of STATE_PART bytes, each stored as it fills: the whole value is never
 * in memory while it is written, nor a compressed copy of it.
 */
#define STATE_PART (1024 * 1024)

typedef struct StateWriter
{
	int64		manifest_id;
	char	   *data;
	size_t		len;
	int			part;
} StateWriter;

static void
state_flush(StateWriter *w)
{
	Datum		values[3];
	Oid			types[3] = {INT8OID, INT4OID, BYTEAOID};
	bytea	   *part = (bytea *) w->data;

	if (w->len == VARHDRSZ)
		return;
	SET_VARSIZE(part, w->len);
	values[0] = Int64GetDatum(w->manifest_id);
	values[1] = Int32GetDatum(w->part++);
	values[2] = PointerGetDatum(part);
	bg_spi_exec("INSERT INTO bg.manifest_state (manifest_id, part, data) VALUES ($1, $2, $3)",
				SPI_OK_INSERT, 3, types, values, NULL);
	w->len = VARHDRSZ;
}

static void
put_bytes(StateWriter *w, const void *bytes, size_t n)
{
	const char *b = bytes;

	while (n > 0)
	{
		size_t		room = VARHDRSZ + STATE_PART - w->len;
		size_t		k = Min(n, room);

		memcpy(w->data + w->len, b, k);
		w->len += k;
		b += k;
		n -= k;
		if (w->len == VARHDRSZ + STATE_PART)
			state_flush(w);
	}
}

static void
put_int(StateWriter *w, int32 v)
{
	put_bytes(w, &v, sizeof(v));
}

static void
put_text(StateWriter *w, const char *s)
{
	int32		len = s ? (int32) strlen(s) : -1;

	put_int(w, len);
	if (s)
		put_bytes(w, s, len + 1);
}

static void
put_array(StateWriter *w, char **items, int n)
{
	put_int(w, items ? n : -1);
	for (int i = 0; items && i < n; i++)
		put_text(w, items[i]);
}

/* Store the compact state of m, manifest_id, in bg.manifest_state. */
static void
state_store(BgManifest *m, int64 manifest_id)
{
	StateWriter w = {manifest_id, palloc(VARHDRSZ + STATE_PART), VARHDRSZ, 0};
	StateHeader h = {STATE_MAGIC, state_layout(), m->n_nodes, m->n_macros};

	put_bytes(&w, &h, sizeof(h));
	for (int i = 0; i < m->n_nodes; i++)
	{
		BgNode	   *x = m->nodes[i];

		for (int k = 0; k < N_NODE_FIELDS; k++)
		{
			const NodeField *f = &node_fields[k];
			char		b;

			if (f->code)
				continue;
			switch (f->kind)
			{
				case FIELD_TEXT:
				case FIELD_JSON:
					put_text(&w, *(char **) FIELD(x, f));
					break;
				case FIELD_TEXT_ARRAY:
					put_array(&w, *(char ***) FIELD(x, f), *(int *) ((char *) x + f->count_offset));
					break;
				case FIELD_BOOL:
					b = *(bool *) FIELD(x, f) ? 1 : 0;
					put_bytes(&w, &b, 1);
					break;
			}
		}
	}
	for (int i = 0; i < m->n_macros; i++)
	{
		put_text(&w, m->macros[i]->unique_id);
		put_text(&w, m->macros[i]->sql_digest);
		put_array(&w, m->macros[i]->depends_macros, m->macros[i]->n_depends_macros);
	}
	state_flush(&w);
	pfree(w.data);
}

typedef struct StateReader
{
	const char *p;
	const char *end;
	int64		manifest_id;
} StateReader;

static pg_attribute_noreturn() void
state_damaged(StateReader *s)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the stored state of bluegreen manifest " INT64_FORMAT " is damaged",
					s->manifest_id),
			 errhint("DELETE FROM bg.manifest_state WHERE manifest_id = " INT64_FORMAT
					 " makes bluegreen read the manifest's rows instead.", s->manifest_id)));
}

static int32
get_int(StateReader *s)
{
	int32		v;

	if (s->end - s->p < (ptrdiff_t) sizeof(v))
		state_damaged(s);
	memcpy(&v, s->p, sizeof(v));
	s->p += sizeof(v);
	return v;
}

static char *
get_str(StateReader *s)
{
	int32		len = get_int(s);
	char	   *str = (char *) s->p;

	if (len < 0)
		return NULL;
	if (s->end - s->p < (ptrdiff_t) len + 1 || str[len] != '\0')
		state_damaged(s);
	s->p += len + 1;
	return str;
}

static char **
get_array(StateReader *s, int *n)
{
	int32		count = get_int(s);
	char	  **items;

	*n = 0;
	if (count < 0)
		return NULL;
	if (count > s->end - s->p)
		state_damaged(s);
	items = palloc(sizeof(char *) * Max(count, 1));
	for (int i = 0; i < count; i++)
		items[i] = get_str(s);
	*n = count;
	return items;
}

/*
 * The stored state of manifest_id, its parts put together in m's context, and its
 * length; NULL if it has none.
 */
static char *
state_fetch(int64 manifest_id, size_t *len)
{
	Datum		value = Int64GetDatum(manifest_id);
	Oid			type = INT8OID;
	char	   *buf;
	size_t		total;
	bool		isnull;

	bg_spi_exec("SELECT data, pg_catalog.sum(pg_catalog.octet_length(data)) OVER ()::bigint"
				"  FROM bg.manifest_state WHERE manifest_id OPERATOR(pg_catalog.=) $1 ORDER BY part",
				SPI_OK_SELECT, 1, &type, &value, NULL);
	if (SPI_processed == 0)
		return NULL;
	total = (size_t) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
												 &isnull));
	buf = palloc_extended(Max(total, 1), MCXT_ALLOC_HUGE);
	*len = 0;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
		bytea	   *part = DatumGetByteaPP(d);
		size_t		n = VARSIZE_ANY_EXHDR(part);

		if (*len + n > total)
			elog(ERROR, "bluegreen manifest " INT64_FORMAT ": its state grew while read", manifest_id);
		memcpy(buf + *len, VARDATA_ANY(part), n);
		*len += n;
		if ((Pointer) part != DatumGetPointer(d))
			pfree(part);
	}
	return buf;
}

/*
 * Fill m from its stored state (buf, len bytes, in m's context); false if the value is
 * not one this build wrote (then nothing was added).
 */
static bool
state_load(BgManifest *m, char *buf, size_t len, int64 manifest_id)
{
	StateReader s;
	StateHeader h;

	s.p = buf;
	s.end = buf + len;
	s.manifest_id = manifest_id;
	if (s.end - s.p < (ptrdiff_t) sizeof(h))
		state_damaged(&s);
	memcpy(&h, s.p, sizeof(h));
	if (h.magic != STATE_MAGIC || h.layout != state_layout())
	{
		pfree(buf);
		return false;
	}
	s.p += sizeof(h);
	if (h.n_nodes < 0 || h.n_macros < 0 || h.n_nodes > s.end - s.p)
		state_damaged(&s);
	for (int i = 0; i < h.n_nodes; i++)
	{
		/* a chunk of its own: config.c allocates in the node's context */
		BgNode	   *x = palloc0(sizeof(BgNode));

		for (int k = 0; k < N_NODE_FIELDS; k++)
		{
			const NodeField *f = &node_fields[k];

			if (f->code)
				continue;
			switch (f->kind)
			{
				case FIELD_TEXT:
				case FIELD_JSON:
					*(char **) FIELD(x, f) = get_str(&s);
					break;
				case FIELD_TEXT_ARRAY:
					*(char ***) FIELD(x, f) =
						get_array(&s, (int *) ((char *) x + f->count_offset));
					break;
				case FIELD_BOOL:
					if (s.p >= s.end)
						state_damaged(&s);
					*(bool *) FIELD(x, f) = *s.p++ != 0;
					break;
			}
		}
		if (x->unique_id == NULL)
			state_damaged(&s);
		bg_manifest_add_node(m, x);
	}
	for (int i = 0; i < h.n_macros; i++)
	{
		BgMacro    *x = palloc0(sizeof(BgMacro));

		x->unique_id = get_str(&s);
		x->sql_digest = get_str(&s);
		x->depends_macros = get_array(&s, &x->n_depends_macros);
		if (x->unique_id == NULL)
			state_damaged(&s);
		bg_manifest_add_macro(m, x);
	}
	if (s.p != s.end)
		state_damaged(&s);
	return true;
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

	for (int from = 0; from < m->n_nodes; from += STORE_BATCH)
		store_nodes(m, manifest_id, from, Min(from + STORE_BATCH, m->n_nodes));
	store_macros(m, manifest_id);

	/* last, so that its parts and the rows' batches are never in memory together */
	state_store(m, manifest_id);
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
manifest_load(int64 manifest_id, bool with_code)
{
	BgManifest *m = bg_manifest_create();
	MemoryContext old;
	Datum		values[2] = {Int64GetDatum(manifest_id), BoolGetDatum(with_code)};
	Oid			types[2] = {INT8OID, BOOLOID};
	bool		loaded;

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
	if (!with_code)
	{
		char	   *state;
		size_t		len = 0;

		old = MemoryContextSwitchTo(m->cxt);
		state = state_fetch(manifest_id, &len);
		loaded = state != NULL && state_load(m, state, len, manifest_id);
		MemoryContextSwitchTo(old);
		if (loaded)
			return m;
	}

	make_node_sql();
	bg_spi_exec(node_select_sql, SPI_OK_SELECT, 2, types, values, NULL);
	old = MemoryContextSwitchTo(m->cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Row			row;
		BgNode	   *x = palloc0(sizeof(BgNode));

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

/* Manifest manifest_id as it was stored; compiled code only when asked for. */
BgManifest *
bg_manifest_load(int64 manifest_id, bool with_code)
{
	BgUserSwitch sw;
	BgManifest *m;

	bg_become_extension_owner(&sw);
	m = manifest_load(manifest_id, with_code);
	bg_restore_user(&sw);
	return m;
}
