import pg from 'pg'
import { encodeData, type LoggedEvent, type StreamEvent, type StreamEventName } from '../protocol/events.ts'
import type { EventListener, EventLog } from '../engine/event-log.ts'
import type { Logger } from '../log.ts'

const EVENTS_CHANNEL = 'threadline_events'
const CONTROL_CHANNEL = 'threadline_control'
/** NOTIFY payloads are capped at 8000 bytes: notifications are filled up to this many. */
const MAX_PAYLOAD_BYTES = 7500
/** A run's batch bigger than this is announced by a pointer; readers fetch its rows. */
const MAX_INLINE_BYTES = 6000
/** Retries of a write the server rejected (e.g. a deadlock) before its events are given up. */
const WRITE_RETRY_DELAYS_MS = [20, 200, 1000, 3000]

/** One run's part of a write: its events as JSON text ([[event, data], …]), encoded once. */
interface RunBatch {
  runId: string
  events: string
  count: number
  /** Small enough to travel in the notification. */
  inline: boolean
  /** Which notification announces it. */
  group: number
}

/**
 * Events of many runs in one statement: sequence numbers from `runs.event_seq` (the row lock
 * orders concurrent writers of a run), rows into `run_events`, and one NOTIFY per group of runs
 * whose payload fits (each run: its id, first sequence number, count and, when small, the events).
 * The batch is one JSON parameter, parsed once (jsonb); event data are JSON strings in it, so
 * `->>` gives back their exact text. (Operators on `json` would parse the text again each time.)
 */
const WRITE_EVENTS = `
  with b as (
    select x->>0 as run_id, (x->>1)::int as grp, (x->>2)::boolean as inline, x->3 as events, jsonb_array_length(x->3) as n
    from jsonb_array_elements($1::jsonb) as x
  ), c as (
    update runs r set event_seq = r.event_seq + b.n from b where r.id = b.run_id
    returning r.id, r.event_seq - b.n as base
  ), ins as (
    insert into run_events (run_id, seq, event, data)
    select c.id, c.base + e.ord, e.v->>0, e.v->>1
    from c join b on b.run_id = c.id, jsonb_array_elements(b.events) with ordinality as e(v, ord)
  )
  select pg_notify('${EVENTS_CHANNEL}', '[' || string_agg(
    '["' || c.id || '",' || (c.base + 1) || ',' || b.n || case when b.inline then ',' || b.events::text else '' end || ']', ','
  ) || ']')
  from c join b on b.run_id = c.id
  group by b.grp`

interface Subscriber {
  last: number
  listener: EventListener
  /** Live events that arrived while the initial replay was running. */
  pending: LoggedEvent[] | null
  chain: Promise<void>
}

/**
 * Cluster-mode event log: events are rows in `run_events` (per-run sequence from
 * `runs.event_seq`), announced with NOTIFY. A process writes its events one statement at a time:
 * what all its runs publish while a write is in flight goes into the next one (group commit), so
 * under load a statement carries many runs' events and Postgres sees few statements and few
 * notifications. A subscriber replays rows after its sequence number, then takes live events
 * from notifications, fetching rows whenever it sees a gap. The bytes streamed are the stored
 * text, identical on every process.
 */
export class PostgresEventLog implements EventLog {
  /** Events published and not yet taken by a write, by run, in order. */
  private queued = new Map<string, StreamEvent[]>()
  /** The write that will take the queued events (not started yet), if any. */
  private nextWrite: Promise<void> | null = null
  /** The latest write scheduled: writes run one after another. */
  private lastWrite: Promise<void> = Promise.resolve()
  /** Per run, the write carrying its latest events (for `flush(runId)`). */
  private writeOf = new Map<string, Promise<void>>()
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
    let events = this.queued.get(runId)
    if (!events) this.queued.set(runId, (events = []))
    events.push(event)
    if (!this.nextWrite) {
      // Coalesce what is published in the same tick (e.g. a burst of deltas), and everything
      // published while the previous write is in flight, into one statement.
      const write = this.lastWrite.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(() => this.writeQueued())
      this.nextWrite = write
      this.lastWrite = write
    }
    this.writeOf.set(runId, this.nextWrite)
  }

  private async writeQueued(): Promise<void> {
    const write = this.nextWrite
    this.nextWrite = null
    const queued = this.queued
    this.queued = new Map()
    try {
      if (queued.size === 0) return
      // Sorted by run id: rows are locked in that order, so two processes writing events of the
      // same runs at once do not deadlock (if one did, the retry would resolve it).
      const batches = [...queued]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([runId, events]): RunBatch => ({ runId, events: JSON.stringify(events.map((e) => [e.event, encodeData(e)])), count: events.length, inline: false, group: 0 }))
      groupNotifications(batches)
      // A write the server keeps rejecting: run by run, so one bad run does not take the others with it.
      if ((await this.tryWrite(batches)) === 'rejected' && batches.length > 1) for (const batch of batches) await this.tryWrite([batch], 1)
    } catch (err) {
      this.log.error({ err }, 'could not persist run events')
    } finally {
      for (const runId of queued.keys()) if (this.writeOf.get(runId) === write) this.writeOf.delete(runId)
    }
  }

  /**
   * Write, retrying what the server rejected (deadlock, shutdown …): such a statement did nothing.
   * A lost connection is not retried: the statement may have committed, and a retry would
   * stream its events twice.
   */
  private async tryWrite(batches: RunBatch[], attempts = WRITE_RETRY_DELAYS_MS.length + 1): Promise<'written' | 'rejected' | 'unknown'> {
    // [[run id, group, inline, events], …], the events' JSON spliced in as encoded.
    const text = `[${batches.map((b) => `[${JSON.stringify(b.runId)},${b.group},${b.inline},${b.events}]`).join(',')}]`
    for (let attempt = 0; ; attempt++) {
      try {
        // Named: parsed and planned once per connection, not on every write.
        await this.pool.query({ name: 'threadline_write_events', text: WRITE_EVENTS, values: [text] })
        return 'written'
      } catch (err) {
        const runIds = batches.map((b) => b.runId)
        const rejected = err instanceof pg.DatabaseError
        if (!rejected || attempt + 1 >= attempts || this.closed) {
          this.log.error({ err, runIds }, 'could not persist run events')
          return rejected ? 'rejected' : 'unknown'
        }
        this.log.warn({ err, runIds, attempt }, 'writing run events failed; retrying')
        await new Promise((resolve) => setTimeout(resolve, WRITE_RETRY_DELAYS_MS[attempt]))
      }
    }
  }

  async flush(runId?: string): Promise<void> {
    if (runId) {
      await this.writeOf.get(runId)
      return
    }
    await this.lastWrite
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
    const { rows } = await this.pool.query<{ seq: number; event: StreamEventName; data: string }>({
      name: 'threadline_read_events',
      text: 'select seq, event, data from run_events where run_id = $1 and seq > $2 order by seq',
      values: [runId, afterSeq],
    })
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
    // [[run id, first sequence number, count, events (absent when too big to inline)], …]
    let runs: [string, number, number, [StreamEventName, string][]?][]
    try {
      runs = JSON.parse(payload)
    } catch (err) {
      this.log.warn({ err }, 'unreadable run events notification')
      return
    }
    for (const [runId, firstSeq, count, events] of runs) {
      const subs = this.subscribers.get(runId)
      if (!subs?.size) continue
      if (!events) {
        for (const sub of subs) {
          if (sub.pending) continue // the initial replay will read the rows
          if (sub.last < firstSeq + count - 1) this.enqueueFetch(runId, sub)
        }
        continue
      }
      const logged = events.map(([event, data], i): LoggedEvent => ({ seq: firstSeq + i, event, data }))
      for (const sub of subs) for (const e of logged) this.onLive(runId, sub, e)
    }
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
    this.queued.delete(runId)
  }

  async close(): Promise<void> {
    this.closed = true
    await this.flush()
    await this.listenClient?.end().catch(() => {})
  }
}

/**
 * Put runs' batches into notifications of at most MAX_PAYLOAD_BYTES (group numbers); a batch
 * too big to travel inline is announced without its events.
 */
function groupNotifications(batches: RunBatch[]): void {
  let group = 0
  let size = 2
  for (const batch of batches) {
    const eventsBytes = Buffer.byteLength(batch.events)
    batch.inline = eventsBytes <= MAX_INLINE_BYTES
    // The run id, two numbers (≤ 10 digits each) and separators, plus the events if inline
    // (re-serialized by jsonb, which adds a space after each separator outside strings).
    const bytes = Buffer.byteLength(batch.runId) + 30 + (batch.inline ? eventsBytes + 4 * batch.count : 0)
    if (size + bytes > MAX_PAYLOAD_BYTES && size > 2) {
      group++
      size = 2
    }
    batch.group = group
    size += bytes
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
