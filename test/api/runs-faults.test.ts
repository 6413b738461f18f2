import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { assertValidEvent, collectEvents, names } from '../support/stream.ts'

let t: TestContext
let assistantId: string
beforeAll(async () => {
  t = await startTestServer({ upstreamTimeoutMs: 300, upstreamRetries: 2 })
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o' })).id
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

async function newThread() {
  return t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
}

describe('upstream faults', () => {
  it('retries a 500 before anything streamed, then succeeds', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ status: 500 }, { status: 503 }, { text: 'third time lucky' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run.status).toBe('completed')
    expect(t.upstream.chatRequests).toHaveLength(3)
  })

  it('fails with server_error after bounded retries of 500s', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ status: 500 }, { status: 500 }, { status: 500 }, { text: 'never reached' })
    const events = await collectEvents(t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId }))
    expect(names(events)).toEqual(['thread.run.created', 'thread.run.queued', 'thread.run.in_progress', 'thread.run.failed'])
    const run = events.at(-1)!.data
    expect(run.status).toBe('failed')
    expect(run.failed_at).toBeTypeOf('number')
    expect(run.last_error.code).toBe('server_error')
    expect(run.last_error.message).toMatch(/500/)
    expect(t.upstream.chatRequests).toHaveLength(3)
    // The server keeps serving and the thread is usable again.
    t.upstream.enqueue({ text: 'fine now' })
    const next = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(next.status).toBe('completed')
  })

  it('429 → rate_limit_exceeded', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ status: 429 }, { status: 429 }, { status: 429 })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run.status).toBe('failed')
    expect(run.last_error).toMatchObject({ code: 'rate_limit_exceeded' })
  })

  it('a 400 from upstream is not retried', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ status: 400, message: 'model not found' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run.status).toBe('failed')
    expect(run.last_error?.message).toMatch(/model not found/)
    expect(t.upstream.chatRequests).toHaveLength(1)
  })

  it('garbage in the stream → retried, then failed', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ garbage: true }, { garbage: true }, { garbage: true })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run.status).toBe('failed')
    expect(run.last_error).toMatchObject({ code: 'server_error' })
    expect(run.last_error!.message).toMatch(/malformed/)
  })

  it('an upstream that hangs times out → failed', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ hang: true }, { hang: true }, { hang: true })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run.status).toBe('failed')
    expect(run.last_error!.message).toMatch(/did not respond/)
  })

  it('a stream broken after text was sent fails without retry; the message ends incomplete', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ breakAfterChunks: 2, text: 'partial answer that breaks' })
    const events = await collectEvents(t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId }))
    expect(names(events).slice(-3)).toEqual(['thread.run.step.failed', 'thread.message.incomplete', 'thread.run.failed'])
    expect(events.at(-1)!.data.last_error.code).toBe('server_error')
    expect(t.upstream.chatRequests).toHaveLength(1)
    const [message] = (await t.client.beta.threads.messages.list(thread.id)).data
    expect(message).toMatchObject({ role: 'assistant', status: 'incomplete', incomplete_details: { reason: 'run_failed' } })
  })

  it('cancel mid-stream aborts the upstream call and ends the stream with cancelled + done', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ text: 'a b c d e f g h', chunks: 8, hangAfterChunks: 2 })
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId })
    const events: { event: string; data: any }[] = []
    for await (const e of stream) {
      assertValidEvent(e)
      events.push(e)
      if (e.event === 'thread.message.delta' && events.filter((x) => x.event === 'thread.message.delta').length === 1) {
        const run = await t.client.beta.threads.runs.cancel(stream.currentRun()!.id, { thread_id: thread.id })
        expect(run.status).toBe('cancelling')
      }
    }
    expect(names(events).slice(-4)).toEqual(['thread.run.cancelling', 'thread.run.step.cancelled', 'thread.message.incomplete', 'thread.run.cancelled'])
    const run = events.at(-1)!.data
    expect(run.cancelled_at).toBeTypeOf('number')
    const [message] = (await t.client.beta.threads.messages.list(thread.id)).data
    expect(message).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'run_cancelled' } })
    await expect(t.client.beta.threads.runs.cancel(run.id, { thread_id: thread.id })).rejects.toMatchObject({ status: 400 })
  })
})

describe('without a provider', () => {
  it('starts, and a run fails with a clear last_error', async () => {
    const bare = await startTestServer({ providers: [], defaultProvider: null })
    try {
      const assistant = await bare.client.beta.assistants.create({ model: 'gpt-4o' })
      const thread = await bare.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
      const run = await bare.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id })
      expect(run.status).toBe('failed')
      expect(run.last_error).toMatchObject({ code: 'server_error' })
      expect(run.last_error!.message).toMatch(/THREADLINE_UPSTREAM_BASE_URL/)
    } finally {
      await bare.close()
    }
  })
})

describe('start-up recovery', () => {
  it('re-runs queued runs and fails in-progress runs left by a dead process', async () => {
    const db = t.server.services.db
    const a = await newThread()
    const b = await newThread()
    // Simulate what a crashed process leaves behind: rows whose executions no longer exist.
    t.upstream.enqueue({ toolCalls: [{ name: 'x', arguments: '{}' }] })
    const stuck = await t.client.beta.threads.runs.create(a.id, { assistant_id: assistantId })
    await t.client.beta.threads.runs.poll(stuck.id, { thread_id: a.id })
    await db.updateTable('runs').set({ status: 'in_progress' }).where('id', '=', stuck.id).execute()
    const queuedRow = await t.server.engine.createRun('proj_a', b.id, { assistant_id: assistantId })
    t.upstream.enqueue({ text: 'recovered answer' })
    if (t.server.engine.leases) {
      // Cluster mode: the lease reaper recovers runs whose owner stopped renewing.
      await db.updateTable('runs').set({ lease_expires_at: new Date(Date.now() - 1000) }).where('id', 'in', [stuck.id, queuedRow.id]).execute()
      await t.server.engine.reapExpiredLeases()
    } else {
      await t.server.engine.recover()
    }
    const failed = await t.client.beta.threads.runs.retrieve(stuck.id, { thread_id: a.id })
    expect(failed.status).toBe('failed')
    expect(failed.last_error).toMatchObject({ code: 'server_error' })
    const steps = await t.client.beta.threads.runs.steps.list(stuck.id, { thread_id: a.id })
    expect(steps.data.every((s) => s.status === 'failed')).toBe(true)
    const done = await t.client.beta.threads.runs.poll(queuedRow.id, { thread_id: b.id })
    expect(done.status).toBe('completed')
  })
})
