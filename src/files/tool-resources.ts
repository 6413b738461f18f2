import { sql } from 'kysely'
import type { AppServices } from '../services.ts'
import { notFound, type ObjectNoun } from '../protocol/errors.ts'
import type { RunToolResources, ToolResources } from '../protocol/schemas.ts'
import type { StoredToolResources } from '../protocol/tool-resources.ts'
import type { Db } from '../store/db.ts'
import type { MessageRow } from '../store/tables.ts'
import { getFileRows } from '../store/repos/files.ts'
import { getVectorStoreRows, insertVectorStore } from '../store/repos/vector-stores.ts'
import { addFilesToStore, createVectorStoreWithFiles } from './vector-store-files.ts'

/**
 * Named vector stores and code_interpreter files must exist in the caller's project (another
 * project's are as unknown as missing ones): OpenAI refuses the request with its usual 404 rather
 * than storing ids no run could use. Checked before anything is written.
 */
export async function checkToolResources(db: Db, project: string, resources: RunToolResources | ToolResources | undefined): Promise<void> {
  await requireAll('vector store', resources?.file_search?.vector_store_ids, (ids) => getVectorStoreRows(db, project, ids))
  await requireAll('file', resources?.code_interpreter?.file_ids, (ids) => getFileRows(db, project, ids))
}

/** 404 for the first of `ids` that `load` does not find. */
async function requireAll(kind: ObjectNoun, ids: string[] | undefined, load: (ids: string[]) => Promise<{ id: string }[]>): Promise<void> {
  const wanted = [...new Set(ids ?? [])]
  if (wanted.length === 0) return
  const found = new Set((await load(wanted)).map((r) => r.id))
  const missing = wanted.find((id) => !found.has(id))
  if (missing) throw notFound(kind, missing)
}

/**
 * Stores that thread helpers create (`tool_resources.file_search.vector_stores` on a thread,
 * file_search attachments) expire 7 days after they were last active, unless changed: OpenAI's
 * default for them. Stores an assistant's helper creates do not expire.
 */
export const THREAD_STORE_EXPIRY = { anchor: 'last_active_at', days: 7 } as const

/**
 * Checks the resources (see `checkToolResources`), then expands the helper:
 * `tool_resources.file_search.vector_stores` is a helper: each entry becomes a new vector store
 * with those files, and the stored resources list its id under `vector_store_ids`, as OpenAI does.
 * `owner` says whose resources they are: a thread's helper stores get THREAD_STORE_EXPIRY.
 */
export async function resolveToolResources<T extends ToolResources | undefined>(
  services: AppServices,
  project: string,
  resources: T,
  owner: 'assistant' | 'thread',
): Promise<T> {
  await checkToolResources(services.db, project, resources)
  const helper = resources?.file_search?.vector_stores
  if (!resources || !helper) return resources
  const ids = [...(resources.file_search?.vector_store_ids ?? [])]
  for (const spec of helper) {
    const store = await createVectorStoreWithFiles(services, project, {
      file_ids: spec.file_ids,
      chunking_strategy: spec.chunking_strategy,
      metadata: spec.metadata,
      expires_after: owner === 'thread' ? THREAD_STORE_EXPIRY : null,
    })
    ids.push(store.id)
  }
  const { vector_stores: _helper, ...fileSearch } = resources.file_search!
  return { ...resources, file_search: { ...fileSearch, vector_store_ids: ids } } as T
}

/** The spec's cap on a thread's (or assistant's) code_interpreter files. */
const MAX_CODE_INTERPRETER_FILES = 20

/**
 * Attachments add their files to the thread's tool_resources, per tool (as OpenAI does):
 * `code_interpreter` ones join the thread's `code_interpreter.file_ids` (up to the spec's 20; the
 * sandbox also reads attachments directly, so a file past the cap still reaches it), and
 * `file_search` ones go into the thread's vector store, created for the thread when it has none.
 * Unknown file ids are skipped: the message is already stored. Returns the thread's new
 * tool_resources when they changed (the created thread's response shows them), else null.
 */
export async function attachMessageFiles(services: AppServices, project: string, threadId: string, messages: MessageRow[]): Promise<Record<string, unknown> | null> {
  const searchIds = new Set<string>()
  const codeIds = new Set<string>()
  for (const m of messages) {
    for (const a of (m.attachments ?? []) as { file_id: string; tools?: { type: string }[] }[]) {
      if (a.tools?.some((t) => t.type === 'file_search')) searchIds.add(a.file_id)
      if (a.tools?.some((t) => t.type === 'code_interpreter')) codeIds.add(a.file_id)
    }
  }
  if (searchIds.size === 0 && codeIds.size === 0) return null
  const known = new Set((await getFileRows(services.db, project, [...new Set([...searchIds, ...codeIds])])).map((f) => f.id))
  let updated: Record<string, unknown> | null = null
  const code = [...codeIds].filter((id) => known.has(id))
  if (code.length > 0) updated = await addThreadCodeFiles(services.db, threadId, code)
  const search = [...searchIds].filter((id) => known.has(id))
  if (search.length === 0) return updated
  // After the code files: a store created here is written over resources that already hold them.
  const target = await threadStore(services, project, threadId)
  if (!target) return updated
  await addFilesToStore(
    services,
    project,
    target.storeId,
    search.map((file_id) => ({ file_id })),
  )
  return target.updated ?? updated
}

/**
 * Appends files to the thread's code_interpreter resources (no duplicates, at most 20). Updated
 * only if the resources are unchanged since read, so concurrent messages do not lose each other's
 * files. Returns the new resources, or null when nothing was added.
 */
async function addThreadCodeFiles(db: Db, threadId: string, fileIds: string[]): Promise<Record<string, unknown> | null> {
  for (;;) {
    const thread = await db.selectFrom('threads').select('tool_resources').where('id', '=', threadId).executeTakeFirst()
    if (!thread) return null
    const resources = (thread.tool_resources ?? {}) as StoredToolResources
    const current = resources.code_interpreter?.file_ids ?? []
    const room = Math.max(0, MAX_CODE_INTERPRETER_FILES - current.length)
    const added = fileIds.filter((id) => !current.includes(id)).slice(0, room)
    if (added.length === 0) return null
    const updated = { ...resources, code_interpreter: { ...resources.code_interpreter, file_ids: [...current, ...added] } }
    if (await swapThreadResources(db, threadId, thread.tool_resources, updated)) return updated
  }
}

/**
 * Set a thread's tool_resources to `updated` if they still are `read` (compare and set); false when
 * a concurrent request changed them first (the caller reads them again).
 */
async function swapThreadResources(db: Db, threadId: string, read: unknown, updated: Record<string, unknown>): Promise<boolean> {
  const result = await db
    .updateTable('threads')
    .set({ tool_resources: JSON.stringify(updated) })
    .where('id', '=', threadId)
    .where(sql<boolean>`tool_resources = ${JSON.stringify(read ?? {})}::jsonb`)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}

/**
 * The thread's vector store, created (with OpenAI's 7-day expiry) when the thread has none.
 * `updated`: the thread's new tool_resources when a store was created. The thread is updated
 * only if no concurrent request gave it a store meanwhile; else that store is used.
 */
async function threadStore(services: AppServices, project: string, threadId: string): Promise<{ storeId: string; updated: Record<string, unknown> | null } | null> {
  const { db } = services
  for (;;) {
    const thread = await db.selectFrom('threads').select('tool_resources').where('id', '=', threadId).executeTakeFirst()
    if (!thread) return null
    const resources = (thread.tool_resources ?? {}) as StoredToolResources
    const current = resources.file_search?.vector_store_ids?.[0]
    if (current && (await getVectorStoreRows(db, project, [current])).length > 0) return { storeId: current, updated: null }
    const store = await insertVectorStore(db, project, { name: `vector store for ${threadId}`, expires_after: THREAD_STORE_EXPIRY })
    const updated = { ...resources, file_search: { ...resources.file_search, vector_store_ids: [store.id] } }
    if (await swapThreadResources(db, threadId, thread.tool_resources, updated)) return { storeId: store.id, updated }
    // Another request changed the thread's resources first: drop this store and look again.
    await db.deleteFrom('vector_stores').where('id', '=', store.id).execute()
  }
}
