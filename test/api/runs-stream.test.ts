import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { collectEvents, deltaText, names, readSse, TEXT_RUN_EVENTS } from '../support/stream.ts'

let t: TestContext
let assistantId: string
beforeAll(async () => {
  t = await startTestServer()
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o', instructions: 'Be brief.' })).id
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

const TEXT_RUN = TEXT_RUN_EVENTS

describe('streamed runs', () => {
  it('streams the exact event sequence and persists the answer', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    t.upstream.enqueue({ text: 'Hello there, friend.', usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 } })
    const events = await collectEvents(t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId }))
    expect(names(events)).toEqual(TEXT_RUN)

    const [created, queued, inProgress] = events
    expect(created.data).toMatchObject({ object: 'thread.run', status: 'queued', thread_id: thread.id, assistant_id: assistantId })
    expect(queued.data.status).toBe('queued')
    expect(inProgress.data.status).toBe('in_progress')
    expect(inProgress.data.started_at).toBeTypeOf('number')
    const stepCreated = events[3].data
    expect(stepCreated).toMatchObject({ object: 'thread.run.step', type: 'message_creation', status: 'in_progress' })
    const messageCreated = events[5].data
    expect(stepCreated.step_details.message_creation.message_id).toBe(messageCreated.id)
    expect(messageCreated).toMatchObject({ status: 'in_progress', content: [], role: 'assistant', run_id: created.data.id })
    const deltas = events.filter((e) => e.event === 'thread.message.delta')
    expect(deltas[0].data).toMatchObject({
      id: messageCreated.id,
      object: 'thread.message.delta',
      delta: { content: [{ index: 0, type: 'text', text: { annotations: [] } }] },
    })
    // Only the first delta of a part carries `annotations: []`, as in OpenAI's examples.
    expect(deltas.slice(1).every((d) => !('annotations' in d.data.delta.content[0].text))).toBe(true)
    expect(deltaText(events)).toBe('Hello there, friend.')
    const byName = (name: string) => events.find((e) => e.event === name)!.data
    const completedMsg = byName('thread.message.completed')
    expect(completedMsg).toMatchObject({ status: 'completed', content: [{ type: 'text', text: { value: 'Hello there, friend.', annotations: [] } }] })
    expect(completedMsg.completed_at).toBeTypeOf('number')
    const stepDone = byName('thread.run.step.completed')
    expect(stepDone.status).toBe('completed')
    expect(stepDone.usage).toEqual({ prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 })
    const runDone = byName('thread.run.completed')
    expect(runDone).toMatchObject({ status: 'completed', expires_at: null, required_action: null, last_error: null })
    expect(runDone.usage).toEqual({ prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 })

    const messages = await t.client.beta.threads.messages.list(thread.id)
    expect(messages.data[0]).toMatchObject({ role: 'assistant', status: 'completed', run_id: runDone.id })
    expect(messages.data[0].content[0]).toMatchObject({ type: 'text', text: { value: 'Hello there, friend.' } })
    expect(t.upstream.lastChat().messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ])
    expect(t.upstream.lastChat().stream).toBe(true)
  })

  it('ends the raw SSE stream with event: done / data: [DONE] and numbered ids', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    const res = await fetch(`${t.baseURL}/threads/${thread.id}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', 'openai-beta': 'assistants=v2' },
      body: JSON.stringify({ assistant_id: assistantId, stream: true }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const events = await readSse(res)
    expect(events.at(-1)).toMatchObject({ event: 'done', data: '[DONE]' })
    expect(names(events).slice(0, -1)).toEqual(TEXT_RUN)
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i + 1))
    expect(deltaText(events)).toBe('Hello from the fake upstream.')
  })

  it('createAndRunStream starts with thread.created', async () => {
    t.upstream.enqueue({ text: 'Fresh thread answer' })
    const stream = t.client.beta.threads.createAndRunStream({
      assistant_id: assistantId,
      thread: { messages: [{ role: 'user', content: 'New here' }], metadata: { k: 'v' } },
    })
    const events = await collectEvents(stream)
    expect(names(events)).toEqual(['thread.created', ...TEXT_RUN])
    expect(events[0].data).toMatchObject({ object: 'thread', metadata: { k: 'v' } })
    expect(events[1].data.thread_id).toBe(events[0].data.id)
    const run = await stream.finalRun()
    expect(run.status).toBe('completed')
  })

  it('supports the SDK helpers: textDelta, finalMessages, finalRun', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    t.upstream.enqueue({ text: 'abcdefgh', chunks: 4 })
    let text = ''
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId }).on('textDelta', (d) => (text += d.value))
    const messages = await stream.finalMessages()
    const run = await stream.finalRun()
    expect(text).toBe('abcdefgh')
    expect(messages).toHaveLength(1)
    expect(messages[0].content[0]).toMatchObject({ type: 'text', text: { value: 'abcdefgh' } })
    expect(run.status).toBe('completed')
  })

  it('polled runs complete: createAndPoll, createAndRunPoll, steps listing and usage', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Poll me' }] })
    t.upstream.enqueue({ text: 'Polled answer', usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run).toMatchObject({ status: 'completed', usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } })
    expect(run.completed_at).toBeGreaterThanOrEqual(run.created_at)
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id })
    expect(steps.data).toHaveLength(1)
    expect(steps.data[0]).toMatchObject({ type: 'message_creation', status: 'completed', run_id: run.id, usage: { total_tokens: 10 } })
    const step = await t.client.beta.threads.runs.steps.retrieve(steps.data[0].id, { thread_id: thread.id, run_id: run.id })
    expect(step.id).toBe(steps.data[0].id)
    const byRun = await t.client.beta.threads.messages.list(thread.id, { run_id: run.id })
    expect(byRun.data).toHaveLength(1)

    t.upstream.enqueue({ text: 'Second' })
    const run2 = await t.client.beta.threads.createAndRunPoll({ assistant_id: assistantId, thread: { messages: [{ role: 'user', content: 'x' }] } })
    expect(run2.status).toBe('completed')
    const runs = await t.client.beta.threads.runs.list(thread.id)
    expect(runs.data.map((r) => r.id)).toEqual([run.id])
  })

  it('a client that disconnects does not stop the run', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    t.upstream.enqueue({ text: 'one two three four five six', chunks: 6, delayMs: 40 })
    const controller = new AbortController()
    const res = await fetch(`${t.baseURL}/threads/${thread.id}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ assistant_id: assistantId, stream: true }),
      signal: controller.signal,
    })
    const reader = res.body!.getReader()
    await reader.read()
    controller.abort()
    const runs = await t.client.beta.threads.runs.list(thread.id)
    const run = await t.client.beta.threads.runs.poll(runs.data[0].id, { thread_id: thread.id })
    expect(run.status).toBe('completed')
    const messages = await t.client.beta.threads.messages.list(thread.id)
    expect(messages.data[0].content[0]).toMatchObject({ text: { value: 'one two three four five six' } })
  })

  it('sends instructions, additional_instructions, additional_messages and truncation upstream', async () => {
    const thread = await t.client.beta.threads.create({
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'reply' },
        { role: 'user', content: 'second' },
      ],
    })
    t.upstream.enqueue({ text: 'ok' })
    await t.client.beta.threads.runs.createAndPoll(thread.id, {
      assistant_id: assistantId,
      instructions: 'Override.',
      additional_instructions: 'Also this.',
      additional_messages: [{ role: 'user', content: 'extra' }],
      temperature: 0.3,
      top_p: 0.9,
      response_format: { type: 'json_object' },
      truncation_strategy: { type: 'last_messages', last_messages: 2 },
    })
    const req = t.upstream.lastChat()
    expect(req.messages).toEqual([
      { role: 'system', content: 'Override.\n\nAlso this.' },
      { role: 'user', content: 'second' },
      { role: 'user', content: 'extra' },
    ])
    expect(req).toMatchObject({ temperature: 0.3, top_p: 0.9, response_format: { type: 'json_object' } })
    const run = (await t.client.beta.threads.runs.list(thread.id)).data[0]
    // The run shows the instructions it used: additional_instructions appended.
    expect(run).toMatchObject({ instructions: 'Override.\n\nAlso this.', temperature: 0.3, top_p: 0.9, truncation_strategy: { type: 'last_messages', last_messages: 2 } })
  })

  it('auto truncation drops the oldest messages to fit max_prompt_tokens', async () => {
    const long = 'word '.repeat(300)
    const thread = await t.client.beta.threads.create({
      messages: [
        { role: 'user', content: `old ${long}` },
        { role: 'user', content: 'newest question' },
      ],
    })
    t.upstream.enqueue({ text: 'ok' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId, max_prompt_tokens: 256 })
    expect(run.status).toBe('completed')
    expect(t.upstream.lastChat().messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'newest question' },
    ])
  })

  it('max_completion_tokens reached → run incomplete, message incomplete', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Write a lot' }] })
    t.upstream.enqueue({ text: 'truncated answer', finishReason: 'length', usage: { prompt_tokens: 10, completion_tokens: 256, total_tokens: 266 } })
    const events = await collectEvents(t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId, max_completion_tokens: 256 }))
    expect(names(events).slice(-3)).toEqual(['thread.message.incomplete', 'thread.run.step.completed', 'thread.run.incomplete'])
    expect(t.upstream.lastChat().max_tokens).toBe(256)
    const run = events.at(-1)!.data
    expect(run).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_completion_tokens' } })
    const [message] = (await t.client.beta.threads.messages.list(thread.id)).data
    expect(message).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_tokens' } })
  })

  it('one active run per thread; no messages while a run is active', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    t.upstream.enqueue({ text: 'slow answer here', chunks: 4, delayMs: 100 })
    const run = await t.client.beta.threads.runs.create(thread.id, { assistant_id: assistantId })
    await expect(t.client.beta.threads.runs.create(thread.id, { assistant_id: assistantId })).rejects.toMatchObject({
      status: 400,
      error: { message: `Thread ${thread.id} already has an active run ${run.id}.`, type: 'invalid_request_error' },
    })
    await expect(t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'more' })).rejects.toMatchObject({
      status: 400,
      error: { message: `Can't add messages to ${thread.id} while a run ${run.id} is active.` },
    })
    const done = await t.client.beta.threads.runs.poll(run.id, { thread_id: thread.id })
    expect(done.status).toBe('completed')
    await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'now fine' })
  })

  it('modifies run metadata and 404s unknown runs', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId, metadata: { a: '1' } })
    expect(run.metadata).toEqual({ a: '1' })
    const updated = await t.client.beta.threads.runs.update(run.id, { thread_id: thread.id, metadata: { b: '2' } })
    expect(updated.metadata).toEqual({ b: '2' })
    await expect(t.client.beta.threads.runs.retrieve('run_nope', { thread_id: thread.id })).rejects.toMatchObject({
      status: 404,
      error: { message: "No run found with id 'run_nope'." },
    })
    await expect(t.client.beta.threads.runs.create(thread.id, { assistant_id: 'asst_nope' })).rejects.toMatchObject({ status: 404 })
  })
})
