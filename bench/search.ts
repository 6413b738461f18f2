/**
 * Retrieval benchmark: the real server in-process on the embedded database (PGlite in memory),
 * driven through the official SDK.
 *   - quality: a generated corpus of 200 documents (each ~2,000 tokens, several chunks) with one
 *     planted fact per document and one question per fact; recall@5 and MRR of the chunk that
 *     holds the fact, lexical-only and hybrid (fake bag-of-words embeddings from the test upstream).
 *   - ingestion: MB/s of text through parse → chunk → index of the 200 documents, one file batch
 *     polled until completed, in a server that has already ingested 2 MB of another vocabulary
 *     (so the tokenizer's and the process's one-time start-up costs are not counted; a row gives
 *     the first ingestion after start too), with the CPU it took per MB, and 200 more documents of
 *     the same vocabulary (words the server has seen) into another store; then one large
 *     generated text file (BENCH_BIG_MB, default 100) uploaded to a separate `threadline start`
 *     process with a data dir on disk, added to a vector store through the API and polled until
 *     completed: its MB/s and the server process's peak RSS growth over its idle RSS.
 *   - latency: search p50/p99 over HTTP at 10k and 100k chunks (chunks written directly, 120 tokens each).
 *
 * Usage: npm run bench:search [-- --docs 200 --questions 60 --bigMb 100 --searches 200 --quick]
 *   (BENCH_BIG_MB=… works as --bigMb; 0 skips the large file)
 */
import { spawn } from 'node:child_process'
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { sql } from 'kysely'
import OpenAI, { toFile } from 'openai'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/log.ts'
import { serverProcessArgs } from '../src/node-flags.ts'
import { startServer, type RunningServer } from '../src/server.ts'
import { ingestor } from '../src/ingest/ingestion.ts'
import { addFileStats, addLexemeStats, statsDelta, storeDocumentFrequencies } from '../src/ingest/term-stats.ts'
import { maintainRetrievalTables } from '../src/store/maintenance.ts'
import { FakeUpstream } from '../test/support/fake-upstream.ts'

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const DOCS = arg('docs', 200)
const QUESTIONS = Math.min(DOCS, arg('questions', 60))
const BIG_MB = arg('bigMb', Number(process.env.BENCH_BIG_MB ?? 100))
const SEARCHES = arg('searches', 200)
/** Latency store sizes (--quick: small ones, to check the script). */
const SIZES = process.argv.includes('--quick') ? [1_000, 5_000] : [10_000, 100_000]
const KEY = 'sk-bench-search-0123456789'
const MB = 1024 * 1024

// ---- a deterministic corpus -----------------------------------------------------------------------

/** mulberry32: a small seeded generator with a full period (an LCG in doubles loses precision). */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const rand = mulberry32(42)
const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]
const SYL = ['ka', 'lo', 'mir', 'ta', 'ven', 'sor', 'dri', 'an', 'bel', 'qu', 'zen', 'ro', 'pha', 'til', 'gar', 'neth', 'os', 'ul', 'ys', 'wen']
const word = () => Array.from({ length: 2 + Math.floor(rand() * 2) }, () => pick(SYL)).join('')
const name = () => word().replace(/^./, (c) => c.toUpperCase())
const FILLER = (
  'the station report covers daily operations weather logs supply deliveries crew rotations equipment checks and the usual ' +
  'maintenance schedule with notes about power usage water reserves radio contact and visitors from nearby settlements while ' +
  'the inspectors reviewed storage rooms corridors workshops and the archive of previous seasons'
).split(' ')
const paragraph = (n: number) => Array.from({ length: n }, () => (rand() < 0.15 ? word() : pick(FILLER))).join(' ') + '.'

const FACTS: { template: (s: string, v: string) => string; question: (s: string) => string; value: () => string }[] = [
  { template: (s, v) => `The chief engineer of the ${s} station is ${v}.`, question: (s) => `Who is the chief engineer of the ${s} station?`, value: () => `${name()} ${name()}` },
  { template: (s, v) => `The ${s} station was founded in the year ${v}.`, question: (s) => `When was the ${s} station founded?`, value: () => String(1700 + Math.floor(rand() * 300)) },
  { template: (s, v) => `The main export of the ${s} station is ${v} crystals.`, question: (s) => `What does the ${s} station export?`, value: () => word() },
  { template: (s, v) => `Visitors to ${s} must bring a permit signed by ${v}.`, question: (s) => `Who signs the permit needed to visit ${s}?`, value: () => name() },
]

interface Doc {
  filename: string
  text: string
  fact: string
  question: string
}

function corpus(n: number): Doc[] {
  const docs: Doc[] = []
  for (let i = 0; i < n; i++) {
    const station = name() + name().toLowerCase()
    const f = FACTS[i % FACTS.length]
    const fact = f.template(station, f.value())
    const paragraphs = Array.from({ length: 24 }, () => paragraph(60))
    // The fact sits somewhere in the document, not always in the first chunk.
    paragraphs.splice(Math.floor(rand() * paragraphs.length), 0, fact)
    docs.push({ filename: `station-${i}.txt`, text: `# ${station} station\n\n${paragraphs.join('\n\n')}\n`, fact, question: f.question(station) })
  }
  return docs
}

// ---- helpers ------------------------------------------------------------------------------------

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

async function start(upstream: FakeUpstream, embeddingModel: string | null): Promise<{ server: RunningServer; client: OpenAI }> {
  const config = loadConfig(
    { THREADLINE_UPSTREAM_BASE_URL: upstream.url },
    { host: '127.0.0.1', port: 0, dataDir: null, logLevel: 'warn', apiKeys: [{ key: KEY, project: 'bench' }], embeddingModel },
  )
  const server = await startServer(config, { logger: createLogger('warn') })
  // Retries: a keep-alive socket the server closed while the bench was busy resets on reuse.
  return { server, client: new OpenAI({ apiKey: KEY, baseURL: `${server.url}/v1`, maxRetries: 2, timeout: 600_000 }) }
}

/** A corpus of another vocabulary (own syllables, filler and seed): warming up learns none of the bench corpus's words. */
function otherCorpus(n: number): { filename: string; text: string }[] {
  const r = mulberry32(7)
  const syllables = ['pe', 'mu', 'ri', 'so', 'xa', 'fe', 'hu', 'ni', 'bo', 'ce', 'di', 'ju', 'ko', 'le', 'ma', 'vo', 'wi', 'zy', 'ep', 'ix']
  const filler = 'a company memo about budgets meetings travel plans hiring targets quarterly revenue office moves and software licenses for every team'.split(' ')
  const token = () => (r() < 0.15 ? Array.from({ length: 2 + Math.floor(r() * 2) }, () => syllables[Math.floor(r() * syllables.length)]).join('') : filler[Math.floor(r() * filler.length)])
  return Array.from({ length: n }, (_, i) => ({
    filename: `memo-${i}.txt`,
    text: Array.from({ length: 25 }, () => Array.from({ length: 60 }, token).join(' ') + '.').join('\n\n') + '\n',
  }))
}

async function ingestBatch(client: OpenAI, server: RunningServer | null, docs: { filename: string; text: string }[]) {
  const ids: string[] = []
  for (const d of docs) ids.push((await client.files.create({ file: await toFile(Buffer.from(d.text), d.filename), purpose: 'assistants' })).id)
  const store = await client.vectorStores.create({ name: 'bench' })
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  // As the SDK's createAndPoll sees it: until every batch reports its files done (polled every 20 ms).
  for (let i = 0; i < ids.length; i += 500) {
    const batch = await client.vectorStores.fileBatches.create(store.id, { file_ids: ids.slice(i, i + 500) })
    while ((await client.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: store.id })).status === 'in_progress') await new Promise((r) => setTimeout(r, 20))
  }
  const seconds = (performance.now() - t0) / 1000
  // The planner statistics refreshed once ingestion pauses count in the CPU.
  if (server) await ingestor(server.services).idle()
  const cpu = process.cpuUsage(cpu0)
  const mb = docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0) / MB
  // CPU of every thread of the process (the embedded database's included), with the upkeep the
  // server does once ingestion pauses (after the files are reported completed; not between batches
  // sent back to back): what the batch costs on few cores.
  return { storeId: store.id, seconds, mbPerSecond: mb / seconds, cpuSecondsPerMb: (cpu.user + cpu.system) / 1e6 / mb, mb }
}

/** A few files first: the tokenizer is built on first use (once per process) and the code paths warm up. */
async function warmUpCode(client: OpenAI, server: RunningServer | null) {
  await ingestBatch(client, server, otherCorpus(5))
}

/**
 * Ingestion of text new to a server that has run for a while: 2 MB of another vocabulary first,
 * so the process's heap and the database's buffers and WAL have grown to their working size
 * (first use of memory costs ~4 ms per MB on these VMs; see the first-ingestion row).
 */
async function ingest(client: OpenAI, server: RunningServer, docs: { filename: string; text: string }[]) {
  await warmUpCode(client, server)
  await ingestBatch(client, server, otherCorpus(200))
  return ingestBatch(client, server, docs)
}

/**
 * The embedded database's share alone: the corpus's chunk rows and lexeme statistics written again
 * by single in-database statements (no parsing, tokenizing or transfer), index entries merged. PGlite runs on one thread,
 * so this bounds ingestion on it whatever the rest costs. Best of three.
 */
async function databaseFloor(client: OpenAI, server: RunningServer, from: string): Promise<number> {
  const { db } = server.services
  let best = Infinity
  for (let k = 0; k < 3; k++) {
    const to = (await client.vectorStores.create({ name: `floor-${k}` })).id
    await sql`
      insert into vector_store_files (vector_store_id, id, project_id, created_at, status, chunking_strategy)
      select ${to}, id, project_id, created_at, 'completed', chunking_strategy from vector_store_files where vector_store_id = ${from}
    `.execute(db)
    // Its statistics as completing its files writes them: a delta built beforehand (see term-stats.ts).
    const delta = statsDelta(new Map((await storeDocumentFrequencies(db, from)).map((s) => [s.lexeme, s.df])))
    const t0 = performance.now()
    // \`text || ''\` makes a new value, as an insert of new text would (not a copy of the stored datum).
    await sql`
      insert into chunks (vector_store_id, file_id, chunk_index, text, tsv, embedding)
      select ${to}, file_id, chunk_index, text || '', tsv, embedding from chunks where vector_store_id = ${from}
    `.execute(db)
    await addLexemeStats(db, to, delta)
    // Their full-text index entries merged too (else the cost lands on whichever insert fills the pending list).
    await sql`select gin_clean_pending_list('chunks_tsv'::regclass)`.execute(db)
    best = Math.min(best, (performance.now() - t0) / 1000)
    await client.vectorStores.delete(to)
  }
  return best
}

async function quality(client: OpenAI, storeId: string, docs: Doc[]) {
  let hits = 0
  let rr = 0
  for (const d of docs.slice(0, QUESTIONS)) {
    const page = await client.vectorStores.search(storeId, { query: d.question, max_num_results: 10 })
    const rank = page.data.findIndex((r) => r.content.some((c) => c.text.includes(d.fact)))
    if (rank >= 0 && rank < 5) hits++
    if (rank >= 0) rr += 1 / (rank + 1)
  }
  return { recallAt5: hits / QUESTIONS, mrr: rr / QUESTIONS }
}

/** Writes `total` chunks of ~120 tokens straight into a store (ingesting 100k chunks through the tokenizer would take minutes). */
async function syntheticStore(client: OpenAI, server: RunningServer, total: number): Promise<string> {
  const { db } = server.services
  const store = await client.vectorStores.create({ name: `latency-${total}` })
  const file = await client.files.create({ file: await toFile(Buffer.from('placeholder'), 'synthetic.txt'), purpose: 'assistants' })
  await db
    .insertInto('vector_store_files')
    .values({ vector_store_id: store.id, id: file.id, project_id: 'bench', created_at: 0, status: 'completed', last_error: 'null', usage_bytes: 0, chunking_strategy: '{}', attributes: 'null', batch_id: null })
    .execute()
  for (let i = 0; i < total; i += 1000) {
    const rows = Array.from({ length: Math.min(1000, total - i) }, (_, j) => ({ vector_store_id: store.id, file_id: file.id, chunk_index: i + j, text: paragraph(90), embedding: null }))
    await db.insertInto('chunks').values(rows).execute()
  }
  // What ingestion does after writing a file's chunks.
  await addFileStats(db, store.id, file.id, total)
  await maintainRetrievalTables(db)
  return store.id
}

async function latency(client: OpenAI, storeId: string) {
  const times: number[] = []
  for (let i = 0; i < SEARCHES; i++) {
    const q = `${pick(FILLER)} ${word()} ${pick(FILLER)} ${pick(FILLER)}`
    const t0 = performance.now()
    await client.vectorStores.search(storeId, { query: q })
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  return { p50: percentile(times, 50), p99: percentile(times, 99) }
}

// ---- one large file, ingested by a separate server process -----------------------------------------

/** Write about `mb` MB of generated paragraphs to a file, a piece at a time. */
async function writeBigFile(path: string, mb: number): Promise<number> {
  const out = createWriteStream(path)
  let bytes = 0
  while (bytes < mb * MB) {
    const piece = Array.from({ length: 200 }, () => paragraph(70)).join('\n') + '\n'
    bytes += Buffer.byteLength(piece)
    if (!out.write(piece)) await new Promise((resolve) => out.once('drain', resolve))
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())))
  return bytes
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

/** `threadline start` in a child process with a data dir on disk, as deployed; `stop` ends it and removes the dir. */
async function childServer(dir: string) {
  const port = await freePort()
  const child = spawn(process.execPath, serverProcessArgs('start'), {
    cwd: process.cwd(),
    env: { ...process.env, THREADLINE_DATA_DIR: join(dir, 'data'), THREADLINE_PORT: String(port), THREADLINE_API_KEYS: KEY, THREADLINE_LOG_LEVEL: 'warn', DATABASE_URL: '' },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    child.kill('SIGTERM')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))])
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; ; i++) {
      if (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)) break
      if (child.exitCode !== null || i > 600) throw new Error('the server did not start')
      await new Promise((r) => setTimeout(r, 100))
    }
  } catch (err) {
    await stop()
    throw err
  }
  const client = new OpenAI({ apiKey: KEY, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 2, timeout: 3_600_000 })
  return { client, pid: child.pid!, stop }
}

/** The corpus ingested by a server process that has only warmed its code up: what a fresh process pays once. */
async function firstIngestion(docs: Doc[]) {
  const server = await childServer(mkdtempSync(join(tmpdir(), 'bench-search-first-')))
  try {
    await warmUpCode(server.client, null)
    return await ingestBatch(server.client, null, docs)
  } finally {
    await server.stop()
  }
}

/**
 * The large file, ingested by a server in its own process (so its RSS is the server's alone): idle
 * RSS after start-up and a small warm-up ingestion, then the file uploaded and added to a store
 * through the API, its status polled until completed while RSS is sampled.
 */
async function bigFile(mb: number) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-search-big-'))
  const path = join(dir, 'big.txt')
  const bytes = await writeBigFile(path, mb)
  const { client, pid, stop } = await childServer(dir)
  try {
    const waitFor = async (storeId: string, fileId: string, onTick: () => void) => {
      for (;;) {
        onTick()
        const f = await client.vectorStores.files.retrieve(fileId, { vector_store_id: storeId })
        if (f.status !== 'in_progress') return f
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    // Warm-up: the tokenizer and the database's caches are loaded before the idle RSS is taken.
    const warm = await client.files.create({ file: await toFile(Buffer.from(corpus(3).map((d) => d.text).join('\n')), 'warm.txt'), purpose: 'assistants' })
    const warmStore = await client.vectorStores.create({ name: 'warm', file_ids: [warm.id] })
    await waitFor(warmStore.id, warm.id, () => {})
    await new Promise((r) => setTimeout(r, 1000))
    const idle = rssMb(pid)
    let peak = idle
    const sample = () => (peak = Math.max(peak, rssMb(pid)))
    const sampler = setInterval(sample, 50)
    const file = await client.files.create({ file: createReadStream(path), purpose: 'assistants' })
    const uploadPeak = peak
    const store = await client.vectorStores.create({ name: 'big' })
    const t0 = performance.now()
    await client.vectorStores.files.create(store.id, { file_id: file.id })
    const done = await waitFor(store.id, file.id, sample)
    const seconds = (performance.now() - t0) / 1000
    clearInterval(sampler)
    if (done.status !== 'completed') throw new Error(`large file ${done.status}: ${JSON.stringify(done.last_error)}`)
    const check = await client.vectorStores.search(store.id, { query: `${pick(FILLER)} ${word()}`, max_num_results: 1 })
    return { mb: bytes / MB, seconds, mbPerSecond: bytes / MB / seconds, idle, peak, uploadPeak, searchable: check.data.length > 0, fileBytes: statSync(path).size }
  } finally {
    await stop()
  }
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const upstream = await new FakeUpstream().start()
  const docs = corpus(DOCS)
  const rows: [string, string][] = []
  const fmt = (x: number, d = 3) => x.toFixed(d)

  const lexical = await start(upstream, null)
  try {
    const ing = await ingest(lexical.client, lexical.server, docs)
    const chunks = await lexical.server.services.db.selectFrom('chunks').select((eb) => eb.fn.countAll<string>().as('n')).where('vector_store_id', '=', ing.storeId).executeTakeFirstOrThrow()
    rows.push([`corpus`, `${DOCS} docs, ${(docs.reduce((n, d) => n + d.text.length, 0) / MB).toFixed(2)} MB, ${chunks.n} chunks, ${QUESTIONS} questions`])
    rows.push([`ingestion, ${DOCS} small files, one batch until completed (MB/s)`, fmt(ing.mbPerSecond, 2)])
    const cores = availableParallelism()
    rows.push([`  its CPU per MB, all threads, with the upkeep after it (s) → MB/s at that CPU on ${cores} cores`, `${fmt(ing.cpuSecondsPerMb, 2)} → ${fmt(cores / ing.cpuSecondsPerMb, 2)}`])
    // Other documents of the same vocabulary into another store: words this server has seen.
    const again = await ingestBatch(lexical.client, lexical.server, corpus(DOCS))
    rows.push([`  ${DOCS} more such files (vocabulary the server has seen), into another store (MB/s)`, `${fmt(again.mbPerSecond, 2)} (${fmt(again.cpuSecondsPerMb, 2)} CPU-s/MB)`])
    const q = await quality(lexical.client, ing.storeId, docs)
    rows.push(['lexical recall@5', fmt(q.recallAt5)])
    rows.push(['lexical MRR', fmt(q.mrr)])

    for (const total of SIZES) {
      const storeId = await syntheticStore(lexical.client, lexical.server, total)
      const l = await latency(lexical.client, storeId)
      rows.push([`lexical search at ${total / 1000}k chunks, p50 / p99 (ms)`, `${fmt(l.p50, 1)} / ${fmt(l.p99, 1)}`])
    }
    // Last: its copies leave dead rows behind, which the searches above must not meet.
    const floor = await databaseFloor(lexical.client, lexical.server, ing.storeId)
    rows.splice(3, 0, [`  embedded database alone: rewriting its chunks + statistics (s) → bound (MB/s)`, `${fmt(floor, 2)} → ${fmt(ing.mb / floor, 2)}`])
  } finally {
    await lexical.server.close()
  }

  // The same corpus in a fresh server process (the module caches of this one know its words now).
  const first = await firstIngestion(docs)
  rows.splice(4, 0, [`  the same, first ingestion of a fresh server process, data dir on disk (MB/s)`, fmt(first.mbPerSecond, 2)])

  if (BIG_MB > 0) {
    const b = await bigFile(BIG_MB)
    rows.push([`ingestion, one ${b.mb.toFixed(0)} MB text file, separate server process (MB/s)`, `${fmt(b.mbPerSecond, 2)} (${fmt(b.seconds, 1)} s, searchable: ${b.searchable})`])
    rows.push([`server RSS: idle → peak while ingesting it (MB)`, `${b.idle.toFixed(0)} → ${b.peak.toFixed(0)} (+${(b.peak - b.idle).toFixed(0)}; peak during the upload: ${b.uploadPeak.toFixed(0)})`])
  }

  const hybrid = await start(upstream, 'fake-embeddings')
  try {
    const ing = await ingest(hybrid.client, hybrid.server, docs)
    rows.push(['ingestion with embeddings (MB/s)', fmt(ing.mbPerSecond, 2)])
    const q = await quality(hybrid.client, ing.storeId, docs)
    rows.push(['hybrid recall@5', fmt(q.recallAt5)])
    rows.push(['hybrid MRR', fmt(q.mrr)])
    const l = await latency(hybrid.client, ing.storeId)
    rows.push([`hybrid search at the corpus, p50 / p99 (ms)`, `${fmt(l.p50, 1)} / ${fmt(l.p99, 1)}`])
  } finally {
    await hybrid.server.close()
    await upstream.stop()
  }

  const width = Math.max(...rows.map((r) => r[0].length))
  console.log(`\n${'metric'.padEnd(width)} | value\n${'-'.repeat(width)}-|------`)
  for (const [k, v] of rows) console.log(`${k.padEnd(width)} | ${v}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
