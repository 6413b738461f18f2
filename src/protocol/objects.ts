/**
 * Wire object types. The official `openai` SDK's types are generated from OpenAI's OpenAPI spec,
 * so we take them from there instead of writing the same shapes a second time. Type-only imports:
 * nothing of the SDK is loaded at run time.
 */
import type * as A from 'openai/resources/beta/assistants'
import type * as T from 'openai/resources/beta/threads/threads'
import type * as M from 'openai/resources/beta/threads/messages'
import type * as R from 'openai/resources/beta/threads/runs/runs'
import type * as S from 'openai/resources/beta/threads/runs/steps'

/** The SDK's type lags the spec here: assistants carry `reasoning_effort` too. */
export type Assistant = A.Assistant & { reasoning_effort: string | null }
export type AssistantTool = A.AssistantTool
export type AssistantStreamEvent = A.AssistantStreamEvent
export type Thread = T.Thread
export type Message = M.Message
export type MessageContent = M.MessageContent
export type MessageDeltaEvent = M.MessageDeltaEvent
export type Annotation = M.Annotation
export type Run = R.Run
export type RunStatus = R.RunStatus
export type RunStep = S.RunStep
export type RunStepDeltaEvent = S.RunStepDeltaEvent
export type ToolCall = S.ToolCall
export type ToolCallDelta = S.ToolCallDelta
export type FunctionToolCall = S.FunctionToolCall
export type RequiredActionFunctionToolCall = R.RequiredActionFunctionToolCall

export interface ListPage<T> {
  object: 'list'
  data: T[]
  first_id: string | null
  last_id: string | null
  has_more: boolean
}

export interface Deleted<O extends string> {
  id: string
  object: O
  deleted: true
}
