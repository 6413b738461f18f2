import busboy from 'busboy'
import { createWriteStream } from 'node:fs'
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { ApiError, invalidRequest } from '../protocol/errors.ts'
import type { FileStorage } from './storage.ts'

export interface UploadedFile {
  tempPath: string
  filename: string
  bytes: number
}

export interface ParsedUpload {
  fields: Record<string, string>
  file: UploadedFile | null
}

export const tooLarge = (max: number) =>
  new ApiError(413, `File is too large. The maximum file size is ${max} bytes.`, 'invalid_request_error', 'file', 'file_too_large')

/**
 * Parse a multipart upload, streaming the `file` part to a temporary file (never held in memory).
 * Parts beyond `maxBytes` abort with 413; the temporary file is removed on any failure.
 */
export async function parseUpload(request: Request, storage: FileStorage, maxBytes: number): Promise<ParsedUpload> {
  const contentType = request.headers.get('content-type') ?? ''
  if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
    throw invalidRequest("Invalid Content-Type header. Expected 'multipart/form-data' with a 'file' part.", null, 'invalid_content_type')
  }
  if (!request.body) throw invalidRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter')

  let parser: busboy.Busboy
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      // Clients (the SDKs, browsers' FormData) send the part's filename as raw UTF-8; busboy's default
      // for header parameters is latin1, which turned 'résumé.txt' into 'rÃ©sumÃ©.txt'.
      defParamCharset: 'utf8',
      limits: { fileSize: maxBytes, files: 1, fields: 20, fieldSize: 64 * 1024 },
    })
  } catch {
    throw invalidRequest('Could not parse the multipart body: missing boundary.', null, 'invalid_content_type')
  }
  const fields: Record<string, string> = {}
  let file: UploadedFile | null = null
  const writes: Promise<void>[] = []
  const temps: string[] = []
  let failure: ApiError | null = null

  const done = new Promise<void>((resolve, reject) => {
    parser.on('field', (name, value) => {
      fields[name] = value
    })
    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || file) {
        stream.resume()
        return
      }
      const entry: UploadedFile = { tempPath: '', filename: info.filename || 'upload', bytes: 0 }
      file = entry
      writes.push(
        (async () => {
          entry.tempPath = await storage.tempPath()
          temps.push(entry.tempPath)
          const out = createWriteStream(entry.tempPath)
          stream.on('data', (chunk: Buffer) => (entry.bytes += chunk.length))
          stream.on('limit', () => {
            failure ??= tooLarge(maxBytes)
            stream.unpipe(out)
            stream.resume()
            out.end()
          })
          await new Promise<void>((res, rej) => {
            out.on('close', res)
            out.on('error', rej)
            stream.pipe(out)
          })
        })(),
      )
    })
    parser.on('error', (err) => reject(err))
    parser.on('close', () => resolve())
  })

  try {
    Readable.fromWeb(request.body as unknown as WebReadableStream).pipe(parser)
    await done
    await Promise.all(writes)
  } catch (err) {
    await Promise.allSettled(writes)
    for (const t of temps) await storage.discard(t)
    if (err instanceof ApiError) throw err
    throw invalidRequest(`Could not parse the multipart body: ${(err as Error).message}`, null, 'invalid_multipart')
  }
  if (failure) {
    for (const t of temps) await storage.discard(t)
    throw failure
  }
  return { fields, file }
}
