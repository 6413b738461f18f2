/**
 * Starts the real Threadline server (in-process, port 0) on an embedded PGlite (from a migrated
 * snapshot) or, when TEST_DB=postgres, on a fresh database in the throw-away Postgres cluster.
 */
import { readFileSync } from 'node:fs'
import OpenAI from 'openai'
import pg from 'pg'
import { inject } from 'vitest'
import { loadConfig, type Config } from '../../src/config.ts'
import { ManualClock } from '../../src/engine/clock.ts'
import { createLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { FakeUpstream } from './fake-upstream.ts'

export interface TestContext {
  server: RunningServer
  upstream: FakeUpstream
  client: OpenAI
  clock: ManualClock
  baseURL: string
  apiKey: string
  clientFor(key: string): OpenAI
  close(): Promise<void>
}

export const TEST_KEYS = { a: 'sk-test-project-a-key', b: 'sk-test-project-b-key' }

export async function createTestDatabase(): Promise<string | null> {
  if (process.env.TEST_DB !== 'postgres') return null
  const adminUrl = inject('postgresUrl')
  if (!adminUrl) throw new Error('TEST_DB=postgres but no Postgres cluster was started')
  const name = `tl_${process.pid}_${Math.random().toString(36).slice(2, 10)}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** `overrides` may be a function of the fake upstream, e.g. to name it in `providers`. */
export async function startTestServer(overrides: Partial<Config> | ((upstream: FakeUpstream) => Partial<Config>) = {}): Promise<TestContext> {
  const upstream = await new FakeUpstream().start()
  if (typeof overrides === 'function') overrides = overrides(upstream)
  const databaseUrl = await createTestDatabase()
  const snapshotPath = inject('pgliteSnapshot')
  const config = loadConfig(
    { THREADLINE_UPSTREAM_BASE_URL: upstream.url, THREADLINE_UPSTREAM_API_KEY: 'sk-upstream-secret' },
    {
      host: '127.0.0.1',
      port: 0,
      dataDir: null,
      databaseUrl,
      logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
      apiKeys: [
        { key: TEST_KEYS.a, project: 'proj_a' },
        { key: TEST_KEYS.b, project: 'proj_b' },
      ],
      upstreamBackoffMs: 5,
      upstreamTimeoutMs: 2_000,
      ...overrides,
    },
  )
  const clock = new ManualClock()
  const server = await startServer(config, {
    logger: createLogger(config.logLevel),
    clock,
    pgliteSnapshot: databaseUrl || !snapshotPath ? undefined : new Blob([readFileSync(snapshotPath)]),
  }).catch(async (err) => {
    await upstream.stop() // do not leave the fake upstream listening
    throw err
  })
  const baseURL = `${server.url}/v1`
  const clientFor = (key: string) => new OpenAI({ apiKey: key, baseURL, maxRetries: 0, timeout: 20_000 })
  return {
    server,
    upstream,
    clock,
    baseURL,
    apiKey: TEST_KEYS.a,
    client: clientFor(TEST_KEYS.a),
    clientFor,
    async close() {
      await server.close()
      await upstream.stop()
    },
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteSnapshot: string
    postgresUrl: string | null
  }
}
