import { sql } from 'kysely'
import type { Db } from '../store/db.ts'
import type { Logger } from '../log.ts'
import type { RunRow } from '../store/tables.ts'

/**
 * A run executing in cluster mode has one owner: the worker holding its lease. The owner renews
 * the lease while it works; a worker that dies stops renewing, and once the lease is past its
 * expiry another worker reaps the run. An owner that finds its lease gone stops writing.
 */
export class LeaseKeeper {
  private owned = new Map<string, () => void>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly db: Db,
    readonly workerId: string,
    readonly leaseMs: number,
    private readonly log: Logger,
  ) {}

  /** Columns that claim a run for this worker (set with the queued → in_progress change). */
  claim() {
    return { lease_owner: this.workerId, lease_expires_at: sql<Date>`now() + ${`${this.leaseMs} milliseconds`}::interval` }
  }

  /** Keep renewing this run's lease; `onLost` is called if another worker took it. */
  track(runId: string, onLost: () => void): void {
    this.owned.set(runId, onLost)
  }

  untrack(runId: string): void {
    this.owned.delete(runId)
  }

  start(): void {
    this.timer = setInterval(() => void this.renew().catch((err) => this.log.warn({ err }, 'lease renewal failed')), Math.max(50, this.leaseMs / 3))
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private async renew(): Promise<void> {
    const ids = [...this.owned.keys()]
    if (ids.length === 0) return
    const rows = await this.db
      .updateTable('runs')
      .set({ lease_expires_at: sql<Date>`now() + ${`${this.leaseMs} milliseconds`}::interval` })
      .where('id', 'in', ids)
      .where('lease_owner', '=', this.workerId)
      .returning('id')
      .execute()
    const kept = new Set(rows.map((r) => r.id))
    for (const id of ids) {
      if (kept.has(id)) continue
      const onLost = this.owned.get(id)
      this.owned.delete(id)
      onLost?.()
    }
  }

  /**
   * Runs whose owner stopped renewing: claim them for this worker so exactly one worker
   * handles each. Queued runs whose job got lost are returned too, to be enqueued again.
   */
  async claimExpired(limit = 20): Promise<RunRow[]> {
    return this.db
      .updateTable('runs')
      .set({ ...this.claim() })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('runs')
          .select('id')
          .where('status', 'in', ['in_progress', 'cancelling', 'queued'])
          .where('lease_expires_at', '<', sql<Date>`now()`)
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returningAll()
      .execute()
  }
}
