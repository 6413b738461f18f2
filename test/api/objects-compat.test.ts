/**
 * The objects a run leaves behind, field by field as OpenAI's spec lists them (every required
 * field present, nulls where nothing happened): the thread of a create-and-run, the assistant's
 * message, and both kinds of run step.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'

let t: TestContext
let assistantId: string

beforeAll(async () => {
  t = await startTestServer()
  const tools = [{ type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: {} } } }]
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o', tools })).id
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

const USAGE = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }

describe('objects written by a run', () => {
  it('create-and-run: the new thread, its messages and the message_creation step', async () => {
    t.upstream.enqueue({ text: 'Hello, Ada.' })
    const run = await t.client.beta.threads.createAndRun({
      assistant_id: assistantId,
      thread: { messages: [{ role: 'user', content: 'I am Ada.', metadata: { from: 'test' } }], metadata: { topic: 'intro' } },
    })
    expect(run).toMatchObject({ object: 'thread.run', status: 'queued', assistant_id: assistantId })
    const thread = await t.client.beta.threads.retrieve(run.thread_id)
    expect(thread).toEqual({ id: run.thread_id, object: 'thread', created_at: expect.any(Number), metadata: { topic: 'intro' }, tool_resources: {} })
    const done = await t.client.beta.threads.runs.poll(run.id, { thread_id: run.thread_id })
    expect(done.status).toBe('completed')

    const messages = await t.client.beta.threads.messages.list(run.thread_id, { order: 'asc' })
    expect(messages.data.map((m) => m.role)).toEqual(['user', 'assistant'])
    expect(messages.data[0]).toMatchObject({ run_id: null, assistant_id: null, metadata: { from: 'test' } })
    const answer = messages.data[1]
    expect(answer).toEqual({
      id: expect.stringMatching(/^msg_/),
      object: 'thread.message',
      created_at: expect.any(Number),
      thread_id: run.thread_id,
      status: 'completed',
      incomplete_details: null,
      completed_at: expect.any(Number),
      incomplete_at: null,
      role: 'assistant',
      content: [{ type: 'text', text: { value: 'Hello, Ada.', annotations: [] } }],
      assistant_id: assistantId,
      run_id: run.id,
      attachments: [],
      metadata: {},
    })
    expect((await t.client.beta.threads.messages.list(run.thread_id, { run_id: run.id })).data.map((m) => m.id)).toEqual([answer.id])

    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: run.thread_id })
    expect(steps.data).toEqual([
      {
        id: expect.stringMatching(/^step_/),
        object: 'thread.run.step',
        created_at: expect.any(Number),
        assistant_id: assistantId,
        thread_id: run.thread_id,
        run_id: run.id,
        type: 'message_creation',
        status: 'completed',
        step_details: { type: 'message_creation', message_creation: { message_id: answer.id } },
        last_error: null,
        expired_at: null,
        cancelled_at: null,
        failed_at: null,
        completed_at: expect.any(Number),
        metadata: {},
        usage: USAGE,
      },
    ])
  })

  it('the tool_calls step: waiting with output null and no usage, then completed with the output', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Time?' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{"tz":"UTC"}', id: 'call_time1' }] }, { text: 'Noon.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run).toMatchObject({
      status: 'requires_action',
      usage: null,
      completed_at: null,
      required_action: {
        type: 'submit_tool_outputs',
        submit_tool_outputs: { tool_calls: [{ id: 'call_time1', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } }] },
      },
    })
    const [waiting] = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id })).data
    const base = {
      id: waiting.id,
      object: 'thread.run.step',
      created_at: expect.any(Number),
      assistant_id: assistantId,
      thread_id: thread.id,
      run_id: run.id,
      type: 'tool_calls',
      last_error: null,
      expired_at: null,
      cancelled_at: null,
      failed_at: null,
      metadata: {},
    }
    const call = { id: 'call_time1', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}', output: null as string | null } }
    expect(waiting).toEqual({ ...base, status: 'in_progress', step_details: { type: 'tool_calls', tool_calls: [call] }, completed_at: null, usage: null })

    const done = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: thread.id, tool_outputs: [{ tool_call_id: 'call_time1', output: '12:00' }] })
    expect(done).toMatchObject({ status: 'completed', required_action: null, usage: { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 } })
    const step = await t.client.beta.threads.runs.steps.retrieve(waiting.id, { thread_id: thread.id, run_id: run.id })
    expect(step).toEqual({
      ...base,
      status: 'completed',
      step_details: { type: 'tool_calls', tool_calls: [{ ...call, function: { ...call.function, output: '12:00' } }] },
      completed_at: expect.any(Number),
      usage: USAGE,
    })
  })

  it('delete responses name their object', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'bye' }] })
    const [message] = (await t.client.beta.threads.messages.list(thread.id)).data
    expect(await t.client.beta.threads.messages.delete(message.id, { thread_id: thread.id })).toEqual({ id: message.id, object: 'thread.message.deleted', deleted: true })
    expect(await t.client.beta.threads.delete(thread.id)).toEqual({ id: thread.id, object: 'thread.deleted', deleted: true })
  })
})
