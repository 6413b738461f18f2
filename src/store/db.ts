import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Kysely, PostgresDialect } from 'kysely'
import { Migrator } from 'kysely/migration'
import pg from 'pg'
import type { Logger } from '../log.ts'
import { migrationProvider } from './migrations/index.ts'
import { PGlitePool } from './pglite-pool.ts'
import { PGliteThread, type EmbeddedPostgres } from './pglite-thread.ts'
import type { Database } from './tables.ts'

export type Db = Kysely<Database>

/** A database error's SQLSTATE, for the few a caller answers differently (same on PGlite and Postgres). */
const sqlState = (err: unknown) => (err as { code?: unknown } | null)?.code
/** A row refers to one that is gone (e.g. deleted since the request looked it up). */
export const isForeignKeyViolation = (err: unknown) => sqlState(err) === '23503'
/** A unique index refused the row. */
export const isUniqueViolation = (err: unknown) => sqlState(err) === '23505'

export interface OpenedDatabase {
  db: Db
  kind: 'pglite' | 'postgres'
  /** The pg pool in Postgres mode (LISTEN/NOTIFY needs its own clients). */
  pgPool: pg.Pool | null
  close(): Promise<void>
}

export interface DatabaseOptions {
  databaseUrl: string | null
  /** PGlite data directory; `null` keeps the embedded database in memory. */
  dataDir: string | null
  /** Start PGlite from a dumped data dir (tests use this to skip initdb). */
  pgliteSnapshot?: Blob
}

// int8 (seq columns) and numeric come back as strings from pg; keep them so, ids order by them in SQL.
export async function openDatabase(options: DatabaseOptions, log: Logger): Promise<OpenedDatabase> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 20 })
    // An idle client's error (e.g. Postgres restarted) must not crash the process.
    pool.on('error', (err) => log.error({ err }, 'postgres pool error'))
    pool.on('connect', (client) => client.on('error', (err) => log.warn({ err }, 'postgres client error')))
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
    await migrate(db, log)
    return { db, kind: 'postgres', pgPool: pool, close: () => db.destroy() }
  }
  const embedded = await startEmbedded(options, log)
  const pool = new PGlitePool(embedded)
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: pool as unknown as pg.Pool }) })
  await migrate(db, log)
  return { db, kind: 'pglite', pgPool: null, close: () => db.destroy() }
}

async function startEmbedded(options: DatabaseOptions, log: Logger): Promise<EmbeddedPostgres> {
  if (options.pgliteSnapshot) return PGliteThread.start({ dataDir: null, snapshot: options.pgliteSnapshot })
  if (!options.dataDir) {
    log.info('starting the embedded database in memory')
    return PGliteThread.start({ dataDir: null })
  }
  const dir = join(options.dataDir, 'pgdata')
  const fresh = !existsSync(join(dir, 'PG_VERSION'))
  if (fresh) {
    mkdirSync(dir, { recursive: true })
    log.info({ dir }, 'first start: initialising the embedded database (takes a few seconds)')
  }
  lockDataDir(options.dataDir)
  return PGliteThread.start({ dataDir: dir })
}

/**
 * The embedded database is one process's: a second process on the same data dir would corrupt
 * it. A pid file guards it; a stale one (its process is gone) is taken over.
 */
function lockDataDir(dataDir: string): void {
  const lock = join(dataDir, 'threadline.pid')
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8').trim())
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new Error(`The embedded database in ${dataDir} is in use by process ${pid}. Stop it first, or use DATABASE_URL to share a Postgres between processes.`)
    }
  }
  writeFileSync(lock, String(process.pid))
  process.once('exit', () => {
    try {
      if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock)
    } catch {
      /* already gone */
    }
  })
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function migrate(db: Kysely<Database>, log: Logger): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider })
  const { error, results } = await migrator.migrateToLatest()
  for (const r of results ?? []) {
    if (r.status === 'Success') log.info({ migration: r.migrationName }, 'migration applied')
  }
  if (error) throw error
}
