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
        if (!closed) controller.enqueue(encoder.encode(SSE_KEEPALIVE))
      }, keepAliveMs)
      keepAlive.unref()
      unsubscribe = await events.subscribe(runId, afterSeq, (e) => {
        if (closed) return
        controller.enqueue(encoder.encode(sseFrame(e)))
        if (e.event === 'done') {
          closed = true
          // Unsubscribe after the current delivery loop has finished.
          queueMicrotask(stop)
          controller.close()
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
