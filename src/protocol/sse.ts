import type { LoggedEvent } from './events.ts'

/**
 * One SSE frame. `id:` is the run's event sequence number, so a client can resume with
 * `Last-Event-ID`; OpenAI's SDK ignores the field.
 */
export function sseFrame(e: LoggedEvent): string {
  return `id: ${e.seq}\nevent: ${e.event}\ndata: ${e.data}\n\n`
}

/** A comment frame: keeps idle connections open through proxies; clients ignore it. */
export const SSE_KEEPALIVE = ': keep-alive\n\n'
