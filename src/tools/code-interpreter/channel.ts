import type { ChildProcess } from 'node:child_process'
import type { Readable } from 'node:stream'
import type { CellResult, SandboxLimits } from './backend.ts'

/**
 * JSON lines to and from a sandbox process, one request at a time, and the time limit of a cell:
 * at `timeoutMs` the soft interrupt (KeyboardInterrupt inside Python, the session survives), and
 * `graceMs` later the hard kill (the session is gone).
 */
export class JsonLineChannel {
  private buffered: Buffer[] = []
  private lines: unknown[] = []
  private waiter: ((line: unknown) => void) | null = null
  private tail: Promise<unknown> = Promise.resolve()
  exited = false
  exitInfo = ''

  constructor(
    private readonly child: ChildProcess,
    input: Readable,
  ) {
    input.on('data', (chunk: Buffer) => this.onData(chunk))
    child.once('exit', (code, signal) => {
      this.exited = true
      this.exitInfo = signal ? `signal ${signal}` : `exit code ${code}`
      this.deliver(null)
    })
    child.stdin?.on('error', () => {}) // a dead child's pipe: the exit handler reports it
  }

  private onData(chunk: Buffer) {
    let start = 0
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, start)) {
      this.buffered.push(chunk.subarray(start, i))
      const line = Buffer.concat(this.buffered).toString('utf8')
      this.buffered = []
      start = i + 1
      try {
        this.deliver(JSON.parse(line))
      } catch {
        // Not ours (the code wrote to the protocol descriptor): ignore it.
      }
    }
    if (start < chunk.length) this.buffered.push(chunk.subarray(start))
  }

  private deliver(line: unknown) {
    const waiter = this.waiter
    if (waiter) {
      this.waiter = null
      waiter(line)
    } else if (line !== null) {
      this.lines.push(line)
    }
  }

  /** The next line, or null once the process exited. */
  next(): Promise<unknown> {
    if (this.lines.length) return Promise.resolve(this.lines.shift())
    if (this.exited) return Promise.resolve(null)
    return new Promise((resolve) => (this.waiter = resolve))
  }

  send(message: unknown): void {
    if (!this.exited) this.child.stdin?.write(JSON.stringify(message) + '\n')
  }

  /** Requests run one after another (a session is one interpreter). */
  serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work)
    this.tail = result.catch(() => undefined)
    return result
  }

  /** Send a request and wait for its reply (null if the process ended first). */
  request(message: unknown): Promise<unknown> {
    return this.serial(async () => {
      this.send(message)
      return this.next()
    })
  }

  /** Run one cell under the time limit. */
  execCell(code: string, limits: SandboxLimits, interrupt: () => void, kill: () => void, signal?: AbortSignal): Promise<CellResult> {
    return this.serial(async () => {
      if (this.exited) return { output: '', images: [], error: true, stopped: 'died' as const }
      // Cancelled before its turn (e.g. while the sandbox started): an abort listener added now
      // would never fire, and the code would run to its time limit.
      if (signal?.aborted) return { output: '', images: [], error: true, stopped: null }
      let stage = 'running' as 'running' | 'interrupted' | 'killed'
      let hardTimer: NodeJS.Timeout | undefined
      const stop = () => {
        if (stage !== 'running') return
        stage = 'interrupted'
        interrupt()
        hardTimer = setTimeout(() => {
          stage = 'killed'
          kill()
        }, limits.graceMs)
      }
      const softTimer = setTimeout(stop, limits.timeoutMs)
      // A cancelled run stops its cell the same way, without waiting for the time limit.
      signal?.addEventListener('abort', stop, { once: true })
      this.send({ op: 'exec', code })
      const reply = (await this.next()) as { output: string; images: string[]; error: boolean; interrupted: boolean } | null
      signal?.removeEventListener('abort', stop)
      clearTimeout(softTimer)
      clearTimeout(hardTimer)
      if (reply === null) {
        return { output: '', images: [], error: true, stopped: stage === 'killed' ? ('killed' as const) : ('died' as const) }
      }
      const timedOut = stage !== 'running' && reply.interrupted
      return {
        output: reply.output,
        images: reply.images.map((b64) => Buffer.from(b64, 'base64')),
        error: reply.error || reply.interrupted,
        stopped: timedOut ? ('timeout' as const) : null,
      }
    })
  }
}
