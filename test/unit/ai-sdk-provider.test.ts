/**
 * The AI SDK provider (through `@ai-sdk/openai-compatible`) against the scripted fake upstream:
 * what it sends, how the SDK's stream parts come out as ours, and how failures are classified.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { AiSdkProvider } from '../../src/providers/ai-sdk.ts'
import { ProviderRegistry } from '../../src/providers/registry.ts'
import type { ChatRequest, StreamPart } from '../../src/providers/types.ts'
import { FakeUpstream } from '../support/fake-upstream.ts'

let upstream: FakeUpstream
let provider: AiSdkProvider
beforeAll(async () => {
  upstream = await new FakeUpstream().start()
  provider = new AiSdkProvider({ name: 'sdk', kind: 'ai-sdk-openai-compatible', baseURL: upstream.url, apiKey: 'k' }, 300)
})
beforeEach(() => upstream.reset())
afterAll(async () => upstream.stop())

const hello: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }] }

async function parts(request: ChatRequest = hello, signal = new AbortController().signal): Promise<StreamPart[]> {
  const out: StreamPart[] = []
  for await (const p of provider.stream(request, signal)) out.push(p)
  return out
}

const textOf = (p: StreamPart[]) => p.flatMap((x) => (x.type === 'text-delta' ? [x.text] : [])).join('')

describe('AI SDK provider (OpenAI-compatible upstream)', () => {
  it('streams text and finishes with the usage the upstream reported', async () => {
    upstream.enqueue({ text: 'Hello from the SDK path', chunks: 5, usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 } })
    const p = await parts()
    expect(textOf(p)).toBe('Hello from the SDK path')
    expect(p.at(-1)).toEqual({ type: 'finish', reason: 'stop', usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 } })
    expect(p.filter((x) => x.type === 'finish')).toHaveLength(1)
    expect(upstream.lastChat()).toMatchObject({ model: 'm', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })
    expect(upstream.requests.at(-1)!.headers.authorization).toBe('Bearer k')
  })

  it('merges tokens that arrive together but keeps tokens that arrive apart as separate deltas', async () => {
    upstream.enqueue({ text: 'abcd', chunks: 2, delayMs: 40 })
    expect((await parts()).filter((x) => x.type === 'text-delta')).toEqual([
      { type: 'text-delta', text: 'ab' },
      { type: 'text-delta', text: 'cd' },
    ])
    // 200 tokens written back to back: far fewer deltas than tokens, same text.
    upstream.enqueue({ text: 'x'.repeat(200), chunks: 200 })
    const burst = await parts()
    expect(textOf(burst)).toBe('x'.repeat(200))
    expect(burst.filter((x) => x.type === 'text-delta').length).toBeLessThan(50)
  })

  it('reports no usage when the upstream sends none, and maps length', async () => {
    upstream.enqueue({ text: 'cut off', finishReason: 'length', usage: null })
    expect((await parts()).at(-1)).toEqual({ type: 'finish', reason: 'length', usage: null })
  })

  it('turns parallel tool calls into start/delta parts with the model’s call ids', async () => {
    upstream.enqueue({
      toolCalls: [
        { name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_paris' },
        { name: 'get_time', arguments: '{"tz":"Europe/Rome"}', id: 'call_rome' },
      ],
    })
    const p = await parts({ ...hello, tools: [fn('get_weather'), fn('get_time')] })
    const starts = p.filter((x) => x.type === 'tool-call-start')
    expect(starts).toEqual([
      { type: 'tool-call-start', index: 0, id: 'call_paris', name: 'get_weather' },
      { type: 'tool-call-start', index: 1, id: 'call_rome', name: 'get_time' },
    ])
    const args = (i: number) => p.flatMap((x) => (x.type === 'tool-call-delta' && x.index === i ? [x.arguments] : [])).join('')
    expect(args(0)).toBe('{"city":"Paris"}')
    expect(args(1)).toBe('{"tz":"Europe/Rome"}')
    // Every delta comes after its call's start.
    for (const [i, x] of p.entries()) if (x.type === 'tool-call-delta') expect(p.findIndex((s) => s.type === 'tool-call-start' && s.index === x.index)).toBeLessThan(i)
    expect(p.at(-1)).toMatchObject({ type: 'finish', reason: 'tool_calls' })
  })

  it('sends history with tool calls and results, tools, tool_choice and sampling settings', async () => {
    upstream.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Lima"}' }] })
    await parts({
      model: 'm',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '21C' },
        { role: 'tool', tool_call_id: 'call_2', content: '3C' },
        { role: 'assistant', content: 'Paris is warmer.' },
        { role: 'user', content: 'and now?' },
      ],
      tools: [fn('get_weather')],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 50,
      reasoning_effort: 'low',
    })
    const body = upstream.lastChat()
    expect(body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '21C' },
      { role: 'tool', tool_call_id: 'call_2', content: '3C' },
      { role: 'assistant', content: 'Paris is warmer.' },
      { role: 'user', content: 'and now?' },
    ])
    expect(body.tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'get_weather tool', parameters: fn('get_weather').function.parameters } }])
    expect(body).toMatchObject({
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 50,
      reasoning_effort: 'low',
    })
  })

  it('puts provider-specific settings where the SDK reads them, whatever the provider is called', async () => {
    const lines: string[] = []
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
    for (const name of ['my-gateway', 'my.gateway', 'my_gateway']) {
      const named = new AiSdkProvider({ name, kind: 'ai-sdk-openai-compatible', baseURL: upstream.url }, 300, log)
      upstream.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Rome"}' }] })
      for await (const _ of named.stream({ ...hello, tools: [fn('get_weather')], parallel_tool_calls: false }, new AbortController().signal));
      expect(upstream.lastChat().parallel_tool_calls).toBe(false)
    }
    expect(lines).toEqual([]) // and no call warnings (e.g. about a deprecated options key)
  })

  it('passes response_format json_object and json_schema on', async () => {
    upstream.enqueue({ text: '{"a":1}' })
    await parts({ ...hello, response_format: { type: 'json_object' } })
    expect(upstream.lastChat().response_format).toEqual({ type: 'json_object' })

    const schema = { type: 'object', properties: { a: { type: 'number' } }, required: ['a'], additionalProperties: false }
    upstream.enqueue({ text: '{"a":1}' })
    const p = await parts({ ...hello, response_format: { type: 'json_schema', json_schema: { name: 'thing', schema, strict: true } } })
    expect(textOf(p)).toBe('{"a":1}')
    expect(upstream.lastChat().response_format).toEqual({ type: 'json_schema', json_schema: { name: 'thing', schema, strict: true } })
    // A reply that is not JSON is still the model's reply: Threadline does not validate it.
    upstream.enqueue({ text: 'not json' })
    expect((await parts({ ...hello, response_format: { type: 'json_object' } })).at(-1)).toMatchObject({ type: 'finish', reason: 'stop' })
  })

  it('classifies failures (the SDK does not retry: one request each)', async () => {
    upstream.enqueue({ status: 429, message: 'slow down' })
    await expect(parts()).rejects.toMatchObject({ kind: 'rate_limit', status: 429, retryable: true, message: expect.stringMatching(/429.*slow down/) })
    upstream.enqueue({ status: 500 })
    await expect(parts()).rejects.toMatchObject({ kind: 'server', status: 500, retryable: true })
    upstream.enqueue({ status: 404, message: 'no such model' })
    await expect(parts()).rejects.toMatchObject({ kind: 'invalid_request', retryable: false, message: expect.stringMatching(/no such model/) })
    upstream.enqueue({ garbage: true })
    await expect(parts()).rejects.toMatchObject({ kind: 'bad_response', retryable: true })
    expect(upstream.chatRequests).toHaveLength(4)
  })

  it('fails with a timeout when the upstream hangs, before or during the stream', async () => {
    upstream.enqueue({ hang: true })
    await expect(parts()).rejects.toMatchObject({ kind: 'timeout' })
    upstream.enqueue({ text: 'abcdef', chunks: 6, hangAfterChunks: 2 })
    await expect(parts()).rejects.toMatchObject({ kind: 'timeout' })
  })

  it('fails when the model ignores a forced tool_choice (the SDK checks it; the direct provider does not)', async () => {
    upstream.enqueue({ text: 'I would rather talk.' })
    await expect(parts({ ...hello, tools: [fn('get_weather')], tool_choice: 'required' })).rejects.toMatchObject({ kind: 'bad_response', message: expect.stringMatching(/tool_choice/) })
  })

  it('fails as a server error when the connection drops mid-stream', async () => {
    // A long idle timeout, so that a loaded machine cannot turn the drop into a timeout.
    const patient = new AiSdkProvider({ name: 'sdk', kind: 'ai-sdk-openai-compatible', baseURL: upstream.url }, 10_000)
    upstream.enqueue({ breakAfterChunks: 2, text: 'abcdefgh' })
    const out: StreamPart[] = []
    await expect(
      (async () => {
        for await (const p of patient.stream(hello, new AbortController().signal)) out.push(p)
      })(),
    ).rejects.toMatchObject({ kind: 'server', message: expect.stringMatching(/broke off/) })
    expect(textOf(out)).toBe('abcdef') // what arrived before the drop was passed on
  })

  it('rethrows the abort reason when the caller aborts', async () => {
    class Cancelled extends Error {}
    for (const script of [{ hang: true as const }, { text: 'abcdef', chunks: 6, hangAfterChunks: 2 }]) {
      upstream.enqueue(script)
      const controller = new AbortController()
      setTimeout(() => controller.abort(new Cancelled('cancelled')), 50)
      await expect(parts(hello, controller.signal)).rejects.toBeInstanceOf(Cancelled)
    }
  })
})

describe('native providers through the AI SDK: the requests they build', () => {
  // No network here to reach Anthropic or Google; the fake upstream records what would be sent
  // and answers 503, so these check the request mapping, not the parsing of real responses.
  const request: ChatRequest = {
    model: 'some-model',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris and Oslo?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '21C' },
      { role: 'tool', tool_call_id: 'call_2', content: '3C' },
    ],
    tools: [fn('get_weather')],
    tool_choice: 'auto',
    parallel_tool_calls: false,
    max_tokens: 100,
  }
  const send = async (kind: 'anthropic' | 'google') => {
    const native = new AiSdkProvider({ name: kind, kind, baseURL: upstream.url, apiKey: 'native-key' }, 2000)
    upstream.enqueue({ status: 503 })
    const out: StreamPart[] = []
    await expect(
      (async () => {
        for await (const p of native.stream(request, new AbortController().signal)) out.push(p)
      })(),
    ).rejects.toMatchObject({ kind: 'server', status: 503 })
    return upstream.requests.at(-1)!
  }

  it('anthropic: Messages API with system, tool_use / tool_result blocks and no parallel tool use', async () => {
    const sent = await send('anthropic')
    expect(sent.path).toBe('/v1/messages')
    expect(sent.headers['x-api-key']).toBe('native-key')
    expect(sent.body).toMatchObject({
      model: 'some-model',
      max_tokens: 100,
      stream: true,
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Oslo?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { city: 'Oslo' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: '21C' },
            { type: 'tool_result', tool_use_id: 'call_2', content: '3C' },
          ],
        },
      ],
      tools: [{ name: 'get_weather', description: 'get_weather tool', input_schema: fn('get_weather').function.parameters }],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    })
  })

  it('google: Gemini streamGenerateContent with functionCall / functionResponse parts', async () => {
    const sent = await send('google')
    expect(sent.path).toBe('/v1/models/some-model:streamGenerateContent?alt=sse')
    expect(sent.headers['x-goog-api-key']).toBe('native-key')
    expect(sent.body).toMatchObject({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      generationConfig: { maxOutputTokens: 100 },
      contents: [
        { role: 'user', parts: [{ text: 'Weather in Paris and Oslo?' }] },
        {
          role: 'model',
          parts: [
            { functionCall: { id: 'call_1', name: 'get_weather', args: { city: 'Paris' } } },
            { functionCall: { id: 'call_2', name: 'get_weather', args: { city: 'Oslo' } } },
          ],
        },
        {
          role: 'user',
          parts: [
            { functionResponse: { id: 'call_1', name: 'get_weather', response: { name: 'get_weather', content: '21C' } } },
            { functionResponse: { id: 'call_2', name: 'get_weather', response: { name: 'get_weather', content: '3C' } } },
          ],
        },
      ],
      tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'get_weather tool', parametersJsonSchema: fn('get_weather').function.parameters }] }],
      toolConfig: { functionCallingConfig: { mode: 'AUTO' } },
    })
  })
})

describe('provider config kind', () => {
  it('builds AI SDK providers when the config says so and keeps the direct one by default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tl-config-'))
    try {
      const file = join(dir, 'threadline.config.json')
      writeFileSync(
        file,
        JSON.stringify({
          providers: [
            { name: 'direct', baseURL: upstream.url },
            { name: 'sdk', kind: 'ai-sdk-openai-compatible', baseURL: upstream.url },
            { name: 'claude', kind: 'anthropic', apiKey: 'sk-ant-x' },
            { name: 'gemini', kind: 'google', apiKey: 'g-x' },
          ],
        }),
      )
      const config = loadConfig({ THREADLINE_CONFIG: file })
      expect(config.providers.map((p) => [p.name, p.kind, p.baseURL])).toEqual([
        ['direct', undefined, upstream.url],
        ['sdk', 'ai-sdk-openai-compatible', upstream.url],
        ['claude', 'anthropic', 'https://api.anthropic.com/v1'],
        ['gemini', 'google', 'https://generativelanguage.googleapis.com/v1beta'],
      ])
      const registry = new ProviderRegistry(config)
      const { provider: sdk, model } = registry.resolve('sdk/some-model')
      upstream.enqueue({ text: 'via the registry' })
      const out: StreamPart[] = []
      for await (const p of sdk.stream({ model, messages: [{ role: 'user', content: 'x' }] }, new AbortController().signal)) out.push(p)
      expect(textOf(out)).toBe('via the registry')
      expect(upstream.lastChat().model).toBe('some-model')

      writeFileSync(file, JSON.stringify({ providers: [{ name: 'nourl', kind: 'ai-sdk-openai-compatible' }] }))
      expect(() => loadConfig({ THREADLINE_CONFIG: file })).toThrow(/needs a baseURL/)
      writeFileSync(file, JSON.stringify({ providers: [{ name: 'x', kind: 'bedrock', baseURL: upstream.url }] }))
      expect(() => loadConfig({ THREADLINE_CONFIG: file })).toThrow(/Invalid config file/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

function fn(name: string) {
  return {
    type: 'function' as const,
    function: { name, description: `${name} tool`, parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  }
}
