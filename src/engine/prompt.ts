import type { ChatContentPart, ChatMessage } from '../providers/types.ts'
import type { MessageRow, RunStepRow } from '../store/tables.ts'
import type { Message, ToolCall } from '../protocol/objects.ts'
import type { TruncationStrategy } from '../protocol/schemas.ts'
import { countTokens } from '../text/tokens.ts'
import { runInstructions } from '../store/repos/runs.ts'

export interface PromptInput {
  instructions: string
  additionalInstructions?: string | null
  /** The thread's messages in order, excluding those written by the current run. */
  history: MessageRow[]
  /** The current run's steps in order, with the messages they created. */
  runSteps: { step: RunStepRow; message?: MessageRow }[]
  truncation: TruncationStrategy | null
  maxPromptTokens: number | null
  /** How a server-side tool call is shown back to the model. */
  renderToolCall: (call: ToolCall) => { name: string; arguments: string; output: string }
  /** Data URLs of the images that `image_file` parts name (null: not an image, or gone). */
  imageFiles?: ReadonlyMap<string, string | null>
}

export interface Prompt {
  messages: ChatMessage[]
  /** Counted only when a `max_prompt_tokens` budget applies. */
  promptTokens: number | null
  /** The prompt still exceeds max_prompt_tokens after truncation. */
  overBudget: boolean
}

function messageText(content: Message['content']): string {
  return content
    .map((part) => (part.type === 'text' ? part.text.value : part.type === 'refusal' ? part.refusal : ''))
    .filter(Boolean)
    .join('\n')
}

function toChat(row: MessageRow, imageFiles: ReadonlyMap<string, string | null>): ChatMessage {
  const content = row.content as Message['content']
  if (row.role === 'assistant') return { role: 'assistant', content: messageText(content) }
  const parts: ChatContentPart[] = []
  for (const p of content) {
    if (p.type === 'text') parts.push({ type: 'text', text: p.text.value })
    else if (p.type === 'image_url') parts.push({ type: 'image_url', image_url: { url: p.image_url.url, detail: p.image_url.detail } })
    else if (p.type === 'image_file') {
      const url = imageFiles.get(p.image_file.file_id)
      if (url) parts.push({ type: 'image_url', image_url: { url, detail: p.image_file.detail } })
    }
  }
  if (parts.every((p) => p.type === 'text')) return { role: 'user', content: messageText(content) }
  return { role: 'user', content: parts }
}

function runStepMessages(input: PromptInput): ChatMessage[] {
  const out: ChatMessage[] = []
  for (const { step, message } of input.runSteps) {
    const details = step.step_details as { type: string; tool_calls?: ToolCall[] }
    if (details.type === 'message_creation' && message) {
      out.push({ role: 'assistant', content: messageText(message.content as Message['content']) })
    } else if (details.type === 'tool_calls' && details.tool_calls?.length) {
      const rendered = details.tool_calls.map((call) => ({ id: call.id, ...input.renderToolCall(call) }))
      out.push({
        role: 'assistant',
        content: null,
        tool_calls: rendered.map((r) => ({ id: r.id, type: 'function', function: { name: r.name, arguments: r.arguments } })),
      })
      for (const r of rendered) out.push({ role: 'tool', tool_call_id: r.id, content: r.output })
    }
  }
  return out
}

function tokensOf(m: ChatMessage): number {
  // ~4 tokens of framing per message, as OpenAI's chat format adds.
  let text = ''
  if (typeof m.content === 'string') text = m.content
  else if (Array.isArray(m.content)) text = m.content.map((p) => (p.type === 'text' ? p.text : '')).join('')
  if (m.role === 'assistant' && m.tool_calls) text += m.tool_calls.map((c) => c.function.name + c.function.arguments).join('')
  return 4 + countTokens(text)
}

/** Build the chat messages for one model call, applying the run's truncation strategy. */
export function buildPrompt(input: PromptInput): Prompt {
  // The same text the run object shows as its `instructions`.
  const system = runInstructions({ instructions: input.instructions, additional_instructions: input.additionalInstructions })
  const head: ChatMessage[] = system ? [{ role: 'system', content: system }] : []
  const imageFiles = input.imageFiles ?? new Map<string, string | null>()
  let history = input.history.map((row) => toChat(row, imageFiles))
  if (input.truncation?.type === 'last_messages' && input.truncation.last_messages) {
    history = history.slice(-input.truncation.last_messages)
  }
  const tail = runStepMessages(input)
  if (!input.maxPromptTokens) {
    // No budget to respect: skip tokenizing on the hot path.
    return { messages: [...head, ...history, ...tail], promptTokens: null, overBudget: false }
  }
  const fixed = [...head, ...tail].reduce((n, m) => n + tokensOf(m), 0)
  const historyTokens = history.map(tokensOf)
  let total = fixed + historyTokens.reduce((a, b) => a + b, 0)
  // Drop the oldest messages until the prompt fits; always keep the newest one.
  let drop = 0
  while (total > input.maxPromptTokens && drop < history.length - 1) total -= historyTokens[drop++]
  history = history.slice(drop)
  return {
    messages: [...head, ...history, ...tail],
    promptTokens: total,
    overBudget: total > input.maxPromptTokens,
  }
}
