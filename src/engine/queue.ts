/**
 * Where run executions are scheduled. Embedded mode dispatches in-process; a cluster queue on
 * Postgres can implement the same interface without the engine changing.
 */
export interface RunQueue {
  enqueue(runId: string): Promise<void>
  /** Stop taking new work and wait (bounded) for running work to finish. */
  drain(timeoutMs: number): Promise<void>
}

export class InProcessQueue implements RunQueue {
  private running = new Set<Promise<void>>()
  private pending = new Set<string>()
  private stopped = false

  constructor(private readonly execute: (runId: string) => Promise<void>) {}

  async enqueue(runId: string): Promise<void> {
    if (this.stopped || this.pending.has(runId)) return
    this.pending.add(runId)
    const job = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => {
        this.pending.delete(runId)
        return this.execute(runId)
      })
      .finally(() => this.running.delete(job))
    this.running.add(job)
  }

  async drain(timeoutMs: number): Promise<void> {
    this.stopped = true
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ])
    clearTimeout(timer)
  }
}
