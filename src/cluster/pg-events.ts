import pg from 'pg'
import { encodeData, type LoggedEvent, type StreamEvent, type StreamEventName } from '../protocol/events.ts'
import type { EventListener, EventLog } from '../engine/event-log.ts'
import type { Logger } from '../log.ts'

const EVENTS_CHANNEL = 'threadline_events'
const CONTROL_CHANNEL = 'threadline_control'
/** NOTIFY payloads are capped at 8000 bytes; bigger batches send a pointer and readers fetch rows. */
const MAX_INLINE_PAYLOAD = 7000

interface Subscriber {
  last: number
  listener: EventListener
  /** Live events that arrived while the initial replay was running. */
  pending: LoggedEvent[] | null
  chain: Promise<void>
}

/**
 * Cluster-mode event log: events are rows in `run_events` (per-run sequence from
 * `runs.event_seq`), written in small batches and announced with NOTIFY. A subscriber replays
 * rows after its sequence number, then takes live events from notifications, fetching rows
 * whenever it sees a gap. The bytes streamed are the stored text, identical on every process.
 */
export class PostgresEventLog implements EventLog {
  private pending = new Map<string, StreamEvent[]>()
  private flushing = new Map<string, Promise<void>>()
  private subscribers = new Map<string, Set<Subscriber>>()
  private listenClient: pg.Client | null = null
  private closed = false
  private controlHandlers: ((msg: { cancel?: string }) => void)[] = []

  constructor(
    private readonly pool: pg.Pool,
    private readonly connectionString: string,
    private readonly log: Logger,
  ) {}

  /** What this process listens to: run events (API processes stream them), control (workers obey cancels). */
  private channels: string[] = []

  async start(opts: { events: boolean; control: boolean }): Promise<void> {
    this.channels = [...(opts.events ? [EVENTS_CHANNEL] : []), ...(opts.control ? [CONTROL_CHANNEL] : [])]
    // A worker-only process need not receive every run's events.
    if (this.channels.length) await this.connectListener()
  }

  private async connectListener(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString })
    client.on('notification', (n) => this.onNotification(n.channel, n.payload ?? ''))
    client.on('error', (err) => {
      if (this.closed) return
      this.log.warn({ err }, 'event listener connection lost; reconnecting')
      this.listenClient = null
      setTimeout(() => void this.reconnect(), 500).unref()
    })
    await client.connect()
    for (const channel of this.channels) await client.query(`listen ${channel}`)
    this.listenClient = client
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return
    try {
      await this.connectListener()
      // Notifications sent while disconnected are lost: catch every subscriber up from the table.
      for (const [runId, subs] of this.subscribers) for (const sub of subs) this.enqueueFetch(runId, sub)
    } catch (err) {
      this.log.warn({ err }, 'event listener reconnect failed')
      setTimeout(() => void this.reconnect(), 1000).unref()
    }
  }

  // ---- publishing ----------------------------------------------------------------------------

  publish(runId: string, event: StreamEvent): void {
    let batch = this.pending.get(runId)
    if (!batch) {
      batch = []
      this.pending.set(runId, batch)
      // Coalesce what is published in the same tick (e.g. a burst of deltas) into one write.
      const previous = this.flushing.get(runId) ?? Promise.resolve()
      const next = previous.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(() => this.write(runId))
      this.flushing.set(runId, next)
      void next.finally(() => {
        if (this.flushing.get(runId) === next) this.flushing.delete(runId)
      })
    }
    batch.push(event)
  }

  private async write(runId: string): Promise<void> {
    const batch = this.pending.get(runId)
    this.pending.delete(runId)
    if (!batch?.length) return
    const names = batch.map((e) => e.event)
    const datas = batch.map(encodeData)
    const inline = JSON.stringify(batch.map((e, i) => [names[i], datas[i]]))
    const body = inline.length <= MAX_INLINE_PAYLOAD ? inline : ''
    try {
      await this.pool.query(
        `with c as (
           update runs set event_seq = event_seq + $2 where id = $1 returning event_seq - $2 as base
         ), ins as (
           insert into run_events (run_id, seq, event, data)
           select $1, c.base + e.ord, e.event, e.data
           from c, unnest($3::text[], $4::text[]) with ordinality as e(event, data, ord)
         )
         select pg_notify('${EVENTS_CHANNEL}', $1 || ' ' || (c.base + 1) || ' ' || $2 || ' ' || $5) from c`,
        [runId, batch.length, names, datas, body],
      )
    } catch (err) {
      this.log.error({ err, runId }, 'could not persist run events')
    }
  }

  async flush(runId?: string): Promise<void> {
    if (runId) {
      await this.flushing.get(runId)
      return
    }
    await Promise.all([...this.flushing.values()])
  }

  async head(runId: string): Promise<number> {
    await this.flush(runId)
    const { rows } = await this.pool.query<{ event_seq: number }>('select event_seq from runs where id = $1', [runId])
    return rows[0]?.event_seq ?? 0
  }

  // ---- subscribing ---------------------------------------------------------------------------

  async subscribe(runId: string, afterSeq: number, listener: EventListener): Promise<() => void> {
    const sub: Subscriber = { last: afterSeq, listener, pending: [], chain: Promise.resolve() }
    let subs = this.subscribers.get(runId)
    if (!subs) this.subscribers.set(runId, (subs = new Set()))
    subs.add(sub)
    // Registered before reading, so nothing published meanwhile is missed; duplicates are
    // dropped by sequence number.
    const rows = await this.fetch(runId, afterSeq)
    for (const e of rows) this.deliver(sub, e)
    const live = sub.pending ?? []
    sub.pending = null
    for (const e of live) this.onLive(runId, sub, e)
    return () => {
      subs.delete(sub)
      if (subs.size === 0) this.subscribers.delete(runId)
    }
  }

  private async fetch(runId: string, afterSeq: number): Promise<LoggedEvent[]> {
    const { rows } = await this.pool.query<{ seq: number; event: StreamEventName; data: string }>(
      'select seq, event, data from run_events where run_id = $1 and seq > $2 order by seq',
      [runId, afterSeq],
    )
    return rows
  }

  private deliver(sub: Subscriber, e: LoggedEvent): void {
    if (e.seq !== sub.last + 1) return
    sub.last = e.seq
    sub.listener(e)
  }

  private onLive(runId: string, sub: Subscriber, e: LoggedEvent): void {
    if (sub.pending) return void sub.pending.push(e)
    if (e.seq <= sub.last) return
    if (e.seq === sub.last + 1) return this.deliver(sub, e)
    this.enqueueFetch(runId, sub)
  }

  /** A gap (or a pointer notification): read the missing rows, in order with other fetches. */
  private enqueueFetch(runId: string, sub: Subscriber): void {
    sub.chain = sub.chain.then(async () => {
      try {
        for (const e of await this.fetch(runId, sub.last)) this.deliver(sub, e)
      } catch (err) {
        this.log.warn({ err, runId }, 'could not fetch run events')
      }
    })
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === CONTROL_CHANNEL) {
      try {
        const msg = JSON.parse(payload) as { cancel?: string }
        for (const h of this.controlHandlers) h(msg)
      } catch {
        /* not ours */
      }
      return
    }
    const [runId, first, count, ...rest] = payload.split(' ')
    const subs = this.subscribers.get(runId)
    if (!subs?.size) return
    const body = rest.join(' ')
    const firstSeq = Number(first)
    if (!body) {
      for (const sub of subs) {
        if (sub.pending) continue // the initial replay will read the rows
        if (sub.last < firstSeq + Number(count) - 1) this.enqueueFetch(runId, sub)
      }
      return
    }
    const events = (JSON.parse(body) as [StreamEventName, string][]).map(([event, data], i) => ({ seq: firstSeq + i, event, data }))
    for (const sub of subs) for (const e of events) this.onLive(runId, sub, e)
  }

  // ---- control messages (cancel across processes) --------------------------------------------

  onControl(handler: (msg: { cancel?: string }) => void): void {
    this.controlHandlers.push(handler)
  }

  async sendControl(msg: { cancel?: string }): Promise<void> {
    await this.pool.query(`select pg_notify('${CONTROL_CHANNEL}', $1)`, [JSON.stringify(msg)])
  }

  retire(): void {
    // Rows are deleted by the retention sweep (see `deleteExpiredEvents`).
  }

  forget(runId: string): void {
    this.pending.delete(runId)
  }

  async close(): Promise<void> {
    this.closed = true
    await this.flush()
    await this.listenClient?.end().catch(() => {})
  }
}

/** Drop the event logs of runs that ended longer ago than the retention window. */
export async function deleteExpiredEvents(pool: pg.Pool, retentionSeconds: number): Promise<number> {
  const res = await pool.query(
    `delete from run_events e using runs r
     where e.run_id = r.id
       and r.status in ('completed', 'incomplete', 'failed', 'cancelled', 'expired')
       and coalesce(r.completed_at, r.failed_at, r.cancelled_at, r.expires_at, r.created_at) < extract(epoch from now()) - $1`,
    [retentionSeconds],
  )
  return res.rowCount ?? 0
}
