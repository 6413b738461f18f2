import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { serve, type ServerType } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import { createApp } from './api/app.ts'
import { countStoredKeys } from './api/auth.ts'
import { isLoopback, type Config } from './config.ts'
import { systemClock, type Clock } from './engine/clock.ts'
import { RunEngine } from './engine/engine.ts'
import { createLogger, type Logger } from './log.ts'
import { AppServices } from './services.ts'
import { openDatabase } from './store/db.ts'
import { PostgresEventLog, deleteExpiredEvents } from './cluster/pg-events.ts'
import { GraphileQueue, graphileJobs } from './cluster/graphile-queue.ts'
import { LeaseKeeper } from './cluster/leases.ts'
import { registerCodeInterpreter } from './tools/code-interpreter/index.ts'
import { ingestor, registerIngestion, startIngestion } from './ingest/ingestion.ts'
import { FileSearchTool } from './tools/file-search.ts'

/** What this process does: serve the HTTP API, execute runs, or both (the default). */
export interface Roles {
  api: boolean
  worker: boolean
}

export interface StartOptions {
  logger?: Logger
  clock?: Clock
  pgliteSnapshot?: Blob
  roles?: Roles
}

export interface RunningServer {
  /** The API's base URL ('' for a worker-only process). */
  url: string
  port: number
  services: AppServices
  engine: RunEngine
  close(): Promise<void>
}

/** Open the database, start the engine (and, with the api role, listen). */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const started = Date.now()
  const roles = opts.roles ?? { api: true, worker: true }
  const log = opts.logger ?? createLogger(config.logLevel)
  if (!config.databaseUrl && !(roles.api && roles.worker)) {
    throw new Error('Separate API and worker processes need a shared Postgres: set DATABASE_URL.')
  }
  const database = await openDatabase(
    { databaseUrl: config.databaseUrl, dataDir: config.dataDir, pgliteSnapshot: opts.pgliteSnapshot },
    log,
  )
  // Checked before anything else starts, so a refusal leaves nothing running behind it.
  const open = roles.api && config.apiKeys.length === 0 && (await countStoredKeys(database.db)) === 0
  if (open && !isLoopback(config.host)) {
    await database.close()
    throw new Error(`Refusing to listen on ${config.host} without API keys. Set THREADLINE_API_KEYS or run "threadline keys create".`)
  }
  const services = new AppServices(config, log, database)
  const engine = new RunEngine(services, opts.clock ?? systemClock)
  services.engine = engine
  const cleanups: (() => Promise<void>)[] = []
  // Sandboxed Python for runs with the code_interpreter tool (backend probed on first use).
  cleanups.push(registerCodeInterpreter(services, engine, { openLoopback: open }).close)
  /** Cluster mode: start taking jobs once every job handler is registered. */
  let startTakingJobs = async () => {}

  if (database.pgPool && config.databaseUrl) {
    // Cluster mode: events, jobs and run ownership go through the shared Postgres.
    const events = new PostgresEventLog(database.pgPool, config.databaseUrl, log)
    await events.start({ events: roles.api, control: roles.worker })
    const queue = await GraphileQueue.create(database.pgPool, log)
    services.jobs = graphileJobs(queue)
    const workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
    const leases = new LeaseKeeper(database.db, workerId, config.leaseMs, log)
    events.onControl((msg) => msg.cancel && engine.abortLocal(msg.cancel))
    engine.useCluster({ events, queue, leases, sendCancel: (runId) => events.sendControl({ cancel: runId }) })
    if (roles.worker) {
      leases.start()
      startTakingJobs = () => queue.startWorker((runId) => engine.execute(runId), config.workerConcurrency)
      const retention = setInterval(
        () => void deleteExpiredEvents(database.pgPool!, config.eventRetentionSeconds).catch((err) => log.warn({ err }, 'event cleanup failed')),
        60_000,
      )
      retention.unref()
      cleanups.push(async () => clearInterval(retention))
    }
    cleanups.push(async () => leases.stop())
    cleanups.push(() => events.close())
  }

  // Before the job queue starts taking jobs (cluster mode).
  registerIngestion(services)
  engine.registerTool(new FileSearchTool(services))

  let server: ServerType | null = null
  let url = ''
  let port = 0
  if (roles.api) {
    if (open) {
      log.warn('NO API KEYS CONFIGURED: the API is open to anyone who can reach this loopback address. Set THREADLINE_API_KEYS or run "threadline keys create" to require keys.')
    }
    const { app } = createApp(services, { open })
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s))
    })
    port = (server.address() as AddressInfo).port
    url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
  }
  if (config.providers.length === 0 && roles.worker) {
    log.warn('no upstream LLM provider configured (THREADLINE_UPSTREAM_BASE_URL); runs will fail until one is set')
  }
  if (roles.worker) {
    // Job handlers (runs, ingestion …) are all registered by now: start taking jobs.
    await startTakingJobs()
    await engine.recover()
    // Sweep often enough that a run expires close to its `expires_at`.
    engine.startBackgroundWork(Math.min(5_000, (config.runExpirySeconds * 1000) / 4))
    // Files a previous process left `in_progress` are ingested again.
    await startIngestion(services)
  }
  log.info({ url: url || undefined, roles, database: database.kind, startupMs: Date.now() - started }, roles.api ? 'threadline listening' : 'threadline worker ready')

  let closing: Promise<void> | null = null
  const close = () =>
    (closing ??= (async () => {
      log.info('shutting down')
      if (server) {
        const s = server
        await new Promise<void>((resolve) => {
          s.close(() => resolve())
          // Open SSE streams would hold close() forever: end idle sockets now, the rest soon.
          ;(s as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.()
          setTimeout(() => (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.(), 2_000).unref()
        })
      }
      // First, so a queue drain does not wait for it: unfinished files stay `in_progress` for the next start.
      await ingestor(services).stop()
      await engine.shutdown()
      for (const cleanup of cleanups) await cleanup()
      await database.close()
    })())
  return { url, port, services, engine, close }
}
