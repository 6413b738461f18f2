import { notFound } from '../../protocol/errors.ts'
import type { Message } from '../../protocol/objects.ts'
import type { CreateMessage } from '../../protocol/schemas.ts'
import { newId, nowSeconds } from '../../protocol/ids.ts'
import { isForeignKeyViolation, type Db } from '../db.ts'
import { listPage, type ListQuery } from '../pagination.ts'
import type { MessageRow } from '../tables.ts'

export function messageToWire(row: MessageRow): Message {
  return {
    id: row.id,
    object: 'thread.message',
    created_at: row.created_at,
    thread_id: row.thread_id,
    status: row.status as Message['status'],
    incomplete_details: row.incomplete_details as Message['incomplete_details'],
    completed_at: row.completed_at,
    incomplete_at: row.incomplete_at,
    role: row.role as Message['role'],
    content: row.content as Message['content'],
    assistant_id: row.assistant_id,
    run_id: row.run_id,
    attachments: (row.attachments ?? []) as Message['attachments'],
    metadata: row.metadata,
  }
}

/** Request content (a string or input parts) → stored message content parts. */
export function toContentParts(content: CreateMessage['content']): Message['content'] {
  if (typeof content === 'string') return [{ type: 'text', text: { value: content, annotations: [] } }]
  return content.map((part) => {
    if (part.type === 'text') return { type: 'text', text: { value: part.text, annotations: [] } }
    if (part.type === 'image_file') return { type: 'image_file', image_file: { detail: 'auto', ...part.image_file } }
    return { type: 'image_url', image_url: { detail: 'auto', ...part.image_url } }
  }) as Message['content']
}

/**
 * Values for inserting a client-written message (user or assistant role). OpenAI stamps
 * `completed_at` only on messages a run writes: a message created through the API (or with a
 * thread, or as a run's additional_messages) has `completed_at: null`.
 */
export function newClientMessage(project: string, threadId: string, input: CreateMessage) {
  return {
    id: newId('message'),
    project_id: project,
    thread_id: threadId,
    created_at: nowSeconds(),
    role: input.role,
    status: 'completed',
    content: JSON.stringify(toContentParts(input.content)),
    attachments: JSON.stringify(input.attachments ?? []),
    assistant_id: null,
    run_id: null,
    incomplete_details: JSON.stringify(null),
    completed_at: null,
    incomplete_at: null,
    metadata: JSON.stringify(input.metadata ?? {}),
  }
}

export async function insertMessages(db: Db, values: ReturnType<typeof newClientMessage>[]): Promise<MessageRow[]> {
  if (values.length === 0) return []
  return db.insertInto('messages').values(values).returningAll().execute()
}

/**
 * Insert one client message. If the thread was deleted after the caller checked it, the foreign
 * key refuses the row (23503): answer as if the thread were absent, as a later request would.
 */
export async function insertClientMessage(db: Db, project: string, threadId: string, input: CreateMessage): Promise<MessageRow> {
  try {
    const [row] = await insertMessages(db, [newClientMessage(project, threadId, input)])
    return row
  } catch (err) {
    if (isForeignKeyViolation(err)) throw notFound('thread', threadId)
    throw err
  }
}

export async function getMessageRow(db: Db, project: string, threadId: string, id: string): Promise<MessageRow> {
  const row = await db
    .selectFrom('messages')
    .selectAll()
    .where('id', '=', id)
    .where('thread_id', '=', threadId)
    .where('project_id', '=', project)
    .executeTakeFirst()
  if (!row) throw notFound('message', id)
  return row
}

export async function modifyMessageMetadata(
  db: Db,
  project: string,
  threadId: string,
  id: string,
  metadata: Record<string, string> | null | undefined,
): Promise<Message> {
  if (metadata === undefined) return messageToWire(await getMessageRow(db, project, threadId, id))
  const row = await db
    .updateTable('messages')
    .set({ metadata: JSON.stringify(metadata ?? {}) })
    .where('id', '=', id)
    .where('thread_id', '=', threadId)
    .where('project_id', '=', project)
    .returningAll()
    .executeTakeFirst()
  if (!row) throw notFound('message', id)
  return messageToWire(row)
}

export async function deleteMessage(db: Db, project: string, threadId: string, id: string) {
  const res = await db
    .deleteFrom('messages')
    .where('id', '=', id)
    .where('thread_id', '=', threadId)
    .where('project_id', '=', project)
    .executeTakeFirst()
  if (!res.numDeletedRows) throw notFound('message', id)
  return { id, object: 'thread.message.deleted' as const, deleted: true as const }
}

/**
 * One query on the hot path: messages carry their project, so the thread's existence only needs
 * checking when the page comes back empty (`ensureThread` throws the 404).
 */
export function listMessages(
  db: Db,
  project: string,
  threadId: string,
  q: ListQuery & { run_id?: string },
  ensureThread: () => Promise<unknown>,
) {
  const filters: Record<string, string> = q.run_id ? { run_id: q.run_id } : {}
  return listPage(db, 'messages', { thread_id: threadId, project_id: project }, q, messageToWire, { filters, whenEmpty: ensureThread })
}

/** The whole thread in order, for building a prompt. */
export async function allThreadMessages(db: Db, threadId: string): Promise<MessageRow[]> {
  return db.selectFrom('messages').selectAll().where('thread_id', '=', threadId).orderBy('seq', 'asc').execute()
}
