import type { ChatTool } from '../providers/types.ts'
import type { Annotation, ToolCall } from '../protocol/objects.ts'
import type { RunRow } from '../store/tables.ts'
import type { Logger } from '../log.ts'

export interface ToolContext {
  run: RunRow
  project: string
  signal: AbortSignal
  log: Logger
}

/**
 * A tool found that the run cannot go on (e.g. an expired vector store): the run fails with this
 * `last_error`, not as a server error.
 */
export class RunFailure extends Error {
  constructor(
    readonly code: 'server_error' | 'invalid_prompt',
    message: string,
  ) {
    super(message)
  }
}

/** What a server-side tool produced: the step's tool call, and what the model is told. */
export interface ToolResult {
  call: ToolCall
  modelOutput: string
}

/**
 * A tool Threadline runs itself (file_search, code_interpreter). Function tools are the client's
 * and never reach this interface: they stop the run at `requires_action`.
 */
export interface ServerTool {
  readonly type: 'file_search' | 'code_interpreter'
  /** The function definition the model sees. */
  describe(run: RunRow): ChatTool
  /**
   * The empty tool call announced in the first step delta; with `argumentsSoFar`, the call as far
   * as the model wrote it (a call cut off by the token limit is stored like that, unexecuted, so it
   * shows what `argumentsDelta` already streamed).
   */
  initialCall(id: string, argumentsSoFar?: string): ToolCall
  execute(id: string, argumentsJson: string, ctx: ToolContext): Promise<ToolResult>
  /**
   * The step delta for what the model just added to the call's arguments while streaming them
   * (e.g. code_interpreter's `input`), or null when nothing shows yet.
   */
  argumentsDelta?(before: string, after: string): Record<string, unknown> | null
  /**
   * The step delta announcing the finished call (without `id`, sent in the first delta). With
   * `inputStreamed`, what `argumentsDelta` already sent must not be repeated.
   */
  resultDelta?(call: ToolCall, inputStreamed: boolean): Record<string, unknown>
  /** Replays a finished call into a later prompt. */
  render(call: ToolCall): { name: string; arguments: string; output: string }
  /**
   * Annotations for the final text of an assistant message, given this run's earlier tool calls
   * (file_search → `file_citation`, code_interpreter → `file_path`). May rewrite markers in the
   * text; returns the text to store and its annotations (indexes into that text).
   */
  annotate?(text: string, calls: ToolCall[], ctx: ToolContext): Promise<{ text: string; annotations: Annotation[] }>
  /** Files the tool produced that the message shows as content parts (e.g. plot images). */
  extraContent?(calls: ToolCall[]): Array<{ type: 'image_file'; image_file: { file_id: string } }>
}
