import { createParser, type EventSourceMessage } from 'eventsource-parser'
import type { ProviderConfig } from '../config.ts'
import { ProviderError, type ChatRequest, type FinishReason, type Provider, type StreamPart, type Usage } from './types.ts'

interface ChunkToolCall {
  index?: number
  id?: string
  function?: { name?: string; arguments?: string }
}

interface ChatChunk {
  choices?: { delta?: { content?: string | null; refusal?: string | null; tool_calls?: ChunkToolCall[] }; finish_reason?: string | null }[]
  usage?: Usage | null
  error?: { message?: string }
}

const FINISH: Record<string, FinishReason> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  content_filter: 'content_filter',
}

/**
 * Any OpenAI-compatible Chat Completions endpoint, spoken to directly with `fetch` and an SSE
 * parser: the hot path of every streamed run, kept free of adapter layers (see bench/stream.ts).
 */
export class OpenAICompatibleProvider implements Provider {
  readonly name: string

  constructor(
    private readonly config: ProviderConfig,
    private readonly idleTimeoutMs: number,
  ) {
    this.name = config.name
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<StreamPart> {
    const controller = new AbortController()
    const onAbort = () => controller.abort(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    // An upstream that stops sending (before or during the stream) is a timeout, not a hang.
    let timer: NodeJS.Timeout | undefined
    let timedOut = false
    const arm = () => {
      clearTimeout(timer)
      timer = setTimeout(() => {
        timedOut = true
        controller.abort()
      }, this.idleTimeoutMs)
    }
    try {
      arm()
      let response: Response
      try {
        response = await fetch(this.config.baseURL.replace(/\/$/, '') + '/chat/completions', {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'text/event-stream',
            ...(this.config.apiKey ? { authorization: `Bearer ${this.config.apiKey}` } : {}),
          },
          body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
          signal: controller.signal,
        })
      } catch (err) {
        throw this.transportError(err, signal, timedOut)
      }
      if (!response.ok) throw await httpError(response)
      if (!response.body) throw new ProviderError('bad_response', 'Upstream sent no body.')
      if (response.headers.get('content-type')?.includes('application/json')) {
        // Some OpenAI-compatible servers ignore `stream: true` and answer with one completion.
        yield* completionParts(await readJson(response))
        return
      }

      const toolIndexes = new Set<number>()
      let finish: FinishReason | null = null
      let usage: Usage | null = null
      let sawDone = false
      try {
        // One network chunk often carries many tokens: their text goes out as one delta, so a
        // fast upstream costs one event per chunk downstream, not one per token.
        outer: for await (const events of sseBatches(response.body, arm)) {
          let text = ''
          const parts: StreamPart[] = []
          for (const event of events) {
            if (event.data === '[DONE]') {
              sawDone = true
              // In arrival order: text that came after tool calls stays after them.
              if (text) parts.push({ type: 'text-delta', text })
              yield* parts
              break outer
            }
            let chunk: ChatChunk
            try {
              chunk = JSON.parse(event.data) as ChatChunk
            } catch {
              throw new ProviderError('bad_response', 'Upstream sent malformed JSON in its stream.')
            }
            if (chunk.error) throw new ProviderError('server', `Upstream error: ${chunk.error.message ?? 'unknown'}`)
            if (chunk.usage) usage = chunk.usage
            const choice = chunk.choices?.[0]
            if (!choice) continue
            const delta = choice.delta
            if (delta?.content) text += delta.content
            if (delta?.refusal) {
              if (text) parts.push({ type: 'text-delta', text })
              text = ''
              parts.push({ type: 'refusal-delta', text: delta.refusal })
            }
            for (const call of delta?.tool_calls ?? []) {
              if (text) {
                parts.push({ type: 'text-delta', text })
                text = ''
              }
              const index = call.index ?? 0
              if (!toolIndexes.has(index)) {
                toolIndexes.add(index)
                parts.push({ type: 'tool-call-start', index, id: call.id ?? `call_${index}`, name: call.function?.name ?? '' })
              }
              if (call.function?.arguments) parts.push({ type: 'tool-call-delta', index, arguments: call.function.arguments })
            }
            if (choice.finish_reason) finish = FINISH[choice.finish_reason] ?? 'other'
          }
          if (text) parts.push({ type: 'text-delta', text })
          yield* parts
        }
      } catch (err) {
        if (err instanceof ProviderError) throw err
        throw this.transportError(err, signal, timedOut)
      }
      // A stream that ended with [DONE] but never said why is taken at its word.
      if (finish === null && sawDone) finish = toolIndexes.size > 0 ? 'tool_calls' : 'stop'
      if (finish === null) throw new ProviderError('bad_response', 'Upstream stream ended without a finish reason.')
      yield { type: 'finish', reason: finish, usage }
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      controller.abort()
    }
  }

  private transportError(err: unknown, signal: AbortSignal, timedOut: boolean): Error {
    if (signal.aborted) return signal.reason instanceof Error ? signal.reason : new Error('aborted')
    if (timedOut) return new ProviderError('timeout', `Upstream did not respond within ${this.idleTimeoutMs} ms.`)
    return new ProviderError('server', `Upstream connection failed: ${(err as Error)?.message ?? String(err)}`)
  }
}

/**
 * SSE events of a response body, one batch per network chunk. Reads the body directly and parses
 * each chunk in one go (no web TransformStreams), so a burst of tokens costs one await.
 */
async function* sseBatches(body: ReadableStream<Uint8Array>, onChunk: () => void): AsyncGenerator<EventSourceMessage[]> {
  const decoder = new TextDecoder()
  let ready: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (e) => ready.push(e) })
  const reader = body.getReader()
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      onChunk()
      parser.feed(decoder.decode(value, { stream: true }))
      if (ready.length === 0) continue
      const batch = ready
      ready = []
      yield batch
    }
  } finally {
    reader.releaseLock()
  }
}

interface ChatCompletion {
  choices?: {
    message?: { content?: string | null; refusal?: string | null; tool_calls?: { id?: string; function?: { name?: string; arguments?: string } }[] }
    finish_reason?: string | null
  }[]
  usage?: Usage | null
}

async function readJson(response: Response): Promise<ChatCompletion> {
  try {
    return (await response.json()) as ChatCompletion
  } catch {
    throw new ProviderError('bad_response', 'Upstream sent malformed JSON.')
  }
}

/** A non-streamed chat completion as the same parts a stream would give. */
function* completionParts(completion: ChatCompletion): Generator<StreamPart> {
  const choice = completion.choices?.[0]
  if (!choice?.message) throw new ProviderError('bad_response', 'Upstream completion has no message.')
  const { content, refusal, tool_calls } = choice.message
  if (content) yield { type: 'text-delta', text: content }
  if (refusal) yield { type: 'refusal-delta', text: refusal }
  for (const [index, call] of (tool_calls ?? []).entries()) {
    yield { type: 'tool-call-start', index, id: call.id ?? `call_${index}`, name: call.function?.name ?? '' }
    if (call.function?.arguments) yield { type: 'tool-call-delta', index, arguments: call.function.arguments }
  }
  const reason = choice.finish_reason ? (FINISH[choice.finish_reason] ?? 'other') : tool_calls?.length ? 'tool_calls' : 'stop'
  yield { type: 'finish', reason, usage: completion.usage ?? null }
}

async function httpError(response: Response): Promise<ProviderError> {
  let detail = ''
  try {
    const body = (await response.json()) as { error?: { message?: string } }
    detail = body?.error?.message ?? ''
  } catch {
    /* body was not JSON */
  }
  const message = `Upstream returned HTTP ${response.status}${detail ? `: ${detail}` : ''}`
  if (response.status === 429) return new ProviderError('rate_limit', message, 429)
  if (response.status >= 500 || response.status === 408) return new ProviderError('server', message, response.status)
  return new ProviderError('invalid_request', message, response.status)
}
