/*
 * snapshots.c
 *		Waiting, before a switch, for the snapshots older than the deployment's data:
 *		this database's sessions and a hot standby's.
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/sinvaladt.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/timestamp.h"

#include "bluegreen.h"
#include "catalog.h"
#include "promote.h"

/* ------------------------------------------------------------------------
 * Snapshots older than the deployment's data
 *
 * The relations a switch brings live were filled by transactions that a snapshot taken
 * before them cannot see, and a name is looked up in the latest catalog, not in the
 * snapshot: a REPEATABLE READ (or SERIALIZABLE) transaction, a pg_dump, a cursor,
 * started before the build ended and reading after the switch would find a replaced
 * table empty (the reason PostgreSQL calls TRUNCATE not MVCC-safe). So before the switch
 * promote waits, as CREATE INDEX CONCURRENTLY waits for older snapshots, until no
 * session of this database holds a snapshot older than the end of the build (a hot
 * standby's too, when hot_standby_feedback reports it: through the walsender or the
 * replication slot's xmin); at bluegreen.promote_deadline it gives up having changed
 * nothing, and names the sessions. Snapshots taken after the build see all of it.
 * ------------------------------------------------------------------------
 */

/*
 * The transactions of this database's sessions holding a snapshot older than horizon
 * whose role may read one of the live schemas (nspids), with their pids; *n of them. A
 * role that cannot use the schemas can read nothing they hold, and must not be able to
 * hold up a promote.
 */
static VirtualTransactionId *
older_snapshots(TransactionId horizon, List *nspids, int **pids, int *n)
{
	int			found;
	VirtualTransactionId *vxids;
	VirtualTransactionId *out;

	vxids = GetCurrentVirtualXIDs(horizon, true, false,
								  PROC_IS_AUTOVACUUM | PROC_IN_VACUUM, &found);
	out = palloc(sizeof(VirtualTransactionId) * Max(found, 1));
	*pids = palloc(sizeof(int) * Max(found, 1));
	*n = 0;
	for (int i = 0; i < found; i++)
	{
		PGPROC	   *proc = BackendIdGetProc(vxids[i].backendId);
		bool		reads;
		ListCell   *lc;

		if (proc == NULL || !VirtualTransactionIdIsValid(vxids[i]))
			continue;
		/* a walsender carries a standby's snapshots (hot_standby_feedback) */
		reads = !OidIsValid(proc->roleId) || has_rolreplication(proc->roleId);
		foreach(lc, nspids)
			if (pg_namespace_aclcheck(lfirst_oid(lc), proc->roleId, ACL_USAGE) == ACLCHECK_OK)
				reads = true;
		if (reads)
		{
			out[*n] = vxids[i];
			(*pids)[(*n)++] = proc->pid;
		}
	}
	return out;
}

/* Whether a hot standby reports a snapshot older than horizon (hot_standby_feedback). */
static bool
standby_older(TransactionId horizon)
{
	TransactionId slot_xmin;
	TransactionId slot_catalog_xmin;
	bool		standby;

	ProcArrayGetReplicationSlotXmin(&slot_xmin, &slot_catalog_xmin);
	standby = TransactionIdIsValid(slot_xmin) && TransactionIdPrecedes(slot_xmin, horizon);

	/*
	 * Without a slot, a walsender reports its standby's oldest snapshot as its own xmin
	 * (hot_standby_feedback). It belongs to no database and runs no transaction, so the
	 * scan of this database's sessions never returns it.
	 */
	for (int i = 0; WalSndCtl != NULL && i < max_wal_senders; i++)
	{
		WalSnd	   *walsnd = &WalSndCtl->walsnds[i];
		pid_t		pid;
		PGPROC	   *proc;

		SpinLockAcquire(&walsnd->mutex);
		pid = walsnd->pid;
		SpinLockRelease(&walsnd->mutex);
		/* physical ones: a logical walsender belongs to a database, carries no standby snapshot */
		if (pid == 0 || (proc = BackendPidGetProc(pid)) == NULL || OidIsValid(proc->databaseId))
			continue;
		{
			TransactionId xmin = proc->xmin;

			if (TransactionIdIsNormal(xmin) && TransactionIdPrecedes(xmin, horizon))
				standby = true;
		}
	}
	return standby;
}

void
bg_switch_wait_for_snapshots(BgSwitch *sw, TransactionId horizon,
							 TransactionId standby_horizon)
{
	bool		standby = false;
	List	   *pids;
	List	   *nspids = NIL;
	bool		in_place = false;
	VirtualTransactionId *vxids;
	int		   *vpids;
	int			n;
	ListCell   *lc;

	if (!TransactionIdIsValid(horizon))
		return;					/* built before 0.2.0 recorded it */
	foreach(lc, sw->moves)
	{
		Oid			nsp = get_namespace_oid(((BgMove *) lfirst(lc))->live_schema, true);

		if (OidIsValid(nsp))
			nspids = list_append_unique_oid(nspids, nsp);
	}
	/*
	 * The transactions holding an older snapshot now, once, as CREATE INDEX
	 * CONCURRENTLY takes them: each is waited for until it ends; a snapshot taken later
	 * is no obstacle (it sees the data, or, at a horizon of "now", it is the switch's
	 * own moment), however its xmin compares.
	 */
	vxids = older_snapshots(horizon, nspids, &vpids, &n);
	for (;;)
	{
		pids = NIL;
		for (int i = 0; i < n; i++)
			if (VirtualTransactionIdIsValid(vxids[i]) && !VirtualXactLock(vxids[i], false))
				pids = lappend_int(pids, vpids[i]);
			else
				SetInvalidVirtualTransactionId(vxids[i]);
		standby = TransactionIdIsValid(standby_horizon) && standby_older(standby_horizon);
		if (pids == NIL && !standby)
			return;
		if (GetCurrentTimestamp() >= sw->deadline)
			break;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
	}
	foreach(lc, sw->moves)
		if (((BgMove *) lfirst(lc))->kind == BG_MOVE_APPLY)
			in_place = true;
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not %s deployment " INT64_FORMAT ": sessions whose snapshots are older than %s stayed open for bluegreen.promote_deadline (%d ms); nothing was changed",
					sw->rollback ? "roll back" : "promote", sw->deployment_id,
					in_place ? "the switch" : "the deployment's build", bg_promote_deadline_ms),
			 errdetail_internal("%s Older snapshots:\n%s%s",
								in_place ?
								"After the switch they would see increments applied in place as not yet applied, beside the new versions of other relations." :
								"After the switch they would find its tables empty.",
								pids ? bg_session_names(pids, sw->caller) : "",
								standby ? (pids ? "\n  a hot standby (hot_standby_feedback)" :
										   "  a hot standby (hot_standby_feedback)") : ""),
			 errhint("Try again when they are done, or end them; raise bluegreen.promote_deadline to wait longer.")));
}
