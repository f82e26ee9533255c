/*
 * manifest.c
 *		The compact state of a manifest (BgManifest): its nodes and macros, found by
 *		unique_id, the checks on the whole graph, the few facts about a node every stage
 *		asks the same way, and the manifest argument of a SQL call.
 *
 * Intake (intake.c) fills a BgManifest from manifest.json; state_manifest.c fills one
 * from bg.node. Everything lives in the manifest's own memory context.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "manifest.h"
#include "util.h"

/* ------------------------------------------------------------------------
 * The index by unique_id
 *
 * Intake, the graph checks and the plan look nodes up by unique_id some ten times per
 * node: an open-addressing table whose slots hold each key's hash beside it, so that a
 * probe reads one array and compares a string only once the hash matches; against a copy
 * of the key packed with the others, which stays in cache where the nodes do not.
 * ------------------------------------------------------------------------
 */
typedef struct BgIdSlot
{
	const char *key;			/* NULL: empty */
	void	   *value;
	uint32		hash;
	int32		position;		/* nodes: the node's place in m->nodes */
} BgIdSlot;

struct BgIdIndex
{
	MemoryContext cxt;
	uint32		mask;			/* slots - 1; slots a power of two */
	uint32		used;
	BgIdSlot   *slots;
	char	   *keys_next;		/* the copies of the keys, end to end */
	size_t		keys_free;
};

#define INDEX_KEY_BLOCK (32 * 1024)

static BgIdIndex *
index_create(MemoryContext cxt, uint32 size)
{
	BgIdIndex  *ix = MemoryContextAlloc(cxt, sizeof(BgIdIndex));

	ix->cxt = cxt;
	ix->mask = size - 1;
	ix->used = 0;
	ix->slots = MemoryContextAllocZero(cxt, sizeof(BgIdSlot) * size);
	ix->keys_next = NULL;
	ix->keys_free = 0;
	return ix;
}

static const char *
index_key_copy(BgIdIndex *ix, const char *key)
{
	size_t		len = strlen(key) + 1;
	char	   *copy;

	if (len > INDEX_KEY_BLOCK / 8)
		return MemoryContextStrdup(ix->cxt, key);
	if (len > ix->keys_free)
	{
		ix->keys_next = MemoryContextAlloc(ix->cxt, INDEX_KEY_BLOCK);
		ix->keys_free = INDEX_KEY_BLOCK;
	}
	copy = ix->keys_next;
	memcpy(copy, key, len);
	ix->keys_next += len;
	ix->keys_free -= len;
	return copy;
}

static inline uint32
index_hash(const char *key)
{
	return hash_bytes((const unsigned char *) key, (int) strlen(key));
}

/* The slot of key, or the empty slot where it would go. */
static inline BgIdSlot *
index_probe(BgIdIndex *ix, const char *key, uint32 hash)
{
	for (uint32 i = hash & ix->mask;; i = (i + 1) & ix->mask)
	{
		BgIdSlot   *s = &ix->slots[i];

		if (s->key == NULL || (s->hash == hash && strcmp(s->key, key) == 0))
			return s;
	}
}

static void
index_grow(BgIdIndex *ix)
{
	BgIdSlot   *old = ix->slots;
	uint32		n = ix->mask + 1;

	ix->mask = n * 2 - 1;
	ix->slots = MemoryContextAllocZero(ix->cxt, sizeof(BgIdSlot) * n * 2);
	for (uint32 i = 0; i < n; i++)
		if (old[i].key)
			*index_probe(ix, old[i].key, old[i].hash) = old[i];
	pfree(old);
}

/* Enter key (copied); false if it was there already. */
static bool
index_add(BgIdIndex *ix, const char *key, void *value, int32 position)
{
	uint32		hash = index_hash(key);
	BgIdSlot   *s;

	if ((ix->used + 1) * 4 > (ix->mask + 1) * 3)
		index_grow(ix);
	s = index_probe(ix, key, hash);
	if (s->key)
		return false;
	s->key = index_key_copy(ix, key);
	s->value = value;
	s->hash = hash;
	s->position = position;
	ix->used++;
	return true;
}

static inline BgIdSlot *
index_find(BgIdIndex *ix, const char *key)
{
	BgIdSlot   *s = index_probe(ix, key, index_hash(key));

	return s->key ? s : NULL;
}

BgManifest *
bg_manifest_create(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "bluegreen manifest",
											  ALLOCSET_DEFAULT_SIZES);
	BgManifest *m = MemoryContextAllocZero(cxt, sizeof(BgManifest));

	m->cxt = cxt;
	m->node_cxt = GenerationContextCreate(cxt, "bluegreen manifest nodes", 0, 64 * 1024,
										  1024 * 1024);
	m->max_nodes = 256;
	m->nodes = MemoryContextAlloc(cxt, sizeof(BgNode *) * m->max_nodes);
	m->max_macros = 256;
	m->macros = MemoryContextAlloc(cxt, sizeof(BgMacro *) * m->max_macros);
	m->node_index = index_create(cxt, 1024);
	m->disabled_index = index_create(cxt, 64);
	m->macro_index = index_create(cxt, 1024);
	return m;
}

/*
 * s itself, or the same text as a constant: the few values of resource_type and
 * materialized that every stage compares, tens of thousands of times a plan, read
 * from one place rather than from each node's own copy.
 */
static char *
intern(char *s)
{
	static const char *const common[] = {"model", "test", "source", "seed", "snapshot",
		"analysis", "view", "table", "incremental", "ephemeral", "materialized_view", NULL};

	if (s == NULL)
		return NULL;
	for (int i = 0; common[i]; i++)
		if (strcmp(s, common[i]) == 0)
			return (char *) common[i];
	return s;
}

/*
 * A new, zeroed node of m, to be added with bg_manifest_add_node: in a context of its own
 * that, unlike AllocSet, does not round the struct up to a power of two (a third more
 * for each of tens of thousands). What is later kept on the node (config.c) goes there too.
 */
BgNode *
bg_manifest_new_node(BgManifest *m)
{
	return MemoryContextAllocZero(m->node_cxt, sizeof(BgNode));
}

void
bg_manifest_add_node(BgManifest *m, BgNode *node)
{
	node->resource_type = intern(node->resource_type);
	node->materialized = intern(node->materialized);
	if (!index_add(node->disabled ? m->disabled_index : m->node_index, node->unique_id, node,
				   m->n_nodes))
	{
		/* a node disabled in several variants is listed once */
		if (node->disabled)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("manifest node \"%s\" appears twice", node->unique_id)));
	}
	if (m->n_nodes == m->max_nodes)
	{
		m->max_nodes *= 2;
		m->nodes = repalloc(m->nodes, sizeof(BgNode *) * m->max_nodes);
	}
	m->nodes[m->n_nodes++] = node;
}

void
bg_manifest_add_macro(BgManifest *m, BgMacro *macro)
{
	if (!index_add(m->macro_index, macro->unique_id, macro, m->n_macros))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("manifest macro \"%s\" appears twice", macro->unique_id)));
	if (m->n_macros == m->max_macros)
	{
		m->max_macros *= 2;
		m->macros = repalloc(m->macros, sizeof(BgMacro *) * m->max_macros);
	}
	m->macros[m->n_macros++] = macro;
}

BgNode *
bg_manifest_node(BgManifest *m, const char *unique_id)
{
	BgIdSlot   *s = index_find(m->node_index, unique_id);

	return s ? s->value : NULL;
}

/* The place in m->nodes of an enabled node or source; -1 if there is none. */
int
bg_manifest_node_position(BgManifest *m, const char *unique_id)
{
	BgIdSlot   *s = index_find(m->node_index, unique_id);

	return s ? s->position : -1;
}

/* The place in m->macros of a macro; -1 if there is none. */
int
bg_manifest_macro_position(BgManifest *m, const char *unique_id)
{
	BgIdSlot   *s = index_find(m->macro_index, unique_id);

	return s ? s->position : -1;
}

BgMacro *
bg_manifest_macro(BgManifest *m, const char *unique_id)
{
	BgIdSlot   *s = index_find(m->macro_index, unique_id);

	return s ? s->value : NULL;
}

/*
 * The node dbt's state comparison finds in a previous manifest: anything listed under
 * "nodes" or "sources", including the tests of a disabled model (config.enabled false).
 */
BgNode *
bg_manifest_previous_node(BgManifest *m, const char *unique_id)
{
	BgIdSlot   *s = index_find(m->node_index, unique_id);
	BgNode	   *n;

	if (s)
		return s->value;
	s = index_find(m->disabled_index, unique_id);
	n = s ? s->value : NULL;
	return n && n->listed ? n : NULL;
}

bool
bg_manifest_is_disabled(BgManifest *m, const char *unique_id)
{
	return index_find(m->disabled_index, unique_id) != NULL;
}

/*
 * Whole-graph checks, once every node is in: dependencies exist, no cycles, and no two
 * nodes claim the same relation.
 */
void
bg_manifest_check_graph(BgManifest *m)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "bluegreen graph check",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	BgIdIndex  *relations = index_create(cxt, 1024);
	int		   *state;			/* 0 unvisited, 1 on the DFS stack, 2 done */
	int		   *stack_node;
	int		   *stack_edge;
	int		  **deps = MemoryContextAllocZero(m->cxt, sizeof(int *) * Max(m->n_nodes, 1));

	for (int i = 0; i < m->n_nodes; i++)
	{
		BgNode	   *n = m->nodes[i];
		char	   *rel;
		size_t		schema_len,
					alias_len;
		BgIdSlot   *e;

		if (n->disabled)
			continue;
		deps[i] = MemoryContextAlloc(m->cxt, sizeof(int) * Max(n->n_depends_nodes, 1));
		for (int d = 0; d < n->n_depends_nodes; d++)
		{
			deps[i][d] = bg_manifest_node_position(m, n->depends_nodes[d]);
			if (deps[i][d] < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("manifest node \"%s\": field \"depends_on.nodes\" names \"%s\", which is not an enabled node or source of the manifest",
								n->unique_id, n->depends_nodes[d])));
		}
		if (!bg_node_has_relation(n))
			continue;
		/* names hold no control characters (bg_check_identifier): \x1f parts them */
		schema_len = strlen(n->schema);
		alias_len = strlen(n->alias);
		rel = palloc(schema_len + alias_len + 2);
		memcpy(rel, n->schema, schema_len);
		rel[schema_len] = '\x1f';
		memcpy(rel + schema_len + 1, n->alias, alias_len + 1);
		if (!index_add(relations, rel, n, i))
		{
			e = index_find(relations, rel);
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("manifest nodes \"%s\" and \"%s\" both build the relation %s",
							((BgNode *) e->value)->unique_id, n->unique_id,
							bg_qualified_name(n->schema, n->alias))));
		}
	}

	/* iterative depth-first search, so a deep chain cannot exhaust the C stack */
	state = palloc0(sizeof(int) * m->n_nodes);
	stack_node = palloc(sizeof(int) * m->n_nodes);
	stack_edge = palloc(sizeof(int) * m->n_nodes);
	{
		for (int start = 0; start < m->n_nodes; start++)
		{
			int			depth = 0;

			if (state[start] != 0 || m->nodes[start]->disabled)
				continue;
			stack_node[0] = start;
			stack_edge[0] = 0;
			state[start] = 1;
			while (depth >= 0)
			{
				BgNode	   *n = m->nodes[stack_node[depth]];

				if (stack_edge[depth] < n->n_depends_nodes)
				{
					const char *dep = n->depends_nodes[stack_edge[depth]];
					int			j = deps[stack_node[depth]][stack_edge[depth]++];

					if (state[j] == 1)
					{
						StringInfoData path;
						int			k = depth;

						while (stack_node[k] != j)
							k--;
						initStringInfo(&path);
						for (; k <= depth; k++)
							appendStringInfo(&path, "%s -> ", m->nodes[stack_node[k]]->unique_id);
						appendStringInfoString(&path, dep);
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
								 errmsg("manifest has a dependency cycle through node \"%s\"", dep),
								 errdetail("Each node depends on the next: %s.", path.data)));
					}
					if (state[j] == 0)
					{
						state[j] = 1;
						depth++;
						stack_node[depth] = j;
						stack_edge[depth] = 0;
					}
				}
				else
				{
					state[stack_node[depth]] = 2;
					depth--;
				}
			}
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	m->depends_at = deps;
}

/*
 * Does this node stand for a relation in the database that bluegreen builds, carries
 * or drops? Ephemeral models are inlined by dbt; tests and analyses build nothing.
 */
bool
bg_node_has_relation(const BgNode *node)
{
	if (node->disabled)
		return false;
	if (strcmp(node->resource_type, "model") == 0)
		return node->materialized == NULL || strcmp(node->materialized, "ephemeral") != 0;
	return strcmp(node->resource_type, "seed") == 0 ||
		strcmp(node->resource_type, "snapshot") == 0;
}

bool
bg_node_is(const BgNode *node, const char *resource_type)
{
	return strcmp(node->resource_type, resource_type) == 0;
}

/* "model model.shop.orders", for messages */
char *
bg_node_label(const BgNode *node)
{
	return psprintf("%s %s", bg_printable(node->resource_type), bg_printable(node->unique_id));
}

/*
 * The node's compiled code, which building or testing it needs: a manifest of
 * dbt parse has none.
 */
const char *
bg_node_code(const BgNode *node)
{
	if (node->compiled_code == NULL && node->doc_compiled_code.at != NULL)
		elog(ERROR, "compiled code of %s left in the manifest's text", bg_node_label(node));
	if (node->compiled_code == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no compiled code", bg_node_label(node)),
				 errhint("Give bluegreen the manifest of dbt compile (or dbt build), not of dbt parse.")));
	return node->compiled_code;
}

/*
 * The manifest argument of a SQL call, as UTF-8 JSON text. jsonb arguments are printed
 * back to text: jsonb is capped near 256 MB, so the text overloads are the way for big
 * manifests, and both share one parser.
 */
const char *
bg_text_arg_manifest(Datum arg, bool is_jsonb, Size *len)
{
	if (is_jsonb)
	{
		Jsonb	   *jb = DatumGetJsonbP(arg);
		char	   *s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

		*len = strlen(s);
		return s;
	}
	else
	{
		text	   *t = DatumGetTextPP(arg);

		*len = VARSIZE_ANY_EXHDR(t);
		return VARDATA_ANY(t);
	}
}
