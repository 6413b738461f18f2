import type { FileObject } from 'openai/resources/files'
import type { Config } from '../../config.ts'
import { fileStorage } from '../../files/storage.ts'
import { noSuchFile } from '../../protocol/errors.ts'
import { removeFileChunks } from '../../ingest/term-stats.ts'
import { lockStoreFiles } from './vector-stores.ts'
import { newId, nowSeconds } from '../../protocol/ids.ts'
import type { Db } from '../db.ts'
import { listPage, type ListQuery } from '../pagination.ts'
import type { FileRow } from '../tables.ts'

export type { FileObject }

/** What file functions need from the server: its database and config (for the storage root). */
export interface FileDeps {
  db: Db
  config: Config
}

export function fileToWire(row: FileRow): FileObject {
  const file: FileObject = {
    id: row.id,
    object: 'file',
    bytes: Number(row.bytes),
    created_at: row.created_at,
    filename: row.filename,
    purpose: row.purpose as FileObject['purpose'],
    status: row.status as FileObject['status'],
  }
  if (row.expires_at !== null) file.expires_at = row.expires_at
  return file
}

export async function insertFileRow(
  db: Db,
  values: { id: string; project: string; filename: string; purpose: string; bytes: number; expiresAfterSeconds?: number | null },
): Promise<FileRow> {
  const now = nowSeconds()
  return db
    .insertInto('files')
    .values({
      id: values.id,
      project_id: values.project,
      created_at: now,
      filename: values.filename,
      purpose: values.purpose,
      bytes: values.bytes,
      // Anchored at `created_at`, the only anchor there is.
      expires_at: values.expiresAfterSeconds ? now + values.expiresAfterSeconds : null,
      storage_key: values.id,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
}

/**
 * Store bytes a tool produced (e.g. a code_interpreter plot) as a file of the project.
 * `purpose` is normally 'assistants_output'.
 */
export async function createFileFromBuffer(
  deps: FileDeps,
  project: string,
  input: { filename: string; purpose: FileObject['purpose']; bytes: Buffer },
): Promise<FileObject> {
  const storage = await fileStorage(deps.config)
  const id = newId('file')
  await storage.writeBuffer(id, input.bytes)
  const row = await insertFileRow(deps.db, { id, project, filename: input.filename, purpose: input.purpose, bytes: input.bytes.length })
  return fileToWire(row)
}

/** The bytes of a project's file (404 if it is not the project's). */
export async function readFileBytes(deps: FileDeps, project: string, fileId: string): Promise<{ filename: string; bytes: Buffer; purpose: string }> {
  const row = await getLiveFileRow(deps, project, fileId)
  const storage = await fileStorage(deps.config)
  return { filename: row.filename, purpose: row.purpose, bytes: await storage.read(row.storage_key) }
}

/** Absolute path of a file's bytes (for streaming it out). */
export async function filePath(deps: FileDeps, row: FileRow): Promise<string> {
  return (await fileStorage(deps.config)).pathOf(row.storage_key)
}

/** A file past its `expires_after` is gone, as at OpenAI (it is deleted the next time it is looked at). */
const isExpired = (row: FileRow, now = nowSeconds()) => row.expires_at !== null && row.expires_at <= now

export async function getFileRow(db: Db, project: string, id: string): Promise<FileRow> {
  const row = await db.selectFrom('files').selectAll().where('id', '=', id).where('project_id', '=', project).executeTakeFirst()
  if (!row || isExpired(row)) throw noSuchFile(id)
  return row
}

/** Like `getFileRow`, and a file found expired is deleted for good on the way (bytes, vector store entries). */
export async function getLiveFileRow(deps: FileDeps, project: string, id: string): Promise<FileRow> {
  const row = await deps.db.selectFrom('files').selectAll().where('id', '=', id).where('project_id', '=', project).executeTakeFirst()
  if (row && isExpired(row)) await removeFiles(deps, project, [row])
  if (!row || isExpired(row)) throw noSuchFile(id)
  return row
}

/** The project's live files among `ids` (unknown, foreign and expired ids are left out). */
export async function getFileRows(db: Db, project: string, ids: string[]): Promise<FileRow[]> {
  if (ids.length === 0) return []
  const rows = await db.selectFrom('files').selectAll().where('id', 'in', ids).where('project_id', '=', project).execute()
  const now = nowSeconds()
  return rows.filter((r) => !isExpired(r, now))
}

export async function listFiles(deps: FileDeps, project: string, q: ListQuery & { purpose?: string }) {
  await deleteExpiredFiles(deps, project)
  return listPage(deps.db, 'files', { project_id: project }, q, fileToWire, { filters: q.purpose ? { purpose: q.purpose } : {} })
}

/**
 * Delete a file: its row, its bytes, and its place in every vector store (with its chunks), as
 * the spec says ("Delete a file and remove it from all vector stores").
 */
export async function deleteFile(deps: FileDeps, project: string, id: string) {
  const row = await deps.db.selectFrom('files').selectAll().where('id', '=', id).where('project_id', '=', project).executeTakeFirst()
  if (!row) throw noSuchFile(id)
  await removeFiles(deps, project, [row])
  if (isExpired(row)) throw noSuchFile(id)
  return { id, object: 'file' as const, deleted: true as const }
}

/** Expired files of the project are deleted for good (rows, bytes, vector store entries). */
async function deleteExpiredFiles(deps: FileDeps, project: string): Promise<void> {
  const expired = await deps.db
    .selectFrom('files')
    .selectAll()
    .where('project_id', '=', project)
    .where('expires_at', 'is not', null)
    .where('expires_at', '<=', nowSeconds())
    .execute()
  if (expired.length > 0) await removeFiles(deps, project, expired)
}

async function removeFiles(deps: FileDeps, project: string, rows: FileRow[]): Promise<void> {
  const ids = rows.map((r) => r.id)
  await deps.db.transaction().execute(async (trx) => {
    // The files' rows first, as adding them to a store does: an add waits for the deletion (and
    // then finds the file gone) or the deletion waits for it (and then removes the file it added).
    await trx.selectFrom('files').select('id').where('id', 'in', ids).where('project_id', '=', project).orderBy('id').forUpdate().execute()
    const inStores = await trx.selectFrom('vector_store_files').select(['vector_store_id', 'id']).where('id', 'in', ids).where('project_id', '=', project).execute()
    await lockStoreFiles(trx, inStores.map((f) => ({ storeId: f.vector_store_id, fileId: f.id })))
    for (const f of inStores) await removeFileChunks(trx, f.vector_store_id, f.id)
    if (inStores.length > 0) await trx.deleteFrom('vector_store_files').where('id', 'in', ids).where('project_id', '=', project).execute()
    await trx.deleteFrom('files').where('id', 'in', ids).where('project_id', '=', project).execute()
  })
  const storage = await fileStorage(deps.config)
  for (const row of rows) await storage.remove(row.storage_key)
}
