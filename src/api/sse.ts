import type { ServerResponse } from 'node:http'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { EventLog } from '../engine/event-log.ts'
import { sseFrame, SSE_KEEPALIVE } from '../protocol/sse.ts'
import type { Ctx } from './http.ts'

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
}

/** Where frames go: the Node response itself, or a web stream when there is none. */
interface FrameSink {
  write(text: string): void
  end(): void
  onClose(listener: () => void): void
}

/**
 * Stream a run's events after `afterSeq` as Server-Sent Events, ending after `done`. The stream is
 * only a subscriber: closing it never affects the run.
 *
 * On the Node server the frames are written straight to the socket's response: a web
 * ReadableStream in between costs a few promise hops per write, on the path of every token.
 */
export async function sseStream(c: Ctx, events: EventLog, runId: string, afterSeq: number, keepAliveMs = 15_000): Promise<Response> {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
  if (!outgoing) {
    let sink!: FrameSink
    const encoder = new TextEncoder()
    const closeListeners: (() => void)[] = []
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        sink = {
          write: (text) => controller.enqueue(encoder.encode(text)),
          end: () => controller.close(),
          onClose: (listener) => closeListeners.push(listener),
        }
      },
      cancel: () => closeListeners.forEach((l) => l()),
    })
    await pipeEvents(sink, events, runId, afterSeq, keepAliveMs)
    return new Response(body, { headers: HEADERS })
  }
  outgoing.writeHead(200, HEADERS)
  outgoing.flushHeaders()
  await pipeEvents(
    { write: (text) => void outgoing.write(text), end: () => outgoing.end(), onClose: (listener) => outgoing.once('close', listener) },
    events,
    runId,
    afterSeq,
    keepAliveMs,
  )
  return RESPONSE_ALREADY_SENT
}

async function pipeEvents(sink: FrameSink, events: EventLog, runId: string, afterSeq: number, keepAliveMs: number): Promise<void> {
  let unsubscribe: (() => void) | undefined
  let stopped = false
  let closed = false
  const keepAlive = setInterval(() => {
    if (!closed && !stopped) sink.write(SSE_KEEPALIVE)
  }, keepAliveMs)
  keepAlive.unref()
  const stop = () => {
    stopped = true
    unsubscribe?.()
    clearInterval(keepAlive)
  }
  sink.onClose(stop)
  // Frames published together (e.g. step.created … message.in_progress) go out as one write, at
  // the next microtask: batching on a later macrotask would hold the first token back while a
  // burst from the upstream is still being parsed.
  let batch = ''
  let scheduled = false
  const flush = () => {
    scheduled = false
    if (stopped) return // the client went away
    if (batch) sink.write(batch)
    batch = ''
    if (closed) {
      stop()
      sink.end()
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
}
