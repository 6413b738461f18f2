import { Worker } from 'node:worker_threads'
import { BindBuffers, bindValues, DML, encodeBind } from './pglite-bind.ts'

/** What the pool needs of an embedded database: ordered queries, and closing it. */
export interface EmbeddedPostgres {
  query(sql: string, params?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[]; affectedRows: number }>
  close(): Promise<void>
  readonly closed: boolean
}

interface Pending {
  resolve(value: { rows: Record<string, unknown>[]; affectedRows: number }): void
  reject(err: Error): void
}

/**
 * The embedded PGlite database on a worker thread. PGlite executes SQL synchronously in
 * WebAssembly: on the main thread every query would stall HTTP, SSE writes and upstream reads
 * for its duration. On its own thread it runs on the machine's other core, and queries sent
 * back to back queue there without a round trip between them. Queries run in the order sent.
 */
export class PGliteThread implements EmbeddedPostgres {
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closing: Promise<void> | null = null
  private failure: Error | null = null
  private readonly bindBuffers = new BindBuffers()

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: { id: number; rows?: Record<string, unknown>[]; affectedRows?: number; error?: Record<string, unknown>; bind?: ArrayBuffer }) => {
      if (message.bind) this.bindBuffers.give(message.bind)
      const pending = this.pending.get(message.id)
      if (!pending) return
      this.pending.delete(message.id)
      if (message.error) pending.reject(toError(message.error))
      else pending.resolve({ rows: message.rows ?? [], affectedRows: message.affectedRows ?? 0 })
    })
    worker.on('error', (err: Error) => this.fail(err))
    worker.on('exit', (code) => this.fail(new Error(`The embedded database thread exited (code ${code}).`)))
  }

  /** Start the thread and open the database: in `dataDir`, from a dumped `snapshot`, or in memory. */
  static async start(options: { dataDir: string | null; snapshot?: Blob }): Promise<PGliteThread> {
    const snapshot = options.snapshot ? await options.snapshot.arrayBuffer() : null
    const worker = new Worker(new URL('./pglite-worker.ts', import.meta.url), {
      // Node loads the (erasable) TypeScript itself: a loader such as tsx would add to every start.
      execArgv: [],
      workerData: { dataDir: options.dataDir, snapshot },
      transferList: snapshot ? [snapshot] : [],
    })
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean; error?: Record<string, unknown> }) => {
        if (message.ready === undefined) return
        worker.off('message', onMessage)
        worker.off('error', reject)
        if (message.ready) resolve()
        else reject(toError(message.error ?? { message: 'The embedded database did not start.' }))
      }
      worker.on('message', onMessage)
      worker.once('error', reject)
    })
    return new PGliteThread(worker)
  }

  get closed(): boolean {
    return this.closing !== null || this.failure !== null
  }

  query(sql: string, params?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[]; affectedRows: number }> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.closing) return Promise.reject(new Error('The embedded database is closed.'))
    // DML with text (or binary) parameters goes prepared, its Bind encoded here (see pglite-bind.ts).
    const values = DML.test(sql) ? bindValues(params ?? []) : null
    if (values) {
      const bind = encodeBind(values, this.bindBuffers)
      return this.send({ sql, bind }, [bind.buffer as ArrayBuffer])
    }
    // PGlite's `query` would send bytes as text: only the Bind above carries them in binary.
    if (params?.some((p) => p instanceof Uint8Array)) return Promise.reject(new Error('Binary parameters need a statement whose other parameters are text, numbers or arrays of numbers.'))
    return this.send({ sql, params })
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.failure) await this.send({ close: true }).catch(() => {})
      await this.worker.terminate()
    })()
    return this.closing
  }

  private send(body: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<{ rows: Record<string, unknown>[]; affectedRows: number }> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.worker.postMessage({ id, ...body }, transfer)
    })
  }

  private fail(err: Error): void {
    if (this.closing) return
    this.failure ??= err
    for (const pending of this.pending.values()) pending.reject(err)
    this.pending.clear()
  }
}

/** A database error as the worker sent it, with its fields (`code`, `constraint`, …) restored. */
function toError(fields: Record<string, unknown>): Error {
  return Object.assign(new Error(String(fields.message ?? 'database error')), fields)
}
