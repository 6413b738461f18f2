import { notFound } from '../../protocol/errors.ts'
import type { Thread } from '../../protocol/objects.ts'
import type { ToolResources } from '../../protocol/schemas.ts'
import { newId, nowSeconds } from '../../protocol/ids.ts'
import { wireToolResources } from '../../protocol/tool-resources.ts'
import type { Db } from '../db.ts'
import type { ThreadRow } from '../tables.ts'
import { ACTIVE_RUN_STATUSES } from './runs.ts'

export function threadToWire(row: ThreadRow): Thread {
  return {
    id: row.id,
    object: 'thread',
    created_at: row.created_at,
    metadata: row.metadata,
    tool_resources: wireToolResources(row.tool_resources),
  }
}

export async function insertThread(
  db: Db,
  project: string,
  input: { tool_resources?: ToolResources; metadata?: Record<string, string> | null },
): Promise<ThreadRow> {
  return db
    .insertInto('threads')
    .values({
      id: newId('thread'),
      project_id: project,
      created_at: nowSeconds(),
      tool_resources: JSON.stringify(input.tool_resources ?? {}),
      metadata: JSON.stringify(input.metadata ?? {}),
    })
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function getThreadRow(db: Db, project: string, id: string): Promise<ThreadRow> {
  const row = await db
    .selectFrom('threads')
    .selectAll()
    .where('id', '=', id)
    .where('project_id', '=', project)
    .executeTakeFirst()
  if (!row) throw notFound('thread', id)
  return row
}

/** The thread (404 if absent) and the id of its active run, if any: one query before adding a message. */
export async function getThreadForNewMessage(db: Db, project: string, id: string): Promise<{ thread: ThreadRow; activeRunId: string | null }> {
  const row = await db
    .selectFrom('threads')
    .selectAll('threads')
    .select((eb) =>
      eb
        .selectFrom('runs')
        .select('runs.id')
        .whereRef('runs.thread_id', '=', 'threads.id')
        .where('runs.status', 'in', ACTIVE_RUN_STATUSES)
        .limit(1)
        .as('active_run_id'),
    )
    .where('threads.id', '=', id)
    .where('threads.project_id', '=', project)
    .executeTakeFirst()
  if (!row) throw notFound('thread', id)
  const { active_run_id, ...thread } = row
  return { thread, activeRunId: active_run_id ?? null }
}

export async function modifyThread(
  db: Db,
  project: string,
  id: string,
  input: { tool_resources?: ToolResources; metadata?: Record<string, string> | null },
): Promise<Thread> {
  const patch: Record<string, string> = {}
  if (input.tool_resources !== undefined) patch.tool_resources = JSON.stringify(input.tool_resources ?? {})
  if (input.metadata !== undefined) patch.metadata = JSON.stringify(input.metadata ?? {})
  if (Object.keys(patch).length === 0) return threadToWire(await getThreadRow(db, project, id))
  const row = await db
    .updateTable('threads')
    .set(patch)
    .where('id', '=', id)
    .where('project_id', '=', project)
    .returningAll()
    .executeTakeFirst()
  if (!row) throw notFound('thread', id)
  return threadToWire(row)
}

/** Messages, runs and steps go with the thread (foreign keys cascade). */
export async function deleteThread(db: Db, project: string, id: string) {
  const res = await db.deleteFrom('threads').where('id', '=', id).where('project_id', '=', project).executeTakeFirst()
  if (!res.numDeletedRows) throw notFound('thread', id)
  return { id, object: 'thread.deleted' as const, deleted: true as const }
}
