/**
 * code_interpreter sandbox benchmark, per backend (bubblewrap, Pyodide), on the real backends:
 *   - session start p50: spawn → interpreter ready
 *   - trivial cell p50: round trip of `x = 1` on a warm session
 *   - pandas import: first `import pandas` in a fresh session (bwrap only; Pyodide has no pandas offline)
 *   - 20 concurrent sessions: total RSS of their process trees once all are idle, per session, and
 *     per session after `import pandas, numpy, matplotlib.pyplot` (bwrap)
 *
 * Usage: npm run bench:code [-- --sessions 20 --starts 10 --cells 200]
 */
import { performance } from 'node:perf_hooks'
import { DEFAULT_LIMITS, type SandboxBackend, type SandboxSession } from '../src/tools/code-interpreter/backend.ts'
import { BwrapBackend } from '../src/tools/code-interpreter/bwrap.ts'
import { PyodideBackend } from '../src/tools/code-interpreter/pyodide.ts'

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const SESSIONS = arg('sessions', 20)
const STARTS = arg('starts', 10)
const CELLS = arg('cells', 200)

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 0)} ms`
const mb = (x: number) => `${(x / 1024 / 1024).toFixed(0)} MB`

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now()
  const value = await work()
  return [value, performance.now() - start]
}

interface Row {
  backend: string
  start: string
  cell: string
  pandas: string
  rss: string
  perSession: string
  perSessionPandas: string
}

async function measure(backend: SandboxBackend, withPandas: boolean): Promise<Row> {
  const starts: number[] = []
  for (let i = 0; i < STARTS; i++) {
    const [session, t] = await timed(() => backend.createSession())
    starts.push(t)
    await session.close()
  }

  const warm = await backend.createSession()
  await warm.exec('x = 0')
  const cells: number[] = []
  for (let i = 0; i < CELLS; i++) cells.push((await timed(() => warm.exec('x = 1')))[1])
  let pandas = 'n/a'
  if (withPandas) {
    const [r, t] = await timed(() => warm.exec('import pandas'))
    pandas = r.error ? `failed: ${r.output.slice(-80)}` : ms(t)
  }
  await warm.close()

  // Concurrent sessions, started a few at a time (2 cores), then measured idle after one cell each.
  const sessions: SandboxSession[] = []
  try {
    for (let i = 0; i < SESSIONS; i += 4) {
      sessions.push(...(await Promise.all(Array.from({ length: Math.min(4, SESSIONS - i) }, () => backend.createSession()))))
    }
    await Promise.all(sessions.map((s) => s.exec('x = 1')))
    const total = async () => (await Promise.all(sessions.map((s) => s.rss()))).reduce((a, b) => a + b, 0)
    const rss = await total()
    let perSessionPandas = 'n/a'
    if (withPandas) {
      for (const s of sessions) await s.exec('import pandas, numpy, matplotlib.pyplot')
      perSessionPandas = mb((await total()) / SESSIONS)
    }
    return { backend: backend.name, start: ms(p50(starts)), cell: ms(p50(cells)), pandas, rss: `${mb(rss)} (${SESSIONS})`, perSession: mb(rss / SESSIONS), perSessionPandas }
  } finally {
    await Promise.all(sessions.map((s) => s.close()))
  }
}

const rows: Row[] = []
const bwrapProblem = await BwrapBackend.probe()
if (bwrapProblem === null) {
  const backend = await BwrapBackend.create({ ...DEFAULT_LIMITS })
  try {
    rows.push(await measure(backend, true))
  } finally {
    await backend.dispose()
  }
} else {
  console.log(`bwrap: skipped (${bwrapProblem})`)
}
const pyodide = new PyodideBackend({ ...DEFAULT_LIMITS })
try {
  rows.push(await measure(pyodide, false))
} finally {
  await pyodide.dispose()
}

const header: Row = { backend: 'backend', start: 'session start p50', cell: 'trivial cell p50', pandas: 'pandas import', rss: 'total RSS, idle', perSession: 'per session', perSessionPandas: 'per session, pandas+mpl loaded' }
const cols = Object.keys(header) as (keyof Row)[]
const widths = cols.map((c) => Math.max(...[header, ...rows].map((r) => r[c].length)))
const line = (r: Row) => '| ' + cols.map((c, i) => r[c].padEnd(widths[i]!)).join(' | ') + ' |'
console.log(`\ncode_interpreter sandboxes (${STARTS} starts, ${CELLS} cells, ${SESSIONS} concurrent sessions)`)
console.log(line(header))
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
for (const r of rows) console.log(line(r))
