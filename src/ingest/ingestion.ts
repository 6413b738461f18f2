import type { AppServices } from '../services.ts'
import { sql } from 'kysely'
import { isForeignKeyViolation, type Db } from '../store/db.ts'
import { fileStorage } from '../files/storage.ts'
import * as stores from '../store/repos/vector-stores.ts'
import type { ChunkingOptions } from './chunk.ts'
import { ChunkingThread, ChunkingThreadGone, type ChunkStream, type CutChunk } from './chunk-thread.ts'
import { addLexemeStats, deltaOfFiles, foldAllLexemeStats, removeFileChunks, type StatsDelta } from './term-stats.ts'
import { Embedder } from './embeddings.ts'
import { chunkLexemes, type ChunkLexemes } from './lexemes.ts'
import { IngestError } from './parse.ts'
import { documentText, STREAM_MIN_BYTES } from './source.ts'
import { ApiError, notFound } from '../protocol/errors.ts'
import { maintainRetrievalTables } from '../store/maintenance.ts'
import { arrayLiteral, BinaryArray, TEXT_OID, TSVECTOR_OID } from '../store/pg-arrays.ts'

const INGEST_TASK = 'threadline_ingest_file'
/** Groups of files ingested at once per process: parsing and tokenizing are CPU-bound. */
const CONCURRENCY = 2
/**
 * Files taken together (a batch's worth): their chunks share insert statements, lexeme look-ups
 * and completing transactions, so many small files do not each pay a dozen database round trips,
 * and a lexeme common to them is added to the store's statistics once.
 */
const FILES_PER_GROUP = 500
/** A group's small files are completed whenever this much of their text is written (and at the end). */
const SETTLE_BYTES = 8 * 1024 * 1024
/** Bytes of small files read and sent to the chunking thread ahead of the file being written. */
const LOOKAHEAD_BYTES = 512 * 1024
/** Chunks written per insert statement. */
const INSERT_BATCH = 200
/**
 * How long ingestion must have paused before the upkeep after it starts. Its statements (the
 * statistics fold, `analyze`, the index's pending list, a checkpoint: ~150 ms after 2 MB of new
 * text) hold the database's one session: run at once, they delayed the request that would report
 * the files completed (a client polling the batch) by the fold's ~70 ms, and a client sending
 * batches back to back paid them between each two.
 */
const UPKEEP_DELAY_MS = 250

interface Job {
  storeId: string
  fileId: string
  project: string
}

interface Waiting {
  job: Job
  done: () => void
}

/** One file's ingestion: where its chunks go and what they add up to. */
interface FileTally {
  storeId: string
  fileId: string
  /** Which ingestion of the store file this is (its row's `seq` and `attempt`); null: whichever is current. */
  run: { seq: string; attempt: number } | null
  count: number
  usageBytes: number
  /** Chunks containing each lexeme (the store's statistics). */
  documentFrequencies: Map<string, number>
  error: { code: string; message: string } | null
}

/**
 * Background ingestion: parse → chunk → (embed) → index. Jobs go through `services.jobs`
 * (in-process in embedded mode, the shared Postgres queue in cluster mode), one per vector-store
 * file; the jobs waiting in this process are taken in groups. The job's real state is the file's
 * `in_progress` row, so a restart simply re-queues those rows and a duplicate job finds nothing
 * left to do.
 */
export class Ingestor {
  /** Groups under way, and those of them still being read and chunked. */
  private running = 0
  private chunking = 0
  private scheduled = false
  private waiting: Waiting[] = []
  private stopped = false
  /** The upkeep after ingestion paused (statistics folded; planner statistics on the embedded database), once started. */
  private maintenance: Promise<void> | null = null
  /** The upkeep's start, while ingestion has not paused for long enough yet. */
  private upkeepTimer: NodeJS.Timeout | null = null
  /** How long ingestion must pause before its upkeep starts (tests lengthen it to see the pause). */
  upkeepDelayMs = UPKEEP_DELAY_MS
  private readonly abort = new AbortController()
  private readonly embedder: Embedder | null
  private chunker: ChunkingThread | null = null

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

  /** The job handler: resolves once the file's group is done. */
  run(job: Job): Promise<void> {
    if (this.stopped) return Promise.resolve()
    return new Promise((done) => {
      this.waiting.push({ job, done })
      this.scheduleGroups()
    })
  }

  /** Resolves when no file of the database is waiting for ingestion (tests). */
  async idle(): Promise<void> {
    for (;;) {
      const row = await this.services.db
        .selectFrom('vector_store_files')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('status', '=', 'in_progress')
        .executeTakeFirstOrThrow()
      if (Number(row.n) === 0 && this.running === 0) {
        // Whoever waits for ingestion to be idle waits for its upkeep too: no need to wait for the delay.
        if (this.upkeepTimer) this.startUpkeep()
        if (!this.maintenance) return
        await this.maintenance
        continue
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** Stop taking jobs; unfinished files stay `in_progress` for the next start. */
  async stop(): Promise<void> {
    this.stopped = true
    this.abort.abort(new Error('shutting down'))
    this.cancelUpkeep()
    for (const w of this.waiting.splice(0)) w.done()
    while (this.running > 0) await new Promise((resolve) => setTimeout(resolve, 10))
    await this.chunker?.close()
    await this.maintenance
  }

  /** Jobs that arrive together (a batch's files) are grouped: the grouping waits for the rest of them. */
  private scheduleGroups(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.startGroups()
    })
  }

  /**
   * At most CONCURRENCY groups are read and chunked at once (CPU work on this thread); a group
   * that has handed all its chunks to the database makes room for the next while it is settled.
   */
  private startGroups(): void {
    while (!this.stopped && this.chunking < CONCURRENCY && this.waiting.length > 0) {
      const group = this.waiting.splice(0, FILES_PER_GROUP)
      const jobs = group.map((w) => w.job)
      // Ingestion goes on: the upkeep waits for its next pause.
      this.cancelUpkeep()
      this.running++
      this.chunking++
      let chunked = false
      const release = () => {
        if (chunked) return
        chunked = true
        this.chunking--
        this.startGroups()
      }
      this.processGroup(jobs, release)
        .catch(async (err) => {
          // Failed outside any one file (the database): the files fail rather than wait forever.
          this.services.log.error({ err }, 'file ingestion failed')
          if (this.stopped) return
          const tallies = jobs.map((j) => ({ ...emptyTally(j.storeId, j.fileId, null), error: SERVER_ERROR }))
          await settleFiles(this.services.db, tallies).catch((e) => this.services.log.error({ err: e }, 'could not record the outcome of file ingestion'))
        })
        .finally(() => {
          this.running--
          for (const w of group) w.done()
          release()
          if (this.running === 0) this.maintainSoon()
        })
    }
  }

  /**
   * Ingest a group of files one after another through one chunk writer. Files are settled
   * (completed or failed, in one transaction) before each large file and at the end, so small
   * files do not wait for a large one.
   */
  private async processGroup(jobs: Job[], chunked: () => void): Promise<void> {
    const { db, log } = this.services
    const storage = await fileStorage(this.services.config)
    const rows = await groupRows(db, jobs)
    // Leftovers of an earlier attempt (a restart): a file already counted in its store's
    // statistics is taken out of them; the chunks of the others simply go.
    for (const row of rows) {
      if (row.chunk_count === 0) continue
      await db.transaction().execute(async (trx) => {
        await stores.lockStoreFiles(trx, [{ storeId: row.vector_store_id, fileId: row.id }])
        await removeFileChunks(trx, row.vector_store_id, row.id)
      })
    }
    await deleteChunksOf(db, rows.filter((r) => r.chunk_count === 0).map((r) => ({ storeId: r.vector_store_id, fileId: r.id })))
    const writer = new ChunkWriter(db, this.embedder, this.abort.signal)
    let unsettled: FileTally[] = []
    let unsettledBytes = 0
    const settle = async () => {
      const tallies = unsettled
      unsettled = []
      unsettledBytes = 0
      // The stores' statistics are summed once every chunk is counted, while the last inserts run.
      await writer.counted()
      const counts = countsByStore(tallies)
      try {
        await writer.flush()
      } catch (err) {
        // The writes failed: none of these files can be completed.
        log.error({ err, files: tallies.length }, 'file ingestion failed')
        for (const t of tallies) t.error ??= SERVER_ERROR
        await writer.abandon()
      }
      if (!this.stopped) await settleFiles(db, tallies, counts).catch((err) => log.error({ err }, 'could not record the outcome of file ingestion'))
    }
    // Files are read, and small ones sent to the chunking thread, ahead of the one being written
    // (up to LOOKAHEAD_BYTES): that thread cuts them while this one builds vectors and sends inserts.
    const prepared: (Prepared | undefined)[] = []
    let readAhead = 0
    let aheadBytes = 0
    const textOf = (row: GroupRow) =>
      row.filename === null || row.storage_key === null ? Promise.reject(notFound('file', row.id)) : documentText(storage.pathOf(row.storage_key), row.filename)
    const cutWhole = async (row: GroupRow) => this.chunkingThread().whole(await joined(await textOf(row)), chunkingOptions(row))
    const prepare = (row: GroupRow): Prepared => {
      const entry: Prepared = isLarge(row) ? { slices: textOf(row) } : { chunks: cutWhole(row) }
      ;('chunks' in entry ? entry.chunks : entry.slices).catch(() => undefined) // handled when its turn comes
      return entry
    }
    for (const [i, row] of rows.entries()) {
      // The next large file is only opened ahead (it is streamed).
      while (readAhead < rows.length && (readAhead <= i + 1 || (aheadBytes < LOOKAHEAD_BYTES && !isLarge(rows[readAhead])))) {
        prepared[readAhead] = prepare(rows[readAhead])
        if (!isLarge(rows[readAhead])) aheadBytes += Number(rows[readAhead].bytes)
        readAhead++
      }
      const entry = prepared[i]!
      prepared[i] = undefined
      if (this.stopped) return // unfinished files stay `in_progress` for the next start
      const large = isLarge(row)
      if (!large) aheadBytes -= Number(row.bytes)
      if (large && unsettled.length > 0) await settle()
      const tally = emptyTally(row.vector_store_id, row.id, { seq: String(row.seq), attempt: row.attempt })
      unsettled.push(tally)
      try {
        if ('chunks' in entry) {
          // Sent to a thread that is gone since (it crashed cutting another file): once more, to a new one.
          const chunks = await entry.chunks.catch((err) => {
            if (!(err instanceof ChunkingThreadGone) || this.stopped) throw err
            return cutWhole(row)
          })
          for (const chunk of chunks) await writer.add(tally, chunk)
          // Small files are read without waiting: let the database's replies (a batch's lexemes,
          // ready to be sent) and requests in, so the next batch goes out while this thread works.
          await new Promise((resolve) => setImmediate(resolve))
        } else if (!(await this.streamChunks(this.chunkingThread().stream(chunkingOptions(row)), await entry.slices, (chunk) => writer.add(tally, chunk)))) {
          return
        }
      } catch (err) {
        if (this.stopped) return
        tally.error = ingestFailure(err)
        if (tally.error === SERVER_ERROR) log.error({ err, storeId: row.vector_store_id, fileId: row.id }, 'file ingestion failed')
      }
      unsettledBytes += Number(row.bytes)
      if (large || unsettledBytes >= SETTLE_BYTES) await settle()
    }
    chunked()
    await settle()
    log.debug({ files: rows.length }, 'files ingested')
  }

  /**
   * A large file's text flows slice → chunking thread → chunks → batches written as they fill, so
   * memory stays bounded whatever its size; the next slice is being cut while one's chunks are
   * written. False if ingestion stopped part-way.
   */
  private async streamChunks(stream: ChunkStream, slices: AsyncIterable<string>, write: (chunk: CutChunk) => Promise<void>): Promise<boolean> {
    try {
      let previous: Promise<CutChunk[]> | null = null
      for await (const slice of slices) {
        const current = stream.push(slice)
        current.catch(() => undefined) // awaited after the previous slice's
        if (previous) for (const chunk of await previous) await write(chunk)
        previous = current
        if (this.stopped) return false
      }
      const last = stream.finish()
      last.catch(() => undefined)
      if (previous) for (const chunk of await previous) await write(chunk)
      for (const chunk of await last) await write(chunk)
      return true
    } finally {
      stream.drop()
    }
  }

  /** The thread cutting chunks (started on first use, again if it failed). */
  private chunkingThread(): ChunkingThread {
    if (!this.chunker || this.chunker.failed) this.chunker = ChunkingThread.start()
    return this.chunker
  }

  /**
   * Once ingestion has paused for `upkeepDelayMs` (its files already completed), refresh what
   * autovacuum would: under a steady stream of files the tables are analyzed once, not after every
   * group.
   */
  maintainSoon(): void {
    if (this.maintenance || this.upkeepTimer || this.stopped) return
    this.upkeepTimer = setTimeout(() => this.startUpkeep(), this.upkeepDelayMs)
    // Upkeep alone does not keep the process alive.
    this.upkeepTimer.unref()
  }

  private startUpkeep(): void {
    this.cancelUpkeep()
    if (this.maintenance || this.stopped || this.running > 0) return // a group's end schedules it again
    this.maintenance = this.maintain().finally(() => {
      this.maintenance = null
    })
  }

  private cancelUpkeep(): void {
    if (this.upkeepTimer) clearTimeout(this.upkeepTimer)
    this.upkeepTimer = null
  }

  /** Search statistics folded; planner statistics and the full-text index's pending list, on the embedded database (no autovacuum there). */
  private async maintain(): Promise<void> {
    if (this.stopped) return
    // Completed files' statistics into `lexeme_stats` (on any database): searches then read no deltas.
    await foldAllLexemeStats(this.services.db).catch((err) => this.services.log.warn({ err }, 'could not fold the search statistics'))
    if (this.services.database.kind !== 'pglite' || this.stopped) return
    await maintainRetrievalTables(this.services.db).catch((err) => this.services.log.warn({ err }, 'could not analyze the retrieval tables'))
    // The embedded database runs without a checkpointer: its WAL grows until max_wal_size (kept
    // in memory when the database is). A checkpoint lets the WAL files ingestion filled be reused
    // by the next one, instead of new 16 MB files created and zero-filled in fresh memory.
    if (!this.stopped) await sql`checkpoint`.execute(this.services.db).catch((err) => this.services.log.warn({ err }, 'could not checkpoint'))
  }
}

function emptyTally(storeId: string, fileId: string, run: FileTally['run']): FileTally {
  return { storeId, fileId, run, count: 0, usageBytes: 0, documentFrequencies: new Map(), error: null }
}

const SERVER_ERROR = { code: 'server_error', message: 'The file could not be processed because of a server error.' }

/** What a file's `last_error` says about why it could not be ingested. */
function ingestFailure(err: unknown): { code: string; message: string } {
  if (err instanceof IngestError) return { code: err.code, message: err.message }
  if (err instanceof ApiError && err.status === 404) return { code: 'invalid_file', message: 'The file was deleted before it could be processed.' }
  return SERVER_ERROR
}

type GroupRow = Awaited<ReturnType<typeof groupRows>>[number]

/** A file read ahead: a small one's chunks (being cut), or a large one's text to stream. */
type Prepared = { chunks: Promise<CutChunk[]> } | { slices: Promise<AsyncIterable<string>> }

const isLarge = (row: GroupRow) => Number(row.bytes) > STREAM_MIN_BYTES

function chunkingOptions(row: GroupRow): ChunkingOptions {
  const { static: options } = row.chunking_strategy as unknown as stores.ChunkingStrategyObject
  return { maxTokens: options.max_chunk_size_tokens, overlapTokens: options.chunk_overlap_tokens }
}

async function joined(slices: AsyncIterable<string>): Promise<string> {
  let text = ''
  for await (const slice of slices) text += slice
  return text
}

/** The group's files still in progress, with their names, places and sizes: one query, smallest first. */
async function groupRows(db: Db, jobs: Job[]) {
  if (jobs.length === 0) return []
  return db
    .selectFrom('vector_store_files as vf')
    .leftJoin('files as f', (j) => j.onRef('f.id', '=', 'vf.id').onRef('f.project_id', '=', 'vf.project_id'))
    .select(['vf.vector_store_id', 'vf.id', 'vf.seq', 'vf.attempt', 'vf.chunking_strategy', 'vf.chunk_count', 'f.filename', 'f.storage_key', 'f.bytes'])
    .where('vf.status', '=', 'in_progress')
    .where((eb) => eb(eb.refTuple('vf.vector_store_id', 'vf.id'), 'in', stores.storeFilesIn(jobs)))
    .orderBy('f.bytes')
    .orderBy('vf.seq')
    .execute()
}

/** Delete the chunks of these store files (one statement). */
async function deleteChunksOf(db: Db, files: { storeId: string; fileId: string }[]): Promise<void> {
  if (files.length === 0) return
  await db
    .deleteFrom('chunks')
    .where((eb) => eb(eb.refTuple('vector_store_id', 'file_id'), 'in', stores.storeFilesIn(files)))
    .execute()
}

/** Each store's statistics from its files ingested without error (what completes them adds, unless some are not completed after all). */
function countsByStore(tallies: FileTally[]): Map<string, { files: FileTally[]; delta: StatsDelta }> {
  const out = new Map<string, { files: FileTally[]; delta: StatsDelta }>()
  for (const [storeId, files] of Map.groupBy(tallies.filter((t) => !t.error), (t) => t.storeId)) {
    out.set(storeId, { files, delta: deltaOfFiles(files.map((t) => t.documentFrequencies)) })
  }
  return out
}

/**
 * Complete or fail ingested files in one transaction. Their rows are locked, so a duplicate job
 * waits here and then finds them no longer in progress; a file cancelled or removed meanwhile
 * keeps nothing.
 */
async function settleFiles(db: Db, tallies: FileTally[], summed?: ReturnType<typeof countsByStore>): Promise<void> {
  if (tallies.length === 0) return
  await db.transaction().execute(async (trx) => {
    // The stores for no key update: one completion of a store's files at a time.
    const states = await stores.lockStoreFiles(trx, tallies, { exclusiveStores: true })
    // Only this ingestion's store file: one removed and added again (a new row), or restarted by
    // a re-add after its batch was cancelled, is another ingestion's to complete, chunks and all.
    const own = new Map(
      tallies.map((t) => {
        const state = states.get(fileKey(t))
        const mine = state !== undefined && (t.run === null || (state.seq === t.run.seq && state.attempt === t.run.attempt))
        return [t, mine ? state.status : null]
      }),
    )
    const current = tallies.filter((t) => own.get(t) === 'in_progress')
    const completed = current.filter((t) => !t.error)
    const failed = current.filter((t) => t.error)
    // A file that failed part-way (e.g. a streamed file found not to be text) had some chunks
    // written: none of them stay searchable. Nor do those of files no longer in progress, unless
    // a duplicate job completed them.
    const discard = tallies.filter((t) => {
      const status = own.get(t)
      return status === 'in_progress' ? t.error : status !== null && status !== 'completed'
    })
    await deleteChunksOf(trx, discard)
    for (const [storeId, files] of Map.groupBy(completed, (t) => t.storeId)) {
      const pre = summed?.get(storeId)
      const same = pre !== undefined && pre.files.length === files.length && files.every((t, i) => t === pre.files[i])
      await addLexemeStats(trx, storeId, same ? pre.delta : deltaOfFiles(files.map((t) => t.documentFrequencies)))
    }
    await stores.completeStoreFiles(
      trx,
      completed.map((t) => ({ storeId: t.storeId, fileId: t.fileId, usageBytes: t.usageBytes, chunkCount: t.count })),
    )
    for (const t of failed) await stores.finishStoreFile(trx, t.storeId, t.fileId, { status: 'failed', error: t.error! })
  })
}

const fileKey = (t: FileTally) => stores.storeFileKey(t.storeId, t.fileId)

/** Batches cut and not yet written (their lexemes, embeddings or insert under way): bounds memory. */
const MAX_PENDING = 3
/** A writer's first batch is smaller, so the database has work while the next ones are cut. */
const FIRST_BATCH = 16

interface PendingChunk extends CutChunk {
  tally: FileTally
  index: number
}

/**
 * Writes chunks (of one file or of several) in batches of up to INSERT_BATCH with their
 * full-text vectors (and embeddings), and counts each file's chunks, bytes and lexeme document
 * frequencies. A pipeline, so that cutting chunks (here) and writing them (on the database's
 * thread) overlap: a batch is sent as soon as its lexemes (and embeddings) are ready, in the
 * order batches were cut, while the next ones are being cut; memory stays bounded by a few batches.
 */
class ChunkWriter {
  private batch: PendingChunk[] = []
  private batchSize = FIRST_BATCH
  /** Each submitted batch's completion (written, or its error kept in `failure`), oldest first. */
  private pending: Promise<void>[] = []
  /** The last batch sent (or given up): the next one is sent after it. */
  private sent: Promise<unknown> = Promise.resolve()
  private failure: unknown = null

  constructor(
    private readonly db: Db,
    private readonly embedder: Embedder | null,
    private readonly signal: AbortSignal,
  ) {}

  async add(tally: FileTally, { bytes, source }: CutChunk): Promise<void> {
    this.batch.push({ tally, index: tally.count++, bytes, source })
    if (this.batch.length < this.batchSize) return
    this.submit()
    while (this.pending.length > MAX_PENDING) await this.pending.shift()
    // Let the server answer requests between batches.
    await new Promise((resolve) => setImmediate(resolve))
  }

  /** Resolves once every chunk added so far is counted into its file's tally (its insert may still run). */
  async counted(): Promise<void> {
    if (this.batch.length > 0) this.submit()
    await this.sent
  }

  /** Write everything still pending; rethrows the first failure (once). */
  async flush(): Promise<void> {
    if (this.batch.length > 0) this.submit()
    await Promise.all(this.pending.splice(0))
    const failure = this.failure
    this.failure = null
    if (failure) throw failure
  }

  /** Wait for whatever is under way, whatever its outcome (before cleaning up after a failure). */
  async abandon(): Promise<void> {
    this.batch = []
    await Promise.all(this.pending.splice(0))
    this.failure = null
  }

  private submit(): void {
    const chunks = this.batch
    this.batch = []
    this.batchSize = Math.min(INSERT_BATCH, this.batchSize * 2)
    const lexemes = chunkLexemes(this.db, chunks.map((c) => c.source))
    const vectors = this.embedder ? this.embedder.embed(chunks.map((c) => c.bytes.toString('utf8')), this.signal) : Promise.resolve(null)
    // Awaited once the batches before are sent; a failure must not count as unhandled meanwhile.
    lexemes.catch(() => undefined)
    vectors.catch(() => undefined)
    // An object around the insert: its completion is awaited by `pending`, not by the next batch's send.
    const sent = this.sent.then(() => Promise.all([lexemes, vectors])).then(([l, v]) => ({ written: this.write(chunks, l, v) }))
    this.sent = sent.catch(() => undefined)
    this.pending.push(
      sent
        .then(({ written }) => written)
        .catch((err) => {
          this.failure ??= err
        }),
    )
  }

  /** Count the batch into its files' tallies and send its insert; resolves when it is written. */
  private async write(chunks: PendingChunk[], lexemes: ChunkLexemes[], vectors: number[][] | null): Promise<void> {
    chunks.forEach(({ tally, bytes }, j) => {
      const df = tally.documentFrequencies
      for (const l of lexemes[j].lexemes) df.set(l, (df.get(l) ?? 0) + 1)
      tally.usageBytes += bytes.length + (vectors ? (vectors[j]?.length ?? 0) * 4 : 0)
    })
    if (this.failure) return // these files fail anyway: nothing more is written for them
    const rows = chunkRows(chunks, lexemes, vectors)
    const insert = () => insertChunks(this.db, rows)
    // A file removed from its store meanwhile (foreign key) retries without it: the others go on.
    // Each retry leaves out at least the file that failed it, so there are at most as many.
    const files = new Set(chunks.map((c) => c.tally)).size
    for (let attempt = 0; ; attempt++) {
      try {
        return await insert()
      } catch (err) {
        if (!isForeignKeyViolation(err) || attempt >= files) throw err
      }
    }
  }
}

/** A batch of chunk rows as the insert's array parameters (see `pg-arrays.ts`), field by field. */
interface ChunkRows {
  storeIds: string
  fileIds: string
  seqs: string
  attempts: string
  indexes: string
  /** The texts as the UTF-8 bytes they were cut as (text's binary format: the bytes themselves). */
  texts: BinaryArray
  tsvs: BinaryArray
  /** The embeddings end to end, and where each row's starts and ends (1-based, inclusive); null without. */
  embeddings: number[] | null
  embeddingFrom: string | null
  embeddingTo: string | null
}

function chunkRows(chunks: PendingChunk[], lexemes: ChunkLexemes[], vectors: number[][] | null): ChunkRows {
  const runs = chunks.map((c) => c.tally.run)
  let embeddings: number[] | null = null
  const from: (number | null)[] = []
  const to: (number | null)[] = []
  if (vectors) {
    embeddings = []
    for (let j = 0; j < chunks.length; j++) {
      const vector = vectors[j]
      if (!vector) {
        from.push(null)
        to.push(null)
        continue
      }
      from.push(embeddings.length + 1)
      for (const x of vector) embeddings.push(x)
      to.push(embeddings.length)
    }
  }
  return {
    storeIds: arrayLiteral(chunks.map((c) => c.tally.storeId)),
    fileIds: arrayLiteral(chunks.map((c) => c.tally.fileId)),
    seqs: arrayLiteral(runs.map((r) => r?.seq ?? null)),
    attempts: arrayLiteral(runs.map((r) => r?.attempt ?? null)),
    indexes: arrayLiteral(chunks.map((c) => c.index)),
    texts: new BinaryArray(TEXT_OID, chunks.map((c) => c.bytes)),
    tsvs: new BinaryArray(TSVECTOR_OID, lexemes.map((l) => l.tsv)),
    embeddings,
    embeddingFrom: embeddings ? arrayLiteral(from) : null,
    embeddingTo: embeddings ? arrayLiteral(to) : null,
  }
}

/**
 * Insert chunk rows, leaving out those of files no longer in their store (removed while being
 * ingested) or whose ingestion is no longer this one (removed and added again, restarted). A
 * duplicate job writes the same chunks: one of each is kept. One statement text for any number of
 * rows (arrays unnested), prepared once.
 */
async function insertChunks(db: Db, rows: ChunkRows): Promise<void> {
  await sql`
    insert into chunks (vector_store_id, file_id, chunk_index, text, tsv, embedding)
    select v.vector_store_id, v.file_id, v.chunk_index, v.text, v.tsv, (${rows.embeddings}::real[])[v.embedding_from:v.embedding_to]
    from unnest(
      ${rows.storeIds}::text[], ${rows.fileIds}::text[], ${rows.seqs}::bigint[], ${rows.attempts}::int[], ${rows.indexes}::int[],
      ${rows.texts}::text[], ${rows.tsvs}::tsvector[], ${rows.embeddingFrom}::int[], ${rows.embeddingTo}::int[]
    ) as v(vector_store_id, file_id, seq, attempt, chunk_index, text, tsv, embedding_from, embedding_to)
    where exists (
      select from vector_store_files f
      where f.vector_store_id = v.vector_store_id and f.id = v.file_id and f.seq = v.seq and f.attempt = v.attempt
    )
    on conflict (vector_store_id, file_id, chunk_index) do nothing
  `.execute(db)
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
  // A database written by an earlier version (or process) may never have been analyzed.
  ingestor(services).maintainSoon()
}
