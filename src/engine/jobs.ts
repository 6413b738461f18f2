import type { Logger } from '../log.ts'

export type JobHandler = (payload: Record<string, unknown>) => Promise<void>

/**
 * Background jobs other than runs (file ingestion, cleanup): register a handler per task name,
 * enqueue payloads. Embedded mode runs them in-process; cluster mode puts them on the shared
 * Postgres queue, where any worker process takes them.
 */
export interface JobQueue {
  register(task: string, handler: JobHandler): void
  /** `key`: at most one pending job per key (re-enqueueing replaces it). */
  enqueue(task: string, payload: Record<string, unknown>, opts?: { key?: string }): Promise<void>
}

export class InProcessJobs implements JobQueue {
  private handlers = new Map<string, JobHandler>()
  private pendingKeys = new Set<string>()

  constructor(private readonly log: Logger) {}

  register(task: string, handler: JobHandler): void {
    this.handlers.set(task, handler)
  }

  async enqueue(task: string, payload: Record<string, unknown>, opts: { key?: string } = {}): Promise<void> {
    const handler = this.handlers.get(task)
    if (!handler) throw new Error(`No handler for job ${task}`)
    if (opts.key) {
      if (this.pendingKeys.has(opts.key)) return
      this.pendingKeys.add(opts.key)
    }
    setImmediate(() => {
      if (opts.key) this.pendingKeys.delete(opts.key)
      handler(payload).catch((err) => this.log.error({ err, task }, 'job failed'))
    })
  }
}
