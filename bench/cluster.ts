/**
 * bench:cluster — 1 vs 2 vs 4 worker processes on one real Postgres (a throw-away cluster), one
 * API process, the scripted fake upstream in its own process. For each configuration, two phases:
 *
 * - saturated: BENCH_RUNS streamed runs from BENCH_CONCURRENCY clients as fast as they go —
 *   runs/s, events/s, event latency (which then includes queueing behind busy CPUs);
 * - moderate: a fixed offered load (BENCH_LIGHT_RATE runs/s started on a clock, BENCH_LIGHT_RUNS
 *   runs), the same for every configuration, far below saturation — event fan-out latency
 *   without the queueing.
 *
 * Event latency: from the worker's write (run_events.created_at) to the client's read. The CPU
 * each process used during a phase is printed too (% of one core), to show what limits it.
 * BENCH_QUERY_LOG=1 logs every statement (slows Postgres) and prints statements per run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import pg from 'pg'
import { Agent, request as httpRequest } from 'node:http'
import { createParser } from 'eventsource-parser'
import { findPostgresBin, startPostgresCluster } from '../test/support/postgres-cluster.ts'
import { startProcess, type Proc } from '../test/support/processes.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 400)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50)
const LIGHT_RATE = Number(process.env.BENCH_LIGHT_RATE ?? 10)
const LIGHT_RUNS = Number(process.env.BENCH_LIGHT_RUNS ?? 150)
const WARMUP_RUNS = Number(process.env.BENCH_WARMUP_RUNS ?? 40)
const WORKERS = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number)
const QUERY_LOG = process.env.BENCH_QUERY_LOG === '1'
const KEY = 'sk-bench-cluster-key'
/** The same upstream answer for every configuration: 40 tokens in 20 chunks, 1 ms apart. */
const SCRIPT = { text: 'tok '.repeat(40), chunks: 20, delayMs: 1 }

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

/** CPU seconds (user + system) a process used so far, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0 // exited
  }
}

/** CPU seconds all cores spent busy (not idle or waiting for I/O) since boot. */
function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/)
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number)
  return (user + nice + system + irq + softirq + steal) / 100
}

/** The postmaster and every process it started (backends, WAL writer …), by pid. */
function postgresPids(postmaster: number): number[] {
  const pids = [postmaster]
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === postmaster) pids.push(Number(name))
    } catch {
      /* gone */
    }
  }
  return pids
}

/** Snapshot of CPU used by each part of the system; `since` turns two into % of one core. */
class CpuMeter {
  constructor(
    private readonly parts: () => Record<string, number[]>,
    private readonly postmaster: number,
  ) {}
  /** Postgres backends come and go: a finished backend's time is lost, so sample often. */
  private pgSeen = new Map<number, number>()
  private timer: NodeJS.Timeout | undefined
  private samplePostgres() {
    for (const pid of postgresPids(this.postmaster)) this.pgSeen.set(pid, cpuSeconds(pid))
  }
  private postgresTotal() {
    return [...this.pgSeen.values()].reduce((a, b) => a + b, 0)
  }
  snapshot(): { at: number; cpu: Record<string, number> } {
    this.samplePostgres()
    const cpu: Record<string, number> = { postgres: this.postgresTotal() }
    for (const [name, pids] of Object.entries(this.parts())) cpu[name] = pids.reduce((n, pid) => n + cpuSeconds(pid), 0)
    const self = process.cpuUsage()
    cpu['bench client'] = (self.user + self.system) / 1e6
    // Everything else on the machine (other people's work shares these cores too).
    cpu['machine total'] = machineBusySeconds()
    return { at: Date.now(), cpu }
  }
  start() {
    this.timer = setInterval(() => this.samplePostgres(), 200)
  }
  stop() {
    clearInterval(this.timer)
  }
  /** CPU of each part between two snapshots, as % of one core. */
  static since(a: { at: number; cpu: Record<string, number> }, b: { at: number; cpu: Record<string, number> }): Record<string, number> {
    const wall = (b.at - a.at) / 1000
    const out: Record<string, number> = {}
    for (const k of Object.keys(b.cpu)) out[k] = ((b.cpu[k] - (a.cpu[k] ?? 0)) / wall) * 100
    const ours = Object.entries(out).reduce((n, [k, v]) => (k === 'machine total' ? n : n + v), 0)
    out['other processes'] = Math.max(0, out['machine total'] - ours)
    return out
  }
  static format(cpu: Record<string, number>): string {
    return Object.entries(cpu)
      .map(([k, v]) => `${k} ${Math.round(v)}%`)
      .join(', ')
  }
  /** CPU milliseconds all our processes spent per run (others' load excluded). */
  static perRun(cpu: Record<string, number>, runsPerSecond: number): number {
    const ours = cpu['machine total'] - cpu['other processes']
    return ((ours / 100) * 1000) / runsPerSecond
  }

}

/** The fake upstream in its own process, so its CPU is counted apart from the client's. */
async function startUpstream(): Promise<{ url: string; child: ChildProcess; stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fake-upstream-process.ts', import.meta.url).pathname], {
    env: { ...process.env, FAKE_UPSTREAM_SCRIPT: JSON.stringify(SCRIPT) },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const url = (await lines.next()).value as string
  return {
    url,
    child,
    stop() {
      child.stdin!.end()
      child.kill()
    },
  }
}

interface Received {
  runId: string
  seq: number
  at: number
}

interface PhaseResult {
  runs: number
  wall: number
  events: number
  errors: number
  received: Received[]
}

async function main() {
  const cluster = await startPostgresCluster()
  const upstream = await startUpstream()
  let admin = new pg.Client({ connectionString: cluster.url })
  await admin.connect()
  const { rows: dd } = await admin.query<{ data_directory: string }>('show data_directory')
  const dataDir = dd[0].data_directory
  let postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  if (QUERY_LOG) {
    // pg_stat_statements needs a restart (pg_ctl reuses the cluster's start options).
    await admin.query(`alter system set shared_preload_libraries = 'pg_stat_statements'`)
    await admin.end()
    const pgCtl = join(findPostgresBin()!, 'pg_ctl')
    // With a log file, so the server does not hold our pipes open (execFileSync would wait forever).
    execFileSync('runuser', ['-u', 'postgres', '--', pgCtl, '-D', dataDir, '-l', join(dirname(dataDir), 'log'), '-w', 'restart'], { stdio: 'ignore' })
    admin = new pg.Client({ connectionString: cluster.url })
    await admin.connect()
    postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  }
  const table: string[] = []
  const notes: string[] = []
  try {
    for (const workers of WORKERS) {
      const dbName = `bench_${workers}_${Date.now()}`
      await admin.query(`create database ${dbName}`)
      const url = new URL(cluster.url)
      url.pathname = `/${dbName}`
      const env = {
        DATABASE_URL: url.toString(),
        THREADLINE_API_KEYS: KEY,
        THREADLINE_UPSTREAM_BASE_URL: upstream.url,
        THREADLINE_LOG_LEVEL: 'warn',
        ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
      }
      const api = await startProcess('serve', env)
      // Workers announce readiness in their info log.
      const workerProcs = await Promise.all(Array.from({ length: workers }, () => startProcess('worker', { ...env, THREADLINE_LOG_LEVEL: 'info' })))
      const procs: Proc[] = [api, ...workerProcs]
      const meter = new CpuMeter(
        () => ({ api: [api.child.pid!], workers: workerProcs.map((p) => p.child.pid!), upstream: [upstream.child.pid!] }),
        postmaster,
      )
      meter.start()
      const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY + 10 })
      const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }
      const post = async (path: string, body: unknown) => (await fetch(api.url + path, { method: 'POST', headers, body: JSON.stringify(body) })).json() as Promise<any>
      const assistant = await post('/assistants', { model: 'fake' })
      const newThreads = (n: number) => Promise.all(Array.from({ length: n }, async () => (await post('/threads', { messages: [{ role: 'user', content: 'go' }] })).id as string))

      /**
       * One streamed run: every event's arrival time, by run id and sequence number. Plain
       * node:http and the SSE parser on the raw chunks: the load generator should cost little.
       */
      const streamRun = (threadId: string, into: PhaseResult) =>
        new Promise<void>((resolve) => {
          let runId = ''
          let at = 0
          const parser = createParser({
            onEvent: (e) => {
              into.events++
              if (!runId && e.event === 'thread.run.created') runId = JSON.parse(e.data).id
              if (runId) into.received.push({ runId, seq: Number(e.id), at })
              if (e.event === 'thread.run.failed') into.errors++
            },
          })
          const fail = () => {
            into.errors++
            resolve()
          }
          const req = httpRequest(`${api.url}/threads/${threadId}/runs`, { method: 'POST', headers, agent }, (res) => {
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => {
              at = Date.now()
              parser.feed(chunk)
            })
            res.on('end', () => resolve())
            res.on('error', fail)
          })
          req.on('error', fail)
          req.end(JSON.stringify({ assistant_id: assistant.id, stream: true }))
        })
      /** Closed loop: `concurrency` clients, each starting its next run when the last one ends. */
      const saturated = async (threads: string[], concurrency: number): Promise<PhaseResult> => {
        const out: PhaseResult = { runs: threads.length, wall: 0, events: 0, errors: 0, received: [] }
        let next = 0
        const t0 = Date.now()
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < threads.length) await streamRun(threads[next++], out)
          }),
        )
        out.wall = (Date.now() - t0) / 1000
        return out
      }
      /** Open loop: a run starts every 1/rate seconds, whatever the others are doing. */
      const offered = async (threads: string[], rate: number): Promise<PhaseResult> => {
        const out: PhaseResult = { runs: threads.length, wall: 0, events: 0, errors: 0, received: [] }
        const t0 = Date.now()
        const running: Promise<void>[] = []
        for (let i = 0; i < threads.length; i++) {
          const due = t0 + (i * 1000) / rate
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()))
          running.push(streamRun(threads[i], out))
        }
        await Promise.all(running)
        out.wall = (Date.now() - t0) / 1000
        return out
      }

      // Warm-up (not measured): code paths compiled, connection pools filled.
      await saturated(await newThreads(WARMUP_RUNS), Math.min(CONCURRENCY, WARMUP_RUNS))
      const heavyThreads = await newThreads(RUNS)
      const lightThreads = await newThreads(LIGHT_RUNS)

      const stats = QUERY_LOG ? new pg.Client({ connectionString: url.toString() }) : null
      if (stats) {
        await stats.connect()
        await stats.query('create extension if not exists pg_stat_statements')
        await stats.query('select pg_stat_statements_reset()')
      }
      const c0 = meter.snapshot()
      const heavy = await saturated(heavyThreads, CONCURRENCY)
      const c1 = meter.snapshot()
      if (stats) {
        notes.push(await statementsPerRun(stats, RUNS))
        await stats.end()
      }
      const light = await offered(lightThreads, LIGHT_RATE)
      const c2 = meter.snapshot()
      meter.stop()

      const db = new pg.Client({ connectionString: url.toString() })
      await db.connect()
      const { rows: written } = await db.query<{ run_id: string; seq: number; ms: string }>(
        'select run_id, seq, (extract(epoch from created_at) * 1000)::float8 as ms from run_events',
      )
      await db.end()
      const writtenAt = new Map(written.map((r) => [`${r.run_id}:${r.seq}`, Number(r.ms)]))
      const latencies = (p: PhaseResult) => p.received.map((r) => r.at - (writtenAt.get(`${r.runId}:${r.seq}`) ?? NaN)).filter((x) => Number.isFinite(x))
      const row = (label: string, p: PhaseResult, cpu: Record<string, number>) => {
        const l = latencies(p)
        const rate = p.runs / p.wall
        return `| ${workers} | ${label} | ${p.runs} | ${rate.toFixed(1)} | ${(p.events / p.wall).toFixed(0)} | ${pct(l, 50).toFixed(1)} | ${pct(l, 99).toFixed(1)} | ${p.errors} | ${CpuMeter.perRun(cpu, rate).toFixed(1)} | ${Math.round(cpu['other processes'])} % |`
      }
      const heavyCpu = CpuMeter.since(c0, c1)
      const lightCpu = CpuMeter.since(c1, c2)
      table.push(row(`saturated, ${CONCURRENCY} clients`, heavy, heavyCpu), row(`moderate, ${LIGHT_RATE} runs/s offered`, light, lightCpu))
      notes.push(`- ${workers} worker(s), saturated: ${CpuMeter.format(heavyCpu)}`, `- ${workers} worker(s), moderate: ${CpuMeter.format(lightCpu)}`)
      agent.destroy()
      await Promise.all(procs.map((p) => p.stop()))
    }
  } finally {
    await admin.end().catch(() => {})
    upstream.stop()
    cluster.stop()
  }
  console.log(`\n## bench:cluster — 1 API process, fake upstream: ${SCRIPT.chunks} chunks ${SCRIPT.delayMs} ms apart; ${WARMUP_RUNS} warm-up runs first (not measured)\n`)
  console.log('| workers | load | runs | runs/s | events/s | event latency p50 (ms) | event latency p99 (ms) | errors | CPU per run, all our processes (ms) | CPU used by other processes on the machine |')
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const r of table) console.log(r)
  console.log('\nEvent latency: from the start of the statement that wrote the event (run_events.created_at = now()) to the client reading it: the')
  console.log('write, its commit, NOTIFY, the API process, the SSE write and the client. Not included: the time an event waits in the worker')
  console.log('for the statement that writes it (at most the one statement in flight before it).')
  console.log('Saturated: closed loop, each client starts its next run when its stream ends. Moderate: open loop, runs started on a fixed clock.')
  console.log('\nCPU during each phase, % of one core (the machine has 2 cores = 200 %). "bench client" is this process (the load generator);')
  console.log('"other processes" is whatever else ran on the machine meanwhile (it is shared):\n')
  for (const n of notes) console.log(n)
}

/** What Postgres executed during the saturated phase (all databases), per run. */
async function statementsPerRun(stats: pg.Client, runs: number): Promise<string> {
  const { rows } = await stats.query<{ query: string; calls: string; ms: number }>(
    'select query, calls, total_exec_time as ms from pg_stat_statements order by total_exec_time desc limit 25',
  )
  const { rows: sum } = await stats.query<{ calls: string; ms: number }>('select sum(calls) as calls, sum(total_exec_time) as ms from pg_stat_statements')
  const lines = rows.map((r) => `    ${(Number(r.calls) / runs).toFixed(2)} calls  ${(r.ms / runs).toFixed(3)} ms  ${r.query.replace(/\s+/g, ' ').slice(0, 130)}`)
  return [`  statements per run: ${(Number(sum[0].calls) / runs).toFixed(1)}, execution ${(sum[0].ms / runs).toFixed(2)} ms per run`, ...lines].join('\n')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
