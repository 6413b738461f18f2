import { loadConfig } from './config.ts'
import { createLogger } from './log.ts'
import { startServer } from './server.ts'
import { openDatabase } from './store/db.ts'
import { createApiKey } from './api/auth.ts'

const USAGE = `threadline — self-hosted OpenAI Assistants API v2

  threadline start                     API server and run engine in one process (default)
  threadline keys create [--project P] [--name N]
                                       create an API key for a project (printed once)
`

async function main(argv: string[]) {
  const [command = 'start', ...rest] = argv
  const config = loadConfig()
  const log = createLogger(config.logLevel)
  if (command === 'start' || command === 'serve') {
    const server = await startServer(config, { logger: log })
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
      return i === -1 ? undefined : rest[i + 1]
    }
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, log)
    const key = await createApiKey(database.db, flag('--project') ?? 'default', flag('--name') ?? null)
    await database.close()
    process.stdout.write(`${key}\n`)
    return
  }
  process.stdout.write(USAGE)
  process.exitCode = command === 'help' || command === '--help' ? 0 : 2
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
