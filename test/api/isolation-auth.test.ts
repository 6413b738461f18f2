import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKey } from '../../src/api/auth.ts'
import { loadConfig } from '../../src/config.ts'
import { startServer } from '../../src/server.ts'
import { startTestServer, TEST_KEYS, type TestContext } from '../support/harness.ts'

let t: TestContext
let a: OpenAI
let b: OpenAI
let assistantId: string
let threadId: string
let messageId: string
let runId: string
beforeAll(async () => {
  t = await startTestServer()
  a = t.clientFor(TEST_KEYS.a)
  b = t.clientFor(TEST_KEYS.b)
  assistantId = (await a.beta.assistants.create({ model: 'gpt-4o', name: 'A only' })).id
  const thread = await a.beta.threads.create({ messages: [{ role: 'user', content: 'secret of A' }] })
  threadId = thread.id
  messageId = (await a.beta.threads.messages.list(threadId)).data[0].id
  t.upstream.enqueue({ text: 'reply for A' })
  const run = await a.beta.threads.runs.createAndPoll(threadId, { assistant_id: assistantId }, { pollIntervalMs: 20 })
  expect(run.status).toBe('completed')
  runId = run.id
})
afterAll(async () => t?.close())

async function expect404(p: Promise<unknown>, noun: string, id: string) {
  const err: any = await p.catch((e: unknown) => e)
  expect(err, `${noun} ${id}`).toBeInstanceOf(OpenAI.NotFoundError)
  expect(err.error).toEqual({ message: `No ${noun} found with id '${id}'.`, type: 'invalid_request_error', param: null, code: null })
}

describe('project isolation', () => {
  it("project B gets 404 for every one of project A's objects, exactly as for a missing one", async () => {
    await expect404(b.beta.assistants.retrieve(assistantId), 'assistant', assistantId)
    await expect404(b.beta.assistants.update(assistantId, { name: 'stolen' }), 'assistant', assistantId)
    await expect404(b.beta.assistants.delete(assistantId), 'assistant', assistantId)

    await expect404(b.beta.threads.retrieve(threadId), 'thread', threadId)
    await expect404(b.beta.threads.update(threadId, { metadata: { x: 'y' } }), 'thread', threadId)
    await expect404(b.beta.threads.delete(threadId), 'thread', threadId)

    await expect404(b.beta.threads.messages.create(threadId, { role: 'user', content: 'inject' }), 'thread', threadId)
    await expect404(b.beta.threads.messages.list(threadId), 'thread', threadId)
    await expect404(b.beta.threads.messages.retrieve(messageId, { thread_id: threadId }), 'message', messageId)
    await expect404(b.beta.threads.messages.update(messageId, { thread_id: threadId, metadata: {} }), 'message', messageId)
    await expect404(b.beta.threads.messages.delete(messageId, { thread_id: threadId }), 'message', messageId)

    // Both the thread and the assistant are invisible to B; the engine looks both up at once, so
    // either 404 may come first (src/engine/engine.ts createRun).
    const runErr: any = await b.beta.threads.runs.create(threadId, { assistant_id: assistantId }).catch((e: unknown) => e)
    expect(runErr).toBeInstanceOf(OpenAI.NotFoundError)
    expect([`No thread found with id '${threadId}'.`, `No assistant found with id '${assistantId}'.`]).toContain(runErr.error.message)
    await expect404(b.beta.threads.runs.list(threadId), 'thread', threadId)
    await expect404(b.beta.threads.runs.retrieve(runId, { thread_id: threadId }), 'run', runId)
    await expect404(b.beta.threads.runs.update(runId, { thread_id: threadId, metadata: {} }), 'run', runId)
    await expect404(b.beta.threads.runs.cancel(runId, { thread_id: threadId }), 'run', runId)
    await expect404(b.beta.threads.runs.steps.list(runId, { thread_id: threadId }), 'run', runId)
  })

  it("project B cannot run its own thread with project A's assistant", async () => {
    const own = await b.beta.threads.create({ messages: [{ role: 'user', content: 'hi' }] })
    await expect404(b.beta.threads.runs.create(own.id, { assistant_id: assistantId }), 'assistant', assistantId)
    await expect404(b.beta.threads.createAndRun({ assistant_id: assistantId }), 'assistant', assistantId)
  })

  it("lists never include the other project's objects", async () => {
    const bAssistant = await b.beta.assistants.create({ model: 'gpt-4o', name: 'B only' })
    const aIds = (await a.beta.assistants.list({ limit: 100 })).data.map((x) => x.id)
    const bIds = (await b.beta.assistants.list({ limit: 100 })).data.map((x) => x.id)
    expect(aIds).toContain(assistantId)
    expect(aIds).not.toContain(bAssistant.id)
    expect(bIds).toContain(bAssistant.id)
    expect(bIds).not.toContain(assistantId)
    // A cursor from the other project is unknown in this list.
    const res = await fetch(`${t.baseURL}/assistants?after=${assistantId}`, { headers: { authorization: `Bearer ${TEST_KEYS.b}` } })
    expect(res.status).toBe(400)
    expect((await res.json()).error.param).toBe('after')
  })

  it("nothing B tried changed A's objects", async () => {
    expect((await a.beta.assistants.retrieve(assistantId)).name).toBe('A only')
    expect((await a.beta.threads.retrieve(threadId)).metadata).toEqual({})
    const messages = await a.beta.threads.messages.list(threadId, { order: 'asc' })
    expect(messages.data.map((m) => (m.content[0] as any).text.value)).toEqual(['secret of A', 'reply for A'])
  })
})

describe('authentication', () => {
  const raw = (headers: Record<string, string>) => fetch(`${t.baseURL}/assistants`, { headers })

  it('a missing key is 401', async () => {
    const res = await raw({})
    expect(res.status).toBe(401)
    const { error } = await res.json()
    expect(error).toMatchObject({ type: 'invalid_request_error', param: null, code: null })
    expect(error.message).toMatch(/^You didn't provide an API key\./)
    // A non-Bearer scheme is no key either.
    expect((await raw({ authorization: `Basic ${TEST_KEYS.a}` })).status).toBe(401)
    expect((await raw({ authorization: 'Bearer ' })).status).toBe(401)
  })

  it('a wrong key is 401 invalid_api_key, with the key masked', async () => {
    const res = await raw({ authorization: 'Bearer sk-wrong-key-123456789' })
    expect(res.status).toBe(401)
    const { error } = await res.json()
    expect(error).toEqual({ message: 'Incorrect API key provided: sk-****6789.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' })
    expect(error.message).not.toContain('wrong-key')
    const sdkErr = await t.clientFor('sk-nope-nope-nope').beta.assistants.list().catch((e: unknown) => e)
    expect(sdkErr).toBeInstanceOf(OpenAI.AuthenticationError)
  })

  it('auth applies to every /v1 route and to unknown routes too, but not to /health', async () => {
    for (const [method, path] of [
      ['GET', `/threads/${threadId}`],
      ['POST', '/threads'],
      ['DELETE', `/assistants/${assistantId}`],
      ['GET', '/nope'],
    ]) {
      const res = await fetch(`${t.baseURL}${path}`, { method })
      expect(res.status, `${method} ${path}`).toBe(401)
    }
    expect((await fetch(`${t.server.url}/health`)).status).toBe(200)
    // The unauthenticated delete did nothing.
    expect((await a.beta.assistants.retrieve(assistantId)).id).toBe(assistantId)
  })

  it('a key created in the database (createApiKey) authenticates for its project', async () => {
    const key = await createApiKey(t.server.services.db, 'proj_a', 'ci')
    expect(key).toMatch(/^sk-tl-/)
    const viaDb = t.clientFor(key)
    expect((await viaDb.beta.assistants.retrieve(assistantId)).id).toBe(assistantId)
    const other = await createApiKey(t.server.services.db, 'proj_c')
    await expect404(t.clientFor(other).beta.assistants.retrieve(assistantId), 'assistant', assistantId)
    // Only the hash is stored.
    const rows = await t.server.services.db.selectFrom('api_keys').selectAll().execute()
    expect(rows.some((r) => JSON.stringify(r).includes(key))).toBe(false)
  })
})

describe('open mode', () => {
  it('with no keys on loopback the API is open; every caller shares one project', async () => {
    const open = await startTestServer({ apiKeys: [] })
    try {
      const anon = await fetch(`${open.baseURL}/assistants`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o' }),
      })
      expect(anon.status).toBe(200)
      const created = await anon.json()
      // Any bearer token, even a made-up one, reaches the same objects.
      expect((await open.clientFor('sk-anything').beta.assistants.retrieve(created.id)).id).toBe(created.id)
    } finally {
      await open.close()
    }
  })

  it('ends open mode once a key is stored in the database (keys create against a running server)', async () => {
    const open = await startTestServer({ apiKeys: [] })
    try {
      expect((await fetch(`${open.baseURL}/assistants`)).status).toBe(200)
      const key = await createApiKey(open.server.services.db, 'proj_late')
      await new Promise((r) => setTimeout(r, 1_100))
      expect((await fetch(`${open.baseURL}/assistants`)).status).toBe(401)
      expect((await fetch(`${open.baseURL}/assistants`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200)
    } finally {
      await open.close()
    }
  })

  it('refuses to start open on a non-loopback address', async () => {
    await expect(startTestServer({ apiKeys: [], host: '0.0.0.0' })).rejects.toThrow(/without API keys/)
  })
})

describe('threadline keys create (CLI)', () => {
  const run = promisify(execFile)
  it('creates a key in the data dir that a server on that dir accepts', async () => {
    if (process.env.TEST_DB === 'postgres') return // the CLI test covers the embedded store; Postgres shares the code path
    const dir = mkdtempSync(join(tmpdir(), 'threadline-keys-'))
    try {
      const cli = ['--import', 'tsx', 'src/cli.ts', 'keys', 'create', '--project', 'proj_cli', '--name', 'laptop']
      const env = { ...process.env, THREADLINE_DATA_DIR: dir, THREADLINE_LOG_LEVEL: 'warn' }
      const { stdout, stderr } = await run(process.execPath, cli, { env, cwd: process.cwd(), timeout: 60_000 })
      const key = stdout.trim()
      expect(key).toMatch(/^sk-tl-[A-Za-z0-9_-]{32}$/)
      expect(stderr).toContain("project 'proj_cli'")

      // The real server on that data dir (not the harness's in-memory snapshot).
      const config = loadConfig({}, { host: '127.0.0.1', port: 0, dataDir: dir, databaseUrl: null, apiKeys: [], logLevel: 'silent' })
      const server = await startServer(config)
      try {
        const baseURL = `${server.url}/v1`
        // A stored key turns open mode off.
        expect((await fetch(`${baseURL}/assistants`)).status).toBe(401)
        const client = new OpenAI({ apiKey: key, baseURL, maxRetries: 0 })
        const created = await client.beta.assistants.create({ model: 'gpt-4o' })
        expect((await client.beta.assistants.retrieve(created.id)).id).toBe(created.id)
        expect(await server.services.db.selectFrom('api_keys').select(['project_id', 'name']).execute()).toEqual([
          { project_id: 'proj_cli', name: 'laptop' },
        ])
      } finally {
        await server.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
