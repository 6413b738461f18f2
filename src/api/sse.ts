import type { ServerResponse } from 'node:http'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { EventLog } from '../engine/event-log.ts'
import { sseFrame, SSE_KEEPALIVE } from '../protocol/sse.ts'
import { eventWithoutResultContent } from '../store/repos/steps.ts'
import type { Ctx } from './http.ts'

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
}

export interface SseOptions {
  keepAliveMs?: number
  /** `include[]=step_details.tool_calls[*].file_search.results[*].content`: step events keep it. */
  includeFileSearchContent?: boolean
}

/**
 * Stream a run's events after `afterSeq` as Server-Sent Events, ending after `done`. The stream is
 * only a subscriber: closing it never affects the run.
 *
 * The frames are written straight to Node's response: a web ReadableStream in between costs a few
 * promise hops per write, on the path of every token.
 */
export async function sseStream(c: Ctx, events: EventLog, runId: string, afterSeq: number, opts: SseOptions = {}): Promise<Response> {
  const { outgoing } = c.env as { outgoing: ServerResponse }
  // Written straight to Node, so the request id middleware never sees these headers: add it here.
  outgoing.writeHead(200, { ...HEADERS, 'x-request-id': c.get('requestId') })
  outgoing.flushHeaders()
  await pipeEvents(outgoing, events, runId, afterSeq, opts.keepAliveMs ?? 15_000, opts.includeFileSearchContent ?? false)
  return RESPONSE_ALREADY_SENT
}

async function pipeEvents(response: ServerResponse, events: EventLog, runId: string, afterSeq: number, keepAliveMs: number, includeContent: boolean): Promise<void> {
  let unsubscribe: (() => void) | undefined
  let stopped = false
  let closed = false
  const keepAlive = setInterval(() => {
    if (!closed && !stopped) response.write(SSE_KEEPALIVE)
  }, keepAliveMs)
  keepAlive.unref()
  const stop = () => {
    stopped = true
    unsubscribe?.()
    clearInterval(keepAlive)
  }
  response.once('close', stop)
  // Frames published together (e.g. step.created … message.in_progress) go out as one write, at
  // the next microtask: batching on a later macrotask would hold the first token back while a
  // burst from the upstream is still being parsed.
  let batch = ''
  let scheduled = false
  const flush = () => {
    scheduled = false
    if (stopped) return // the client went away
    if (batch) response.write(batch)
    batch = ''
    if (closed) {
      stop()
      response.end()
    }
  }
  unsubscribe = await events.subscribe(runId, afterSeq, (e) => {
    if (closed) return
    batch += sseFrame(includeContent ? e : eventWithoutResultContent(e))
    if (e.event === 'done') closed = true
    if (!scheduled) {
      scheduled = true
      queueMicrotask(flush)
    }
  })
  if (stopped) unsubscribe()
}
