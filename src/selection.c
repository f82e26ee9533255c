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

/* (a plan's unchanged nodes share their texts with live's: see unchanged_live_node) */
static bool
str_eq(const char *a, const char *b)
{
	if (a == b)
		return true;
	if (a == NULL || b == NULL)
		return false;
	return strcmp(a, b) == 0;
}


/* ------------------------------------------------------------------------
 * Macros: modified ones, and whether a node reaches one
 * ------------------------------------------------------------------------
 */
typedef struct MacroCheck
{
	BgManifest *next;
	int			n_modified;
	/* by the macro's place in next->macros */
	bool	   *modified;		/* changed or new */
	bool	   *reaches;		/* memo: known to reach a modified macro */
	uint32	   *visited;		/* == walk: seen by this node's walk, as dbt's visited_macros */
	uint32		walk;
	HTAB	   *removed;		/* unique_ids of live's macros that next has not */
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
	int			n = Max(next->n_macros, 1);

	mc->next = next;
	mc->modified = palloc0(sizeof(bool) * n);
	mc->reaches = palloc0(sizeof(bool) * n);
	mc->visited = palloc0(sizeof(uint32) * n);
	mc->walk = 0;
	mc->removed = string_set("bluegreen removed macros", 64);
	mc->n_modified = 0;
	for (int i = 0; i < next->n_macros; i++)
	{
		BgMacro    *m = next->macros[i];
		BgMacro    *o = bg_manifest_macro(live, m->unique_id);

		if (o == NULL || strcmp(o->sql_digest, m->sql_digest) != 0)
		{
			mc->modified[i] = true;
			mc->n_modified++;
		}
	}
	for (int i = 0; i < live->n_macros; i++)
	{
		if (bg_manifest_macro(next, live->macros[i]->unique_id) == NULL)
		{
			set_add(mc->removed, live->macros[i]->unique_id);
			mc->n_modified++;
		}
	}
}

/*
 * dbt's recursively_check_macros_modified: a depth-first walk with a shared visited set.
 * A macro next has not is a leaf: seen again, it answers again as it did.
 */
static bool
macros_reach_modified(MacroCheck *mc, char **macros, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			at = bg_manifest_macro_position(mc->next, macros[i]);
		BgMacro    *macro;

		if (at < 0)
		{
			if (set_has(mc->removed, macros[i]))
				return true;
			continue;
		}
		if (mc->visited[at] == mc->walk)
			continue;
		mc->visited[at] = mc->walk;
		if (mc->modified[at] || mc->reaches[at])
			return true;
		macro = mc->next->macros[at];
		if (macro->n_depends_macros > 0 &&
			macros_reach_modified(mc, macro->depends_macros, macro->n_depends_macros))
		{
			/* reaching a modified macro holds whatever the walk order */
			mc->reaches[at] = true;
			return true;
		}
	}
	return false;
}

static bool
node_macros_modified(MacroCheck *mc, BgNode *n)
{
	if (mc->n_modified == 0 || n->n_depends_macros == 0)
		return false;
	mc->walk++;					/* a fresh visited set; 0 is no walk's */
	return macros_reach_modified(mc, n->depends_macros, n->n_depends_macros);
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
	int		   *enabled_at;		/* next->nodes position -> enabled position */
	int		  **parents;		/* enabled positions of what each depends on */
	BgNode	  **old;

	plan->live = live;
	plan->next = next;
	macro_check_init(&mc, live, next);

	enabled = palloc(sizeof(BgNode *) * Max(next->n_nodes, 1));
	enabled_at = palloc(sizeof(int) * Max(next->n_nodes, 1));
	for (int i = 0; i < next->n_nodes; i++)
	{
		enabled_at[i] = n_enabled;
		if (!next->nodes[i]->disabled)
			enabled[n_enabled++] = next->nodes[i];
	}

	/* the graph's edges, each dependency looked up once; then the child lists */
	n_children = palloc0(sizeof(int) * Max(n_enabled, 1));
	children = palloc0(sizeof(int *) * Max(n_enabled, 1));
	indegree = palloc0(sizeof(int) * Max(n_enabled, 1));
	parents = palloc(sizeof(int *) * Max(n_enabled, 1));
	for (int i = 0, j = 0; i < n_enabled; i++, j++)
	{
		while (next->nodes[j]->disabled)
			j++;
		parents[i] = palloc(sizeof(int) * Max(enabled[i]->n_depends_nodes, 1));
		for (int d = 0; d < enabled[i]->n_depends_nodes; d++)
		{
			/* intake checked that each is an enabled node (bg_manifest_check_graph) */
			int			at = next->depends_at ? next->depends_at[j][d] :
				bg_manifest_node_position(next, enabled[i]->depends_nodes[d]);

			parents[i][d] = at < 0 ? -1 : enabled_at[at];
			if (at >= 0)
				n_children[parents[i][d]]++;
		}
	}
	for (int i = 0; i < n_enabled; i++)
	{
		children[i] = palloc(sizeof(int) * Max(n_children[i], 1));
		n_children[i] = 0;
	}
	for (int i = 0; i < n_enabled; i++)
		for (int d = 0; d < enabled[i]->n_depends_nodes; d++)
		{
			int			p = parents[i][d];

			if (p >= 0)
			{
				children[p][n_children[p]++] = i;
				indegree[i]++;
			}
		}

	/* state:modified, then "+" */
	sel = palloc0(sizeof(int) * Max(n_enabled, 1));
	selected = palloc0(sizeof(bool) * Max(n_enabled, 1));
	queue = palloc(sizeof(int) * Max(n_enabled, 1));
	head = tail = 0;
	old = palloc(sizeof(BgNode *) * Max(n_enabled, 1));
	for (int i = 0; i < n_enabled; i++)
	{
		old[i] = bg_manifest_previous_node(live, enabled[i]->unique_id);
		sel[i] = state_selectors(&mc, enabled[i], old[i]);
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
		item->old = old[i];
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
	return plan;
}
