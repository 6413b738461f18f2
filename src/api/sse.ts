import type { EventLog } from '../engine/event-log.ts'
import { sseFrame, SSE_KEEPALIVE } from '../protocol/sse.ts'

const encoder = new TextEncoder()

/**
 * An SSE response that subscribes to a run's events after `afterSeq` and ends after `done`.
 * The response is only a subscriber: closing it never affects the run.
 */
export function sseResponse(events: EventLog, runId: string, afterSeq: number, keepAliveMs = 15_000): Response {
  let unsubscribe: (() => void) | undefined
  let keepAlive: NodeJS.Timeout | undefined
  let stopped = false
  const stop = () => {
    stopped = true
    unsubscribe?.()
    clearInterval(keepAlive)
  }
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      let closed = false
      keepAlive = setInterval(() => {
        if (!closed && !stopped) controller.enqueue(encoder.encode(SSE_KEEPALIVE))
      }, keepAliveMs)
      keepAlive.unref()
      // Frames published together (e.g. step.created … message.in_progress) go out as one write,
      // at the next microtask: batching on a later macrotask would hold the first token back
      // while a burst from the upstream is still being parsed.
      let batch = ''
      let scheduled = false
      const flush = () => {
        scheduled = false
        if (stopped) return // the client went away
        if (batch) controller.enqueue(encoder.encode(batch))
        batch = ''
        if (closed) {
          stop()
          controller.close()
        }
      }
      unsubscribe = await events.subscribe(runId, afterSeq, (e) => {
        if (closed) return
        batch += sseFrame(e)
        if (e.event === 'done') closed = true
        if (!scheduled) {
          scheduled = true
          queueMicrotask(flush)
        }
      })
      if (stopped) unsubscribe()
    },
    cancel() {
      stop()
    },
  })
  return new Response(body, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    },
  })
}
