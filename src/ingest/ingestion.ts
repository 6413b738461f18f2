import type { AppServices } from '../services.ts'
import { readFileBytes } from '../store/repos/files.ts'
import * as stores from '../store/repos/vector-stores.ts'
import { chunkText } from './chunk.ts'
import { addFileStats, removeFileChunks } from './term-stats.ts'
import { Embedder } from './embeddings.ts'
import { extractText, IngestError } from './parse.ts'
import { ApiError } from '../protocol/errors.ts'

const INGEST_TASK = 'threadline_ingest_file'
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
 * Jobs go through `services.jobs` (in-process in embedded mode, the shared Postgres queue in
 * cluster mode). The job's real state is the file's `in_progress` row, so a restart simply
 * re-queues those rows and a duplicate job finds nothing left to do.
 */
export class Ingestor {
  private running = 0
  private waiting: (() => void)[] = []
  private stopped = false
  private readonly abort = new AbortController()
  private readonly embedder: Embedder | null

  constructor(private readonly services: AppServices) {
    this.embedder = Embedder.fromConfig(services.config)
  }

  /** Queue a file's ingestion (on whichever process takes the job). */
  async enqueue(project: string, storeId: string, fileId: string): Promise<void> {
    await this.services.jobs.enqueue(INGEST_TASK, { project, storeId, fileId }, { key: `ingest:${storeId}:${fileId}` })
  }

  /** Re-queue every file left `in_progress` by an earlier process. */
  async recover(): Promise<number> {
    const pending = await this.services.db
      .selectFrom('vector_store_files')
      .select(['vector_store_id', 'id', 'project_id'])
      .where('status', '=', 'in_progress')
      .orderBy('seq')
      .execute()
    for (const p of pending) await this.enqueue(p.project_id, p.vector_store_id, p.id)
    if (pending.length) this.services.log.info({ files: pending.length }, 'resuming file ingestion')
    return pending.length
  }

  /** The job handler: at most CONCURRENCY files at once in this process. */
  async run(job: Job): Promise<void> {
    if (this.stopped) return
    while (this.running >= CONCURRENCY) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.running++
    try {
      await this.process(job)
    } finally {
      this.running--
      this.waiting.shift()?.()
    }
  }

  /** Resolves when no file of the database is waiting for ingestion (tests). */
  async idle(): Promise<void> {
    for (;;) {
      const row = await this.services.db
        .selectFrom('vector_store_files')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('status', '=', 'in_progress')
        .executeTakeFirstOrThrow()
      if (Number(row.n) === 0 && this.running === 0) return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** Stop taking jobs; unfinished files stay `in_progress` for the next start. */
  async stop(): Promise<void> {
    this.stopped = true
    this.abort.abort(new Error('shutting down'))
    for (const w of this.waiting.splice(0)) w()
    while (this.running > 0) await new Promise((resolve) => setTimeout(resolve, 10))
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
      // A previous attempt (a restart) may have left some chunks.
      await db.transaction().execute((trx) => removeFileChunks(trx, job.storeId, job.fileId))
      // Chunks are written batch by batch as they are cut, and the event loop gets a turn between
      // batches: memory stays bounded by the text, and the server keeps answering meanwhile.
      const pieces = chunkText(text, { maxTokens: chunking.static.max_chunk_size_tokens, overlapTokens: chunking.static.chunk_overlap_tokens })
      let count = 0
      let usageBytes = 0
      for (;;) {
        const batch: string[] = []
        while (batch.length < INSERT_BATCH) {
          const next = pieces.next()
          if (next.done) break
          batch.push(next.value)
        }
        if (batch.length === 0) break
        const vectors = this.embedder ? await this.embedder.embed(batch, this.abort.signal) : null
        if (this.stopped) return
        await db
          .insertInto('chunks')
          .values(batch.map((text, j) => ({ vector_store_id: job.storeId, file_id: job.fileId, chunk_index: count + j, text, embedding: vectors?.[j] ?? null })))
          // A duplicate job writes the same chunks: keep one of each.
          .onConflict((oc) => oc.columns(['vector_store_id', 'file_id', 'chunk_index']).doNothing())
          .execute()
        count += batch.length
        usageBytes += batch.reduce((n, p) => n + Buffer.byteLength(p), 0) + (vectors ? vectors.length * (vectors[0]?.length ?? 0) * 4 : 0)
        await new Promise((resolve) => setImmediate(resolve))
      }
      await db.transaction().execute(async (trx) => {
        // Locked, so a duplicate job waits here and then finds the file no longer in progress.
        const current = await trx
          .selectFrom('vector_store_files')
          .select('status')
          .where('vector_store_id', '=', job.storeId)
          .where('id', '=', job.fileId)
          .forUpdate()
          .executeTakeFirst()
        if (current?.status === 'completed') return // a duplicate job finished it
        if (current?.status !== 'in_progress') {
          // Cancelled (or removed) meanwhile: keep nothing of it.
          await trx.deleteFrom('chunks').where('vector_store_id', '=', job.storeId).where('file_id', '=', job.fileId).execute()
          return
        }
        await addFileStats(trx, job.storeId, job.fileId, count)
        await stores.finishStoreFile(trx, job.storeId, job.fileId, { status: 'completed', usageBytes })
      })
      log.debug({ storeId: job.storeId, fileId: job.fileId, chunks: count }, 'file ingested')
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

/** Register the ingestion job handler (before the job queue starts taking jobs). */
export function registerIngestion(services: AppServices): void {
  services.jobs.register(INGEST_TASK, (payload) => ingestor(services).run(payload as unknown as Job))
}

/** Worker start-up: resume files a previous process left `in_progress`. */
export async function startIngestion(services: AppServices): Promise<void> {
  await ingestor(services).recover()
}
