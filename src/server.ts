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

export interface StartOptions {
  logger?: Logger
  clock?: Clock
  pgliteSnapshot?: Blob
}

export interface RunningServer {
  url: string
  port: number
  services: AppServices
  engine: RunEngine
  close(): Promise<void>
}

/** Open the database, start the engine and listen. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const started = Date.now()
  const log = opts.logger ?? createLogger(config.logLevel)
  const database = await openDatabase(
    { databaseUrl: config.databaseUrl, dataDir: config.dataDir, pgliteSnapshot: opts.pgliteSnapshot },
    log,
  )
  const services = new AppServices(config, log, database)
  const engine = new RunEngine(services, opts.clock ?? systemClock)
  services.engine = engine

  const open = config.apiKeys.length === 0 && (await countStoredKeys(database.db)) === 0
  if (open && !isLoopback(config.host)) {
    await database.close()
    throw new Error(`Refusing to listen on ${config.host} without API keys. Set THREADLINE_API_KEYS or run "threadline keys create".`)
  }
  if (open) {
    log.warn('NO API KEYS CONFIGURED: the API is open to anyone who can reach this loopback address. Set THREADLINE_API_KEYS or run "threadline keys create" to require keys.')
  }
  if (config.providers.length === 0) {
    log.warn('no upstream LLM provider configured (THREADLINE_UPSTREAM_BASE_URL); runs will fail until one is set')
  }

  const { app } = createApp(services, { open })
  await engine.recover()
  engine.startExpiryTimer()

  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s))
  })
  const port = (server.address() as AddressInfo).port
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
  log.info({ url, database: database.kind, startupMs: Date.now() - started }, 'threadline listening')

  let closing: Promise<void> | null = null
  const close = () =>
    (closing ??= (async () => {
      log.info('shutting down')
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        // Open SSE streams would hold close() forever; end idle sockets.
        ;(server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.()
        setTimeout(() => (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.(), 2_000).unref()
      })
      await engine.shutdown()
      await database.close()
    })())
  return { url, port, services, engine, close }
}
