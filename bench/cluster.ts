/**
 * bench:cluster — 1 vs 2 vs 4 worker processes on one real Postgres (a throw-away cluster), one
 * API process, the fast scripted upstream: runs/s, events/s, and the latency of each event from
 * the worker's write (run_events.created_at) to the client's read. Prints a markdown table.
 */
import pg from 'pg'
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { FakeUpstream } from '../test/support/fake-upstream.ts'
import { startPostgresCluster } from '../test/support/postgres-cluster.ts'
import { startProcess, type Proc } from '../test/support/processes.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 200)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50)
const WORKERS = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number)
const KEY = 'sk-bench-cluster-key'

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

async function main() {
  const cluster = await startPostgresCluster()
  const upstream = await new FakeUpstream().start()
  upstream.defaultScript = { text: 'tok '.repeat(40), chunks: 20, delayMs: 1 }
  const rows: string[] = []
  try {
    for (const workers of WORKERS) {
      const admin = new pg.Client({ connectionString: cluster.url })
      await admin.connect()
      const dbName = `bench_${workers}_${Date.now()}`
      await admin.query(`create database ${dbName}`)
      await admin.end()
      const url = new URL(cluster.url)
      url.pathname = `/${dbName}`
      const env = {
        DATABASE_URL: url.toString(),
        THREADLINE_API_KEYS: KEY,
        THREADLINE_UPSTREAM_BASE_URL: upstream.url,
        THREADLINE_LOG_LEVEL: 'warn',
      }
      const procs: Proc[] = [await startProcess('serve', env)]
      // Workers announce readiness in their info log.
      procs.push(...(await Promise.all(Array.from({ length: workers }, () => startProcess('worker', { ...env, THREADLINE_LOG_LEVEL: 'info' })))))
      const api = procs[0].url
      const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }
      const post = async (path: string, body: unknown) => (await fetch(api + path, { method: 'POST', headers, body: JSON.stringify(body) })).json() as Promise<any>
      const assistant = await post('/assistants', { model: 'fake' })
      const threads: string[] = await Promise.all(Array.from({ length: RUNS }, async () => (await post('/threads', { messages: [{ role: 'user', content: 'go' }] })).id))

      const received: { runId: string; seq: number; at: number }[] = []
      let events = 0
      let errors = 0
      let next = 0
      const t0 = Date.now()
      const worker = async () => {
        while (next < threads.length) {
          const threadId = threads[next++]
          try {
            const res = await fetch(`${api}/threads/${threadId}/runs`, { method: 'POST', headers, body: JSON.stringify({ assistant_id: assistant.id, stream: true }) })
            let runId = ''
            const stream = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())
            for await (const e of stream) {
              const at = Date.now()
              events++
              if (!runId && e.event === 'thread.run.created') runId = JSON.parse(e.data).id
              if (runId) received.push({ runId, seq: Number(e.id), at })
              if (e.event === 'thread.run.failed') errors++
            }
          } catch {
            errors++
          }
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker))
      const wall = (Date.now() - t0) / 1000

      const db = new pg.Client({ connectionString: url.toString() })
      await db.connect()
      const { rows: written } = await db.query<{ run_id: string; seq: number; ms: string }>(
        'select run_id, seq, (extract(epoch from created_at) * 1000)::float8 as ms from run_events',
      )
      await db.end()
      const writtenAt = new Map(written.map((r) => [`${r.run_id}:${r.seq}`, Number(r.ms)]))
      const latencies = received.map((r) => r.at - (writtenAt.get(`${r.runId}:${r.seq}`) ?? NaN)).filter((x) => Number.isFinite(x))
      rows.push(
        `| ${workers} | ${RUNS} | ${(RUNS / wall).toFixed(1)} | ${(events / wall).toFixed(0)} | ${pct(latencies, 50).toFixed(1)} | ${pct(latencies, 99).toFixed(1)} | ${errors} |`,
      )
      await Promise.all(procs.map((p) => p.stop()))
    }
  } finally {
    await upstream.stop()
    cluster.stop()
  }
  console.log(`\n## bench:cluster — ${RUNS} streamed runs, ${CONCURRENCY} concurrent clients, 1 API process\n`)
  console.log('| workers | runs | runs/s | events/s | event latency p50 (ms) | event latency p99 (ms) | errors |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of rows) console.log(r)
  console.log('\nEvent latency: from the worker writing the event (run_events.created_at, the statement’s transaction time) to the client reading it, through NOTIFY and the API process.')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
