import { notFound } from '../../protocol/errors.ts'
import type { RunStep } from '../../protocol/objects.ts'
import type { LoggedEvent } from '../../protocol/events.ts'
import type { Db } from '../db.ts'
import { listPage, type ListQuery } from '../pagination.ts'
import type { RunStepRow } from '../tables.ts'

export const FILE_SEARCH_CONTENT_INCLUDE = 'step_details.tool_calls[*].file_search.results[*].content'

export function stepToWire(row: RunStepRow, opts: { includeFileSearchContent?: boolean } = {}): RunStep {
  let details = row.step_details as unknown as RunStep['step_details']
  if (!opts.includeFileSearchContent && details.type === 'tool_calls') details = withoutResultContent(details)
  return {
    id: row.id,
    object: 'thread.run.step',
    created_at: row.created_at,
    assistant_id: row.assistant_id,
    thread_id: row.thread_id,
    run_id: row.run_id,
    type: row.type as RunStep['type'],
    status: row.status as RunStep['status'],
    step_details: details,
    last_error: row.last_error as RunStep['last_error'],
    expired_at: row.expired_at,
    cancelled_at: row.cancelled_at,
    failed_at: row.failed_at,
    completed_at: row.completed_at,
    metadata: row.metadata,
    usage: row.usage as RunStep['usage'],
  }
}

/** file_search results carry their chunk text only when `include[]` asks for it. */
function withoutResultContent(details: RunStep['step_details']): RunStep['step_details'] {
  if (details.type !== 'tool_calls') return details
  return {
    ...details,
    tool_calls: details.tool_calls.map((call) => {
      if (call.type !== 'file_search' || !call.file_search.results) return call
      return {
        ...call,
        file_search: { ...call.file_search, results: call.file_search.results.map(({ content: _c, ...rest }) => rest) },
      }
    }),
  }
}

/**
 * A `thread.run.step.completed` event without file_search result content: the engine publishes
 * the content, and streams show it only when `include[]` asks. Other events pass unchanged,
 * without a parse.
 */
export function eventWithoutResultContent(e: LoggedEvent): LoggedEvent {
  if (e.event !== 'thread.run.step.completed' || !e.data.includes('"file_search"')) return e
  const step = JSON.parse(e.data) as RunStep
  return { ...e, data: JSON.stringify({ ...step, step_details: withoutResultContent(step.step_details) }) }
}

export async function getStepRow(db: Db, project: string, runId: string, id: string): Promise<RunStepRow> {
  const row = await db
    .selectFrom('run_steps')
    .selectAll()
    .where('id', '=', id)
    .where('run_id', '=', runId)
    .where('project_id', '=', project)
    .executeTakeFirst()
  if (!row) throw notFound('run step', id)
  return row
}

export async function runStepRows(db: Db, runId: string): Promise<RunStepRow[]> {
  return db.selectFrom('run_steps').selectAll().where('run_id', '=', runId).orderBy('seq').execute()
}

export function listSteps(db: Db, runId: string, q: ListQuery, includeContent: boolean) {
  return listPage(db, 'run_steps', { run_id: runId }, q, (row: RunStepRow) => stepToWire(row, { includeFileSearchContent: includeContent }))
}
