import type { EventBus } from '../engine/bus.ts'
import { sseFrame, SSE_KEEPALIVE } from '../protocol/sse.ts'

const encoder = new TextEncoder()

/**
 * An SSE response that subscribes to a run's events after `afterSeq` and ends after `done`.
 * The response is only a subscriber: closing it never affects the run.
 */
export function sseResponse(bus: EventBus, runId: string, afterSeq: number, keepAliveMs = 15_000): Response {
  let unsubscribe: (() => void) | undefined
  let keepAlive: NodeJS.Timeout | undefined
  const stop = () => {
    unsubscribe?.()
    clearInterval(keepAlive)
  }
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let closed = false
      unsubscribe = bus.subscribe(runId, afterSeq, (e) => {
        if (closed) return
        controller.enqueue(encoder.encode(sseFrame(e)))
        if (e.event === 'done') {
          closed = true
          // Unsubscribe after the current delivery loop has finished.
          queueMicrotask(stop)
          controller.close()
        }
      })
      keepAlive = setInterval(() => {
        if (!closed) controller.enqueue(encoder.encode(SSE_KEEPALIVE))
      }, keepAliveMs)
      keepAlive.unref()
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
