import { open } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { z } from 'zod'
import type { AppServices } from '../../services.ts'
import { fileStorage } from '../../files/storage.ts'
import { parseUpload } from '../../files/upload.ts'
import { invalidRequest, noSuchFile } from '../../protocol/errors.ts'
import { newId } from '../../protocol/ids.ts'
import { parseWith } from '../../protocol/validation.ts'
import * as files from '../../store/repos/files.ts'
import { parseListQuery } from '../../store/pagination.ts'
import { pathParam, queryObject, type RouteTable } from '../http.ts'

const PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] as const

const BATCH_FILE_TTL_SECONDS = 30 * 86_400

/** Form fields of an upload; `expires_after` arrives as bracketed form keys. */
const UploadFields = z.strictObject({
  purpose: z.enum(PURPOSES),
  'expires_after[anchor]': z.literal('created_at').optional(),
  'expires_after[seconds]': z
    .preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v), z.number().int().min(3600).max(2_592_000))
    .optional(),
})

export function fileRoutes(r: RouteTable, services: AppServices) {
  const { db, config } = services
  r.on('POST', '/v1/files', async (c) => {
    const storage = await fileStorage(config)
    const { fields, file } = await parseUpload(c.req.raw, storage, config.maxFileBytes)
    try {
      if (!file) throw invalidRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter')
      const body = parseWith(UploadFields, fields)
      // `expires_after` needs both its fields (FileExpirationAfter requires anchor and seconds).
      const anchorGiven = body['expires_after[anchor]'] !== undefined
      const secondsGiven = body['expires_after[seconds]'] !== undefined
      if (anchorGiven !== secondsGiven) {
        const absent = anchorGiven ? 'expires_after[seconds]' : 'expires_after[anchor]'
        throw invalidRequest(`Missing required parameter: '${absent}'.`, absent, 'missing_required_parameter')
      }
      const id = newId('file')
      await storage.commit(file.tempPath, id)
      // Batch files expire after 30 days unless told otherwise; other files persist (FileExpirationAfter).
      const seconds = body['expires_after[seconds]'] ?? (body.purpose === 'batch' ? BATCH_FILE_TTL_SECONDS : undefined)
      const row = await files.insertFileRow(db, {
        id,
        project: c.get('project'),
        filename: file.filename,
        purpose: body.purpose,
        bytes: file.bytes,
        expiresAfterSeconds: seconds ?? null,
      })
      return c.json(files.fileToWire(row))
    } catch (err) {
      if (file) await storage.discard(file.tempPath)
      throw err
    }
  })
  r.on('GET', '/v1/files', async (c) => {
    // The files list alone allows up to 10,000 per page, and that is its default.
    const q = parseListQuery(queryObject(c), {
      purpose: z.string().optional(),
      limit: z.preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v), z.number().int().min(1).max(10_000)).default(10_000),
    })
    return c.json(await files.listFiles(services, c.get('project'), q))
  })
  r.on('GET', '/v1/files/:file_id', async (c) => c.json(files.fileToWire(await files.getLiveFileRow(services, c.get('project'), pathParam(c, 'file_id')))))
  r.on('DELETE', '/v1/files/:file_id', async (c) => c.json(await files.deleteFile(services, c.get('project'), pathParam(c, 'file_id'))))
  r.on('GET', '/v1/files/:file_id/content', async (c) => {
    const row = await files.getLiveFileRow(services, c.get('project'), pathParam(c, 'file_id'))
    // Opened before answering: bytes missing from the data dir are a 404, not a body cut off after a 200.
    const handle = await open(await files.filePath(services, row)).catch((err) => {
      services.log.warn({ err, fileId: row.id }, 'a stored file could not be opened')
      throw noSuchFile(row.id)
    })
    const stream = Readable.toWeb(handle.createReadStream()) as unknown as ReadableStream
    return new Response(stream, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(row.bytes), 'content-disposition': `attachment; filename="${encodeURIComponent(row.filename)}"` },
    })
  })
}
