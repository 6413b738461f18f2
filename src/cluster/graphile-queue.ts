import { Logger as GraphileLogger, makeWorkerUtils, run, type Runner, type WorkerUtils } from 'graphile-worker'
import type pg from 'pg'
import type { Logger } from '../log.ts'
import type { RunQueue } from '../engine/queue.ts'
import type { JobHandler, JobQueue } from '../engine/jobs.ts'

const RUN_TASK = 'threadline_run'

/**
 * Runs as graphile-worker jobs on the shared Postgres. Chosen over pg-boss because workers get
 * new jobs through LISTEN/NOTIFY within milliseconds instead of polling, which is what a run
 * waiting to start needs; it is also a single, well-kept dependency with its own migrations.
 */
export class GraphileQueue implements RunQueue {
  private runner: Runner | null = null
  private handlers = new Map<string, JobHandler>()

  private constructor(
    private readonly utils: WorkerUtils,
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  static async create(pool: pg.Pool, log: Logger): Promise<GraphileQueue> {
    const utils = await makeWorkerUtils({ pgPool: pool, logger: graphileLogger(log) })
    await utils.migrate()
    return new GraphileQueue(utils, pool, log)
  }

  /** Take jobs in this process (worker role). */
  async startWorker(execute: (runId: string) => Promise<void>, concurrency: number): Promise<void> {
    this.runner = await run({
      pgPool: this.pool,
      concurrency,
      noHandleSignals: true,
      pollInterval: 2_000,
      logger: graphileLogger(this.log),
      preset: {
        worker: {
          // Fetch available jobs in one query for all of this process's slots, instead of one
          // query per free slot (each of which mostly found nothing under load); at most
          // `concurrency` jobs, which this process would run at once anyway.
          localQueue: { size: concurrency },
          // Completed jobs are deleted together, a few milliseconds apart. A crash in between
          // leaves a finished job locked: executing a run twice is harmless (see `enqueue`).
          completeJobBatchDelay: 5,
        },
      },
      taskList: {
        [RUN_TASK]: async (payload) => {
          await execute((payload as { runId: string }).runId)
        },
        ...Object.fromEntries([...this.handlers].map(([task, handler]) => [task, (payload: unknown) => handler(payload as Record<string, unknown>)])),
      },
    })
  }

  async enqueue(runId: string): Promise<void> {
    // One job per run at a time (jobKey); executing twice is harmless anyway, as claiming a run
    // is a conditional status change.
    await this.utils.addJob(RUN_TASK, { runId }, { jobKey: `run:${runId}`, maxAttempts: 1 })
  }

  /** Other background jobs (ingestion …): handlers must be registered before `startWorker`. */
  register(task: string, handler: JobHandler): void {
    this.handlers.set(task, handler)
  }

  async enqueueJob(task: string, payload: Record<string, unknown>, opts: { key?: string } = {}): Promise<void> {
    await this.utils.addJob(task, payload, { jobKey: opts.key, maxAttempts: 3 })
  }

  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const stop = this.runner?.stop() ?? Promise.resolve()
    await Promise.race([stop, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
    clearTimeout(timer)
    await this.utils.release()
  }
}

function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger(() => (level, message, meta) => {
    const fn = level === 'error' ? 'error' : level === 'warning' ? 'warn' : 'debug'
    log[fn]({ queue: 'graphile-worker', ...meta }, message)
  })
}

/** The queue's background-job side, as the `JobQueue` the rest of the app uses. */
export function graphileJobs(queue: GraphileQueue): JobQueue {
  return {
    register: (task, handler) => queue.register(task, handler),
    enqueue: (task, payload, opts) => queue.enqueueJob(task, payload, opts),
  }
}
