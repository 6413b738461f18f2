import type { AppServices } from '../services.ts'
import type { Db } from '../store/db.ts'
import { fileStorage } from '../files/storage.ts'
import * as stores from '../store/repos/vector-stores.ts'
import { Chunker } from './chunk.ts'
import { addLexemeStats, removeFileChunks } from './term-stats.ts'
import { Embedder } from './embeddings.ts'
import { chunkLexemes, type ChunkLexemes } from './lexemes.ts'
import { IngestError } from './parse.ts'
import { documentText } from './source.ts'
import { ApiError, notFound } from '../protocol/errors.ts'

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
    let writer: ChunkWriter | null = null
    try {
      // The store file and the file's name and place in one query (this runs once per file).
      const row = await db
        .selectFrom('vector_store_files as vf')
        .leftJoin('files as f', (j) => j.onRef('f.id', '=', 'vf.id').onRef('f.project_id', '=', 'vf.project_id'))
        .select(['vf.status', 'vf.chunking_strategy', 'vf.chunk_count', 'f.filename', 'f.storage_key'])
        .where('vf.vector_store_id', '=', job.storeId)
        .where('vf.id', '=', job.fileId)
        .executeTakeFirst()
      if (!row || row.status !== 'in_progress') return
      if (row.filename === null || row.storage_key === null) throw notFound('file', job.fileId)
      const chunking = row.chunking_strategy as unknown as stores.ChunkingStrategyObject
      const slices = await documentText((await fileStorage(this.services.config)).pathOf(row.storage_key), row.filename)
      // A previous attempt (a restart) may have left some chunks; a file ingested before (counted in
      // the store's statistics) is taken out of them first.
      if (row.chunk_count > 0) await db.transaction().execute((trx) => removeFileChunks(trx, job.storeId, job.fileId))
      else await db.deleteFrom('chunks').where('vector_store_id', '=', job.storeId).where('file_id', '=', job.fileId).execute()
      // Text flows slice → chunks → batches written as they fill: memory stays bounded whatever the
      // file's size (for plain-text files; others are parsed whole first).
      const chunker = new Chunker({ maxTokens: chunking.static.max_chunk_size_tokens, overlapTokens: chunking.static.chunk_overlap_tokens })
      const written = (writer = new ChunkWriter(db, this.embedder, job.storeId, job.fileId, this.abort.signal))
      for await (const slice of slices) {
        for (const chunk of chunker.push(slice)) await writer.add(chunk)
        if (this.stopped) return
      }
      for (const chunk of chunker.finish()) await writer.add(chunk)
      await writer.flush()
      if (this.stopped) return
      await db.transaction().execute(async (trx) => {
        // Locked, so a duplicate job waits here and then finds the file no longer in progress.
        const current = await lockStatus(trx, job)
        if (current === 'completed') return // a duplicate job finished it
        if (current !== 'in_progress') {
          // Cancelled (or removed) meanwhile: keep nothing of it.
          await trx.deleteFrom('chunks').where('vector_store_id', '=', job.storeId).where('file_id', '=', job.fileId).execute()
          return
        }
        await addLexemeStats(trx, job.storeId, job.fileId, written.documentFrequencies, written.count)
        await stores.finishStoreFile(trx, job.storeId, job.fileId, { status: 'completed', usageBytes: written.usageBytes })
      })
      log.debug({ storeId: job.storeId, fileId: job.fileId, chunks: writer.count }, 'file ingested')
    } catch (err) {
      if (this.stopped) return // the next start picks the file up again
      const error =
        err instanceof IngestError
          ? { code: err.code, message: err.message }
          : err instanceof ApiError && err.status === 404
            ? { code: 'invalid_file', message: 'The file was deleted before it could be processed.' }
            : { code: 'server_error', message: 'The file could not be processed because of a server error.' }
      if (error.code === 'server_error') log.error({ err, storeId: job.storeId, fileId: job.fileId }, 'file ingestion failed')
      await writer?.abandon()
      await db
        .transaction()
        .execute(async (trx) => {
          // A streamed file can fail after some of its chunks were written: none of them stay searchable.
          if ((await lockStatus(trx, job)) !== 'in_progress') return
          await trx.deleteFrom('chunks').where('vector_store_id', '=', job.storeId).where('file_id', '=', job.fileId).execute()
          await stores.finishStoreFile(trx, job.storeId, job.fileId, { status: 'failed', error })
        })
        .catch((e) => log.error({ err: e }, 'could not record ingestion failure'))
    }
  }
}

async function lockStatus(db: Db, job: Job): Promise<string | undefined> {
  const row = await db
    .selectFrom('vector_store_files')
    .select('status')
    .where('vector_store_id', '=', job.storeId)
    .where('id', '=', job.fileId)
    .forUpdate()
    .executeTakeFirst()
  return row?.status
}

/** Batches whose lexemes (and embeddings) are being prepared while earlier ones are written. */
const PREPARE_AHEAD = 1
/** Inserts sent to the database and not yet done. */
const MAX_INSERTS = 2

interface PreparedBatch {
  texts: string[]
  first: number
  lexemes: Promise<ChunkLexemes[]>
  vectors: Promise<number[][] | null>
}

/**
 * Writes a file's chunks in batches of INSERT_BATCH with their full-text vectors (and embeddings),
 * and counts the document frequencies of their lexemes for the store's statistics. A pipeline, so
 * that cutting chunks (here) and writing them (on the database's thread) overlap: the next batch's
 * lexemes are looked up while the previous one is being inserted; memory stays bounded by a few
 * batches.
 */
class ChunkWriter {
  count = 0
  usageBytes = 0
  readonly documentFrequencies = new Map<string, number>()
  private batch: string[] = []
  private prepared: PreparedBatch[] = []
  private inserts: Promise<unknown>[] = []
  private failure: unknown = null

  constructor(
    private readonly db: Db,
    private readonly embedder: Embedder | null,
    private readonly storeId: string,
    private readonly fileId: string,
    private readonly signal: AbortSignal,
  ) {}

  async add(text: string): Promise<void> {
    this.batch.push(text)
    if (this.batch.length < INSERT_BATCH) return
    this.prepare()
    if (this.prepared.length > PREPARE_AHEAD) await this.writeOldest()
    // Let the server answer requests between batches.
    await new Promise((resolve) => setImmediate(resolve))
  }

  /** Write everything still pending; rethrows the first failure. */
  async flush(): Promise<void> {
    if (this.batch.length > 0) this.prepare()
    while (this.prepared.length > 0) await this.writeOldest()
    await Promise.all(this.inserts)
    this.inserts = []
    if (this.failure) throw this.failure
  }

  /** Wait for whatever is under way, whatever its outcome (before cleaning up after a failure). */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.prepared.flatMap((p) => [p.lexemes, p.vectors]))
    this.prepared = []
    await Promise.all(this.inserts)
    this.inserts = []
  }

  private prepare(): void {
    const texts = this.batch
    this.batch = []
    const lexemes = chunkLexemes(this.db, texts)
    const vectors = this.embedder ? this.embedder.embed(texts, this.signal) : Promise.resolve(null)
    // Awaited in order later; a failure must not count as unhandled meanwhile.
    lexemes.catch(() => undefined)
    vectors.catch(() => undefined)
    this.prepared.push({ texts, first: this.count, lexemes, vectors })
    this.count += texts.length
  }

  private async writeOldest(): Promise<void> {
    const { texts, first, lexemes: pending, vectors: pendingVectors } = this.prepared.shift()!
    const [lexemes, vectors] = await Promise.all([pending, pendingVectors])
    for (const { lexemes: distinct } of lexemes) for (const l of distinct) this.documentFrequencies.set(l, (this.documentFrequencies.get(l) ?? 0) + 1)
    this.usageBytes += texts.reduce((n, p) => n + Buffer.byteLength(p), 0) + (vectors ? vectors.length * (vectors[0]?.length ?? 0) * 4 : 0)
    while (this.inserts.length >= MAX_INSERTS) await this.inserts.shift()
    if (this.failure) throw this.failure
    this.inserts.push(
      this.db
        .insertInto('chunks')
        .values(
          texts.map((text, j) => ({ vector_store_id: this.storeId, file_id: this.fileId, chunk_index: first + j, text, tsv: lexemes[j].tsv, embedding: vectors?.[j] ?? null })),
        )
        // A duplicate job writes the same chunks: keep one of each.
        .onConflict((oc) => oc.columns(['vector_store_id', 'file_id', 'chunk_index']).doNothing())
        .execute()
        .catch((err) => (this.failure ??= err)),
    )
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
