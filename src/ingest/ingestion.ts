import type { AppServices } from '../services.ts'
import { readFileBytes } from '../store/repos/files.ts'
import * as stores from '../store/repos/vector-stores.ts'
import { chunkText } from './chunk.ts'
import { Embedder } from './embeddings.ts'
import { extractText, IngestError } from './parse.ts'
import { ApiError } from '../protocol/errors.ts'

/** Files ingested at once per process: parsing and tokenizing are CPU-bound. */
const CONCURRENCY = 2
/** Chunks written per insert statement. */
const INSERT_BATCH = 200

interface Job {
  storeId: string
  fileId: string
  project: string
}

/**
 * Background ingestion: parse → chunk → (embed) → index, one vector-store file per job.
 * The job's state is the file's `in_progress` row itself, so a restart simply re-queues those rows.
 */
export class Ingestor {
  private queue: Job[] = []
  private queued = new Set<string>()
  private running = 0
  private stopped = false
  private idleWaiters: (() => void)[] = []
  private readonly abort = new AbortController()
  private readonly embedder: Embedder | null

  constructor(private readonly services: AppServices) {
    this.embedder = Embedder.fromConfig(services.config)
  }

  get embeddingsEnabled(): boolean {
    return this.embedder !== null
  }

  enqueue(project: string, storeId: string, fileId: string): void {
    const key = `${storeId}/${fileId}`
    if (this.stopped || this.queued.has(key)) return
    this.queued.add(key)
    this.queue.push({ storeId, fileId, project })
    this.pump()
  }

  /** Re-queue every file left `in_progress` by an earlier process. */
  async recover(): Promise<number> {
    const pending = await this.services.db
      .selectFrom('vector_store_files')
      .select(['vector_store_id', 'id', 'project_id'])
      .where('status', '=', 'in_progress')
      .orderBy('seq')
      .execute()
    for (const p of pending) this.enqueue(p.project_id, p.vector_store_id, p.id)
    if (pending.length) this.services.log.info({ files: pending.length }, 'resuming file ingestion')
    return pending.length
  }

  /** Resolves when nothing is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Stop taking jobs; unfinished files stay `in_progress` for the next start. */
  async stop(): Promise<void> {
    this.stopped = true
    this.queue = []
    this.abort.abort(new Error('shutting down'))
    await this.idle()
  }

  private pump(): void {
    while (!this.stopped && this.running < CONCURRENCY && this.queue.length > 0) {
      const job = this.queue.shift()!
      this.running++
      void this.process(job).finally(() => {
        this.running--
        this.queued.delete(`${job.storeId}/${job.fileId}`)
        this.pump()
        if (this.running === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w()
      })
    }
  }

  private async process(job: Job): Promise<void> {
    const { db, log } = this.services
    try {
      const row = await db
        .selectFrom('vector_store_files')
        .selectAll()
        .where('vector_store_id', '=', job.storeId)
        .where('id', '=', job.fileId)
        .executeTakeFirst()
      if (!row || row.status !== 'in_progress') return
      const chunking = row.chunking_strategy as unknown as stores.ChunkingStrategyObject
      const { filename, bytes } = await readFileBytes(this.services, job.project, job.fileId)
      const text = await extractText(bytes, filename)
      const pieces = [...chunkText(text, { maxTokens: chunking.static.max_chunk_size_tokens, overlapTokens: chunking.static.chunk_overlap_tokens })]
      const vectors = this.embedder ? await this.embedder.embed(pieces, this.abort.signal) : null
      if (this.stopped) return
      let usageBytes = 0
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('chunks').where('vector_store_id', '=', job.storeId).where('file_id', '=', job.fileId).execute()
        for (let i = 0; i < pieces.length; i += INSERT_BATCH) {
          const values = pieces.slice(i, i + INSERT_BATCH).map((text, j) => ({
            vector_store_id: job.storeId,
            file_id: job.fileId,
            chunk_index: i + j,
            text,
            embedding: vectors ? vectors[i + j] : null,
          }))
          await trx.insertInto('chunks').values(values).execute()
        }
        usageBytes = pieces.reduce((n, p) => n + Buffer.byteLength(p), 0) + (vectors ? vectors.length * vectors[0].length * 4 : 0)
        const finished = await stores.finishStoreFile(trx, job.storeId, job.fileId, { status: 'completed', usageBytes })
        // Cancelled or removed meanwhile: keep no chunks of it.
        if (!finished) await trx.deleteFrom('chunks').where('vector_store_id', '=', job.storeId).where('file_id', '=', job.fileId).execute()
      })
      log.debug({ storeId: job.storeId, fileId: job.fileId, chunks: pieces.length }, 'file ingested')
    } catch (err) {
      if (this.stopped) return // the next start picks the file up again
      const error =
        err instanceof IngestError
          ? { code: err.code, message: err.message }
          : err instanceof ApiError && err.status === 404
            ? { code: 'invalid_file', message: 'The file was deleted before it could be processed.' }
            : { code: 'server_error', message: 'The file could not be processed because of a server error.' }
      if (error.code === 'server_error') log.error({ err, storeId: job.storeId, fileId: job.fileId }, 'file ingestion failed')
      await stores.finishStoreFile(db, job.storeId, job.fileId, { status: 'failed', error }).catch((e) => log.error({ err: e }, 'could not record ingestion failure'))
    }
  }
}

const ingestors = new WeakMap<AppServices, Ingestor>()

/** This process's ingestor (created on first use). */
export function ingestor(services: AppServices): Ingestor {
  let i = ingestors.get(services)
  if (!i) {
    i = new Ingestor(services)
    ingestors.set(services, i)
  }
  return i
}

/** Server start-up: resume files a previous process left `in_progress`. Returns a stop function. */
export async function startIngestion(services: AppServices): Promise<() => Promise<void>> {
  const i = ingestor(services)
  await i.recover()
  return () => i.stop()
}
