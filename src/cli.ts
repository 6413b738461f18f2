import { pino } from 'pino'
import { loadConfig } from './config.ts'
import { createLogger } from './log.ts'
import { startServer } from './server.ts'
import { openDatabase } from './store/db.ts'
import { createApiKey } from './api/auth.ts'

const USAGE = `threadline — self-hosted OpenAI Assistants API v2

  threadline start                     API server and run engine in one process (default)
  threadline serve                     API only (needs DATABASE_URL; workers execute the runs)
  threadline worker                    execute runs only (needs DATABASE_URL)
  threadline keys create [--project P] [--name N]
                                       create an API key for a project (printed once)
`

async function main(argv: string[]) {
  const [command = 'start', ...rest] = argv
  const config = loadConfig()
  const log = createLogger(config.logLevel)
  if (command === 'start' || command === 'serve' || command === 'worker') {
    const roles = { api: command !== 'worker', worker: command !== 'serve' }
    const server = await startServer(config, { logger: log, roles })
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) return
      stopping = true
      log.info({ signal }, 'received signal')
      server.close().then(
        () => process.exit(0),
        (err) => {
          log.error({ err }, 'shutdown failed')
          process.exit(1)
        },
      )
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    return
  }
  if (command === 'keys' && rest[0] === 'create') {
    const flag = (name: string) => {
      const i = rest.indexOf(name)
      if (i === -1) return undefined
      const value = rest[i + 1]
      if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`)
      return value
    }
    const project = flag('--project') ?? 'default'
    // Only the key goes to stdout, so `KEY=$(threadline keys create)` works; logs go to stderr.
    const stderrLog = pino({ level: config.logLevel, base: { service: 'threadline' } }, pino.destination(2))
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, stderrLog)
    try {
      const key = await createApiKey(database.db, project, flag('--name') ?? null)
      process.stdout.write(`${key}\n`)
      process.stderr.write(`Created an API key for project '${project}'. It is shown only once; store it now.\n`)
    } finally {
      await database.close()
    }
    return
  }
  process.stdout.write(USAGE)
  process.exitCode = command === 'help' || command === '--help' ? 0 : 2
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
