/** Raw SSE reading and schema validation for the tests. */
import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsImport from 'ajv-formats'
import { EventSourceParserStream } from 'eventsource-parser/stream'

const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => void
const schema = JSON.parse(readFileSync(new URL('../../spec/stream-events.schema.json', import.meta.url), 'utf8'))
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true })
addFormats(ajv)
const validate = ajv.compile(schema) as unknown as ((data: unknown) => boolean) & { errors?: unknown }

export interface SseEvent {
  id?: string
  event: string
  data: any
}

/** Throws with the schema's complaint if an event does not validate. */
export function assertValidEvent(e: { event: string; data: unknown }): void {
  if (!validate(e)) {
    throw new Error(`event ${e.event} does not match the schema: ${ajv.errorsText(validate.errors as never)}\n${JSON.stringify(e.data).slice(0, 800)}`)
  }
}

/** The events of an SSE response as they arrive, each validated. */
export async function* sseEvents(response: Response): AsyncGenerator<SseEvent> {
  const stream = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())
  for await (const msg of stream) {
    const data = msg.data === '[DONE]' ? '[DONE]' : JSON.parse(msg.data)
    const e = { id: msg.id, event: msg.event ?? 'message', data }
    assertValidEvent(e)
    yield e
  }
}

/** Read a whole SSE response, validating each event. */
export async function readSse(response: Response): Promise<SseEvent[]> {
  const out: SseEvent[] = []
  for await (const e of sseEvents(response)) out.push(e)
  return out
}

/**
 * Event names in order, with each run of consecutive `thread.message.delta` shown once: how many
 * deltas a text arrives in depends on network chunking (Threadline merges tokens that arrive
 * together), so tests assert the sequence and the concatenated text, not the delta count.
 */
export const names = (events: { event: string }[]) =>
  events.map((e) => e.event).filter((name, i, all) => !(name === 'thread.message.delta' && all[i - 1] === 'thread.message.delta'))

/** The text of a message's deltas, concatenated. */
export const deltaText = (events: { event: string; data: any }[]) =>
  events
    .filter((e) => e.event === 'thread.message.delta')
    .map((e) => e.data.delta.content?.find((c: any) => c.type === 'text')?.text?.value ?? '')
    .join('')

/** Drain an SDK stream (or any async iterable of events), validating each event. */
export async function collectEvents(stream: AsyncIterable<{ event: string; data: unknown }>): Promise<{ event: string; data: any }[]> {
  const events: { event: string; data: any }[] = []
  for await (const e of stream) {
    assertValidEvent(e)
    events.push(e)
  }
  return events
}

/** What a run that answers with text streams after it is queued (OpenAI's documented order). */
export const TEXT_ANSWER_EVENTS = [
  'thread.run.in_progress',
  'thread.run.step.created',
  'thread.run.step.in_progress',
  'thread.message.created',
  'thread.message.in_progress',
  'thread.message.delta',
  'thread.message.completed',
  'thread.run.step.completed',
  'thread.run.completed',
]

/** A new run answering with text: created, queued, then the answer. */
export const TEXT_RUN_EVENTS = ['thread.run.created', 'thread.run.queued', ...TEXT_ANSWER_EVENTS]

/** A new run whose model calls functions: its tool_calls step, `deltas` step deltas, then requires_action. */
export function functionCallRunEvents(deltas: number): string[] {
  return [
    'thread.run.created',
    'thread.run.queued',
    'thread.run.in_progress',
    'thread.run.step.created',
    'thread.run.step.in_progress',
    ...Array<string>(deltas).fill('thread.run.step.delta'),
    'thread.run.requires_action',
  ]
}
