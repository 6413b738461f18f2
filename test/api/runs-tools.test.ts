import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { TEXT_ANSWER_EVENTS, collectEvents, names, readSse, functionCallRunEvents } from '../support/stream.ts'

let t: TestContext
let assistantId: string
const weatherTool = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
}
const timeTool = { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: {} } } }

beforeAll(async () => {
  t = await startTestServer()
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [weatherTool, timeTool] })).id
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

describe('function tools', () => {
  it('streams a function call to requires_action, then continues on submitToolOutputsStream', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather in Paris?' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_abc' }] }, { text: 'It is sunny in Paris.' })
    const first = await collectEvents(t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId }))
    expect(names(first)).toEqual(functionCallRunEvents(4))
    const step = first[3].data
    expect(step).toMatchObject({ type: 'tool_calls', status: 'in_progress', step_details: { type: 'tool_calls', tool_calls: [] } })
    expect(first[5].data).toEqual({
      id: step.id,
      object: 'thread.run.step.delta',
      delta: { step_details: { type: 'tool_calls', tool_calls: [{ index: 0, id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '', output: null } }] } },
    })
    const fragments = first.slice(6, 9).map((e) => e.data.delta.step_details.tool_calls[0])
    expect(fragments.every((f) => f.index === 0 && f.type === 'function' && !('id' in f))).toBe(true)
    expect(fragments.map((f) => f.function.arguments).join('')).toBe('{"city":"Paris"}')
    const run = first.at(-1)!.data
    expect(run.status).toBe('requires_action')
    expect(run.required_action).toEqual({
      type: 'submit_tool_outputs',
      submit_tool_outputs: { tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    })
    expect(t.upstream.lastChat().tools.map((x: any) => x.function.name)).toEqual(['get_weather', 'get_time'])
    expect(t.upstream.lastChat().tool_choice).toBe('auto')

    const second = await collectEvents(
      t.client.beta.threads.runs.submitToolOutputsStream(run.id, { thread_id: thread.id, tool_outputs: [{ tool_call_id: 'call_abc', output: '22C sunny' }] }),
    )
    expect(names(second)).toEqual(['thread.run.step.completed', 'thread.run.queued', ...TEXT_ANSWER_EVENTS])
    expect(first[3].data.usage).toBeNull()
    expect(second[0].data.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 })
    expect(second[0].data.step_details.tool_calls[0]).toEqual({
      id: 'call_abc',
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}', output: '22C sunny' },
    })
    expect(second.at(-1)!.data.required_action).toBeNull()
    // The model saw its own call and the output.
    const msgs = t.upstream.lastChat().messages
    expect(msgs.slice(-2)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_abc', content: '22C sunny' },
    ])
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id, order: 'asc' })
    expect(steps.data.map((s) => [s.type, s.status])).toEqual([
      ['tool_calls', 'completed'],
      ['message_creation', 'completed'],
    ])
    const final = await t.client.beta.threads.runs.retrieve(run.id, { thread_id: thread.id })
    expect(final.usage).toEqual({ prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 })
  })

  it('parallel calls round trip without streaming (createAndPoll / submitToolOutputsAndPoll)', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather and time?' }] })
    t.upstream.enqueue(
      { toolCalls: [{ name: 'get_weather', arguments: '{"city":"Oslo"}' }, { name: 'get_time', arguments: '{}' }] },
      { text: 'Cold, and noon.' },
    )
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run.status).toBe('requires_action')
    const calls = run.required_action!.submit_tool_outputs.tool_calls
    expect(calls.map((c) => c.function.name)).toEqual(['get_weather', 'get_time'])

    await expect(
      t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: thread.id, tool_outputs: [{ tool_call_id: calls[0].id, output: 'x' }] }),
    ).rejects.toMatchObject({ status: 400 })
    await expect(
      t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: thread.id, tool_outputs: [{ tool_call_id: 'call_unknown', output: 'x' }] }),
    ).rejects.toMatchObject({ status: 400 })

    const done = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, {
      thread_id: thread.id,
      tool_outputs: [
        { tool_call_id: calls[0].id, output: '-3C' },
        { tool_call_id: calls[1].id, output: '12:00' },
      ],
    })
    expect(done.status).toBe('completed')
    const tail = t.upstream.lastChat().messages.slice(-3)
    expect(tail.map((m: any) => m.role)).toEqual(['assistant', 'tool', 'tool'])
    expect(tail[1]).toEqual({ role: 'tool', tool_call_id: calls[0].id, content: '-3C' })
    const [message] = (await t.client.beta.threads.messages.list(thread.id)).data
    expect(message.content[0]).toMatchObject({ text: { value: 'Cold, and noon.' } })
    await expect(
      t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: thread.id, tool_outputs: [] }),
    ).rejects.toMatchObject({ status: 400 })
  })

  it('passes tool_choice and parallel_tool_calls upstream', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'x' }] })
    for (const tool_choice of ['none', 'required', { type: 'function' as const, function: { name: 'get_time' } }] as const) {
      t.upstream.enqueue({ text: 'ok' })
      const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId, tool_choice, parallel_tool_calls: false })
      expect(run.tool_choice).toEqual(tool_choice)
      expect(run.parallel_tool_calls).toBe(false)
      expect(t.upstream.lastChat()).toMatchObject({ tool_choice, parallel_tool_calls: false })
    }
    await expect(
      t.client.beta.threads.runs.create(thread.id, { assistant_id: assistantId, tool_choice: { type: 'function', function: { name: 'nope' } } }),
    ).rejects.toMatchObject({ status: 400 })
  })

  it('a forced tool_choice holds until the run has called tools, then the model may answer', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Time?' }] })
    for (const tool_choice of ['required', { type: 'function' as const, function: { name: 'get_time' } }] as const) {
      t.upstream.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}' }] }, { text: 'Noon.' })
      const before = t.upstream.chatRequests.length
      const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId, tool_choice })
      expect(run.status).toBe('requires_action')
      expect(t.upstream.lastChat().tool_choice).toEqual(tool_choice)
      const call = run.required_action!.submit_tool_outputs.tool_calls[0]
      const done = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: thread.id, tool_outputs: [{ tool_call_id: call.id, output: '12:00' }] })
      expect(done.status).toBe('completed')
      // The run keeps reporting what was asked; the call after the tool round leaves the model free.
      expect(done.tool_choice).toEqual(tool_choice)
      expect(t.upstream.chatRequests.length).toBe(before + 2)
      expect(t.upstream.lastChat().tool_choice).toBe('auto')
    }
  })

  it('SDK event helpers see tool calls (toolCallDone, currentRun)', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather?' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Rome"}' }] }, { text: 'Warm.' })
    const done: any[] = []
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId }).on('toolCallDone', (c) => done.push(c))
    await stream.done()
    const run = stream.currentRun()!
    expect(run.status).toBe('requires_action')
    expect(done).toHaveLength(1)
    expect(done[0]).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } })
    const after = t.client.beta.threads.runs.submitToolOutputsStream(run.id, {
      thread_id: thread.id,
      tool_outputs: [{ tool_call_id: done[0].id, output: '30C' }],
    })
    const messages = await after.finalMessages()
    expect(messages[0].content[0]).toMatchObject({ text: { value: 'Warm.' } })
  })

  it('requires_action expires after 10 minutes without outputs (injected clock)', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather?' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Lima"}' }] })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(run.status).toBe('requires_action')
    expect(run.expires_at).toBe(run.created_at + 600)
    await t.server.engine.expireOverdue()
    expect((await t.client.beta.threads.runs.retrieve(run.id, { thread_id: thread.id })).status).toBe('requires_action')
    t.clock.advance(601_000)
    await t.server.engine.expireOverdue()
    const expired = await t.client.beta.threads.runs.retrieve(run.id, { thread_id: thread.id })
    expect(expired.status).toBe('expired')
    const [step] = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id })).data
    expect(step.status).toBe('expired')
    expect(step.expired_at).toBeTypeOf('number')
    await expect(
      t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: thread.id, tool_outputs: [{ tool_call_id: 'x', output: 'y' }] }),
    ).rejects.toMatchObject({ status: 400 })
    // The thread is free again.
    await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'hello again' })
  })

  it('cancels a run waiting for tool outputs', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather?' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Kyiv"}' }] })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    const cancelling = await t.client.beta.threads.runs.cancel(run.id, { thread_id: thread.id })
    expect(cancelling.status).toBe('cancelling')
    const final = await t.client.beta.threads.runs.poll(run.id, { thread_id: thread.id })
    expect(final.status).toBe('cancelled')
    expect(final.cancelled_at).toBeTypeOf('number')
    const [step] = (await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id })).data
    expect(step.status).toBe('cancelled')
    // Its event log ends properly for a reconnecting client: each stream segment ends with `done`.
    const read = async (after: number) =>
      readSse(await fetch(`${t.baseURL}/threads/${thread.id}/runs/${run.id}/events?after=${after}`, { headers: { authorization: `Bearer ${t.apiKey}` } }))
    const first = await read(0)
    expect(names(first).slice(-2)).toEqual(['thread.run.requires_action', 'done'])
    const rest = await read(Number(first.at(-1)!.id))
    expect(names(rest)).toEqual(['thread.run.cancelling', 'thread.run.step.cancelled', 'thread.run.cancelled', 'done'])
  })
})
