/**
 * bench:stream — streaming throughput and latency, side by side in one run:
 *   (a) straight from the upstream (the scripted fast fake),
 *   (b) the same stream through Threadline (a child process on the embedded database),
 *   (c) 500 concurrent streamed runs through Threadline: errors and server RSS,
 *   (d) the same as (b) and (c) with the upstream behind the AI SDK provider (a second child
 *       process whose config file names the upstream with `kind: 'ai-sdk-openai-compatible'`).
 * Prints a markdown table. Not a test: numbers depend on the machine.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { startProcess } from '../test/support/processes.ts'


const TOKENS = Number(process.env.BENCH_TOKENS ?? 20000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 10)
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 500)

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const fmt = (n: number, d = 1) => n.toFixed(d)

interface StreamStats {
  ttftMs: number
  deltas: number
  totalMs: number
}

async function consume(res: Response, isDelta: (event: string | undefined) => boolean, started: number): Promise<StreamStats> {
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`)
  let ttft = 0
  let deltas = 0
  const events = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())
  for await (const e of events) {
    if (!isDelta(e.event)) continue
    // A real client decodes every event it gets, on either path.
    if (e.data !== '[DONE]') JSON.parse(e.data)
    if (deltas === 0) ttft = performance.now() - started
    deltas++
  }
  return { ttftMs: ttft, deltas, totalMs: performance.now() - started }
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024
}

/** The fake upstream in its own process; `setScript` changes what it answers. */
async function startUpstream(script: object) {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fake-upstream-process.ts', import.meta.url).pathname], {
    env: { ...process.env, FAKE_UPSTREAM_SCRIPT: JSON.stringify(script) },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const url = (await lines.next()).value as string
  return {
    url,
    async setScript(next: object) {
      child.stdin!.write(JSON.stringify({ script: next }) + '\n')
      await lines.next()
    },
    async stop() {
      child.stdin!.end()
      child.kill()
    },
  }
}

/** A Threadline child process on its own embedded database, and a client for its API. */
async function startThreadline(dataDir: string, env: Record<string, string>) {
  const key = 'sk-bench-key-0001'
  const server = await startProcess('start', { THREADLINE_DATA_DIR: dataDir, THREADLINE_API_KEYS: key, THREADLINE_LOG_LEVEL: 'warn', ...env })
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  const api = (path: string, body: unknown) => fetch(server.url + path, { method: 'POST', headers, body: JSON.stringify(body) })
  const assistant = (await (await api('/assistants', { model: 'fake' })).json()) as { id: string }
  const newThread = async (content: string) => ((await (await api('/threads', { messages: [{ role: 'user', content }] })).json()) as { id: string }).id
  const streamRun = async (threadId: string, t0: number) =>
    consume(await api(`/threads/${threadId}/runs`, { assistant_id: assistant.id, stream: true }), (e) => e === 'thread.message.delta', t0)
  return { server, pid: server.child.pid!, newThread, streamRun }
}
type Threadline = Awaited<ReturnType<typeof startThreadline>>

/** (c): many concurrent streamed runs on one server; errors, TTFT and the server's RSS. */
async function concurrentRuns(tl: Threadline) {
  const idleRss = rssOf(tl.pid)
  let peakRss = idleRss
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOf(tl.pid))), 50)
  const threads = await Promise.all(Array.from({ length: CONCURRENT }, () => tl.newThread('c')))
  let errors = 0
  const t0 = performance.now()
  const results = await Promise.all(
    threads.map(async (id) => {
      try {
        const s = await tl.streamRun(id, performance.now())
        if (s.deltas < 1) errors++
        return s
      } catch {
        errors++
        return null
      }
    }),
  )
  const wall = performance.now() - t0
  clearInterval(sampler)
  const ok = results.filter((r): r is StreamStats => r !== null)
  return { errors, wall, ok, idleRss, peakRss }
}

async function main() {
  const text = 'tok '.repeat(TOKENS)
  const upstream = await startUpstream({ text, chunks: TOKENS, flushFirst: true })
  const dataDir = mkdtempSync(join(tmpdir(), 'threadline-bench-'))
  const sdkDir = mkdtempSync(join(tmpdir(), 'threadline-bench-sdk-'))
  // (d): the same upstream, reached through the AI SDK provider instead of the direct one.
  const sdkConfig = join(sdkDir, 'threadline.config.json')
  writeFileSync(sdkConfig, JSON.stringify({ providers: [{ name: 'aisdk', kind: 'ai-sdk-openai-compatible', baseURL: upstream.url }] }))
  let direct: Threadline | undefined
  let sdk: Threadline | undefined
  try {
    direct = await startThreadline(dataDir, { THREADLINE_UPSTREAM_BASE_URL: upstream.url })
    sdk = await startThreadline(join(sdkDir, 'data'), { THREADLINE_CONFIG: sdkConfig })
    const servers = [direct, sdk]

    // Warm up every path (JIT on both of the server's threads, connections, tokenizer, the lazily
    // loaded AI SDK, and the database's prepared statements, which settle on a plan after 5 runs).
    for (let i = 0; i < WARMUP; i++) {
      const t0 = performance.now()
      await consume(await fetch(upstream.url + '/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'fake', messages: [] }) }), () => true, t0)
      for (const tl of servers) await tl.streamRun(await tl.newThread('warm'), performance.now())
    }

    // Rounds interleave the paths so that load from elsewhere on the machine hits them alike.
    const fromUpstream: StreamStats[] = []
    const throughDirect: StreamStats[] = []
    const throughSdk: StreamStats[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now()
      fromUpstream.push(await consume(await fetch(upstream.url + '/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'fake', messages: [{ role: 'user', content: 'x' }], stream: true }) }), (e) => e === undefined || e === 'message', t0))
      for (const [tl, into] of [[direct, throughDirect], [sdk, throughSdk]] as const) {
        const thread = await tl.newThread('x')
        into.push(await tl.streamRun(thread, performance.now()))
      }
    }

    // (c) many concurrent streamed runs, a short answer each, on either provider.
    await upstream.setScript({ text: 'tok '.repeat(50), chunks: 50 })
    const concurrentDirect = await concurrentRuns(direct)
    const concurrentSdk = await concurrentRuns(sdk)

    // The direct stream also counts its role/finish/usage chunks; rates count content tokens only.
    const rate = (s: StreamStats[]) => pct(s.map((x) => (TOKENS / x.totalMs) * 1000), 50)
    // Streaming throughput once tokens flow (TTFT is reported on its own).
    const flowing = (s: StreamStats[]) => pct(s.map((x) => (TOKENS / (x.totalMs - x.ttftMs)) * 1000), 50)
    const ttft = (s: StreamStats[], p: number) => pct(s.map((x) => x.ttftMs), p)
    const row = (label: string, s: StreamStats[]) =>
      `| ${label} | ${fmt(rate(s), 0)} | ${fmt(flowing(s), 0)} | ${fmt(ttft(s, 50), 2)} | ${fmt(ttft(s, 99), 2)} | ${fmt(pct(s.map((x) => x.totalMs), 50))} |`
    const versus = (label: string, s: StreamStats[]) =>
      `${label}/(a): throughput ${fmt(rate(s) / rate(fromUpstream), 2)} whole stream, ${fmt(flowing(s) / flowing(fromUpstream), 2)} after the first token; added TTFT p50 ${fmt(ttft(s, 50) - ttft(fromUpstream, 50), 2)} ms`
    console.log(`\n## bench:stream — ${TOKENS} tokens per stream, ${ROUNDS} rounds after ${WARMUP} warm-up rounds, ${CONCURRENT} concurrent runs\n`)
    console.log('| path | tokens/s p50 (whole stream) | tokens/s p50 (after first token) | TTFT p50 (ms) | TTFT p99 (ms) | stream total p50 (ms) |')
    console.log('|---|---|---|---|---|---|')
    console.log(row('(a) direct from upstream', fromUpstream))
    console.log(row('(b) through Threadline', throughDirect))
    console.log(row('(d) through Threadline, AI SDK provider', throughSdk))
    console.log('')
    console.log(versus('(b)', throughDirect))
    console.log(versus('(d)', throughSdk))
    console.log(`(d)/(b): throughput ${fmt(rate(throughSdk) / rate(throughDirect), 2)} whole stream, ${fmt(flowing(throughSdk) / flowing(throughDirect), 2)} after the first token; TTFT p50 ${fmt(ttft(throughSdk, 50) - ttft(throughDirect, 50), 2)} ms more`)
    console.log('')
    console.log('| (c) concurrent streamed runs | direct provider (b) | AI SDK provider (d) |')
    console.log('|---|---|---|')
    const both = (f: (c: typeof concurrentDirect) => string) => `${f(concurrentDirect)} | ${f(concurrentSdk)}`
    console.log(`| runs | ${CONCURRENT} | ${CONCURRENT} |`)
    console.log(`| errors | ${both((c) => String(c.errors))} |`)
    console.log(`| wall time (s) | ${both((c) => fmt(c.wall / 1000, 2))} |`)
    console.log(`| TTFT p50 / p99 (ms) | ${both((c) => `${fmt(pct(c.ok.map((s) => s.ttftMs), 50))} / ${fmt(pct(c.ok.map((s) => s.ttftMs), 99))}`)} |`)
    console.log(`| server RSS idle → peak (MB) | ${both((c) => `${fmt(c.idleRss, 0)} → ${fmt(c.peakRss, 0)} (+${fmt(c.peakRss - c.idleRss, 0)})`)} |`)
  } finally {
    await direct?.server.stop()
    await sdk?.server.stop()
    await upstream.stop()
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(sdkDir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
