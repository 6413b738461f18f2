/**
 * bench:stream — streaming throughput and latency, side by side in one run:
 *   (a) straight from the upstream (the scripted fast fake),
 *   (b) the same stream through Threadline (a child process on the embedded database),
 *   (c) 500 concurrent streamed runs through Threadline: errors and server RSS.
 * Prints a markdown table. Not a test: numbers depend on the machine.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { startProcess } from '../test/support/processes.ts'


const TOKENS = Number(process.env.BENCH_TOKENS ?? 20000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15)
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

async function main() {
  const text = 'tok '.repeat(TOKENS)
  const upstream = await startUpstream({ text, chunks: TOKENS, flushFirst: true })
  const dataDir = mkdtempSync(join(tmpdir(), 'threadline-bench-'))
  const key = 'sk-bench-key-0001'
  const server = await startProcess('start', {
    THREADLINE_DATA_DIR: dataDir,
    THREADLINE_API_KEYS: key,
    THREADLINE_UPSTREAM_BASE_URL: upstream.url,
    THREADLINE_LOG_LEVEL: 'warn',
  })
  const pid = server.child.pid!
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  const api = (path: string, body: unknown) => fetch(server.url + path, { method: 'POST', headers, body: JSON.stringify(body) })
  try {
    const assistant = (await (await api('/assistants', { model: 'fake' })).json()) as { id: string }

    // Warm up both paths (JIT, connections, tokenizer).
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now()
      await consume(await fetch(upstream.url + '/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'fake', messages: [] }) }), () => true, t0)
      const thread = (await (await api('/threads', { messages: [{ role: 'user', content: 'warm' }] })).json()) as { id: string }
      await consume(await api(`/threads/${thread.id}/runs`, { assistant_id: assistant.id, stream: true }), (e) => e === 'thread.message.delta', t0)
    }

    const direct: StreamStats[] = []
    const through: StreamStats[] = []
    for (let i = 0; i < ROUNDS; i++) {
      let t0 = performance.now()
      direct.push(await consume(await fetch(upstream.url + '/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'fake', messages: [{ role: 'user', content: 'x' }], stream: true }) }), (e) => e === undefined || e === 'message', t0))
      const thread = (await (await api('/threads', { messages: [{ role: 'user', content: 'x' }] })).json()) as { id: string }
      t0 = performance.now()
      through.push(await consume(await api(`/threads/${thread.id}/runs`, { assistant_id: assistant.id, stream: true }), (e) => e === 'thread.message.delta', t0))
    }
    // The direct stream also counts its role/finish/usage chunks; count content deltas only.
    const directDeltas = TOKENS
    const rate = (s: StreamStats[], n: number) => s.map((x) => (n / x.totalMs) * 1000)

    // (c) many concurrent streamed runs, a short answer each.
    await upstream.setScript({ text: 'tok '.repeat(50), chunks: 50 })
    const idleRss = rssOf(pid)
    let peakRss = idleRss
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOf(pid))), 50)
    const threads = await Promise.all(
      Array.from({ length: CONCURRENT }, async () => ((await (await api('/threads', { messages: [{ role: 'user', content: 'c' }] })).json()) as { id: string }).id),
    )
    let errors = 0
    const t0 = performance.now()
    const results = await Promise.all(
      threads.map(async (id) => {
        try {
          const s = await consume(await api(`/threads/${id}/runs`, { assistant_id: assistant.id, stream: true }), (e) => e === 'thread.message.delta', performance.now())
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

    const directRate = pct(rate(direct, directDeltas), 50)
    const throughRate = pct(rate(through, TOKENS), 50)
    // Streaming throughput once tokens flow (TTFT is reported on its own).
    const flowing = (s: StreamStats[]) => pct(s.map((x) => (TOKENS / (x.totalMs - x.ttftMs)) * 1000), 50)
    console.log(`\n## bench:stream — ${TOKENS} tokens per stream, ${ROUNDS} rounds, ${CONCURRENT} concurrent runs\n`)
    console.log('| path | tokens/s p50 (whole stream) | tokens/s p50 (after first token) | TTFT p50 (ms) | TTFT p99 (ms) | stream total p50 (ms) |')
    console.log('|---|---|---|---|---|---|')
    console.log(`| (a) direct from upstream | ${fmt(directRate, 0)} | ${fmt(flowing(direct), 0)} | ${fmt(pct(direct.map((s) => s.ttftMs), 50), 2)} | ${fmt(pct(direct.map((s) => s.ttftMs), 99), 2)} | ${fmt(pct(direct.map((s) => s.totalMs), 50))} |`)
    console.log(`| (b) through Threadline | ${fmt(throughRate, 0)} | ${fmt(flowing(through), 0)} | ${fmt(pct(through.map((s) => s.ttftMs), 50), 2)} | ${fmt(pct(through.map((s) => s.ttftMs), 99), 2)} | ${fmt(pct(through.map((s) => s.totalMs), 50))} |`)
    console.log('')
    console.log(`throughput ratio (b)/(a): ${fmt(throughRate / directRate, 2)} whole stream, ${fmt(flowing(through) / flowing(direct), 2)} after the first token   added TTFT p50: ${fmt(pct(through.map((s) => s.ttftMs), 50) - pct(direct.map((s) => s.ttftMs), 50), 2)} ms`)
    console.log('')
    console.log('| (c) concurrent streamed runs | value |')
    console.log('|---|---|')
    console.log(`| runs | ${CONCURRENT} |`)
    console.log(`| errors | ${errors} |`)
    console.log(`| wall time (s) | ${fmt(wall / 1000, 2)} |`)
    console.log(`| TTFT p50 / p99 (ms) | ${fmt(pct(ok.map((s) => s.ttftMs), 50))} / ${fmt(pct(ok.map((s) => s.ttftMs), 99))} |`)
    console.log(`| server RSS idle → peak (MB) | ${fmt(idleRss, 0)} → ${fmt(peakRss, 0)} (+${fmt(peakRss - idleRss, 0)}) |`)
  } finally {
    await server.stop()
    await upstream.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
