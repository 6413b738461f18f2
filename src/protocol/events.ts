import type { AssistantStreamEvent } from './objects.ts'

/**
 * Every event a run can emit: OpenAI's `AssistantStreamEvent` union plus the terminal `done`.
 * The engine publishes only these, and the SSE encoder writes only these.
 */
export type StreamEvent = AssistantStreamEvent | { event: 'done'; data: '[DONE]' }
export type StreamEventName = StreamEvent['event']

export const DONE: StreamEvent = { event: 'done', data: '[DONE]' }

/** An event as kept in a run's log: its place in the run's sequence and its encoded data. */
export interface LoggedEvent {
  seq: number
  event: StreamEventName
  /** JSON of `data` (or the literal `[DONE]`), encoded once when published. */
  data: string
}

export function encodeData(e: StreamEvent): string {
  return e.event === 'done' ? '[DONE]' : JSON.stringify(e.data)
}
