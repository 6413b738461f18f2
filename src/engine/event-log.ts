import type { LoggedEvent, StreamEvent } from '../protocol/events.ts'

export type EventListener = (e: LoggedEvent) => void

/**
 * A run's ordered event stream: the engine publishes, HTTP streams subscribe from a sequence
 * number. In embedded mode it lives in memory; in cluster mode it is a Postgres table fanned
 * out with LISTEN/NOTIFY, so any API process can serve a run that executes on any worker.
 */
export interface EventLog {
  /** Append an event. Ordered per run; durable once `flush` resolves. */
  publish(runId: string, event: StreamEvent): void
  /** Wait until everything published so far for the run (or all runs) is durable. */
  flush(runId?: string): Promise<void>
  /** Sequence number of the newest event of a run (0 if none). */
  head(runId: string): Promise<number>
  /** Deliver events after `afterSeq`, then live ones, in order, without gaps or duplicates. */
  subscribe(runId: string, afterSeq: number, listener: EventListener): Promise<() => void>
  /** The run reached a terminal status: keep its log for the retention window only. */
  retire(runId: string): void
  /** The run is gone (its thread was deleted). */
  forget(runId: string): void
  close(): Promise<void>
}

export const isTerminalRunEvent = (e: StreamEvent) => /^thread\.run\.(completed|incomplete|failed|cancelled|expired)$/.test(e.event)
