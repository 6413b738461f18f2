import { Worker } from 'node:worker_threads'
import type { ChunkingOptions } from './chunk.ts'
import type { LexemeSource } from './chunk-source.ts'

const YOUNG_GENERATION_MB = 16

/** What the chunking thread is asked (see chunk-worker.ts). */
export type ChunkRequest =
  | { id: number; op: 'whole'; text: string; options: ChunkingOptions }
  | { id: number; op: 'push'; stream: number; text: string; options: ChunkingOptions }
  | { id: number; op: 'finish'; stream: number; options: ChunkingOptions }
  | { id: number; op: 'drop'; stream: number }

/** Distributes `Omit` over the request kinds (the id is added when sent). */
type Unsent<T> = T extends unknown ? Omit<T, 'id'> : never

/** Chunks as the thread sends them: their UTF-8 texts end to end (each ends at `ends[i]`), and their vectors' sources. */
export interface CutChunks {
  bytes: Uint8Array<ArrayBuffer>
  ends: Int32Array
  sources: LexemeSource[]
}

/** A chunk as cut on the thread: its text as UTF-8 (what is stored), and what its vector is built from. */
export interface CutChunk {
  bytes: Buffer
  source: LexemeSource
}

interface Reply {
  id: number
  chunks?: CutChunks
  error?: { message: string; stack?: string }
}

interface Pending {
  resolve(chunks: CutChunk[]): void
  reject(err: Error): void
}

function unpack({ bytes, ends, sources }: CutChunks): CutChunk[] {
  return sources.map((source, i) => {
    const start = i === 0 ? 0 : ends[i - 1]
    return { bytes: Buffer.from(bytes.buffer, bytes.byteOffset + start, ends[i] - start), source }
  })
}

/** The thread is gone (it exited, crashed or was closed): what was asked of it is not answered. */
export class ChunkingThreadGone extends Error {}

/** A text cut slice by slice: each call's chunks, in order (requests are sent at once, answered in turn). */
export interface ChunkStream {
  push(text: string): Promise<CutChunk[]>
  finish(): Promise<CutChunk[]>
  /** Forget the text (abandoned part-way). */
  drop(): void
}

/**
 * Chunking (pre-tokenizing, byte-pair encoding, decoding windows) on a worker thread. It was
 * about half of this thread's work in ingestion: on its own thread, the next files are cut while
 * this one builds the current chunks' vectors and sends their inserts, and the tokenizer's
 * short-lived garbage is collected in its own heap. Requests are answered in the order sent.
 * Measured with bench:search on 2 cores: faster for large files and for text whose words the
 * process has seen; slightly slower for a batch of words all new to it, where the hand-over and a
 * third busy thread cost about what they save (see the README).
 */
export class ChunkingThread {
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private nextStream = 1
  private failure: ChunkingThreadGone | null = null
  private readonly worker: Worker

  private constructor(worker: Worker) {
    this.worker = worker
    worker.on('message', (reply: Reply) => {
      const pending = this.pending.get(reply.id)
      if (!pending) return
      this.pending.delete(reply.id)
      if (reply.error) pending.reject(Object.assign(new Error(reply.error.message), { stack: reply.error.stack }))
      else pending.resolve(reply.chunks ? unpack(reply.chunks) : [])
    })
    worker.on('error', (err: Error) => this.fail(new ChunkingThreadGone(`The chunking thread failed: ${err.message}`, { cause: err })))
    worker.on('exit', (code) => this.fail(new ChunkingThreadGone(`The chunking thread exited (code ${code}).`)))
  }

  static start(): ChunkingThread {
    // Node strips the worker's types itself: a loader such as tsx would add to its start.
    const worker = new Worker(new URL('./chunk-worker.ts', import.meta.url), {
      execArgv: [],
      // Its garbage is short-lived (pieces, token lists): a smaller young generation than V8's
      // default cut the process's peak RSS while ingesting a 100 MB file by ~150 MB, at the same speed.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    })
    // It works only for requests someone awaits: it must not keep the process alive.
    worker.unref()
    return new ChunkingThread(worker)
  }

  /** Whether the thread is gone (a new one is needed). */
  get failed(): boolean {
    return this.failure !== null
  }

  /** The chunks of a whole text. */
  whole(text: string, options: ChunkingOptions): Promise<CutChunk[]> {
    return this.send({ op: 'whole', text, options })
  }

  /** A text to be sent slice by slice (a large file). */
  stream(options: ChunkingOptions): ChunkStream {
    const stream = this.nextStream++
    let open = true
    return {
      push: (text) => this.send({ op: 'push', stream, text, options }),
      finish: () => {
        open = false
        return this.send({ op: 'finish', stream, options })
      },
      drop: () => {
        if (!open) return
        open = false
        this.send({ op: 'drop', stream }).catch(() => undefined)
      },
    }
  }

  async close(): Promise<void> {
    this.fail(new ChunkingThreadGone('The chunking thread was closed.'))
    await this.worker.terminate()
  }

  private send(request: Unsent<ChunkRequest>): Promise<CutChunk[]> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.worker.postMessage({ ...request, id })
    })
  }

  private fail(err: ChunkingThreadGone): void {
    this.failure ??= err
    for (const pending of this.pending.values()) pending.reject(this.failure)
    this.pending.clear()
  }
}
