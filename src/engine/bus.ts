import { encodeData, type LoggedEvent, type StreamEvent } from '../protocol/events.ts'
import type { EventListener as Listener, EventLog } from './event-log.ts'

interface RunLog {
  events: LoggedEvent[]
  listeners: Set<Listener>
  /** When the log may be dropped (set once the run is terminal and nobody listens). */
  dropAt: number | null
}

/**
 * In-process fan-out of run events (embedded mode). Each run has an ordered log (for replay from
 * a sequence number) and live subscribers. The HTTP stream is only a subscriber: a disconnect
 * never stops a run, and a reconnect is a replay.
 */
export class EventBus {
  private logs = new Map<string, RunLog>()

  constructor(private readonly retentionMs = 10 * 60_000) {}

  private log(runId: string): RunLog {
    let log = this.logs.get(runId)
    if (!log) {
      log = { events: [], listeners: new Set(), dropAt: null }
      this.logs.set(runId, log)
    }
    return log
  }

  publish(runId: string, event: StreamEvent): LoggedEvent {
    const log = this.log(runId)
    const logged: LoggedEvent = { seq: log.events.length + 1, event: event.event, data: encodeData(event) }
    log.events.push(logged)
    for (const listener of log.listeners) listener(logged)
    return logged
  }

  /** Sequence number of the newest event of a run (0 if none). */
  head(runId: string): number {
    return this.logs.get(runId)?.events.length ?? 0
  }

  /** Replay events after `afterSeq`, then deliver live ones, in order, without gaps. */
  subscribe(runId: string, afterSeq: number, listener: Listener): () => void {
    const log = this.log(runId)
    for (const e of log.events.slice(afterSeq)) listener(e)
    log.listeners.add(listener)
    return () => log.listeners.delete(listener)
  }

  eventsAfter(runId: string, afterSeq = 0): LoggedEvent[] {
    return this.logs.get(runId)?.events.slice(afterSeq) ?? []
  }

  /** The run is terminal: keep its log for the retention window, then forget it. */
  retire(runId: string, now = Date.now()): void {
    const log = this.logs.get(runId)
    if (log) log.dropAt = now + this.retentionMs
    this.sweep(now)
  }

  drop(runId: string): void {
    this.logs.delete(runId)
  }

  sweep(now = Date.now()): void {
    for (const [id, log] of this.logs) {
      if (log.dropAt !== null && log.dropAt <= now && log.listeners.size === 0) this.logs.delete(id)
    }
  }
}

/** The embedded-mode `EventLog`: the bus, with nothing to wait for. */
export class MemoryEventLog implements EventLog {
  constructor(readonly bus = new EventBus()) {}

  publish(runId: string, event: StreamEvent): void {
    this.bus.publish(runId, event)
  }
  async flush(): Promise<void> {}
  async head(runId: string): Promise<number> {
    return this.bus.head(runId)
  }
  async subscribe(runId: string, afterSeq: number, listener: Listener): Promise<() => void> {
    return this.bus.subscribe(runId, afterSeq, listener)
  }
  retire(runId: string): void {
    this.bus.retire(runId)
  }
  forget(runId: string): void {
    this.bus.drop(runId)
  }
  async close(): Promise<void> {}
}
