/*
 * selection.c
 *		What dbt's state:modified+ selects, computed from two compact manifests.
 *
 * This mirrors dbt-core's StateSelectorMethod (graph/selector_methods.py) and the
 * same_* methods of its node classes (contracts/graph/nodes.py), as of dbt 1.11:
 *
 *	- a node is "modified" when it is new, or its body, config, persisted descriptions,
 *	  fqn, database representation or contract differ, or a macro it reaches through
 *	  depends_on.macros changed. Generic tests compare only config and fqn; models also
 *	  compare latest_version, access and deprecation_date; sources compare their
 *	  representation, fqn, config, quoting, freshness and external properties, and a
 *	  new source is (as in dbt) not "modified".
 *	- each sub-selector (modified.body, .configs, ...) selects new nodes too, but only
 *	  for node kinds that have the comparison at all (sources have no body).
 *	- "+" adds everything downstream through depends_on.nodes.
 *
 * The tests hold this to dbt's own `dbt ls` on generated projects (test/oracle).
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "selection.h"
#include "util.h"

static const char *const selector_names[BG_SEL_COUNT] = {
	"new", "modified", "modified.body", "modified.configs", "modified.relation",
	"modified.persisted_descriptions", "modified.contract", "modified.macros"
};

const char *
bg_selector_name(int bit)
{
	for (int i = 0; i < BG_SEL_COUNT; i++)
		if (bit == (1 << i))
			return selector_names[i];
	return "?";
}

const char *
bg_action_name(BgAction action)
{
	switch (action)
	{
		case BG_ACTION_SKIP:
			return "skip";
		case BG_ACTION_BUILD:
			return "build";
		case BG_ACTION_CARRY:
			return "carry";
		case BG_ACTION_TEST:
			return "test";
		case BG_ACTION_REMOVE:
			return "remove";
		case BG_ACTION_NONE:
			return "none";
	}
	return "?";
}

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}


/* ------------------------------------------------------------------------
 * Macros: modified ones, and whether a node reaches one
 * ------------------------------------------------------------------------
 */
typedef struct MacroCheck
{
	BgManifest *next;
	HTAB	   *modified;		/* unique_id -> non-NULL when modified */
	int			n_modified;
	HTAB	   *reaches;		/* memo: macros known to reach a modified macro */
	HTAB	   *visited;		/* per node walk, as dbt's visited_macros */
} MacroCheck;

static HTAB *
string_set(const char *name, long size)
{
	return bg_string_index(name, CurrentMemoryContext, size);
}

static void
set_add(HTAB *set, const char *key)
{
	bg_index_set(set, key, (void *) key);
}

static bool
set_has(HTAB *set, const char *key)
{
	return hash_search(set, &key, HASH_FIND, NULL) != NULL;
}

static void
macro_check_init(MacroCheck *mc, BgManifest *live, BgManifest *next)
{
	mc->next = next;
	mc->modified = string_set("bluegreen modified macros", 256);
	mc->reaches = string_set("bluegreen macro reach", 256);
	mc->n_modified = 0;
	for (int i = 0; i < next->n_macros; i++)
	{
		BgMacro    *m = next->macros[i];
		BgMacro    *o = bg_manifest_macro(live, m->unique_id);

		if (o == NULL || strcmp(o->sql_digest, m->sql_digest) != 0)
		{
			set_add(mc->modified, m->unique_id);
			mc->n_modified++;
		}
	}
	for (int i = 0; i < live->n_macros; i++)
	{
		if (bg_manifest_macro(next, live->macros[i]->unique_id) == NULL)
		{
			set_add(mc->modified, live->macros[i]->unique_id);
			mc->n_modified++;
		}
	}
}

/* dbt's recursively_check_macros_modified: a depth-first walk with a shared visited set */
static bool
macros_reach_modified(MacroCheck *mc, char **macros, int n)
{
	for (int i = 0; i < n; i++)
	{
		const char *id = macros[i];
		BgMacro    *macro;

		if (set_has(mc->visited, id))
			continue;
		set_add(mc->visited, id);
		if (set_has(mc->modified, id) || set_has(mc->reaches, id))
			return true;
		macro = bg_manifest_macro(mc->next, id);
		if (macro != NULL && macro->n_depends_macros > 0 &&
			macros_reach_modified(mc, macro->depends_macros, macro->n_depends_macros))
		{
			/* reaching a modified macro holds whatever the walk order */
			set_add(mc->reaches, id);
			return true;
		}
	}
	return false;
}

static bool
node_macros_modified(MacroCheck *mc, BgNode *n)
{
	bool		result;

	if (mc->n_modified == 0 || n->n_depends_macros == 0)
		return false;
	mc->visited = string_set("bluegreen visited macros", 64);
	result = macros_reach_modified(mc, n->depends_macros, n->n_depends_macros);
	hash_destroy(mc->visited);
	return result;
}

/* ------------------------------------------------------------------------
 * Contracts
 * ------------------------------------------------------------------------
 */

/* dbt's ModelNode.same_contract, as far as selection goes */
static bool
same_contract(BgNode *n, BgNode *o)
{
	if (!o->contract_enforced && !n->contract_enforced)
		return true;
	if (!o->contract_enforced && n->contract_enforced)
		return false;
	return n->contract_enforced && str_eq(n->contract_checksum, o->contract_checksum);
}

/* ------------------------------------------------------------------------
 * The state comparison of one node
 * ------------------------------------------------------------------------
 */
static int
state_selectors(MacroCheck *mc, BgNode *n, BgNode *o)
{
	int			sel = 0;
	bool		source = bg_node_is(n, "source");

	if (o == NULL)
	{
		sel |= BG_SEL_NEW;
		/* sub-selectors select new nodes where the comparison exists for the kind */
		sel |= BG_SEL_CONFIGS | BG_SEL_RELATION;
		if (!source)
		{
			sel |= BG_SEL_MODIFIED | BG_SEL_BODY | BG_SEL_PERSISTED_DESCRIPTIONS |
				BG_SEL_CONTRACT;
			if (node_macros_modified(mc, n))
				sel |= BG_SEL_MACROS;
		}
		return sel;
	}

	if (!source)
	{
		bool		same_body = str_eq(n->body_digest, o->body_digest);
		bool		same_config = str_eq(n->config_canon, o->config_canon);
		bool		same_relation = str_eq(n->relation_canon, o->relation_canon);
		bool		same_fqn = str_eq(n->fqn_canon, o->fqn_canon);
		bool		same_descriptions = true;
		bool		contract_same = true;
		bool		macros = node_macros_modified(mc, n);
		bool		different;

		if (n->persist_relation_docs && !str_eq(n->description_digest, o->description_digest))
			same_descriptions = false;
		if (n->persist_column_docs && !str_eq(n->column_docs_digest, o->column_docs_digest))
			same_descriptions = false;
		if (bg_node_is(n, "model") && bg_node_is(o, "model"))
			contract_same = same_contract(n, o);

		if (!same_body)
			sel |= BG_SEL_BODY;
		if (!same_config)
			sel |= BG_SEL_CONFIGS;
		if (!same_relation)
			sel |= BG_SEL_RELATION;
		if (!same_descriptions)
			sel |= BG_SEL_PERSISTED_DESCRIPTIONS;
		if (!contract_same)
			sel |= BG_SEL_CONTRACT;
		if (macros)
			sel |= BG_SEL_MACROS;

		if (n->generic_test)
			different = !same_config || !same_fqn;
		else
		{
			different = !same_body || !same_config || !same_descriptions || !same_fqn ||
				!same_relation || !contract_same;
			if (bg_node_is(n, "model") && !str_eq(n->ref_canon, o->ref_canon))
				different = true;
		}
		if (different || macros || !contract_same)
			sel |= BG_SEL_MODIFIED;
	}
	else
	{
		bool		same_config = str_eq(n->config_canon, o->config_canon);
		bool		same_relation = str_eq(n->relation_canon, o->relation_canon);

		if (!same_config)
			sel |= BG_SEL_CONFIGS;
		if (!same_relation)
			sel |= BG_SEL_RELATION;
		if (!same_config || !same_relation || !str_eq(n->fqn_canon, o->fqn_canon) ||
			!str_eq(n->source_canon, o->source_canon))
			sel |= BG_SEL_MODIFIED;
	}
	return sel;
}

/* ------------------------------------------------------------------------
 * What a plan item takes away from live
 * ------------------------------------------------------------------------
 */

/*
 * The live relation that plan item "item" takes away at promote, or NULL: the relation
 * of a model removed or disabled, of one that becomes ephemeral, and the old relation of
 * one that moves to another schema or alias. A move is a removal of the old relation
 * plus an addition of the new one, and is reported as one: *moved_to names the new
 * relation (NULL otherwise). *reason says why in words ("the model is removed"). The one
 * definition: deploy_check.c makes a step of it, verdict.c judges it for bg.plan.
 */
BgNode *
bg_plan_item_removes(BgPlan *plan, BgPlanItem *item, char **reason, char **moved_to)
{
	BgNode	   *n = item->node;
	BgNode	   *o = item->old;

	*reason = NULL;
	*moved_to = NULL;
	if (item->action == BG_ACTION_REMOVE && bg_node_has_relation(n))
	{
		*reason = bg_manifest_is_disabled(plan->next, n->unique_id) ?
			"the model is disabled" : "the model is removed";
		return n;
	}
	if (item->action != BG_ACTION_BUILD || o == NULL || !bg_node_has_relation(o))
		return NULL;
	if (!bg_node_has_relation(n))
	{
		*reason = "the model becomes ephemeral";
		return o;
	}
	if (!str_eq(n->schema, o->schema) || !str_eq(n->alias, o->alias))
	{
		*moved_to = bg_qualified_name(n->schema, n->alias);
		*reason = psprintf("the model moves to %s", *moved_to);
		return o;
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * The plan
 * ------------------------------------------------------------------------
 */
BgPlan *
bg_plan_compute(BgManifest *live, BgManifest *next)
{
	BgPlan	   *plan = palloc0(sizeof(BgPlan));
	MacroCheck	mc;
	int			n_enabled = 0;
	BgNode	  **enabled;
	int		   *order;
	int		   *indegree;
	int		  **children;
	int		   *n_children;
	int		   *sel;
	bool	   *selected;
	int		   *queue;
	int			head,
				tail;
	HTAB	   *position;

	plan->live = live;
	plan->next = next;
	macro_check_init(&mc, live, next);

	enabled = palloc(sizeof(BgNode *) * Max(next->n_nodes, 1));
	for (int i = 0; i < next->n_nodes; i++)
		if (!next->nodes[i]->disabled)
			enabled[n_enabled++] = next->nodes[i];

	position = string_set("bluegreen plan positions", n_enabled + 1);
	for (int i = 0; i < n_enabled; i++)
	{
		BgIndexEntry *e = hash_search(position, &enabled[i]->unique_id, HASH_ENTER, NULL);

		e->key = enabled[i]->unique_id;
		e->value = (void *) (intptr_t) i;
	}

	/* the child lists of the graph, for "+" and for the dependency order */
	n_children = palloc0(sizeof(int) * Max(n_enabled, 1));
	children = palloc0(sizeof(int *) * Max(n_enabled, 1));
	indegree = palloc0(sizeof(int) * Max(n_enabled, 1));
	for (int i = 0; i < n_enabled; i++)
		for (int d = 0; d < enabled[i]->n_depends_nodes; d++)
		{
			BgIndexEntry *e = hash_search(position, &enabled[i]->depends_nodes[d], HASH_FIND, NULL);

			if (e)
				n_children[(intptr_t) e->value]++;
		}
	for (int i = 0; i < n_enabled; i++)
	{
		children[i] = palloc(sizeof(int) * Max(n_children[i], 1));
		n_children[i] = 0;
	}
	for (int i = 0; i < n_enabled; i++)
		for (int d = 0; d < enabled[i]->n_depends_nodes; d++)
		{
			BgIndexEntry *e = hash_search(position, &enabled[i]->depends_nodes[d], HASH_FIND, NULL);

			if (e)
			{
				int			p = (int) (intptr_t) e->value;

				children[p][n_children[p]++] = i;
				indegree[i]++;
			}
		}

	/* state:modified, then "+" */
	sel = palloc0(sizeof(int) * Max(n_enabled, 1));
	selected = palloc0(sizeof(bool) * Max(n_enabled, 1));
	queue = palloc(sizeof(int) * Max(n_enabled, 1));
	head = tail = 0;
	for (int i = 0; i < n_enabled; i++)
	{
		sel[i] = state_selectors(&mc, enabled[i], bg_manifest_previous_node(live, enabled[i]->unique_id));
		if (sel[i] & BG_SEL_MODIFIED)
		{
			selected[i] = true;
			queue[tail++] = i;
		}
	}
	while (head < tail)
	{
		int			p = queue[head++];

		for (int c = 0; c < n_children[p]; c++)
			if (!selected[children[p][c]])
			{
				selected[children[p][c]] = true;
				queue[tail++] = children[p][c];
			}
	}

	/* dependency order (Kahn), upstream first; ties keep manifest order */
	order = palloc(sizeof(int) * Max(n_enabled, 1));
	head = tail = 0;
	for (int i = 0; i < n_enabled; i++)
		if (indegree[i] == 0)
			queue[tail++] = i;
	while (head < tail)
	{
		int			p = queue[head++];

		order[head - 1] = p;
		for (int c = 0; c < n_children[p]; c++)
			if (--indegree[children[p][c]] == 0)
				queue[tail++] = children[p][c];
	}
	Assert(tail == n_enabled);	/* intake refused cycles */

	plan->items = palloc0(sizeof(BgPlanItem) * (n_enabled + live->n_nodes + 1));
	for (int k = 0; k < tail; k++)
	{
		int			i = order[k];
		BgPlanItem *item = &plan->items[plan->n_items++];
		BgNode	   *n = enabled[i];

		item->node = n;
		item->old = bg_manifest_previous_node(live, n->unique_id);
		item->selected = selected[i];
		item->selectors = sel[i];
		if (!selected[i])
			item->action = BG_ACTION_SKIP;
		else if (bg_node_is(n, "model"))
			item->action = BG_ACTION_BUILD;
		else if (bg_node_is(n, "seed") || bg_node_is(n, "snapshot"))
			item->action = BG_ACTION_CARRY;
		else if (bg_node_is(n, "test"))
			item->action = BG_ACTION_TEST;
		else
			item->action = BG_ACTION_NONE;
		if (item->selected)
			plan->n_selected++;
	}

	/* what is live but no longer enabled: removed at promote, kept for rollback */
	for (int i = 0; i < live->n_nodes; i++)
	{
		BgNode	   *o = live->nodes[i];
		BgPlanItem *item;

		if (o->disabled || bg_manifest_node(next, o->unique_id) != NULL)
			continue;
		item = &plan->items[plan->n_items++];
		item->node = o;
		item->old = o;
		item->removed = true;
		item->action = BG_ACTION_REMOVE;
	}
	hash_destroy(position);
	return plan;
}
