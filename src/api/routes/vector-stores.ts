import type { AppServices } from '../../services.ts'
import { addFilesToStore, createVectorStoreWithFiles } from '../../files/vector-store-files.ts'
import { storeFileContent } from '../../files/store-file-content.ts'
import { searchChunks } from '../../ingest/search.ts'
import { rewriteQuery } from '../../ingest/rewrite.ts'
import {
  CreateFileBatch,
  CreateVectorStore,
  CreateVectorStoreFile,
  FileStatusFilter,
  ModifyVectorStore,
  SearchVectorStore,
  UpdateVectorStoreFile,
} from '../../protocol/vector-store-schemas.ts'
import * as stores from '../../store/repos/vector-stores.ts'
import { parseListQuery } from '../../store/pagination.ts'
import { POLL_AFTER_MS, pathParam, prefixedIdParam, queryObject, readBody, type Ctx, type RouteTable } from '../http.ts'

const storeIdParam = (c: Ctx) => prefixedIdParam(c, 'vector_store_id', 'vs', '_')

export function vectorStoreRoutes(r: RouteTable, services: AppServices) {
  const { db } = services
  const base = '/v1/vector_stores/:vector_store_id'

  r.on('POST', '/v1/vector_stores', async (c) => {
    const body = await readBody(c, CreateVectorStore)
    const row = await createVectorStoreWithFiles(services, c.get('project'), body)
    return c.json(await stores.wireStore(db, row))
  })
  r.on('GET', '/v1/vector_stores', async (c) => c.json(await stores.listVectorStores(db, c.get('project'), parseListQuery(queryObject(c)))))
  r.on('GET', base, async (c) => c.json(await stores.wireStore(db, await stores.getVectorStoreRow(db, c.get('project'), storeIdParam(c)))))
  r.on('POST', base, async (c) => {
    const id = storeIdParam(c)
    const body = await readBody(c, ModifyVectorStore)
    return c.json(await stores.wireStore(db, await stores.modifyVectorStore(db, c.get('project'), id, body)))
  })
  r.on('DELETE', base, async (c) => c.json(await stores.deleteVectorStore(db, c.get('project'), storeIdParam(c))))

  r.on('POST', `${base}/search`, async (c) => {
    const id = storeIdParam(c)
    const body = await readBody(c, SearchVectorStore)
    await stores.getVectorStoreRow(db, c.get('project'), id)
    const queries = Array.isArray(body.query) ? body.query : [body.query]
    const searchQuery = body.rewrite_query ? queries.map(rewriteQuery) : queries
    const hits = await searchChunks(services, [id], searchQuery, {
      maxResults: body.max_num_results ?? 10,
      scoreThreshold: body.ranking_options?.score_threshold,
      filters: body.filters ?? null,
    })
    return c.json({
      object: 'vector_store.search_results.page',
      search_query: searchQuery,
      data: hits.map((h) => ({ file_id: h.file_id, filename: h.filename, score: h.score, attributes: h.attributes, content: [{ type: 'text', text: h.text }] })),
      has_more: false,
      next_page: null,
    })
  })

  // ---- files ----
  r.on('POST', `${base}/files`, async (c) => {
    const id = storeIdParam(c)
    const body = await readBody(c, CreateVectorStoreFile)
    await stores.getVectorStoreRow(db, c.get('project'), id)
    const [row] = await addFilesToStore(services, c.get('project'), id, [body])
    return c.json(stores.storeFileToWire(row))
  })
  r.on('GET', `${base}/files`, async (c) => {
    const id = storeIdParam(c)
    const q = parseListQuery(queryObject(c), { filter: FileStatusFilter.optional() })
    await stores.getVectorStoreRow(db, c.get('project'), id)
    return c.json(await stores.listStoreFiles(db, { vector_store_id: id, status: q.filter }, q))
  })
  r.on('GET', `${base}/files/:file_id`, async (c) => {
    const row = await stores.getStoreFileRow(db, c.get('project'), storeIdParam(c), pathParam(c, 'file_id'))
    c.header('openai-poll-after-ms', POLL_AFTER_MS)
    return c.json(stores.storeFileToWire(row))
  })
  r.on('POST', `${base}/files/:file_id`, async (c) => {
    const id = storeIdParam(c)
    const body = await readBody(c, UpdateVectorStoreFile)
    return c.json(stores.storeFileToWire(await stores.updateStoreFileAttributes(db, c.get('project'), id, pathParam(c, 'file_id'), body.attributes)))
  })
  r.on('DELETE', `${base}/files/:file_id`, async (c) => c.json(await stores.deleteStoreFile(db, c.get('project'), storeIdParam(c), pathParam(c, 'file_id'))))
  r.on('GET', `${base}/files/:file_id/content`, async (c) => {
    const row = await stores.getStoreFileRow(db, c.get('project'), storeIdParam(c), pathParam(c, 'file_id'))
    return storeFileContent(services, row)
  })

  // ---- file batches ----
  r.on('POST', `${base}/file_batches`, async (c) => {
    const id = storeIdParam(c)
    const project = c.get('project')
    const body = await readBody(c, CreateFileBatch)
    await stores.getVectorStoreRow(db, project, id)
    // With `files`, each entry carries its own settings and the top-level ones are ignored (spec).
    const files = body.files ?? (body.file_ids ?? []).map((file_id) => ({ file_id, chunking_strategy: body.chunking_strategy, attributes: body.attributes }))
    const batch = await stores.insertBatch(db, project, id)
    try {
      await addFilesToStore(services, project, id, files, { batchId: batch.id })
    } catch (err) {
      await db.deleteFrom('file_batches').where('id', '=', batch.id).execute()
      throw err
    }
    return c.json(await stores.wireBatch(db, batch))
  })
  r.on('GET', `${base}/file_batches/:batch_id`, async (c) => {
    const batch = await stores.getBatchRow(db, c.get('project'), storeIdParam(c), pathParam(c, 'batch_id'))
    c.header('openai-poll-after-ms', POLL_AFTER_MS)
    return c.json(await stores.wireBatch(db, batch))
  })
  r.on('POST', `${base}/file_batches/:batch_id/cancel`, async (c) => {
    const batch = await stores.getBatchRow(db, c.get('project'), storeIdParam(c), pathParam(c, 'batch_id'))
    await stores.cancelBatch(db, batch)
    return c.json(await stores.wireBatch(db, { ...batch, cancelled: true }))
  })
  r.on('GET', `${base}/file_batches/:batch_id/files`, async (c) => {
    const id = storeIdParam(c)
    const batch = await stores.getBatchRow(db, c.get('project'), id, pathParam(c, 'batch_id'))
    const q = parseListQuery(queryObject(c), { filter: FileStatusFilter.optional() })
    return c.json(await stores.listStoreFiles(db, { vector_store_id: id, batch_id: batch.id, status: q.filter }, q))
  })
}
