import { sql } from 'kysely'
import type { VectorStore, VectorStoreDeleted } from 'openai/resources/vector-stores/vector-stores'
import type { VectorStoreFile, VectorStoreFileDeleted } from 'openai/resources/vector-stores/files'
import type { VectorStoreFileBatch } from 'openai/resources/vector-stores/file-batches'
import { notFound, vectorStoreFileNotFound } from '../../protocol/errors.ts'
import { newId, nowSeconds } from '../../protocol/ids.ts'
import type { ListPage } from '../../protocol/objects.ts'
import { isForeignKeyViolation, type Db } from '../db.ts'
import { listPage, type ListQuery } from '../pagination.ts'
import { removeFileChunks } from '../../ingest/term-stats.ts'
import type { FileBatchRow, VectorStoreFileRow, VectorStoreRow } from '../tables.ts'

export type { VectorStore, VectorStoreFile, VectorStoreFileBatch }

export type FileStatus = VectorStoreFile['status']
export type FileCounts = VectorStore.FileCounts
export type ChunkingStrategyObject = { type: 'static'; static: { max_chunk_size_tokens: number; chunk_overlap_tokens: number } }
export type Attributes = Record<string, string | number | boolean> | null

const DAY = 86_400

const emptyCounts = (): FileCounts => ({ in_progress: 0, completed: 0, failed: 0, cancelled: 0, total: 0 })

interface StoreStats {
  counts: FileCounts
  usageBytes: number
}

/** OpenAI returns the `description` given on create (the SDK's type does not declare it). */
export type VectorStoreWire = VectorStore & { description: string | null }

export function vectorStoreToWire(row: VectorStoreRow, stats: StoreStats, now = nowSeconds()): VectorStoreWire {
  const expired = row.expires_at !== null && row.expires_at <= now
  const store: VectorStoreWire = {
    id: row.id,
    object: 'vector_store',
    created_at: row.created_at,
    name: row.name,
    description: row.description ?? null,
    usage_bytes: stats.usageBytes,
    file_counts: stats.counts,
    status: expired ? 'expired' : stats.counts.in_progress > 0 ? 'in_progress' : 'completed',
    last_active_at: row.last_active_at,
    metadata: row.metadata,
    expires_at: row.expires_at,
  }
  if (row.expires_after) store.expires_after = row.expires_after
  return store
}

/** File counts and usage of several stores in one query. */
async function storeStats(db: Db, ids: string[]): Promise<Map<string, StoreStats>> {
  const out = new Map<string, StoreStats>(ids.map((id) => [id, { counts: emptyCounts(), usageBytes: 0 }]))
  if (ids.length === 0) return out
  const rows = await db
    .selectFrom('vector_store_files')
    .select(['vector_store_id', 'status'])
    .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.sum<string>('usage_bytes').as('bytes')])
    .where('vector_store_id', 'in', ids)
    .groupBy(['vector_store_id', 'status'])
    .execute()
  for (const r of rows) {
    const stats = out.get(r.vector_store_id)!
    const n = Number(r.n)
    stats.counts[r.status as keyof FileCounts] += n
    stats.counts.total += n
    stats.usageBytes += Number(r.bytes ?? 0)
  }
  return out
}

export async function wireStore(db: Db, row: VectorStoreRow): Promise<VectorStore> {
  return vectorStoreToWire(row, (await storeStats(db, [row.id])).get(row.id)!)
}

export async function insertVectorStore(
  db: Db,
  project: string,
  input: {
    name?: string | null
    description?: string | null
    metadata?: Record<string, string> | null
    expires_after?: { anchor: 'last_active_at'; days: number } | null
  },
): Promise<VectorStoreRow> {
  const now = nowSeconds()
  return db
    .insertInto('vector_stores')
    .values({
      id: newId('vectorStore'),
      project_id: project,
      created_at: now,
      name: input.name ?? '',
      description: input.description ?? null,
      metadata: JSON.stringify(input.metadata ?? {}),
      expires_after: JSON.stringify(input.expires_after ?? null),
      expires_at: input.expires_after ? now + input.expires_after.days * DAY : null,
      last_active_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function getVectorStoreRow(db: Db, project: string, id: string): Promise<VectorStoreRow> {
  const row = await db.selectFrom('vector_stores').selectAll().where('id', '=', id).where('project_id', '=', project).executeTakeFirst()
  if (!row) throw notFound('vector store', id)
  return row
}

/** The project's stores among `ids` (unknown or foreign ids are left out). */
export async function getVectorStoreRows(db: Db, project: string, ids: string[]): Promise<VectorStoreRow[]> {
  if (ids.length === 0) return []
  return db.selectFrom('vector_stores').selectAll().where('id', 'in', ids).where('project_id', '=', project).execute()
}

export async function listVectorStores(db: Db, project: string, q: ListQuery): Promise<ListPage<VectorStore>> {
  const page = await listPage(db, 'vector_stores', { project_id: project }, q, (row: VectorStoreRow) => row as unknown as VectorStore & { id: string })
  const rows = page.data as unknown as VectorStoreRow[]
  const stats = await storeStats(db, rows.map((r) => r.id))
  return { ...page, data: rows.map((r) => vectorStoreToWire(r, stats.get(r.id)!)) }
}

export async function modifyVectorStore(
  db: Db,
  project: string,
  id: string,
  input: { name?: string | null; metadata?: Record<string, string> | null; expires_after?: { anchor: 'last_active_at'; days: number } | null },
): Promise<VectorStoreRow> {
  const current = await getVectorStoreRow(db, project, id)
  const patch: Record<string, unknown> = {}
  if (input.name !== undefined) patch.name = input.name ?? ''
  if (input.metadata !== undefined) patch.metadata = JSON.stringify(input.metadata ?? {})
  if (input.expires_after !== undefined) {
    patch.expires_after = JSON.stringify(input.expires_after)
    const anchor = current.last_active_at ?? current.created_at
    patch.expires_at = input.expires_after ? anchor + input.expires_after.days * DAY : null
  }
  if (Object.keys(patch).length === 0) return current
  const row = await db.updateTable('vector_stores').set(patch).where('id', '=', id).returningAll().executeTakeFirst()
  // Deleted since it was read.
  if (!row) throw notFound('vector store', id)
  return row
}

/** A search or a run used the store: it stays alive `expires_after.days` from now. An expired store stays expired. */
export async function touchVectorStores(db: Db, ids: string[]): Promise<void> {
  if (ids.length === 0) return
  const now = nowSeconds()
  await db
    .updateTable('vector_stores')
    .set({
      last_active_at: now,
      expires_at: sql<number | null>`case when expires_after is null then null else ${now} + (expires_after->>'days')::int * ${DAY} end`,
    })
    .where('id', 'in', ids)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    // Touched this second already: the same values; searches in a burst write nothing.
    .where((eb) => eb.or([eb('last_active_at', 'is', null), eb('last_active_at', '<', now)]))
    .execute()
}

export async function deleteVectorStore(db: Db, project: string, id: string): Promise<VectorStoreDeleted> {
  const res = await db.deleteFrom('vector_stores').where('id', '=', id).where('project_id', '=', project).executeTakeFirst()
  if (!res.numDeletedRows) throw notFound('vector store', id)
  return { id, object: 'vector_store.deleted', deleted: true }
}

// ---- vector store files ----------------------------------------------------------------------

export function storeFileToWire(row: VectorStoreFileRow): VectorStoreFile {
  return {
    id: row.id,
    object: 'vector_store.file',
    usage_bytes: Number(row.usage_bytes),
    created_at: row.created_at,
    vector_store_id: row.vector_store_id,
    status: row.status as FileStatus,
    last_error: row.last_error as VectorStoreFile['last_error'],
    chunking_strategy: row.chunking_strategy as unknown as ChunkingStrategyObject,
    attributes: row.attributes ?? {},
  }
}

export interface NewStoreFile {
  fileId: string
  chunking: ChunkingStrategyObject
  attributes?: Attributes
}

/**
 * Add files to a store as `in_progress`. Re-adding a file that was completed, failed or cancelled
 * restarts its ingestion (as OpenAI's re-add does): its chunks leave the store's statistics here.
 * Re-adding a file still in progress only moves it to the new batch and attributes: the ingestion
 * under way goes on (a second one of the same file would race it over the file's chunks).
 * Returns the rows in input order, and those whose ingestion is to be queued (new or restarted).
 *
 * Locks, in order: the files' rows (against their deletion, which locks them first too, so a file
 * deleted meanwhile is a 404 and never left in a store), the store (for no key update: against
 * its deletion, a store deleted meanwhile is a 404, and against other adds to it), then the store
 * files (`lockStoreFiles`, against ingestion completing them and their removal).
 */
export async function upsertStoreFiles(
  db: Db,
  project: string,
  storeId: string,
  /** Each file once, in the order they are to list in. */
  files: NewStoreFile[],
  batchId: string | null = null,
): Promise<{ rows: VectorStoreFileRow[]; start: VectorStoreFileRow[] }> {
  if (files.length === 0) return { rows: [], start: [] }
  // Locks are taken in id order; the inserts need none (adds to one store take turns, below).
  const ids = files.map((f) => f.fileId).sort()
  return db.transaction().execute(async (trx) => {
    const present = new Set(
      (await trx.selectFrom('files').select('id').where('id', 'in', ids).where('project_id', '=', project).orderBy('id').forKeyShare().execute()).map((r) => r.id),
    )
    const missing = files.find((f) => !present.has(f.fileId))
    if (missing) throw notFound('file', missing.fileId)
    // Adds to one store take turns (this lock does not conflict with the key-share locks ingestion
    // and removals take): a file another add inserts is never met half-way through the insert
    // below, holding a row this add locked.
    const store = await trx.selectFrom('vector_stores').select('id').where('id', '=', storeId).where('project_id', '=', project).forNoKeyUpdate().executeTakeFirst()
    if (!store) throw notFound('vector store', storeId)
    const statuses = await lockStoreFiles(trx, ids.map((fileId) => ({ storeId, fileId })))
    const now = nowSeconds()
    const restarted = new Set<string>()
    for (const f of files) {
      const status = statuses.get(storeFileKey(storeId, f.fileId))?.status
      if (status === undefined || status === 'in_progress') continue
      restarted.add(f.fileId)
      await removeFileChunks(trx, storeId, f.fileId)
      await trx
        .updateTable('vector_store_files')
        // A new attempt: an ingestion of the earlier one still under way (its batch was cancelled)
        // neither writes chunks for this one nor completes it.
        .set((eb) => ({ status: 'in_progress', last_error: JSON.stringify(null), usage_bytes: 0, chunking_strategy: JSON.stringify(f.chunking), attempt: eb('attempt', '+', 1) }))
        .where('vector_store_id', '=', storeId)
        .where('id', '=', f.fileId)
        .execute()
    }
    // One statement whatever the number of files (their values as arrays, not a parameter per
    // value: a 200-file batch's insert took 10–20 ms to plan), rows in the order given (their `seq`).
    // A file already here (or added by a concurrent request since it was looked for) keeps its
    // status: its ingestion is under way, or was restarted above.
    const { rows } = await sql<VectorStoreFileRow & { inserted: boolean }>`
      insert into vector_store_files (vector_store_id, id, project_id, created_at, status, last_error, usage_bytes, chunking_strategy, attributes, batch_id)
      select ${storeId}::text, t.id, ${project}::text, ${now}::int, 'in_progress', 'null'::jsonb, 0, t.chunking::jsonb, t.attributes::jsonb, ${batchId}::text
      from unnest(${files.map((f) => f.fileId)}::text[], ${files.map((f) => JSON.stringify(f.chunking))}::text[], ${files.map((f) => JSON.stringify(f.attributes ?? null))}::text[])
        with ordinality as t(id, chunking, attributes, i)
      order by t.i
      on conflict (vector_store_id, id) do update set attributes = excluded.attributes, batch_id = excluded.batch_id
      returning *, (xmax = 0) as inserted
    `.execute(trx)
    const byId = new Map(rows.map(({ inserted: _, ...r }) => [r.id, r as VectorStoreFileRow]))
    return {
      rows: files.map((f) => byId.get(f.fileId)!),
      start: rows.filter((r) => r.inserted || restarted.has(r.id)).map((r) => byId.get(r.id)!),
    }
  })
}

export async function getStoreFileRow(db: Db, project: string, storeId: string, fileId: string): Promise<VectorStoreFileRow> {
  const row = await db
    .selectFrom('vector_store_files')
    .selectAll()
    .where('vector_store_id', '=', storeId)
    .where('id', '=', fileId)
    .where('project_id', '=', project)
    .executeTakeFirst()
  if (!row) throw vectorStoreFileNotFound(fileId, storeId)
  return row
}

export function listStoreFiles(db: Db, scope: { vector_store_id: string; batch_id?: string; status?: string }, q: ListQuery) {
  const filters: Record<string, string> = {}
  if (scope.batch_id) filters.batch_id = scope.batch_id
  if (scope.status) filters.status = scope.status
  return listPage(db, 'vector_store_files', { vector_store_id: scope.vector_store_id }, q, storeFileToWire, { filters })
}

export async function updateStoreFileAttributes(db: Db, project: string, storeId: string, fileId: string, attributes: Attributes): Promise<VectorStoreFileRow> {
  const row = await db
    .updateTable('vector_store_files')
    .set({ attributes: JSON.stringify(attributes) })
    .where('vector_store_id', '=', storeId)
    .where('id', '=', fileId)
    .where('project_id', '=', project)
    .returningAll()
    .executeTakeFirst()
  if (!row) throw vectorStoreFileNotFound(fileId, storeId)
  return row
}

/**
 * Lock store files for a change to them, their chunks or their store's statistics, and return
 * their states (files not found are absent). Their stores first (against deletion, which locks
 * a store's row and then, cascading, its files'), then the files' rows; each in one order. Every
 * transaction that changes a store's files takes its locks this way, so none of them deadlock
 * with another (on Postgres, where they run concurrently). The files' rows are locked for no key
 * update: that excludes the others, but not the key-share locks chunk inserts take on the rows
 * they reference (in their own order), which would otherwise deadlock with these.
 */
export async function lockStoreFiles(
  db: Db,
  files: { storeId: string; fileId: string }[],
  /** Lock the stores for no key update (as adding files does): one such transaction per store at a time. */
  { exclusiveStores = false } = {},
): Promise<Map<string, StoreFileState>> {
  if (files.length === 0) return new Map()
  const storeIds = [...new Set(files.map((f) => f.storeId))]
  const stores = db.selectFrom('vector_stores').select('id').where('id', 'in', storeIds).orderBy('id')
  await (exclusiveStores ? stores.forNoKeyUpdate() : stores.forKeyShare()).execute()
  const rows = await db
    .selectFrom('vector_store_files')
    .select(['vector_store_id', 'id', 'status', 'seq', 'attempt'])
    .where((eb) => eb(eb.refTuple('vector_store_id', 'id'), 'in', storeFilesIn(files)))
    .orderBy('vector_store_id')
    .orderBy('id')
    .forNoKeyUpdate()
    .execute()
  return new Map(rows.map((r) => [storeFileKey(r.vector_store_id, r.id), { status: r.status, seq: String(r.seq), attempt: r.attempt }]))
}

/** A store file's status, and which ingestion of it is current (its row's `seq` and `attempt`). */
export interface StoreFileState {
  status: string
  seq: string
  attempt: number
}

export const storeFileKey = (storeId: string, fileId: string) => `${storeId}\u0000${fileId}`

/**
 * Store files for `(vector_store_id, id) in …` (or `(vector_store_id, file_id)`): two array
 * parameters, where an `or` of one condition per file made a statement of hundreds of parameters
 * to plan (10 ms for a batch of 200 files, on the path from a batch's creation to its completion).
 */
export function storeFilesIn(files: readonly { storeId: string; fileId: string }[]) {
  return sql<[string, string]>`(select * from unnest(${files.map((f) => f.storeId)}::text[], ${files.map((f) => f.fileId)}::text[]))`
}

/** Removes the file from the store and its chunks (they cascade); the file itself stays. */
export async function deleteStoreFile(db: Db, project: string, storeId: string, fileId: string): Promise<VectorStoreFileDeleted> {
  await db.transaction().execute(async (trx) => {
    await lockStoreFiles(trx, [{ storeId, fileId }])
    await getStoreFileRow(trx, project, storeId, fileId)
    await removeFileChunks(trx, storeId, fileId)
    await trx.deleteFrom('vector_store_files').where('vector_store_id', '=', storeId).where('id', '=', fileId).execute()
  })
  return { id: fileId, object: 'vector_store.file.deleted', deleted: true }
}

/** Complete ingested files (those still in progress), with their sizes and chunk counts: one statement. */
export async function completeStoreFiles(db: Db, files: { storeId: string; fileId: string; usageBytes: number; chunkCount: number }[]): Promise<void> {
  if (files.length === 0) return
  await sql`
    update vector_store_files v
    set status = 'completed', usage_bytes = t.usage_bytes, chunk_count = t.chunk_count, last_error = 'null'
    from unnest(${files.map((f) => f.storeId)}::text[], ${files.map((f) => f.fileId)}::text[], ${files.map((f) => f.usageBytes)}::bigint[], ${files.map((f) => f.chunkCount)}::int[])
      as t(vector_store_id, id, usage_bytes, chunk_count)
    where v.vector_store_id = t.vector_store_id and v.id = t.id and v.status = 'in_progress'
  `.execute(db)
}

/** Finish a file's ingestion, unless it was cancelled or removed meanwhile. */
export async function finishStoreFile(
  db: Db,
  storeId: string,
  fileId: string,
  outcome: { status: 'completed'; usageBytes: number } | { status: 'failed'; error: { code: string; message: string } },
): Promise<boolean> {
  const res = await db
    .updateTable('vector_store_files')
    .set(
      outcome.status === 'completed'
        ? { status: 'completed', usage_bytes: outcome.usageBytes, last_error: JSON.stringify(null) }
        : { status: 'failed', last_error: JSON.stringify(outcome.error) },
    )
    .where('vector_store_id', '=', storeId)
    .where('id', '=', fileId)
    .where('status', '=', 'in_progress')
    .executeTakeFirst()
  return Number(res.numUpdatedRows) > 0
}

/** Every file still waiting for ingestion (after a restart). */
export async function pendingStoreFiles(db: Db): Promise<{ vector_store_id: string; id: string }[]> {
  return db.selectFrom('vector_store_files').select(['vector_store_id', 'id']).where('status', '=', 'in_progress').orderBy('seq').execute()
}

// ---- file batches -----------------------------------------------------------------------------

export async function insertBatch(db: Db, project: string, storeId: string): Promise<FileBatchRow> {
  return db
    .insertInto('file_batches')
    .values({ id: newId('fileBatch'), project_id: project, vector_store_id: storeId, created_at: nowSeconds() })
    .returningAll()
    .executeTakeFirstOrThrow()
    .catch((err) => {
      // The store was deleted since the request found it (foreign key): as if it had not been found.
      if (isForeignKeyViolation(err)) throw notFound('vector store', storeId)
      throw err
    })
}

export async function getBatchRow(db: Db, project: string, storeId: string, id: string): Promise<FileBatchRow> {
  const row = await db
    .selectFrom('file_batches')
    .selectAll()
    .where('id', '=', id)
    .where('vector_store_id', '=', storeId)
    .where('project_id', '=', project)
    .executeTakeFirst()
  if (!row) throw notFound('file batch', id)
  return row
}

export async function wireBatch(db: Db, row: FileBatchRow): Promise<VectorStoreFileBatch> {
  const counts = emptyCounts()
  const rows = await db
    .selectFrom('vector_store_files')
    .select('status')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('batch_id', '=', row.id)
    .groupBy('status')
    .execute()
  for (const r of rows) {
    counts[r.status as keyof FileCounts] += Number(r.n)
    counts.total += Number(r.n)
  }
  const status: VectorStoreFileBatch['status'] = row.cancelled
    ? 'cancelled'
    : counts.in_progress > 0
      ? 'in_progress'
      : counts.failed > 0 && counts.completed === 0
        ? 'failed'
        : 'completed'
  return { id: row.id, object: 'vector_store.files_batch', created_at: row.created_at, vector_store_id: row.vector_store_id, status, file_counts: counts }
}

/** Cancel a batch: its files still in progress become `cancelled` (and lose any chunks). */
export async function cancelBatch(db: Db, row: FileBatchRow): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const pending = await trx.selectFrom('vector_store_files').select(['vector_store_id', 'id']).where('batch_id', '=', row.id).where('status', '=', 'in_progress').execute()
    await lockStoreFiles(trx, pending.map((f) => ({ storeId: f.vector_store_id, fileId: f.id })))
    await trx.updateTable('file_batches').set({ cancelled: true }).where('id', '=', row.id).execute()
    const cancelled = await trx
      .updateTable('vector_store_files')
      .set({ status: 'cancelled' })
      .where('batch_id', '=', row.id)
      .where('status', '=', 'in_progress')
      .returning(['vector_store_id', 'id'])
      .execute()
    for (const f of cancelled) await removeFileChunks(trx, f.vector_store_id, f.id)
  })
}
