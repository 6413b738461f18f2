/**
 * Runs through the AI SDK provider (`kind: 'ai-sdk-openai-compatible'`): the same streams, tool
 * round trips and fault handling as the direct provider, with the fake upstream behind the SDK.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { TEXT_ANSWER_EVENTS, TEXT_RUN_EVENTS, collectEvents, deltaText, names, readSse, functionCallRunEvents } from '../support/stream.ts'

let t: TestContext
let assistantId: string
const weatherTool = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
}

beforeAll(async () => {
  t = await startTestServer((upstream) => ({
    providers: [{ name: 'aisdk', kind: 'ai-sdk-openai-compatible', baseURL: upstream.url, apiKey: 'sk-upstream-secret' }],
    defaultProvider: 'aisdk',
  }))
  assistantId = (await t.client.beta.assistants.create({ model: 'aisdk/fake-model', instructions: 'Be brief.', tools: [weatherTool] })).id
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

/** Like `names`, with each run of consecutive step deltas shown once (their count follows chunking). */
const collapsed = (events: { event: string }[]) => names(events).filter((n, i, all) => !(n === 'thread.run.step.delta' && all[i - 1] === n))

describe('runs through the AI SDK provider', () => {
  it('streams a text answer with the exact event sequence, usage and the persisted message', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    t.upstream.enqueue({ text: 'Hello through the SDK.', chunks: 5, usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 } })
    const res = await fetch(`${t.baseURL}/threads/${thread.id}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', 'openai-beta': 'assistants=v2' },
      body: JSON.stringify({ assistant_id: assistantId, stream: true, tool_choice: 'none' }),
    })
    expect(res.status).toBe(200)
    const events = await readSse(res) // validates every event against the stream-event schema
    expect(events.at(-1)).toMatchObject({ event: 'done', data: '[DONE]' })
    expect(names(events).slice(0, -1)).toEqual(TEXT_RUN_EVENTS)
    expect(deltaText(events)).toBe('Hello through the SDK.')

    const run = events.find((e) => e.event === 'thread.run.completed')!.data
    expect(run).toMatchObject({ status: 'completed', model: 'aisdk/fake-model', last_error: null, usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 } })
    const step = events.find((e) => e.event === 'thread.run.step.completed')!.data
    expect(step.usage).toEqual({ prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 })
    const messages = await t.client.beta.threads.messages.list(thread.id)
    expect(messages.data[0]).toMatchObject({ role: 'assistant', status: 'completed', run_id: run.id, content: [{ type: 'text', text: { value: 'Hello through the SDK.' } }] })

    // What reached the upstream, through the SDK: prefix stripped, instructions first, key sent.
    const body = t.upstream.lastChat()
    expect(body).toMatchObject({ model: 'fake-model', stream: true, tool_choice: 'none' })
    expect(body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ])
    expect(t.upstream.chatRequests.at(-1)!.headers.authorization).toBe('Bearer sk-upstream-secret')
    // The request was made by the AI SDK, not by the direct provider.
    expect(t.upstream.chatRequests.at(-1)!.headers['user-agent']).toMatch(/^ai-sdk-openai-compatible\//)
  })

  it('round-trips parallel function calls: requires_action, then submitToolOutputsStream to the answer', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather in Paris and Oslo?' }] })
    t.upstream.enqueue(
      {
        toolCalls: [
          { name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_paris' },
          { name: 'get_weather', arguments: '{"city":"Oslo"}', id: 'call_oslo' },
        ],
      },
      { text: 'Paris is warmer than Oslo.' },
    )
    const first = await collectEvents(t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId }))
    expect(collapsed(first)).toEqual(functionCallRunEvents(1))
    // Each call opens with its id and name, then its arguments stream in fragments.
    const stepDeltas = first.filter((e) => e.event === 'thread.run.step.delta').flatMap((e) => e.data.delta.step_details.tool_calls)
    expect(stepDeltas.filter((c) => 'id' in c)).toEqual([
      { index: 0, id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '', output: null } },
      { index: 1, id: 'call_oslo', type: 'function', function: { name: 'get_weather', arguments: '', output: null } },
    ])
    const argsOf = (i: number) => stepDeltas.filter((c) => c.index === i).map((c) => c.function.arguments).join('')
    expect([argsOf(0), argsOf(1)]).toEqual(['{"city":"Paris"}', '{"city":"Oslo"}'])
    const run = first.at(-1)!.data
    expect(run).toMatchObject({ status: 'requires_action' })
    expect(run.required_action.submit_tool_outputs.tool_calls).toEqual([
      { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_oslo', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
    ])
    expect(t.upstream.lastChat()).toMatchObject({ tool_choice: 'auto', tools: [{ type: 'function', function: { name: 'get_weather' } }] })

    const second = await collectEvents(
      t.client.beta.threads.runs.submitToolOutputsStream(run.id, {
        thread_id: thread.id,
        tool_outputs: [
          { tool_call_id: 'call_paris', output: '21C' },
          { tool_call_id: 'call_oslo', output: '3C' },
        ],
      }),
    )
    expect(names(second)).toEqual(['thread.run.step.completed', 'thread.run.queued', ...TEXT_ANSWER_EVENTS])
    expect(deltaText(second)).toBe('Paris is warmer than Oslo.')
    const toolStep = second[0].data
    expect(toolStep.step_details.tool_calls.map((c: any) => [c.id, c.function.output])).toEqual([
      ['call_paris', '21C'],
      ['call_oslo', '3C'],
    ])
    // The second upstream call carries the calls and their results, as Chat Completions wants them.
    expect(t.upstream.chatRequests).toHaveLength(2)
    expect(t.upstream.lastChat().messages.slice(1)).toEqual([
      { role: 'user', content: 'Weather in Paris and Oslo?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_oslo', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_paris', content: '21C' },
      { role: 'tool', tool_call_id: 'call_oslo', content: '3C' },
    ])
  })

  it('sends parallel_tool_calls: false and a specific tool_choice through the SDK', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather?' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Lima"}', id: 'call_lima' }] })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, {
      assistant_id: assistantId,
      parallel_tool_calls: false,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      temperature: 0.2,
    })
    expect(run.status).toBe('requires_action')
    expect(t.upstream.lastChat()).toMatchObject({ parallel_tool_calls: false, tool_choice: { type: 'function', function: { name: 'get_weather' } }, temperature: 0.2 })
    await t.client.beta.threads.runs.cancel(run.id, { thread_id: thread.id })
  })

  it('retries an upstream 500 in the engine (the SDK itself does not retry), and fails 429s as rate_limit_exceeded', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    t.upstream.enqueue({ status: 500 }, { text: 'second time lucky' })
    const ok = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(ok.status).toBe('completed')
    expect(t.upstream.chatRequests).toHaveLength(2)

    t.upstream.reset()
    t.upstream.enqueue({ status: 429 }, { status: 429 }, { status: 429 })
    const limited = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId })
    expect(limited.status).toBe('failed')
    expect(limited.last_error).toMatchObject({ code: 'rate_limit_exceeded', message: expect.stringMatching(/429/) })
    expect(t.upstream.chatRequests).toHaveLength(3) // 1 + the engine's 2 retries
  })
})
