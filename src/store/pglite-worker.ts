/**
 * Worker-thread entry that owns the embedded PGlite database (see `pglite-thread.ts`). Queries
 * arrive in order and run one at a time, in that order. Only erasable TypeScript here: the file
 * is loaded by Node itself (type stripping), also under test runners that transform the rest.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { parse, PGlite, protocol } from '@electric-sql/pglite'
import { bindMessages, reusableBindMemory } from './pglite-bind.ts'
import { growInMemoryFilesInPlace } from './memfs.ts'

interface Init {
  dataDir: string | null
  snapshot: ArrayBuffer | null
}
type Request = { id: number; sql: string; params?: unknown[]; bind?: Uint8Array } | { id: number; close: true }

const port = parentPort!
const init = workerData as Init

/** A database error keeps its fields (`code`, `constraint`, …): callers branch on them. */
function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) }
  const fields: Record<string, unknown> = { message: err.message, name: err.name }
  for (const [key, value] of Object.entries(err)) {
    if (value === undefined || typeof value === 'function') continue
    if (typeof value === 'object' && value !== null) continue
    fields[key] = value
  }
  return fields
}

async function open(): Promise<PGlite> {
  if (init.snapshot) return PGlite.create({ loadDataDir: new Blob([init.snapshot]) })
  if (init.dataDir) return PGlite.create(init.dataDir)
  return PGlite.create()
}

/**
 * DML runs as named prepared statements, one protocol round trip each: PGlite's `query` parses,
 * describes, binds and executes in six calls into WebAssembly and plans every time, which costs
 * about three times as much for the short queries an API server makes.
 */
class StatementCache {
  private readonly names = new Map<string, string>() // sql → statement name, least recently used first
  private counter = 0
  private readonly pglite: PGlite
  private readonly capacity: number

  // No parameter properties: this file must stay erasable TypeScript.
  constructor(pglite: PGlite, capacity = 256) {
    this.pglite = pglite
    this.capacity = capacity
  }

  /** Any statement with its parameters as given: PGlite's `query` (types inferred, planned each time). */
  async query(sql: string, params: unknown[] = []): Promise<{ rows: unknown[]; affectedRows: number }> {
    const result = await this.pglite.query(sql, params, { rowMode: 'object' })
    return { rows: result.rows, affectedRows: result.affectedRows ?? 0 }
  }

  /** A DML statement whose text parameters the sender encoded as a Bind (see `pglite-bind.ts`). */
  async execute(sql: string, bind: Uint8Array): Promise<{ rows: unknown[]; affectedRows: number }> {
    const serialize = protocol.serialize
    const before: Uint8Array[] = []
    let name = this.names.get(sql)
    const fresh = name === undefined
    if (name !== undefined) {
      this.names.delete(sql) // re-inserted below: most recently used
    } else {
      name = `tl_${this.counter++}`
      before.push(serialize.parse({ name, text: sql, types: [] }))
      if (this.names.size >= this.capacity) {
        const [oldestSql, oldest] = this.names.entries().next().value as [string, string]
        this.names.delete(oldestSql)
        before.unshift(serialize.close({ type: 'S', name: oldest }))
      }
    }
    const messages = bindMessages(bind, name)
    try {
      const { messages: replies } = await this.pglite.execProtocol(before.length ? concat([...before, messages]) : messages)
      this.names.set(sql, name)
      const [result] = parse.parseResults(replies, this.pglite.parsers, { rowMode: 'object' })
      return { rows: result?.rows ?? [], affectedRows: result?.affectedRows ?? 0 }
    } catch (err) {
      // The statement stays cached when only its execution failed (e.g. a unique violation).
      if (fresh) await this.pglite.execProtocol(concat([serialize.close({ type: 'S', name }), serialize.sync()])).catch(() => {})
      else this.names.set(sql, name)
      throw err
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

try {
  const pglite = await open()
  if (!init.dataDir) growInMemoryFilesInPlace(pglite)
  const statements = new StatementCache(pglite)
  let chain: Promise<unknown> = Promise.resolve()
  port.on('message', (request: Request) => {
    chain = chain.then(async () => {
      if ('close' in request) {
        await pglite.close()
        port.postMessage({ id: request.id, closed: true })
        return
      }
      // A Bind's memory goes back with the answer, for the next one (see `BindBuffers`).
      const memory = request.bind?.buffer as ArrayBuffer | undefined
      const bind = memory && reusableBindMemory(memory) ? memory : undefined
      const back = bind ? { transfer: [bind] } : undefined
      try {
        const result = request.bind ? await statements.execute(request.sql, request.bind) : await statements.query(request.sql, request.params)
        port.postMessage({ id: request.id, rows: result.rows, affectedRows: result.affectedRows, bind }, back)
      } catch (err) {
        port.postMessage({ id: request.id, error: errorFields(err), bind }, back)
      }
    })
    // Whatever failed is answered; the queue goes on for the requests behind it.
    chain = chain.catch((err: unknown) => port.postMessage({ id: request.id, error: errorFields(err) }))
  })
  port.postMessage({ ready: true })
} catch (err) {
  port.postMessage({ ready: false, error: errorFields(err) })
}
