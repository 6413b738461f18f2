import type { FileObject } from 'openai/resources/files'
import type { Config } from '../../config.ts'
import { fileStorage } from '../../files/storage.ts'
import { notFound } from '../../protocol/errors.ts'
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
    status_details: null as unknown as undefined,
  }
  if (row.expires_at !== null) file.expires_at = row.expires_at
  return file
}

export async function insertFileRow(
  db: Db,
  values: { id: string; project: string; filename: string; purpose: string; bytes: number; expiresAt?: number | null },
): Promise<FileRow> {
  return db
    .insertInto('files')
    .values({
      id: values.id,
      project_id: values.project,
      created_at: nowSeconds(),
      filename: values.filename,
      purpose: values.purpose,
      bytes: values.bytes,
      expires_at: values.expiresAt ?? null,
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

/** The bytes of a project's file (404 `notFound('file')` if it is not the project's). */
export async function readFileBytes(deps: FileDeps, project: string, fileId: string): Promise<{ filename: string; bytes: Buffer; purpose: string }> {
  const row = await getFileRow(deps.db, project, fileId)
  const storage = await fileStorage(deps.config)
  return { filename: row.filename, purpose: row.purpose, bytes: await storage.read(row.storage_key) }
}

/** Absolute path of a file's bytes (for streaming it out). */
export async function filePath(deps: FileDeps, row: FileRow): Promise<string> {
  return (await fileStorage(deps.config)).pathOf(row.storage_key)
}

export async function getFileRow(db: Db, project: string, id: string): Promise<FileRow> {
  const row = await db.selectFrom('files').selectAll().where('id', '=', id).where('project_id', '=', project).executeTakeFirst()
  if (!row) throw notFound('file', id)
  return row
}

export async function getFileRows(db: Db, project: string, ids: string[]): Promise<FileRow[]> {
  if (ids.length === 0) return []
  return db.selectFrom('files').selectAll().where('id', 'in', ids).where('project_id', '=', project).execute()
}

export function listFiles(db: Db, project: string, q: ListQuery & { purpose?: string }) {
  const scope: Record<string, string> = { project_id: project }
  if (q.purpose) scope.purpose = q.purpose
  return listPage(db, 'files', scope, q, fileToWire)
}

/** Deletes the row and the bytes. Vector stores keep their chunks of it, as OpenAI's do. */
export async function deleteFile(deps: FileDeps, project: string, id: string) {
  const row = await deps.db.deleteFrom('files').where('id', '=', id).where('project_id', '=', project).returningAll().executeTakeFirst()
  if (!row) throw notFound('file', id)
  await (await fileStorage(deps.config)).remove(row.storage_key)
  return { id, object: 'file' as const, deleted: true as const }
}
