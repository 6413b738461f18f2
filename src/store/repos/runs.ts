import { notFound } from '../../protocol/errors.ts'
import type { Run } from '../../protocol/objects.ts'
import type { StoredToolResources } from '../../protocol/tool-resources.ts'
import type { Db } from '../db.ts'
import { listPage, type ListQuery } from '../pagination.ts'
import { sql } from 'kysely'
import type { AssistantRow, MessageRow, RunRow, RunUpdate } from '../tables.ts'

export const ACTIVE_RUN_STATUSES = ['queued', 'in_progress', 'requires_action', 'cancelling'] as const

/** Settings frozen on the run at creation (from the request, falling back to the assistant). */
export interface RunSettings {
  model: string
  instructions: string
  tools: Run['tools']
  temperature: number | null
  top_p: number | null
  max_prompt_tokens: number | null
  max_completion_tokens: number | null
  truncation_strategy: Run['truncation_strategy']
  response_format: Run['response_format']
  tool_choice: Run['tool_choice']
  parallel_tool_calls: boolean
  reasoning_effort: string | null
  /** Prompt-only inputs: not part of the wire object. */
  additional_instructions?: string | null
  /** createAndRun's top-level `tool_resources` (see tools/resources.ts): not part of the wire object. */
  tool_resources?: StoredToolResources
}

/**
 * The instructions the run uses, as its `instructions` field shows them: the assistant's (or the
 * run's override) with `additional_instructions` appended, joined as in the system prompt.
 */
export function runInstructions(s: Pick<RunSettings, 'instructions' | 'additional_instructions'>): string {
  return [s.instructions, s.additional_instructions].filter((part) => part && part.trim()).join('\n\n')
}

export function runToWire(row: RunRow): Run {
  const s = row.settings as unknown as RunSettings
  return {
    id: row.id,
    object: 'thread.run',
    created_at: row.created_at,
    thread_id: row.thread_id,
    assistant_id: row.assistant_id,
    status: row.status as Run['status'],
    required_action: row.required_action as Run['required_action'],
    last_error: row.last_error as Run['last_error'],
    expires_at: row.expires_at,
    started_at: row.started_at,
    cancelled_at: row.cancelled_at,
    failed_at: row.failed_at,
    completed_at: row.completed_at,
    incomplete_details: row.incomplete_details as Run['incomplete_details'],
    model: s.model,
    instructions: runInstructions(s),
    tools: s.tools,
    metadata: row.metadata,
    usage: row.usage as Run['usage'],
    temperature: s.temperature ?? 1,
    top_p: s.top_p ?? 1,
    max_prompt_tokens: s.max_prompt_tokens,
    max_completion_tokens: s.max_completion_tokens,
    truncation_strategy: s.truncation_strategy,
    response_format: s.response_format,
    tool_choice: s.tool_choice,
    parallel_tool_calls: s.parallel_tool_calls,
    reasoning_effort: s.reasoning_effort,
  } as Run
}

/**
 * What creating a run needs to know, in one query: the assistant, whether the thread exists in
 * the project, and the thread's active run if any. 404s as OpenAI (the thread's first).
 */
export async function runPrerequisites(
  db: Db,
  project: string,
  threadId: string,
  assistantId: string,
  opts: { withHistory?: boolean } = {},
): Promise<{ assistant: AssistantRow; activeRunId: string | null; history: MessageRow[] | null }> {
  const row = await db
    .selectFrom('assistants as a')
    .leftJoin('threads as t', (join) => join.on('t.id', '=', threadId).on('t.project_id', '=', project))
    // At most one: the database allows one active run per thread.
    .leftJoin('runs as r', (join) => join.on('r.thread_id', '=', threadId).on('r.status', 'in', ACTIVE_RUN_STATUSES))
    .selectAll('a')
    .select(['t.id as found_thread_id', 'r.id as active_run_id'])
    .$if(opts.withHistory === true, (q) =>
      q.select((eb) =>
        eb
          .selectFrom('messages as m')
          .select(sql<StoredMessage[]>`coalesce(json_agg(m order by m.seq), '[]')`.as('history'))
          .where('m.thread_id', '=', threadId)
          .as('history'),
      ),
    )
    .where('a.id', '=', assistantId)
    .where('a.project_id', '=', project)
    .executeTakeFirst()
  if (!row) {
    const thread = await db.selectFrom('threads').select('id').where('id', '=', threadId).where('project_id', '=', project).executeTakeFirst()
    throw thread ? notFound('assistant', assistantId) : notFound('thread', threadId)
  }
  const { found_thread_id, active_run_id, history, ...assistant } = row as typeof row & { history?: StoredMessage[] | null }
  if (!found_thread_id) throw notFound('thread', threadId)
  // As JSON, `seq` (bigint) comes back as a number; rows read as columns carry it as a string.
  const messages = history ? history.map((m) => ({ ...m, seq: String(m.seq) })) : null
  return { assistant, activeRunId: active_run_id ?? null, history: messages }
}

/** A message row as `json_agg` returns it. */
type StoredMessage = Omit<MessageRow, 'seq'> & { seq: string | number }

export async function findActiveRun(db: Db, threadId: string): Promise<{ id: string } | undefined> {
  return db
    .selectFrom('runs')
    .select('id')
    .where('thread_id', '=', threadId)
    .where('status', 'in', ACTIVE_RUN_STATUSES)
    .executeTakeFirst()
}

export async function getRunRow(db: Db, project: string, threadId: string, id: string): Promise<RunRow> {
  const row = await db
    .selectFrom('runs')
    .selectAll()
    .where('id', '=', id)
    .where('thread_id', '=', threadId)
    .where('project_id', '=', project)
    .executeTakeFirst()
  if (!row) throw notFound('run', id)
  return row
}

export async function getRunById(db: Db, id: string): Promise<RunRow | undefined> {
  return db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function updateRun(db: Db, id: string, patch: RunUpdate): Promise<RunRow | undefined> {
  return db.updateTable('runs').set(patch).where('id', '=', id).returningAll().executeTakeFirst()
}

export function listRuns(db: Db, threadId: string, q: ListQuery) {
  return listPage(db, 'runs', { thread_id: threadId }, q, runToWire)
}

/** Runs that a process left unfinished (it died or was stopped). */
export async function unfinishedRuns(db: Db): Promise<RunRow[]> {
  return db.selectFrom('runs').selectAll().where('status', 'in', ['queued', 'in_progress', 'cancelling']).orderBy('seq').execute()
}

export async function runsAwaitingAction(db: Db): Promise<RunRow[]> {
  return db.selectFrom('runs').selectAll().where('status', '=', 'requires_action').execute()
}
