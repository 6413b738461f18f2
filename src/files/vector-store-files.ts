import type { AppServices } from '../services.ts'
import { ingestor } from '../ingest/ingestion.ts'
import { AUTO_CHUNKING } from '../ingest/chunk.ts'
import { notFound } from '../protocol/errors.ts'
import { getFileRows } from '../store/repos/files.ts'
import * as stores from '../store/repos/vector-stores.ts'
import type { VectorStoreFileRow, VectorStoreRow } from '../store/tables.ts'

export type ChunkingParam = { type: 'auto' } | { type: 'static'; static: { max_chunk_size_tokens: number; chunk_overlap_tokens: number } }

/** What a file reports as its strategy: `auto` is stored as the static sizes it stands for. */
export function resolveChunking(param?: ChunkingParam | null): stores.ChunkingStrategyObject {
  if (param?.type === 'static') return { type: 'static', static: { ...param.static } }
  return { type: 'static', static: { max_chunk_size_tokens: AUTO_CHUNKING.maxTokens, chunk_overlap_tokens: AUTO_CHUNKING.overlapTokens } }
}

export interface FileToAdd {
  file_id: string
  chunking_strategy?: ChunkingParam | null
  attributes?: stores.Attributes
}

/** Add project files to a store and queue their ingestion. Unknown file ids are a 404. */
export async function addFilesToStore(
  services: AppServices,
  project: string,
  storeId: string,
  files: FileToAdd[],
  opts: { batchId?: string | null; defaultChunking?: ChunkingParam | null; defaultAttributes?: stores.Attributes } = {},
): Promise<VectorStoreFileRow[]> {
  // Each file once (its last entry), in the order given; upsertStoreFiles 404s unknown ones.
  const unique = [...new Map(files.map((f) => [f.file_id, f])).values()]
  const { rows, start } = await stores.upsertStoreFiles(
    services.db,
    project,
    storeId,
    unique.map((f) => ({
      fileId: f.file_id,
      chunking: resolveChunking(f.chunking_strategy ?? opts.defaultChunking),
      attributes: f.attributes ?? opts.defaultAttributes ?? null,
    })),
    opts.batchId ?? null,
  )
  const ingest = ingestor(services)
  for (const row of start) await ingest.enqueue(project, storeId, row.id)
  return rows
}

export async function createVectorStoreWithFiles(
  services: AppServices,
  project: string,
  input: {
    name?: string | null
    description?: string | null
    metadata?: Record<string, string> | null
    expires_after?: { anchor: 'last_active_at'; days: number } | null
    file_ids?: string[]
    chunking_strategy?: ChunkingParam | null
  },
): Promise<VectorStoreRow> {
  const ids = input.file_ids ?? []
  // Check the files before creating anything: a 404 leaves no empty store behind.
  const known = new Set((await getFileRows(services.db, project, ids)).map((r) => r.id))
  const missing = ids.find((id) => !known.has(id))
  if (missing) throw notFound('file', missing)
  const store = await stores.insertVectorStore(services.db, project, input)
  await addFilesToStore(
    services,
    project,
    store.id,
    ids.map((file_id) => ({ file_id })),
    { defaultChunking: input.chunking_strategy },
  )
  return store
}
