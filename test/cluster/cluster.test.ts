/**
 * Several real Threadline processes on one real Postgres: 2 API (`serve`) + 2 `worker`
 * processes, the scripted upstream in this process.
 */
import OpenAI from 'openai'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../support/harness.ts'
import { FakeUpstream } from '../support/fake-upstream.ts'
import { startProcess, type Proc } from '../support/processes.ts'
import { assertValidEvent, names, readSse, TEXT_RUN_EVENTS, type SseEvent } from '../support/stream.ts'

const KEY = 'sk-cluster-test-key'
let upstream: FakeUpstream
let env: Record<string, string>
let apis: Proc[] = []
let workers: Proc[] = []
let db: pg.Client
let assistantId: string

const client = (i: number) => new OpenAI({ apiKey: KEY, baseURL: apis[i].url, maxRetries: 0, timeout: 30_000 })

beforeAll(async () => {
  upstream = await new FakeUpstream().start()
  const databaseUrl = (await createTestDatabase())!
  env = {
    DATABASE_URL: databaseUrl,
    THREADLINE_API_KEYS: `${KEY}=proj_cluster`,
    THREADLINE_UPSTREAM_BASE_URL: upstream.url,
    THREADLINE_LEASE_MS: '2000',
    THREADLINE_LOG_LEVEL: 'info',
    THREADLINE_UPSTREAM_BACKOFF_MS: '5',
    // Runs waiting for tool outputs expire after 3 s here (600 s by default).
    THREADLINE_RUN_EXPIRY_SECONDS: '3',
  }
  // The first process migrates; the others start in parallel.
  apis.push(await startProcess('serve', env))
  ;[apis[1], workers[0], workers[1]] = await Promise.all([startProcess('serve', env), startProcess('worker', env), startProcess('worker', env)])
  db = new pg.Client({ connectionString: databaseUrl })
  await db.connect()
  assistantId = (await client(0).beta.assistants.create({ model: 'gpt-4o' })).id
}, 120_000)

afterAll(async () => {
  await Promise.all([...apis, ...workers].map((p) => p.stop()))
  await db?.end()
  await upstream?.stop()
})

async function streamRun(api: number, threadId: string): Promise<Response> {
  return fetch(`${apis[api].url}/threads/${threadId}/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ assistant_id: assistantId, stream: true }),
  })
}

async function newThread(text = 'Hi') {
  return client(0).beta.threads.create({ messages: [{ role: 'user', content: text }] })
}

/** Read SSE events one by one from a response, stopping when `until` says so. */
async function readUntil(res: Response, until: (events: SseEvent[]) => boolean): Promise<{ events: SseEvent[]; rest: () => Promise<SseEvent[]> }> {
  const { EventSourceParserStream } = await import('eventsource-parser/stream')
  const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader()
  const events: SseEvent[] = []
  const next = async () => {
    const { value, done } = await reader.read()
    if (done) return false
    const e = { id: value.id, event: value.event ?? 'message', data: value.data === '[DONE]' ? '[DONE]' : JSON.parse(value.data) }
    assertValidEvent(e)
    events.push(e)
    return true
  }
  while (!until(events) && (await next()));
  return {
    events,
    rest: async () => {
      const start = events.length
      while (await next());
      return events.slice(start)
    },
  }
}

describe('cluster: 2 API + 2 worker processes on one Postgres', () => {
  it('an API process streams a run that a worker executes', async () => {
    const thread = await newThread()
    upstream.enqueue({ text: 'Answer from a worker' })
    const events = await readSse(await streamRun(0, thread.id))
    expect(names(events)).toEqual([...TEXT_RUN_EVENTS, 'done'])
    const runId = events[0].data.id
    // The worker logs just after its last event: give the log line a moment to arrive.
    const executedBy = () => workers.filter((w) => w.logs.some((l) => l.runId === runId && l.msg === 'run execution finished'))
    for (let i = 0; i < 50 && executedBy().length === 0; i++) await new Promise((r) => setTimeout(r, 50))
    expect(executedBy()).toHaveLength(1)
    // The same log, served by the other API process after the fact, is the same bytes.
    const replay = await fetch(`${apis[1].url}/threads/${thread.id}/runs/${runId}/events?after=0`, { headers: { authorization: `Bearer ${KEY}` } })
    const again = await readSse(replay)
    expect(again).toEqual(events)
  })

  it('events bigger than a notification (a long non-ASCII delta) reach the stream intact, in order', async () => {
    // 3,000 three-byte characters in one delta: 9 kB, more than a NOTIFY payload may carry.
    const text = '語'.repeat(3000)
    const threads = await Promise.all([newThread(), newThread(), newThread()])
    upstream.enqueue({ text, chunks: 1 }, { text: 'short one', chunks: 3 }, { text: 'short two', chunks: 3 })
    const streams = await Promise.all(threads.map(async (t, i) => readSse(await streamRun(i % 2, t.id))))
    for (const events of streams) {
      expect(names(events)).toEqual([...TEXT_RUN_EVENTS, 'done'])
      expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i + 1))
    }
    const texts = streams.map((events) => events.filter((e) => e.event === 'thread.message.delta').map((e) => e.data.delta.content[0].text.value).join(''))
    expect(texts.sort()).toEqual([text, 'short one', 'short two'].sort())
  })

  it('cancel sent to the other API process stops the run on its worker', async () => {
    const thread = await newThread()
    upstream.enqueue({ text: 'a b c d e f g h', chunks: 8, hangAfterChunks: 2 })
    const res = await streamRun(0, thread.id)
    const { events, rest } = await readUntil(res, (ev) => ev.some((e) => e.event === 'thread.message.delta'))
    const runId = events[0].data.id
    const cancelled = await client(1).beta.threads.runs.cancel(runId, { thread_id: thread.id })
    expect(cancelled.status).toBe('cancelling')
    const tail = await rest()
    expect(names(tail)).toEqual(['thread.run.cancelling', 'thread.run.step.cancelled', 'thread.message.incomplete', 'thread.run.cancelled', 'done'])
    const run = await client(1).beta.threads.runs.retrieve(runId, { thread_id: thread.id })
    expect(run.status).toBe('cancelled')
  })

  it('a client that reconnects with Last-Event-ID gets the rest without gaps or duplicates', async () => {
    const thread = await newThread()
    upstream.enqueue({ text: 'one two three four five six seven eight', chunks: 8, delayMs: 30 })
    const controller = new AbortController()
    const res = await fetch(`${apis[0].url}/threads/${thread.id}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ assistant_id: assistantId, stream: true }),
      signal: controller.signal,
    })
    const { events: head } = await readUntil(res, (ev) => ev.some((e) => e.event === 'thread.message.delta'))
    controller.abort()
    const runId = head[0].data.id
    const lastId = head.at(-1)!.id!
    const resumed = await fetch(`${apis[1].url}/threads/${thread.id}/runs/${runId}/events`, {
      headers: { authorization: `Bearer ${KEY}`, 'last-event-id': lastId },
    })
    const tail = await readSse(resumed)
    const all = [...head, ...tail]
    expect(all.map((e) => Number(e.id))).toEqual(all.map((_, i) => i + 1))
    expect(names(all).at(-2)).toBe('thread.run.completed')
    const text = all.filter((e) => e.event === 'thread.message.delta').map((e) => e.data.delta.content[0].text.value).join('')
    expect(text).toBe('one two three four five six seven eight')
  })

  it('tool outputs submitted through the other API process continue the run on a worker, streamed there', async () => {
    const thread = await newThread('weather?')
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }]
    upstream.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{}', id: 'call_x1' }] }, { text: 'Sunny.' })
    const first = await readSse(
      await fetch(`${apis[0].url}/threads/${thread.id}/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ assistant_id: assistantId, stream: true, tools }),
      }),
    )
    expect(names(first).slice(-2)).toEqual(['thread.run.requires_action', 'done'])
    const runId = first[0].data.id
    const stream = client(1).beta.threads.runs.submitToolOutputsStream(runId, { thread_id: thread.id, tool_outputs: [{ tool_call_id: 'call_x1', output: '25C' }] })
    const messages = await stream.finalMessages()
    expect(messages[0].content[0]).toMatchObject({ type: 'text', text: { value: 'Sunny.' } })
    expect((await stream.finalRun()).status).toBe('completed')
  })

  it('a run waiting for tool outputs expires on a worker at expires_at', async () => {
    const thread = await newThread('weather?')
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }]
    upstream.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{}' }] })
    const run = await client(0).beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId, tools })
    expect(run.status).toBe('requires_action')
    expect(run.expires_at).toBe(run.created_at + 3)
    let current = run
    for (let i = 0; i < 100 && current.status === 'requires_action'; i++) {
      await new Promise((r) => setTimeout(r, 100))
      current = await client(1).beta.threads.runs.retrieve(run.id, { thread_id: thread.id })
    }
    expect(current.status).toBe('expired')
    const steps = await client(1).beta.threads.runs.steps.list(run.id, { thread_id: thread.id })
    expect(steps.data[0].status).toBe('expired')
  })

  it('kill -9 of the worker mid-stream: the run is failed cleanly by the other worker and the stream ends', async () => {
    const thread = await newThread()
    upstream.enqueue({ text: 'x y z w', chunks: 4, hangAfterChunks: 2 })
    const res = await streamRun(0, thread.id)
    const { events, rest } = await readUntil(res, (ev) => ev.some((e) => e.event === 'thread.message.delta'))
    const runId = events[0].data.id
    const { rows } = await db.query('select lease_owner from runs where id = $1', [runId])
    const pid = Number(String(rows[0].lease_owner).split(':')[1])
    const victim = workers.find((w) => w.child.pid === pid)!
    expect(victim).toBeDefined()
    await victim.stop('SIGKILL')
    const tail = await rest()
    expect(names(tail)).toEqual(['thread.run.step.failed', 'thread.message.incomplete', 'thread.run.failed', 'done'])
    const run = await client(1).beta.threads.runs.retrieve(runId, { thread_id: thread.id })
    expect(run).toMatchObject({ status: 'failed', last_error: { code: 'server_error' } })
    const messages = await client(1).beta.threads.messages.list(thread.id)
    expect(messages.data.map((m) => [m.role, m.status])).toEqual([
      ['assistant', 'incomplete'],
      ['user', 'completed'],
    ])
    const steps = await client(1).beta.threads.runs.steps.list(runId, { thread_id: thread.id })
    expect(steps.data.map((s) => s.status)).toEqual(['failed'])
    // Replace the dead worker for the next test.
    workers = [workers.find((w) => w !== victim)!, await startProcess('worker', env)]
    // The thread is usable again.
    upstream.enqueue({ text: 'back' })
    const next = await client(0).beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(next.status).toBe('completed')
  })

  it('a burst of 200 runs is spread over the workers and each run executes once', async () => {
    upstream.reset()
    upstream.defaultScript = { text: 'burst answer' }
    const runs = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        client(i % 2).beta.threads.createAndRun({ assistant_id: assistantId, thread: { messages: [{ role: 'user', content: `burst ${i}` }] } }),
      ),
    )
    const finals = await Promise.all(runs.map((r, i) => client(i % 2).beta.threads.runs.poll(r.id, { thread_id: r.thread_id })))
    const statuses = finals.map((r) => r.status + (r.last_error ? `:${r.last_error.message}` : ""))
    expect(statuses.filter((s) => s !== "completed")).toEqual([])
    const prompts = upstream.chatRequests.map((r) => r.body.messages.at(-1).content)
    expect(prompts).toHaveLength(200)
    expect(new Set(prompts).size).toBe(200)
    const { rows } = await db.query(
      `select count(*)::int as n from messages where role = 'assistant' and run_id = any($1)`,
      [runs.map((r) => r.id)],
    )
    expect(rows[0].n).toBe(200)
    await new Promise((r) => setTimeout(r, 500)) // last log lines
    const perWorker = workers.map((w) => w.logs.filter((l) => l.msg === 'run execution finished' && runs.some((r) => r.id === l.runId)).length)
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(200)
    expect(perWorker.every((n) => n > 0)).toBe(true)
  }, 120_000)

  it('SIGTERM lets a worker finish its running run before it exits', async () => {
    const thread = await newThread()
    upstream.enqueue({ text: 'slow but finished', chunks: 4, delayMs: 200 })
    const res = await streamRun(0, thread.id)
    const { events, rest } = await readUntil(res, (ev) => ev.some((e) => e.event === 'thread.message.delta'))
    const runId = events[0].data.id
    const { rows } = await db.query('select lease_owner from runs where id = $1', [runId])
    const pid = Number(String(rows[0].lease_owner).split(':')[1])
    const owner = workers.find((w) => w.child.pid === pid)!
    const code = await owner.stop('SIGTERM')
    expect(code).toBe(0)
    const tail = await rest()
    expect(names(tail).slice(-2)).toEqual(['thread.run.completed', 'done'])
  })
})
