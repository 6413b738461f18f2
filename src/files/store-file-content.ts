import type { AppServices } from '../services.ts'
import { documentText } from '../ingest/source.ts'
import { fileStorage } from './storage.ts'
import type { VectorStoreFileRow } from '../store/tables.ts'

const PAGE_OBJECT = 'vector_store.file_content.page'

/**
 * A vector-store file's parsed contents (`GET …/files/{id}/content`): the text ingestion read from
 * the file, once (the chunks overlap, so theirs would repeat half of it), a data item per slice
 * of up to 1 MB. Sent as a stream, so a large file's text is never whole in memory. A file not
 * completed has no parsed content yet.
 */
export async function storeFileContent(services: AppServices, row: VectorStoreFileRow): Promise<Response> {
  const empty = () => Response.json({ object: PAGE_OBJECT, data: [], has_more: false, next_page: null })
  if (row.status !== 'completed') return empty()
  const file = await services.db
    .selectFrom('files')
    .select(['filename', 'storage_key'])
    .where('id', '=', row.id)
    .where('project_id', '=', row.project_id)
    .executeTakeFirst()
  if (!file) return empty()
  const storage = await fileStorage(services.config)
  // The file is opened and its first slice read before answering: a file that cannot be read any
  // more is an empty page, not an error or a broken body.
  let slices: AsyncIterator<string>
  let first: IteratorResult<string>
  try {
    slices = (await documentText(storage.pathOf(file.storage_key), file.filename))[Symbol.asyncIterator]()
    first = await slices.next()
  } catch (err) {
    services.log.warn({ err, fileId: row.id }, 'could not read a vector store file for its content')
    return empty()
  }
  const encoder = new TextEncoder()
  const item = (text: string) => encoder.encode(JSON.stringify({ type: 'text', text }))
  let next: IteratorResult<string> | null = first
  let started = false
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        started = true
        controller.enqueue(encoder.encode(`{"object":"${PAGE_OBJECT}","data":[`))
      }
      const current = next ?? (await slices.next())
      next = null
      if (current.done) {
        controller.enqueue(encoder.encode('],"has_more":false,"next_page":null}'))
        controller.close()
        return
      }
      if (current !== first) controller.enqueue(encoder.encode(','))
      controller.enqueue(item(current.value))
    },
    async cancel() {
      await slices.return?.()
    },
  })
  return new Response(body, { headers: { 'content-type': 'application/json' } })
}
