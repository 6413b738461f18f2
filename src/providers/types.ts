/**
 * The one interface between the engine and upstream LLMs. Providers translate their wire format
 * into `StreamPart`s; the engine never sees an upstream's wire format.
 */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool'

export type ChatContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: string } }

export interface ChatToolCall {
  id: string
  type: 'function'
  function: { name: string; arguments: string }
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | ChatContentPart[] }
  | { role: 'assistant'; content: string | null; tool_calls?: ChatToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string }

export interface ChatTool {
  type: 'function'
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null }
}

export type ChatToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } }

export interface ChatRequest {
  model: string
  messages: ChatMessage[]
  tools?: ChatTool[]
  tool_choice?: ChatToolChoice
  parallel_tool_calls?: boolean
  temperature?: number
  top_p?: number
  max_tokens?: number
  response_format?: Record<string, unknown>
  reasoning_effort?: string
}

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export const ZERO_USAGE: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other'

export type StreamPart =
  | { type: 'text-delta'; text: string }
  /** The model declined (Chat Completions' `delta.refusal`, e.g. under a strict json_schema). */
  | { type: 'refusal-delta'; text: string }
  | { type: 'tool-call-start'; index: number; id: string; name: string }
  | { type: 'tool-call-delta'; index: number; arguments: string }
  | { type: 'finish'; reason: FinishReason; usage: Usage | null }

export type ProviderErrorKind = 'rate_limit' | 'server' | 'timeout' | 'bad_response' | 'invalid_request' | 'not_configured'

/** An upstream failure. `retryable` errors are retried when nothing was streamed yet. */
export class ProviderError extends Error {
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message)
  }

  get retryable(): boolean {
    return this.kind === 'server' || this.kind === 'timeout' || this.kind === 'bad_response' || this.kind === 'rate_limit'
  }
}

export interface Provider {
  readonly name: string
  stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<StreamPart>
}
