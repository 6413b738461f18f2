/**
 * Each way a run can end, as streamed: raw SSE (every event, `done` included, validated against
 * OpenAI's stream-event schema; every stream ends with `done`) and through the SDK's
 * AssistantStream helpers. Terminal runs and finished steps carry `usage` (null only while not
 * terminal / in progress, as the spec says).
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { collectEvents, deltaText, names, readSse, sseEvents, TEXT_ANSWER_EVENTS, type SseEvent } from '../support/stream.ts'

let t: TestContext
let assistantId: string
const fnTool = (name: string) => ({ type: 'function' as const, function: { name, parameters: { type: 'object', properties: {} } } })
const ZERO = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }

beforeAll(async () => {
  t = await startTestServer({ upstreamRetries: 0 })
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [fnTool('get_time'), fnTool('get_weather')] })).id
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

const newThread = async () => (await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })).id

/** POST a streamed request; the response must be an event stream. */
async function post(path: string, body: object): Promise<Response> {
  const res = await fetch(`${t.baseURL}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', 'openai-beta': 'assistants=v2' },
    body: JSON.stringify({ ...body, stream: true }),
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
  return res
}

/** Event names without the step deltas (their count follows the upstream's chunking). */
const withoutStepDeltas = (events: SseEvent[]) => names(events).filter((n) => n !== 'thread.run.step.delta')
const lastRun = (events: SseEvent[]) => events.findLast((e) => e.event.startsWith('thread.run.') && !e.event.startsWith('thread.run.step'))!.data

describe('raw streams of every ending', () => {
  it('function call → requires_action ends the stream; submit_tool_outputs streams the rest', async () => {
    t.upstream.enqueue(
      { toolCalls: [{ name: 'get_time', arguments: '{"tz":"UTC"}', id: 'call_r1' }], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } },
      { text: 'It is noon.' },
    )
    const first = await readSse(await post('/threads/runs', { assistant_id: assistantId, thread: { messages: [{ role: 'user', content: 'Time?' }] } }))
    expect(withoutStepDeltas(first)).toEqual([
      'thread.created',
      'thread.run.created',
      'thread.run.queued',
      'thread.run.in_progress',
      'thread.run.step.created',
      'thread.run.step.in_progress',
      'thread.run.requires_action',
      'done',
    ])
    const waiting = lastRun(first)
    expect(waiting).toMatchObject({
      status: 'requires_action',
      usage: null,
      expires_at: waiting.created_at + 600,
      required_action: {
        type: 'submit_tool_outputs',
        submit_tool_outputs: { tool_calls: [{ id: 'call_r1', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } }] },
      },
    })

    const rest = await readSse(
      await post(`/threads/${waiting.thread_id}/runs/${waiting.id}/submit_tool_outputs`, { tool_outputs: [{ tool_call_id: 'call_r1', output: '12:00' }] }),
    )
    expect(names(rest)).toEqual(['thread.run.step.completed', 'thread.run.queued', ...TEXT_ANSWER_EVENTS, 'done'])
    expect(rest[0].data).toMatchObject({ type: 'tool_calls', status: 'completed', usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } })
    expect(deltaText(rest)).toBe('It is noon.')
    expect(lastRun(rest)).toMatchObject({ status: 'completed', expires_at: null, required_action: null, usage: { prompt_tokens: 19, completion_tokens: 9, total_tokens: 28 } })
  })

  it('an upstream 500 → thread.run.failed with last_error, failed_at and usage, then done', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ status: 500 })
    const events = await readSse(await post(`/threads/${thread}/runs`, { assistant_id: assistantId }))
    expect(names(events)).toEqual(['thread.run.created', 'thread.run.queued', 'thread.run.in_progress', 'thread.run.failed', 'done'])
    const run = lastRun(events)
    expect(run).toMatchObject({ status: 'failed', last_error: { code: 'server_error' }, expires_at: null, completed_at: null, usage: ZERO })
    expect(run.last_error.message).toMatch(/500/)
    expect(run.failed_at).toBeGreaterThanOrEqual(run.started_at)

    // The SDK's stream ends on it too, with the failed run as its final run.
    t.upstream.enqueue({ status: 500 })
    const stream = t.client.beta.threads.runs.stream(thread, { assistant_id: assistantId })
    expect(await stream.finalRun()).toMatchObject({ status: 'failed', last_error: { code: 'server_error' } })
  })

  it('max_completion_tokens reached in a text answer or in tool calls → incomplete; no step stays in progress', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ text: 'cut short', finishReason: 'length', usage: { prompt_tokens: 10, completion_tokens: 256, total_tokens: 266 } })
    const text = await readSse(await post(`/threads/${thread}/runs`, { assistant_id: assistantId, max_completion_tokens: 256 }))
    expect(names(text).slice(-4)).toEqual(['thread.message.incomplete', 'thread.run.step.completed', 'thread.run.incomplete', 'done'])
    expect(lastRun(text)).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_completion_tokens' },
      expires_at: null,
      usage: { prompt_tokens: 10, completion_tokens: 256, total_tokens: 266 },
    })

    t.upstream.enqueue({
      toolCalls: [{ name: 'get_weather', arguments: '{"city":"Par', id: 'call_cut' }],
      finishReason: 'length',
      usage: { prompt_tokens: 10, completion_tokens: 256, total_tokens: 266 },
    })
    const tools = await readSse(await post(`/threads/${thread}/runs`, { assistant_id: assistantId, max_completion_tokens: 256 }))
    expect(withoutStepDeltas(tools).slice(-5)).toEqual(['thread.run.step.created', 'thread.run.step.in_progress', 'thread.run.step.completed', 'thread.run.incomplete', 'done'])
    const run = lastRun(tools)
    expect(run).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_completion_tokens' }, required_action: null })
    const [step] = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread })).data
    expect(step).toMatchObject({
      type: 'tool_calls',
      status: 'completed',
      usage: { prompt_tokens: 10, completion_tokens: 256, total_tokens: 266 },
      step_details: { tool_calls: [{ id: 'call_cut', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Par', output: null } }] },
    })
  })

  it('an answer past max_completion_tokens ends incomplete even when the upstream stopped on its own', async () => {
    const thread = await newThread()
    // An upstream that ignores max_tokens: the run's budget still bounds it.
    t.upstream.enqueue({ text: 'far too long', usage: { prompt_tokens: 10, completion_tokens: 300, total_tokens: 310 } })
    const over = await readSse(await post(`/threads/${thread}/runs`, { assistant_id: assistantId, max_completion_tokens: 256 }))
    expect(names(over).slice(-4)).toEqual(['thread.message.incomplete', 'thread.run.step.completed', 'thread.run.incomplete', 'done'])
    expect(lastRun(over)).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_completion_tokens' } })
    expect(over.find((e) => e.event === 'thread.message.incomplete')!.data.incomplete_details).toEqual({ reason: 'max_tokens' })

    // Exactly the budget, stopped by the model: complete.
    t.upstream.enqueue({ text: 'just fits', usage: { prompt_tokens: 10, completion_tokens: 256, total_tokens: 266 } })
    const fits = await readSse(await post(`/threads/${thread}/runs`, { assistant_id: assistantId, max_completion_tokens: 256 }))
    expect(lastRun(fits)).toMatchObject({ status: 'completed', incomplete_details: null })
  })

  it('cancel mid-answer: cancelling, the open step and message end, cancelled with usage, done', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ text: 'a b c d e f', chunks: 6, hangAfterChunks: 1 })
    const events: SseEvent[] = []
    for await (const e of sseEvents(await post(`/threads/${thread}/runs`, { assistant_id: assistantId }))) {
      events.push(e)
      if (e.event === 'thread.message.delta') {
        const cancelling = await t.client.beta.threads.runs.cancel(events[0].data.id, { thread_id: thread })
        expect(cancelling).toMatchObject({ status: 'cancelling', cancelled_at: null, usage: null })
      }
    }
    expect(names(events).slice(-5)).toEqual(['thread.run.cancelling', 'thread.run.step.cancelled', 'thread.message.incomplete', 'thread.run.cancelled', 'done'])
    const run = lastRun(events)
    expect(run).toMatchObject({ status: 'cancelled', expires_at: null, usage: ZERO })
    expect(run.cancelled_at).toBeGreaterThanOrEqual(run.started_at)
    const step = events.find((e) => e.event === 'thread.run.step.cancelled')!.data
    expect(step).toMatchObject({ type: 'message_creation', status: 'cancelled', usage: ZERO, completed_at: null })
    expect(step.cancelled_at).toBeTypeOf('number')
  })
})

describe('runs ended while waiting for tool outputs', () => {
  it('cancelled or expired, the run and its tool_calls step report the usage of the call that made them wait', async () => {
    const usage = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }
    const thread = await newThread()
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_w1' }], usage })
    const run = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId })
    expect(run).toMatchObject({ status: 'requires_action', usage: null })
    expect(await t.client.beta.threads.runs.cancel(run.id, { thread_id: thread })).toMatchObject({ status: 'cancelling', usage: null })
    const cancelled = await t.client.beta.threads.runs.poll(run.id, { thread_id: thread })
    expect(cancelled).toMatchObject({ status: 'cancelled', usage, expires_at: null, required_action: null })
    const [step] = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread })).data
    expect(step).toMatchObject({ status: 'cancelled', usage })
    const again = await t.client.beta.threads.runs.cancel(run.id, { thread_id: thread }).catch((e: unknown) => e)
    expect(again).toBeInstanceOf(OpenAI.BadRequestError)
    expect((again as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual({
      message: "Cannot cancel run with status 'cancelled'.",
      type: 'invalid_request_error',
      param: null,
      code: null,
    })

    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_w2' }], usage })
    const second = await t.client.beta.threads.runs.createAndPoll(thread, { assistant_id: assistantId })
    t.clock.advance(601_000)
    await t.server.engine.expireOverdue()
    expect(await t.client.beta.threads.runs.retrieve(second.id, { thread_id: thread })).toMatchObject({ status: 'expired', usage })
    const [expiredStep] = (await t.client.beta.threads.runs.steps.list(second.id, { thread_id: thread })).data
    expect(expiredStep).toMatchObject({ status: 'expired', usage })
  })
})

describe('AssistantStream helpers', () => {
  it('text: textCreated/textDelta/textDone, finalMessages, finalRunSteps and finalRun agree with the stored objects', async () => {
    const thread = await newThread()
    t.upstream.enqueue({ text: 'one two three', chunks: 3 })
    const deltas: string[] = []
    const snapshots: string[] = []
    let created = 0
    let done = ''
    const stream = t.client.beta.threads.runs
      .stream(thread, { assistant_id: assistantId })
      .on('textCreated', () => created++)
      .on('textDelta', (d, snapshot) => {
        deltas.push(d.value ?? '')
        snapshots.push(snapshot.value)
      })
      .on('textDone', (text) => (done = text.value))
    const run = await stream.finalRun()
    expect(created).toBe(1)
    expect(deltas.join('')).toBe('one two three')
    expect(snapshots.at(-1)).toBe('one two three')
    expect(done).toBe('one two three')
    const [message] = await stream.finalMessages()
    expect(message).toEqual((await t.client.beta.threads.messages.list(thread)).data[0])
    const steps = await stream.finalRunSteps()
    expect(steps).toEqual((await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread })).data)
    expect(run).toEqual(await t.client.beta.threads.runs.retrieve(run.id, { thread_id: thread }))
  })

  it('parallel function calls: toolCallCreated/Delta/Done by index; finalRunSteps; the continuation', async () => {
    const thread = await newThread()
    t.upstream.enqueue(
      { toolCalls: [{ name: 'get_time', arguments: '{"tz":"CET"}', id: 'call_p1' }, { name: 'get_weather', arguments: '{"city":"Oslo"}', id: 'call_p2' }] },
      { text: 'Noon and cold.' },
    )
    const created: string[] = []
    const args = new Map<string, string>()
    const done: unknown[] = []
    const stream = t.client.beta.threads.runs
      .stream(thread, { assistant_id: assistantId })
      .on('toolCallCreated', (call) => created.push(call.id))
      .on('toolCallDelta', (delta, snapshot) => {
        expect(delta.type).toBe('function')
        expect(delta).not.toHaveProperty('id')
        if (delta.type === 'function' && snapshot.type === 'function') args.set(snapshot.id, (args.get(snapshot.id) ?? '') + (delta.function?.arguments ?? ''))
      })
      .on('toolCallDone', (call) => done.push(call))
    const events = await collectEvents(stream)
    const stepDeltas = events.filter((e) => e.event === 'thread.run.step.delta').map((e) => e.data.delta.step_details.tool_calls[0])
    expect(stepDeltas.filter((c) => 'id' in c)).toEqual([
      { index: 0, id: 'call_p1', type: 'function', function: { name: 'get_time', arguments: '', output: null } },
      { index: 1, id: 'call_p2', type: 'function', function: { name: 'get_weather', arguments: '', output: null } },
    ])
    expect(created).toEqual(['call_p1', 'call_p2'])
    expect(Object.fromEntries(args)).toEqual({ call_p1: '{"tz":"CET"}', call_p2: '{"city":"Oslo"}' })
    expect(done).toEqual([
      { index: 0, id: 'call_p1', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}', output: null } },
      { index: 1, id: 'call_p2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}', output: null } },
    ])
    const run = await stream.finalRun()
    expect(run.required_action?.submit_tool_outputs.tool_calls.map((c) => c.id)).toEqual(['call_p1', 'call_p2'])
    const [step] = await stream.finalRunSteps()
    expect(step).toMatchObject({ type: 'tool_calls', status: 'in_progress', usage: null })

    const after = t.client.beta.threads.runs.submitToolOutputsStream(run.id, {
      thread_id: thread,
      tool_outputs: [
        { tool_call_id: 'call_p1', output: '12:00' },
        { tool_call_id: 'call_p2', output: '-3C' },
      ],
    })
    const [message] = await after.finalMessages()
    expect(message.content).toEqual([{ type: 'text', text: { value: 'Noon and cold.', annotations: [] } }])
    const steps = await after.finalRunSteps()
    expect(steps.map((s) => [s.type, s.status])).toEqual([
      ['tool_calls', 'completed'],
      ['message_creation', 'completed'],
    ])
    expect(steps[0].step_details).toEqual({
      type: 'tool_calls',
      tool_calls: [
        { id: 'call_p1', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}', output: '12:00' } },
        { id: 'call_p2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}', output: '-3C' } },
      ],
    })
    expect(await after.finalRun()).toMatchObject({ status: 'completed', required_action: null })
  })
})

describe('refusals', () => {
  it("a model's refusal streams as refusal deltas and ends as the message's refusal part", async () => {
    const thread = await newThread()
    t.upstream.enqueue({ refusal: "I can't help with that." })
    const stream = t.client.beta.threads.runs.stream(thread, {
      assistant_id: assistantId,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
    })
    const events = await collectEvents(stream)
    const deltas = events.filter((e) => e.event === 'thread.message.delta').map((e) => e.data.delta.content)
    expect(deltas.every((content) => content.length === 1 && content[0].index === 0 && content[0].type === 'refusal')).toBe(true)
    expect(deltas.map((content) => content[0].refusal).join('')).toBe("I can't help with that.")
    const refusal = [{ type: 'refusal', refusal: "I can't help with that." }]
    expect(events.find((e) => e.event === 'thread.message.completed')!.data.content).toEqual(refusal)
    const [message] = await stream.finalMessages()
    expect(message.content).toEqual(refusal)
    expect((await t.client.beta.threads.messages.list(thread)).data[0].content).toEqual(refusal)
    expect((await stream.finalRun()).status).toBe('completed')
  })
})

describe('text after tool calls', () => {
  it('after a server tool call it becomes a message once the tool step ended; after function calls it is dropped', async () => {
    const searcher = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }, fnTool('get_time')] })
    const thread = await newThread()
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"notes"}' }], textAfter: 'Let me look.' }, { text: 'Nothing found.' })
    const stream = t.client.beta.threads.runs.stream(thread, { assistant_id: searcher.id })
    const events = await collectEvents(stream)
    expect(names(events)).toEqual([
      'thread.run.created',
      'thread.run.queued',
      'thread.run.in_progress',
      'thread.run.step.created',
      'thread.run.step.in_progress',
      'thread.run.step.delta', // the search, announced with its results
      'thread.run.step.completed',
      ...TEXT_ANSWER_EVENTS.slice(1, -1),
      ...TEXT_ANSWER_EVENTS.slice(1),
    ])
    expect((await stream.finalMessages()).map((m) => m.content)).toEqual([
      [{ type: 'text', text: { value: 'Let me look.', annotations: [] } }],
      [{ type: 'text', text: { value: 'Nothing found.', annotations: [] } }],
    ])

    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_after' }], textAfter: 'One moment.' })
    const waiting = t.client.beta.threads.runs.stream(thread, { assistant_id: searcher.id })
    expect(names(await collectEvents(waiting)).filter((n) => n !== 'thread.run.step.delta').slice(-3)).toEqual([
      'thread.run.step.created',
      'thread.run.step.in_progress',
      'thread.run.requires_action',
    ])
    expect(await waiting.finalMessages()).toEqual([])
    expect((await waiting.finalRun()).status).toBe('requires_action')
  })
})
