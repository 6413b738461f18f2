import { createAnthropic } from '@ai-sdk/anthropic'
import { createGoogle } from '@ai-sdk/google'
import { createOpenAICompatible } from '@ai-sdk/openai-compatible'
import {
  APICallError,
  InvalidPromptError,
  InvalidResponseDataError,
  JSONParseError,
  Output,
  RetryError,
  ToolChoiceViolationError,
  TypeValidationError,
  UnsupportedFunctionalityError,
  jsonSchema,
  streamText,
  tool,
  type LanguageModel,
  type LanguageModelUsage,
  type ModelMessage,
  type TextStreamPart,
  type ToolCallPart,
  type ToolResultPart,
  type ToolSet,
  type UserContent,
} from 'ai'
import type { ProviderConfig, ProviderKind } from '../config.ts'
import type { Logger } from '../log.ts'
import {
  ProviderError,
  type ChatContentPart,
  type ChatMessage,
  type ChatRequest,
  type ChatToolChoice,
  type FinishReason,
  type Provider,
  type StreamPart,
  type Usage,
} from './types.ts'

type SdkKind = Exclude<ProviderKind, 'openai-compatible'>
type SdkPart = TextStreamPart<ToolSet>
type ProviderOptions = NonNullable<Parameters<typeof streamText>[0]['providerOptions']>
type Reasoning = NonNullable<Parameters<typeof streamText>[0]['reasoning']>

const FINISH: Partial<Record<string, FinishReason>> = {
  stop: 'stop',
  length: 'length',
  'tool-calls': 'tool_calls',
  'content-filter': 'content_filter',
  other: 'other',
}

const MAX_CACHED_MODELS = 64

/** OpenAI's `reasoning_effort` values that the AI SDK's portable `reasoning` option knows. */
const REASONING = new Set(['none', 'minimal', 'low', 'medium', 'high', 'xhigh'])

/**
 * Any model the Vercel AI SDK can reach (OpenAI-compatible, Anthropic, Google …) behind our
 * `Provider` interface. The engine keeps its own retry policy, so the SDK's retries are off; the
 * SDK's stream parts become our `StreamPart`s, and text that arrives in one burst goes out as one
 * delta, as the direct provider does per network chunk.
 */
export class AiSdkProvider implements Provider {
  readonly name: string
  private readonly newModel: (id: string) => LanguageModel
  /** Model handles by id: building one costs ≈ 0.5 ms (schemas); bounded, as model names are user input. */
  private readonly models = new Map<string, LanguageModel>()

  constructor(
    private readonly config: ProviderConfig & { kind: SdkKind },
    private readonly idleTimeoutMs: number,
    private readonly log?: Logger,
  ) {
    this.name = config.name
    this.newModel = modelFactory(config)
    // The SDK prints call warnings (e.g. an unsupported setting) to stderr; ours go to the log.
    if (log) (globalThis as { AI_SDK_LOG_WARNINGS?: unknown }).AI_SDK_LOG_WARNINGS ??= false
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<StreamPart> {
    const controller = new AbortController()
    const onAbort = () => controller.abort(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    const idle = new IdleTimer(this.idleTimeoutMs, () => controller.abort(new ProviderError('timeout', `Upstream did not respond within ${this.idleTimeoutMs} ms.`)))
    const fail = (err: unknown): Error => {
      if (signal.aborted) return signal.reason instanceof Error ? signal.reason : new Error('aborted')
      if (controller.signal.reason instanceof ProviderError) return controller.signal.reason
      return toProviderError(err)
    }

    let result: ReturnType<typeof streamText>
    try {
      result = streamText({
        model: this.model(request.model),
        messages: toModelMessages(request.messages),
        allowSystemInMessages: true,
        ...(request.tools?.length ? { tools: toToolSet(request), toolChoice: toToolChoice(request.tool_choice) } : {}),
        temperature: request.temperature,
        topP: request.top_p,
        maxOutputTokens: request.max_tokens,
        ...(request.reasoning_effort && REASONING.has(request.reasoning_effort) ? { reasoning: request.reasoning_effort as Reasoning } : {}),
        ...outputFor(request.response_format),
        providerOptions: this.providerOptions(request),
        maxRetries: 0, // the engine retries, and only while nothing was streamed
        abortSignal: controller.signal,
        onError: () => {}, // errors reach us as stream parts; the default handler would print them
      })
    } catch (err) {
      throw fail(err)
    }

    const reader = result.stream.getReader()
    const toolIndex = new Map<string, number>()
    let finish: StreamPart | null = null
    try {
      for await (const batch of bursts(reader)) {
        idle.touch()
        let text = ''
        const out: StreamPart[] = []
        for (const part of batch) {
          if (part.type === 'text-delta') {
            text += part.text
            continue
          }
          const mapped = this.mapPart(part, toolIndex, fail)
          if (!mapped) continue
          if (text) out.push({ type: 'text-delta', text })
          text = ''
          if (mapped.type === 'finish') finish = mapped
          else out.push(mapped)
        }
        if (text) out.push({ type: 'text-delta', text })
        yield* out
      }
    } catch (err) {
      throw fail(err)
    } finally {
      idle.stop()
      signal.removeEventListener('abort', onAbort)
      controller.abort()
      reader.cancel().catch(() => {})
    }
    if (!finish) throw new ProviderError('bad_response', 'Upstream stream ended without a finish reason.')
    yield finish
  }

  private mapPart(part: SdkPart, toolIndex: Map<string, number>, fail: (err: unknown) => Error): StreamPart | null {
    switch (part.type) {
      case 'tool-input-start': {
        if (part.providerExecuted) return null
        const index = toolIndex.size
        toolIndex.set(part.id, index)
        return { type: 'tool-call-start', index, id: part.id, name: part.toolName }
      }
      case 'tool-input-delta': {
        const index = toolIndex.get(part.id)
        return index === undefined || !part.delta ? null : { type: 'tool-call-delta', index, arguments: part.delta }
      }
      case 'finish': {
        const reason = FINISH[part.finishReason]
        // `interrupted`: the stream ended without the upstream saying it was done.
        if (!reason) throw new ProviderError('bad_response', `Upstream stream ended abnormally (${part.finishReason}).`)
        return { type: 'finish', reason, usage: toUsage(part.totalUsage) }
      }
      case 'error':
        throw fail(part.error)
      case 'abort':
        throw fail(new Error(part.reason ?? 'aborted'))
      case 'start-step':
        if (part.warnings.length) this.log?.warn({ provider: this.name, warnings: part.warnings }, 'AI SDK call warnings')
        return null
      default:
        // start/step markers, text-start/-end, tool-input-end, the assembled tool-call (its id,
        // name and arguments were already streamed), reasoning: nothing the engine needs.
        return null
    }
  }

  private model(id: string): LanguageModel {
    let model = this.models.get(id)
    if (!model) {
      if (this.models.size >= MAX_CACHED_MODELS) this.models.delete(this.models.keys().next().value!)
      this.models.set(id, (model = this.newModel(id)))
    }
    return model
  }

  /** Settings the portable options do not cover, in each provider's own namespace. */
  private providerOptions(request: ChatRequest): ProviderOptions {
    const kind = this.config.kind
    const serial = request.parallel_tool_calls === false && !!request.tools?.length
    if (kind === 'ai-sdk-openai-compatible') {
      const schema = request.response_format?.type === 'json_schema' ? (request.response_format.json_schema as { strict?: boolean | null } | undefined) : undefined
      // Keys other than the SDK's own go into the request body as they are. The SDK reads them
      // under the provider name up to its first dot, preferably camel-cased.
      const key = this.config.name.split('.')[0].trim().replace(/[_-]([a-z])/g, (g) => g[1].toUpperCase())
      return {
        [key]: {
          ...(serial ? { parallel_tool_calls: false } : {}),
          ...(schema ? { strictJsonSchema: schema.strict === true } : {}),
        },
      }
    }
    if (kind === 'anthropic') return serial ? { anthropic: { disableParallelToolUse: true } } : {}
    return {} // Gemini has no switch for parallel function calls
  }
}

function modelFactory(config: ProviderConfig & { kind: SdkKind }): (id: string) => LanguageModel {
  switch (config.kind) {
    case 'ai-sdk-openai-compatible': {
      const provider = createOpenAICompatible({
        name: config.name,
        baseURL: config.baseURL,
        apiKey: config.apiKey,
        includeUsage: true,
        supportsStructuredOutputs: true,
      })
      return (id) => provider.chatModel(id)
    }
    case 'anthropic': {
      const provider = createAnthropic({ baseURL: config.baseURL, apiKey: config.apiKey })
      return (id) => provider.languageModel(id)
    }
    case 'google': {
      const provider = createGoogle({ baseURL: config.baseURL, apiKey: config.apiKey })
      return (id) => provider.languageModel(id)
    }
  }
}

// ---- request mapping ----------------------------------------------------------------------------

export function toModelMessages(messages: ChatMessage[]): ModelMessage[] {
  const toolNames = new Map<string, string>()
  const out: ModelMessage[] = []
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        out.push({ role: 'system', content: message.content })
        break
      case 'user':
        out.push({ role: 'user', content: typeof message.content === 'string' ? message.content : message.content.map(toUserPart) })
        break
      case 'assistant': {
        if (!message.tool_calls?.length) {
          out.push({ role: 'assistant', content: message.content ?? '' })
          break
        }
        const calls: ToolCallPart[] = message.tool_calls.map((call) => {
          toolNames.set(call.id, call.function.name)
          return { type: 'tool-call', toolCallId: call.id, toolName: call.function.name, input: parseArguments(call.function.arguments) }
        })
        out.push({ role: 'assistant', content: [...(message.content ? [{ type: 'text' as const, text: message.content }] : []), ...calls] })
        break
      }
      case 'tool': {
        const result: ToolResultPart = {
          type: 'tool-result',
          toolCallId: message.tool_call_id,
          toolName: toolNames.get(message.tool_call_id) ?? '',
          output: { type: 'text', value: message.content },
        }
        // Results of one turn's calls travel together (Anthropic wants them in one message).
        const previous = out.at(-1)
        if (previous?.role === 'tool') previous.content.push(result)
        else out.push({ role: 'tool', content: [result] })
        break
      }
    }
  }
  return out
}

function toUserPart(part: ChatContentPart): Exclude<UserContent, string>[number] {
  if (part.type === 'text') return { type: 'text', text: part.text }
  const url = part.image_url.url
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url)
  if (data) return { type: 'file', data: data[2], mediaType: data[1] }
  return { type: 'file', data: new URL(url), mediaType: 'image' }
}

/** Tool-call arguments as the object the SDK expects; text that is not JSON is passed on as is. */
function parseArguments(args: string): unknown {
  try {
    return JSON.parse(args)
  } catch {
    return args
  }
}

function toToolSet(request: ChatRequest): ToolSet {
  const tools: ToolSet = {}
  for (const { function: fn } of request.tools ?? []) {
    tools[fn.name] = tool({
      description: fn.description,
      // No execute function: the SDK reports the calls and the client (or the engine) runs them.
      inputSchema: jsonSchema((fn.parameters ?? { type: 'object', properties: {} }) as Parameters<typeof jsonSchema>[0]),
      ...(fn.strict != null ? { strict: fn.strict } : {}),
    })
  }
  return tools
}

function toToolChoice(choice: ChatToolChoice | undefined) {
  if (choice === undefined || typeof choice === 'string') return choice
  return { type: 'tool' as const, toolName: choice.function.name }
}

function outputFor(format: Record<string, unknown> | undefined) {
  if (format?.type === 'json_object') return { output: Output.json() }
  if (format?.type === 'json_schema') {
    const spec = format.json_schema as { name?: string; description?: string; schema?: Record<string, unknown> } | undefined
    return {
      output: Output.object({
        schema: jsonSchema((spec?.schema ?? {}) as Parameters<typeof jsonSchema>[0]),
        name: spec?.name,
        description: spec?.description,
      }),
    }
  }
  return {}
}

// ---- response mapping ---------------------------------------------------------------------------

function toUsage(usage: LanguageModelUsage): Usage | null {
  if (usage.inputTokens === undefined && usage.outputTokens === undefined) return null
  const prompt = usage.inputTokens ?? 0
  const completion = usage.outputTokens ?? 0
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: usage.totalTokens ?? prompt + completion }
}

export function toProviderError(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err
  if (RetryError.isInstance(err)) return toProviderError(err.lastError)
  if (APICallError.isInstance(err)) {
    const status = err.statusCode
    if (status === undefined) return new ProviderError('server', `Upstream connection failed: ${err.message}`)
    // A 2xx here is a response that broke while it was being read.
    if (status < 300) return new ProviderError('server', `Upstream stream broke off: ${err.message}`)
    const message = `Upstream returned HTTP ${status}${err.message ? `: ${err.message}` : ''}`
    if (status === 429) return new ProviderError('rate_limit', message, status)
    if (status >= 500 || status === 408) return new ProviderError('server', message, status)
    return new ProviderError('invalid_request', message, status)
  }
  if (JSONParseError.isInstance(err) || TypeValidationError.isInstance(err)) {
    return new ProviderError('bad_response', 'Upstream sent malformed JSON in its stream.')
  }
  // The SDK checks `tool_choice` (required / a named function / none) against what the model did.
  if (ToolChoiceViolationError.isInstance(err)) return new ProviderError('bad_response', `Upstream ignored tool_choice: ${err.message}`)
  if (InvalidResponseDataError.isInstance(err)) return new ProviderError('bad_response', `Upstream sent an invalid response: ${err.message}`)
  if (InvalidPromptError.isInstance(err) || UnsupportedFunctionalityError.isInstance(err)) {
    return new ProviderError('invalid_request', `The request cannot be sent to this provider: ${err.message}`)
  }
  return new ProviderError('server', `Upstream call failed: ${(err as Error)?.message ?? String(err)}`)
}

// ---- stream plumbing ----------------------------------------------------------------------------

/**
 * The stream's parts in bursts: after a part arrives, everything else that arrives before the
 * event loop turns over joins it. A fast upstream then costs one downstream event per network
 * chunk rather than one per token; a slow one is not delayed (one turn of the loop at most).
 */
async function* bursts<T>(reader: ReadableStreamDefaultReader<T>): AsyncGenerator<T[]> {
  let pending: Promise<ReadableStreamReadResult<T>> | null = null
  try {
    for (;;) {
      const first = await (pending ?? reader.read())
      pending = null
      if (first.done) return
      const batch = [first.value]
      const turn = nextTurn()
      for (;;) {
        pending = reader.read()
        const next = await Promise.race([pending, turn])
        if (next === TURN) break
        pending = null
        if (next.done) {
          yield batch
          return
        }
        batch.push(next.value)
      }
      yield batch
    }
  } finally {
    // A read still in flight when the consumer stops settles with the cancelled stream.
    pending?.catch(() => {})
  }
}

const TURN = Symbol('turn')
const nextTurn = () => new Promise<typeof TURN>((resolve) => setImmediate(resolve, TURN))

/** Fires when nothing was heard for `ms`; touching it is cheap (no timer churn per part). */
class IdleTimer {
  private last = performance.now()
  private timer: NodeJS.Timeout

  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
  ) {
    this.timer = setTimeout(() => this.check(), ms)
  }

  touch() {
    this.last = performance.now()
  }

  stop() {
    clearTimeout(this.timer)
  }

  private check() {
    const left = this.ms - (performance.now() - this.last)
    if (left <= 0) this.onIdle()
    else this.timer = setTimeout(() => this.check(), left)
  }
}
