import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import OpenAI, { toFile } from 'openai'
import { loadConfig } from '../../src/config.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { createLogger } from '../../src/log.ts'
import { FakeUpstream } from '../support/fake-upstream.ts'
import { createTestDatabase, TEST_KEYS } from '../support/harness.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'threadline-restart-'))
const upstream = new FakeUpstream()
const servers: RunningServer[] = []
afterAll(async () => {
  for (const s of servers) await s.close()
  await upstream.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

async function until<T>(probe: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('ingestion across a restart', () => {
  // Two database starts on disk (the first initialises a new embedded cluster, several seconds of
  // WebAssembly): on a loaded 2-core machine this outgrows the default 30 s.
  it('a file left in_progress by a stopped server completes after the next start', { timeout: 90_000 }, async () => {
    await upstream.start()
    const databaseUrl = await createTestDatabase()
    const config = () =>
      loadConfig(
        { THREADLINE_UPSTREAM_BASE_URL: upstream.url, THREADLINE_UPSTREAM_API_KEY: 'sk-up' },
        { host: '127.0.0.1', port: 0, dataDir, databaseUrl, logLevel: 'silent', apiKeys: [{ key: TEST_KEYS.a, project: 'proj_a' }], embeddingModel: 'emb-small', upstreamTimeoutMs: 60_000 },
      )
    const start = async () => {
      const c = config()
      const server = await startServer(c, { logger: createLogger(c.logLevel) })
      servers.push(server)
      return { server, client: new OpenAI({ apiKey: TEST_KEYS.a, baseURL: `${server.url}/v1`, maxRetries: 0 }) }
    }

    // First process: the embeddings endpoint never answers, so the file stays in progress.
    upstream.embeddingsHang = true
    const first = await start()
    const file = await first.client.files.create({ file: await toFile(Buffer.from('Otters hold hands while they sleep.'), 'otters.txt'), purpose: 'assistants' })
    const store = await first.client.vectorStores.create({ name: 'restart' })
    await first.client.vectorStores.files.create(store.id, { file_id: file.id })
    await until(async () => upstream.requests.some((r) => r.path.endsWith('/embeddings')), 'the embeddings request')
    expect((await first.client.vectorStores.files.retrieve(file.id, { vector_store_id: store.id })).status).toBe('in_progress')
    await first.server.close()
    servers.length = 0

    // Second process on the same data: it resumes the file.
    upstream.embeddingsHang = false
    const second = await start()
    const done = await until(async () => {
      const f = await second.client.vectorStores.files.retrieve(file.id, { vector_store_id: store.id })
      return f.status !== 'in_progress' && f
    }, 'ingestion to finish')
    expect(done).toMatchObject({ status: 'completed', last_error: null })
    const hits = await second.client.vectorStores.search(store.id, { query: 'otters sleep' })
    expect(hits.data[0]).toMatchObject({ file_id: file.id, filename: 'otters.txt' })
    // The uploaded bytes survived too.
    expect(await (await second.client.files.content(file.id)).text()).toBe('Otters hold hands while they sleep.')
  })
})
