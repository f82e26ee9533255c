/*
 * state_compact.c
 *		A manifest's compact state: its nodes and macros as one value, stored in parts
 *		(bg.manifest_state) and read back in one fetch; and the list of a node's fields
 *		that it and the rows of bg.node (state_manifest.c) are both written from.
 *
 * Planning compares a new manifest with the live one, and reading some thirty columns of
 * ten thousand rows back costs more than the rest of a plan: so every manifest is also
 * kept whole, and plan and deploy read that instead of the rows.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "port/pg_crc32c.h"
#include "utils/memutils.h"

#include "manifest.h"
#include "spi.h"
#include "state_compact.h"

/* ------------------------------------------------------------------------
 * The compact state: nodes and macros as one bytea
 *
 * Strings are kept NUL-terminated inside it, so that loaded nodes point into it and
 * nothing is copied; lengths are native int32s. Compiled code is left out; each node's
 * entry digest (BgNode.entry_digest, which bg.node has no column for) follows its fields.
 *
 * The value has two sections, each with its header and checksum: what a plan compares
 * (parts 0 on), and the JSON texts only a deployment reads -- config, columns,
 * constraints, test metadata: two thirds of the bytes (parts STATE_TEXTS_PART on). A
 * plan reads the first alone; the columns of an enforced contract, which it compares,
 * are in both. The header
 * names the field list the value was written with: a value of another list (another
 * version of bluegreen), or of the other byte order, is not recognised, and the rows are
 * read instead. A CRC-32C of everything before it ends the value: a damaged byte inside
 * a digest or a name would otherwise read as a plausible node, and plan wrongly.
 * ------------------------------------------------------------------------
 */
#define STATE_MAGIC 0x42475333	/* "BGS3"; "BGS2" had no entry digests, "BGS1" no checksum */
#define STATE_TEXTS_MAGIC 0x42475354	/* "BGST": the texts section */
#define STATE_TEXTS_PART 1000000	/* the texts section's first part */

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
#define STATE_PART (256 * 1024)

typedef struct StateWriter
{
	int64		manifest_id;
	char	   *data;
	size_t		len;
	int			part;
	pg_crc32c	crc;			/* of every byte put so far */
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

	COMP_CRC32C(w->crc, bytes, n);
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
put_text_len(StateWriter *w, const char *s, Size len)
{
	char		nul = '\0';

	put_int(w, s ? (int32) len : -1);
	if (s)
	{
		put_bytes(w, s, len);
		put_bytes(w, &nul, 1);
	}
}

static void
put_text(StateWriter *w, const char *s)
{
	put_text_len(w, s, s ? strlen(s) : 0);
}

/*
 * The text of field f of node, and its length: the node's own, or where it was left in
 * the manifest's text (BgNode.doc_*), compiled code decoded (palloc'd); NULL if none.
 */
const char *
bg_node_field_text(const BgNode *node, const NodeField *f, Size *len)
{
	const char *s = *(char *const *) ((const char *) node + f->offset);
	const BgDocText *doc = f->doc_offset ?
		(const BgDocText *) ((const char *) node + f->doc_offset) : NULL;

	if (s == NULL && doc != NULL && doc->at != NULL)
	{
		if (f->code)
			s = bg_node_compiled_code(node);
		else
		{
			*len = doc->len;
			return doc->at;
		}
	}
	*len = s ? strlen(s) : 0;
	return s;
}

/* Whether field f of x is in the first section; FIELD_JSON ones are in the texts section. */
static bool
in_compared(const NodeField *f, const BgNode *x)
{
	return f->kind != FIELD_JSON ||
		(f->offset == offsetof(BgNode, columns_json) && x->contract_enforced);
}

static void
put_crc(StateWriter *w)
{
	pg_crc32c	crc = w->crc;

	FIN_CRC32C(crc);
	put_bytes(w, &crc, sizeof(crc));
	state_flush(w);
}

static void
put_array(StateWriter *w, char **items, int n)
{
	put_int(w, items ? n : -1);
	for (int i = 0; items && i < n; i++)
		put_text(w, items[i]);
}

/* Store the compact state of m, manifest_id, in bg.manifest_state. */
void
bg_state_store(BgManifest *m, int64 manifest_id)
{
	StateWriter w = {manifest_id, palloc(VARHDRSZ + STATE_PART), VARHDRSZ, 0};
	StateHeader h = {STATE_MAGIC, state_layout(), m->n_nodes, m->n_macros};

	INIT_CRC32C(w.crc);
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
					{
						Size		len = 0;
						const char *text = in_compared(f, x) ? bg_node_field_text(x, f, &len) : NULL;

						put_text_len(&w, text, len);
						break;
					}
				case FIELD_TEXT_ARRAY:
					put_array(&w, *(char ***) FIELD(x, f), *(int *) ((char *) x + f->count_offset));
					break;
				case FIELD_BOOL:
					b = *(bool *) FIELD(x, f) ? 1 : 0;
					put_bytes(&w, &b, 1);
					break;
			}
		}
		put_bytes(&w, &x->entry_digest, sizeof(x->entry_digest));
	}
	for (int i = 0; i < m->n_macros; i++)
	{
		put_text(&w, m->macros[i]->unique_id);
		put_text(&w, m->macros[i]->sql_digest);
		put_array(&w, m->macros[i]->depends_macros, m->macros[i]->n_depends_macros);
	}
	put_crc(&w);

	/* the texts section: each node's JSON texts, in the same order */
	w.part = STATE_TEXTS_PART;
	INIT_CRC32C(w.crc);
	h.magic = STATE_TEXTS_MAGIC;
	h.n_macros = 0;
	put_bytes(&w, &h, sizeof(h));
	for (int i = 0; i < m->n_nodes; i++)
		for (int k = 0; k < N_NODE_FIELDS; k++)
		{
			const NodeField *f = &node_fields[k];
			Size		len;
			const char *text;

			if (f->kind != FIELD_JSON)
				continue;
			text = bg_node_field_text(m->nodes[i], f, &len);
			put_text_len(&w, text, len);
		}
	put_crc(&w);
	pfree(w.data);
}

/*
 * Reading walks the parts in place, each detoasted once into the manifest's context,
 * where loaded strings keep pointing: no copy of the whole value. The few values that
 * straddle two parts are put together in a copy of their own.
 */
typedef struct StateReader
{
	const char *p;				/* in the current part */
	const char *end;
	int64		manifest_id;
	bytea	  **parts;			/* the rows of bg.manifest_state, in order, detoasted */
	uint64		n_parts;
	uint64		next;			/* the part after the current one */
	size_t		total;			/* the length of the whole value */
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

/* Make the next part current. */
static bool
next_part(StateReader *s)
{
	bytea	   *part;

	if (s->next >= s->n_parts)
		return false;
	part = s->parts[s->next++];
	s->p = VARDATA_ANY(part);
	s->end = s->p + VARSIZE_ANY_EXHDR(part);
	return true;
}

/* Refuse the value unless its last bytes are the CRC-32C of all the others. */
static void
state_verify(StateReader *s)
{
	pg_crc32c	crc;
	pg_crc32c	stored;
	char		trailer[sizeof(pg_crc32c)];
	size_t		body;
	size_t		seen = 0;

	if (s->total < sizeof(StateHeader) + sizeof(pg_crc32c))
		state_damaged(s);
	body = s->total - sizeof(pg_crc32c);
	INIT_CRC32C(crc);
	for (uint64 i = 0; i < s->n_parts; i++)
	{
		const char *d = VARDATA_ANY(s->parts[i]);
		size_t		len = VARSIZE_ANY_EXHDR(s->parts[i]);
		size_t		k = seen < body ? Min(len, body - seen) : 0;

		COMP_CRC32C(crc, d, k);
		for (size_t j = k; j < len; j++)
			trailer[seen + j - body] = d[j];
		seen += len;
	}
	FIN_CRC32C(crc);
	memcpy(&stored, trailer, sizeof(stored));
	if (stored != crc)
		state_damaged(s);
}

/* The next n bytes, contiguous */
static const char *
get_bytes(StateReader *s, size_t n)
{
	char	   *copy;
	size_t		have = 0;

	if ((size_t) (s->end - s->p) >= n)
	{
		s->p += n;
		return s->p - n;
	}
	if (n > s->total)
		state_damaged(s);
	copy = palloc(Max(n, 1));
	while (have < n)
	{
		size_t		k = Min(n - have, (size_t) (s->end - s->p));

		memcpy(copy + have, s->p, k);
		have += k;
		s->p += k;
		if (have < n && !next_part(s))
			state_damaged(s);
	}
	return copy;
}

static int32
get_int(StateReader *s)
{
	int32		v;

	memcpy(&v, get_bytes(s, sizeof(v)), sizeof(v));
	return v;
}

static char *
get_str(StateReader *s)
{
	int32		len = get_int(s);
	char	   *str;

	if (len < 0)
		return NULL;
	str = (char *) get_bytes(s, (size_t) len + 1);
	if (str[len] != '\0')
		state_damaged(s);
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
	if ((size_t) count > s->total)
		state_damaged(s);
	items = palloc(sizeof(char *) * Max(count, 1));
	for (int i = 0; i < count; i++)
		items[i] = get_str(s);
	*n = count;
	return items;
}

/* A reader over parts (detoasted), the first one current; false if there are none. */
static bool
reader_open(StateReader *s, int64 manifest_id, bytea **parts, uint64 n_parts)
{
	memset(s, 0, sizeof(*s));
	s->manifest_id = manifest_id;
	s->parts = parts;
	s->n_parts = n_parts;
	for (uint64 i = 0; i < n_parts; i++)
		s->total += VARSIZE_ANY_EXHDR(parts[i]);
	return next_part(s);
}

/* Whether the reader's section opens with this build's header of kind magic. */
static bool
section_header(StateReader *s, uint32 magic, StateHeader *h)
{
	memcpy(h, get_bytes(s, sizeof(*h)), sizeof(*h));
	return h->magic == magic && h->layout == state_layout();
}

/* The reader's section read to its end: only its checksum is left, and nothing after it. */
static void
section_end(StateReader *s)
{
	(void) get_bytes(s, sizeof(pg_crc32c));	/* checked by state_verify */
	if (s->p != s->end || s->next != s->n_parts)
		state_damaged(s);
}

/*
 * Fill m from its stored state, the rows (part, data) of bg.manifest_state in
 * SPI_tuptable (in m's context), with the nodes' JSON texts when texts is set; false if
 * the value is not one this build wrote (then nothing was added).
 */
static bool
state_load(BgManifest *m, int64 manifest_id, bool texts)
{
	StateReader s;
	StateReader t;
	StateHeader h;
	StateHeader th;
	bytea	  **parts = palloc(sizeof(bytea *) * Max(SPI_processed, 1));
	uint64		n_compared = 0;
	BgNode	  **loaded;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		bool		part_null;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		int32		part = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
													   SPI_tuptable->tupdesc, 1, &part_null));
		bytea	   *data;

		if (isnull || part_null)
		{
			s.manifest_id = manifest_id;
			state_damaged(&s);
		}
		/* detoasted (or copied) into the current context, where loaded strings point */
		data = DatumGetByteaPP(d);
		if ((Pointer) data == DatumGetPointer(d))
			data = (bytea *) PG_DETOAST_DATUM_COPY(d);	/* stored inline: it lives in SPI's tuple */
		parts[i] = data;
		if (part < STATE_TEXTS_PART)
			n_compared = i + 1;
	}
	if (!reader_open(&s, manifest_id, parts, n_compared))
		state_damaged(&s);
	if (!section_header(&s, STATE_MAGIC, &h))
		return false;
	state_verify(&s);
	if (texts)
	{
		if (!reader_open(&t, manifest_id, parts + n_compared, SPI_processed - n_compared) ||
			!section_header(&t, STATE_TEXTS_MAGIC, &th) || th.n_nodes != h.n_nodes)
			state_damaged(&s);
		state_verify(&t);
	}
	if (h.n_nodes < 0 || h.n_macros < 0 || (size_t) h.n_nodes > s.total)
		state_damaged(&s);
	loaded = palloc(sizeof(BgNode *) * Max(h.n_nodes, 1));
	for (int i = 0; i < h.n_nodes; i++)
	{
		/* a chunk of its own: config.c allocates in the node's context */
		BgNode	   *x = bg_manifest_new_node(m);

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
					*(bool *) FIELD(x, f) = *get_bytes(&s, 1) != 0;
					break;
			}
		}
		memcpy(&x->entry_digest, get_bytes(&s, sizeof(x->entry_digest)), sizeof(x->entry_digest));
		/* what bg.node holds NOT NULL, every stage reads without a check */
		if (x->unique_id == NULL || x->resource_type == NULL || x->package_name == NULL ||
			x->name == NULL)
			state_damaged(&s);
		loaded[i] = x;
		bg_manifest_add_node(m, x);
	}
	for (int i = 0; i < h.n_macros; i++)
	{
		BgMacro    *x = palloc0(sizeof(BgMacro));

		x->unique_id = get_str(&s);
		x->sql_digest = get_str(&s);
		x->depends_macros = get_array(&s, &x->n_depends_macros);
		if (x->unique_id == NULL || x->sql_digest == NULL)
			state_damaged(&s);
		bg_manifest_add_macro(m, x);
	}
	section_end(&s);
	if (texts)
	{
		for (int i = 0; i < h.n_nodes; i++)
			for (int k = 0; k < N_NODE_FIELDS; k++)
				if (node_fields[k].kind == FIELD_JSON)
					*(char **) FIELD(loaded[i], &node_fields[k]) = get_str(&t);
		section_end(&t);
	}
	return true;
}

/*
 * Fill m from the compact state of manifest_id (in m's context), with its nodes' JSON
 * texts (config, columns, constraints, test metadata) when texts is set; false if it
 * has none this build can read, and then nothing was added.
 */
bool
bg_state_load(BgManifest *m, int64 manifest_id, bool texts)
{
	MemoryContext old = MemoryContextSwitchTo(m->cxt);
	Datum		value = Int64GetDatum(manifest_id);
	Oid			type = INT8OID;
	bool		loaded;

	bg_spi_exec(texts ?
				"SELECT part, data FROM bg.manifest_state"
				" WHERE manifest_id OPERATOR(pg_catalog.=) $1 ORDER BY part" :
				"SELECT part, data FROM bg.manifest_state"
				" WHERE manifest_id OPERATOR(pg_catalog.=) $1"
				"   AND part OPERATOR(pg_catalog.<) " CppAsString2(STATE_TEXTS_PART)
				" ORDER BY part",
				SPI_OK_SELECT, 1, &type, &value, NULL);
	loaded = SPI_processed > 0 && state_load(m, manifest_id, texts);
	MemoryContextSwitchTo(old);
	return loaded;
}
