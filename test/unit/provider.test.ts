import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OpenAICompatibleProvider } from '../../src/providers/openai-compatible.ts'
import { ProviderRegistry } from '../../src/providers/registry.ts'
import { ProviderError, type StreamPart } from '../../src/providers/types.ts'
import { loadConfig } from '../../src/config.ts'
import { FakeUpstream } from '../support/fake-upstream.ts'

let upstream: FakeUpstream
let provider: OpenAICompatibleProvider
beforeAll(async () => {
  upstream = await new FakeUpstream().start()
  provider = new OpenAICompatibleProvider({ name: 'fake', baseURL: upstream.url, apiKey: 'k' }, 300)
})
afterAll(async () => upstream.stop())

async function parts(): Promise<StreamPart[]> {
  const out: StreamPart[] = []
  for await (const p of provider.stream({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, new AbortController().signal)) out.push(p)
  return out
}

describe('OpenAI-compatible provider', () => {
  it('turns text chunks into text deltas and a finish with usage', async () => {
    upstream.enqueue({ text: 'abcd', chunks: 2, usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } })
    const p = await parts()
    // Tokens that arrive in one network chunk are merged; how many chunks arrive is up to TCP.
    expect(p.filter((x) => x.type === 'text-delta').map((x: any) => x.text).join('')).toBe('abcd')
    expect(p.at(-1)).toEqual({ type: 'finish', reason: 'stop', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } })
  })

  it('streams tokens that arrive apart as separate deltas', async () => {
    upstream.enqueue({ text: 'abcd', chunks: 2, delayMs: 30 })
    const p = await parts()
    expect(p.filter((x) => x.type === 'text-delta')).toEqual([
      { type: 'text-delta', text: 'ab' },
      { type: 'text-delta', text: 'cd' },
    ])
    expect(upstream.lastChat()).toMatchObject({ model: 'm', stream: true, stream_options: { include_usage: true } })
    expect(upstream.requests.at(-1)!.headers.authorization).toBe('Bearer k')
  })

  it('turns tool call chunks into start/delta parts', async () => {
    upstream.enqueue({ toolCalls: [{ name: 'f', arguments: '{"x":1}', id: 'call_9' }] })
    const p = await parts()
    expect(p[0]).toEqual({ type: 'tool-call-start', index: 0, id: 'call_9', name: 'f' })
    expect(p.filter((x) => x.type === 'tool-call-delta').map((x: any) => x.arguments).join('')).toBe('{"x":1}')
    expect(p.at(-1)).toMatchObject({ type: 'finish', reason: 'tool_calls' })
  })

  it('accepts an upstream that ignores stream: true and answers with one completion', async () => {
    upstream.enqueue({ nonStreaming: { text: 'whole answer' } })
    expect(await parts()).toEqual([
      { type: 'text-delta', text: 'whole answer' },
      { type: 'finish', reason: 'stop', usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } },
    ])
    upstream.enqueue({ nonStreaming: { toolCalls: [{ name: 'f', arguments: '{}', id: 'call_j' }] } })
    const p = await parts()
    expect(p[0]).toEqual({ type: 'tool-call-start', index: 0, id: 'call_j', name: 'f' })
    expect(p.at(-1)).toMatchObject({ type: 'finish', reason: 'tool_calls' })
  })

  it('takes a stream that ends with [DONE] but no finish_reason as finished', async () => {
    upstream.enqueue({ noFinishReason: 'short' })
    const p = await parts()
    expect(p.at(-1)).toEqual({ type: 'finish', reason: 'stop', usage: null })
  })

  it('classifies failures', async () => {
    upstream.enqueue({ status: 429 })
    await expect(parts()).rejects.toMatchObject({ kind: 'rate_limit', retryable: true })
    upstream.enqueue({ status: 404, message: 'no such model' })
    await expect(parts()).rejects.toMatchObject({ kind: 'invalid_request', retryable: false, message: expect.stringMatching(/no such model/) })
    upstream.enqueue({ garbage: true })
    await expect(parts()).rejects.toBeInstanceOf(ProviderError)
    upstream.enqueue({ hang: true })
    await expect(parts()).rejects.toMatchObject({ kind: 'timeout' })
  })
})

describe('provider registry', () => {
  it('routes provider/model prefixes and falls back to the default', () => {
    const config = loadConfig({}, {
      providers: [
        { name: 'a', baseURL: 'http://127.0.0.1:1/v1' },
        { name: 'b', baseURL: 'http://127.0.0.1:2/v1' },
      ],
      defaultProvider: 'a',
    })
    const reg = new ProviderRegistry(config)
    expect(reg.resolve('b/llama-3')).toMatchObject({ model: 'llama-3', provider: { name: 'b' } })
    expect(reg.resolve('gpt-4o')).toMatchObject({ model: 'gpt-4o', provider: { name: 'a' } })
    expect(reg.resolve('org/model')).toMatchObject({ model: 'org/model', provider: { name: 'a' } })
    expect(() => new ProviderRegistry(loadConfig({}, { providers: [], defaultProvider: null })).resolve('x')).toThrow(/THREADLINE_UPSTREAM_BASE_URL/)
  })
})
