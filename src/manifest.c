/*
 * manifest.c
 *		The compact state of a manifest (BgManifest): its nodes and macros, found by
 *		unique_id, and the few facts about a node every stage asks the same way.
 *
 * Intake (intake.c) fills a BgManifest from manifest.json; state_manifest.c fills one
 * from bg.node. Everything lives in the manifest's own memory context.
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "manifest.h"
#include "util.h"

BgManifest *
bg_manifest_create(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "bluegreen manifest",
											  ALLOCSET_DEFAULT_SIZES);
	BgManifest *m = MemoryContextAllocZero(cxt, sizeof(BgManifest));

	m->cxt = cxt;
	m->max_nodes = 256;
	m->nodes = MemoryContextAlloc(cxt, sizeof(BgNode *) * m->max_nodes);
	m->max_macros = 256;
	m->macros = MemoryContextAlloc(cxt, sizeof(BgMacro *) * m->max_macros);
	m->node_index = bg_string_index("bluegreen nodes", cxt, 1024);
	m->disabled_index = bg_string_index("bluegreen disabled nodes", cxt, 64);
	m->macro_index = bg_string_index("bluegreen macros", cxt, 1024);
	return m;
}

void
bg_manifest_add_node(BgManifest *m, BgNode *node)
{
	HTAB	   *index = node->disabled ? m->disabled_index : m->node_index;
	BgIndexEntry *e;
	bool		found;

	e = hash_search(index, &node->unique_id, HASH_ENTER, &found);
	if (found)
	{
		/* a node disabled in several variants is listed once */
		if (node->disabled)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("manifest node \"%s\" appears twice", node->unique_id)));
	}
	e->key = node->unique_id;
	e->value = node;

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
	BgIndexEntry *e;
	bool		found;

	e = hash_search(m->macro_index, &macro->unique_id, HASH_ENTER, &found);
	if (found)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("manifest macro \"%s\" appears twice", macro->unique_id)));
	e->key = macro->unique_id;
	e->value = macro;
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
	return bg_index_lookup(m->node_index, unique_id);
}

BgMacro *
bg_manifest_macro(BgManifest *m, const char *unique_id)
{
	return bg_index_lookup(m->macro_index, unique_id);
}

/*
 * The node dbt's state comparison finds in a previous manifest: anything listed under
 * "nodes" or "sources", including the tests of a disabled model (config.enabled false).
 */
BgNode *
bg_manifest_previous_node(BgManifest *m, const char *unique_id)
{
	BgNode	   *n = bg_index_lookup(m->node_index, unique_id);

	if (n == NULL)
	{
		n = bg_index_lookup(m->disabled_index, unique_id);
		if (n != NULL && !n->listed)
			n = NULL;
	}
	return n;
}

bool
bg_manifest_is_disabled(BgManifest *m, const char *unique_id)
{
	return bg_index_lookup(m->disabled_index, unique_id) != NULL;
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
	if (node->compiled_code == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no compiled code", bg_node_label(node)),
				 errhint("Give bluegreen the manifest of dbt compile (or dbt build), not of dbt parse.")));
	return node->compiled_code;
}
