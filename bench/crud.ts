/**
 * CRUD benchmark: the real server in-process on the embedded database (PGlite in a temp data dir),
 * 50 concurrent keep-alive clients on loopback.
 *   - create-message: POST /v1/threads/{id}/messages (each client on its own thread)
 *   - list-messages:  GET  /v1/threads/{id}/messages?limit=20 on a thread of 1,000 messages
 * Also: RSS idle and under load, and cold start of `threadline start` as a child process
 * (first start with initdb, then again on the existing data dir).
 *
 * Usage: npm run bench:crud [-- --requests 4000 --concurrency 50 --seconds 20]
 * Everything is bounded: a request count per phase and a wall-clock cap per phase.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/log.ts'
import { serverProcessArgs } from '../src/node-flags.ts'
import { startServer } from '../src/server.ts'

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}

let CONCURRENCY = arg('concurrency', 50)
const REQUESTS = arg('requests', 4000)
const PHASE_SECONDS = arg('seconds', 20)
const THREAD_MESSAGES = 1000
const KEY = 'sk-bench-key-0123456789'
const MB = 1024 * 1024

const rssMb = () => process.memoryUsage().rss / MB

interface PhaseResult {
  name: string
  requests: number
  errors: number
  seconds: number
  p50: number
  p99: number
  max: number
  rps: number
  peakRssMb: number
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

/** `total` requests spread over `concurrency` workers (or until the time cap), RSS sampled throughout. */
async function phase(name: string, total: number, request: (worker: number, i: number) => Promise<Response>): Promise<PhaseResult> {
  const latencies: number[] = []
  let errors = 0
  let next = 0
  let peak = rssMb()
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 25)
  const deadline = performance.now() + PHASE_SECONDS * 1000
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (next < total && performance.now() < deadline) {
        const i = next++
        const t0 = performance.now()
        const res = await request(worker, i)
        await res.arrayBuffer()
        latencies.push(performance.now() - t0)
        if (!res.ok) errors++
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  latencies.sort((a, b) => a - b)
  return {
    name,
    requests: latencies.length,
    errors,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
    rps: latencies.length / seconds,
    peakRssMb: peak,
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** Start `threadline start` in a child, time until /health answers, note what it logged, stop it. */
async function coldStart(dataDir: string): Promise<{ ms: number; rssMb: number | null; said: string[]; startupMs: number | null }> {
  const port = await freePort()
  const child = spawn(process.execPath, serverProcessArgs('start'), {
    cwd: process.cwd(),
    env: { ...process.env, THREADLINE_DATA_DIR: dataDir, THREADLINE_PORT: String(port), THREADLINE_API_KEYS: KEY, THREADLINE_LOG_LEVEL: 'info', DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const said: string[] = []
  let startupMs: number | null = null
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
    for (const line of output.split('\n').slice(0, -1)) {
      try {
        const entry = JSON.parse(line)
        said.push(entry.msg)
        if (typeof entry.startupMs === 'number') startupMs = entry.startupMs
      } catch {
        said.push(line)
      }
    }
    output = output.split('\n').at(-1) ?? ''
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const started = performance.now()
  const deadline = started + 60_000
  let ms = NaN
  try {
    while (performance.now() < deadline) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)
      if (ok) {
        ms = performance.now() - started
        break
      }
      if (child.exitCode !== null) throw new Error(`server exited early: ${said.join(' | ')}`)
      await new Promise((r) => setTimeout(r, 10))
    }
    if (Number.isNaN(ms)) throw new Error('server did not answer /health within 60 s')
    await new Promise((r) => setTimeout(r, 500))
    return { ms, rssMb: childRssMb(child.pid), said, startupMs }
  } finally {
    child.kill('SIGTERM')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
    if (child.exitCode === null) child.kill('SIGKILL')
  }
}

function childRssMb(pid: number | undefined): number | null {
  if (!pid) return null
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
    return Number.isFinite(kb) ? kb / 1024 : null
  } catch {
    return null
  }
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'threadline-bench-'))
  try {
    // ---- in-process server on a fresh embedded data dir
    const config = loadConfig({}, { host: '127.0.0.1', port: 0, dataDir: join(dir, 'inproc'), databaseUrl: null, apiKeys: [{ key: KEY, project: 'bench' }], logLevel: 'error' })
    const server = await startServer(config, { logger: createLogger('error') })
    const base = `${server.url}/v1`
    const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'openai-beta': 'assistants=v2' }
    const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) })
    const createThread = async () => ((await (await post('/threads', {})).json()) as { id: string }).id

    // Seed: one thread of 1,000 messages for listing, one thread per client for creating.
    const listThread = await createThread()
    for (let i = 0; i < THREAD_MESSAGES; i += CONCURRENCY) {
      await Promise.all(
        Array.from({ length: Math.min(CONCURRENCY, THREAD_MESSAGES - i) }, (_, j) =>
          post(`/threads/${listThread}/messages`, { role: 'user', content: `seed message ${i + j}` }).then((r) => r.arrayBuffer()),
        ),
      )
    }
    const writeThreads = await Promise.all(Array.from({ length: CONCURRENCY }, createThread))
    const body = { role: 'user', content: 'How do I reset my password? I tried the link but it expired.', metadata: { source: 'bench' } }
    const createMessage = (w: number) => post(`/threads/${writeThreads[w]}/messages`, body)
    const listMessages = () => fetch(`${base}/threads/${listThread}/messages?limit=20`, { headers })

    // Warm up both paths (JIT, connections, database caches), then settle and read idle RSS.
    await phase('warmup', 500, (w) => createMessage(w))
    await phase('warmup', 500, () => listMessages())
    global.gc?.()
    await new Promise((r) => setTimeout(r, 1500))
    const idleRss = rssMb()

    // The floor: the same clients and HTTP stack on a route that does no work (no auth, no database).
    const health = await phase(`GET /health (no database; the HTTP floor), ${CONCURRENCY} clients`, REQUESTS, () => fetch(`${server.url}/health`))
    const create = await phase(`create message, ${CONCURRENCY} clients`, REQUESTS, (w) => createMessage(w))
    const list = await phase(`list messages (limit 20 of 1,000), ${CONCURRENCY} clients`, REQUESTS, () => listMessages())
    // The same requests one at a time: the service time, without queueing behind 49 others.
    const single = CONCURRENCY
    CONCURRENCY = 1
    const createOne = await phase('create message, 1 client', Math.min(REQUESTS, 1000), (w) => createMessage(w))
    const listOne = await phase('list messages (limit 20 of 1,000), 1 client', Math.min(REQUESTS, 1000), () => listMessages())
    CONCURRENCY = single
    const check = (await (await listMessages()).json()) as { data: unknown[]; has_more: boolean }
    if (check.data.length !== 20 || !check.has_more) throw new Error('list did not return a full page')
    await server.close()

    // ---- cold start of the CLI server as a child process
    const coldDir = join(dir, 'cold')
    const first = await coldStart(coldDir)
    const again = await coldStart(coldDir)

    const rows = [health, create, list, createOne, listOne].map(
      (r) => `| ${r.name} | ${r.requests} | ${r.errors} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.max, 1)} | ${fmt(r.rps, 0)} | ${fmt(r.peakRssMb, 0)} |`,
    )
    const out = [
      '',
      `### bench:crud — ${CONCURRENCY} concurrent keep-alive clients on loopback, embedded PGlite (Node ${process.version}, ${cpus().length} CPUs)`,
      '',
      '| operation | requests | errors | p50 ms | p99 ms | max ms | req/s | peak RSS MB |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
      '| measure | value |',
      '| --- | --- |',
      `| idle RSS after warm-up (server + load generator, one process) | ${fmt(idleRss, 0)} MB |`,
      `| peak RSS under load | ${fmt(Math.max(create.peakRssMb, list.peakRssMb), 0)} MB (+${fmt(Math.max(create.peakRssMb, list.peakRssMb) - idleRss, 0)} MB over idle) |`,
      `| first start (initdb + migrations) until /health answers | ${fmt(first.ms / 1000, 2)} s |`,
      `| cold start on an existing data dir until /health answers | ${fmt(again.ms / 1000, 2)} s |`,
      `| RSS of the idle standalone server after a cold start | ${again.rssMb === null ? 'n/a' : fmt(again.rssMb, 0) + ' MB'} |`,
      '',
      `Targets: create p50 < 3 ms — ${CONCURRENCY} clients ${create.p50 < 3 ? 'met' : 'MISSED'}, 1 client ${createOne.p50 < 3 ? 'met' : 'MISSED'}; list p50 < 5 ms — ${CONCURRENCY} clients ${list.p50 < 5 ? 'met' : 'MISSED'}, 1 client ${listOne.p50 < 5 ? 'met' : 'MISSED'}; cold start < 2 s ${again.ms < 2000 ? 'met' : 'MISSED'}.`,
      `The embedded database is one Postgres session (on its own thread) executing one statement at a time: with ${CONCURRENCY} closed-loop clients the p50 is ≈ ${CONCURRENCY} / throughput (queueing), not the service time.`,
      `Server start inside the process (database open + migrations check + listen), from its log: first ${first.startupMs ?? 'n/a'} ms, again ${again.startupMs ?? 'n/a'} ms; the rest is Node + TypeScript loading.`,
      `First start said: ${first.said.filter((m) => /first start|initialis|migration|listening/.test(m)).join(' → ')}`,
      '',
    ]
    process.stdout.write(out.join('\n'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
