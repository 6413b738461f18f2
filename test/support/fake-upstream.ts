/**
 * A scripted OpenAI-compatible Chat Completions server on loopback: the only stand-in in the
 * tests. Each request takes the next script from the queue (or the default reply).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Script =
  | { text: string; chunks?: number; finishReason?: string; usage?: Usage | null; delayMs?: number; hangAfterChunks?: number; flushFirst?: boolean }
  | { toolCalls: { name: string; arguments: string; id?: string }[]; text?: string; textAfter?: string; usage?: Usage | null; finishReason?: string }
  | { status: number; message?: string }
  | { garbage: true }
  | { hang: true }
  | { breakAfterChunks: number; text: string }
  | { nonStreaming: { text?: string; toolCalls?: { name: string; arguments: string; id?: string }[] } }
  | { noFinishReason: string }
  | { refusal: string }

interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export interface RecordedRequest {
  path: string
  body: any
  headers: IncomingMessage['headers']
}

export class FakeUpstream {
  readonly requests: RecordedRequest[] = []
  private queue: Script[] = []
  private server: Server
  defaultScript: Script = { text: 'Hello from the fake upstream.' }
  /** Embeddings: deterministic vectors from a bag of hashed words. */
  embeddingDims = 64
  /** Embeddings requests get no answer while set (ingestion stays in progress). */
  embeddingsHang = false
  /** When set, embeddings requests are answered only once it resolves. */
  embeddingsGate: Promise<void> | null = null
  /** The next N embeddings requests fail with a 500 (retries). */
  embeddingFailures = 0
  url = ''

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res))
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`
    return this
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  enqueue(...scripts: Script[]): void {
    this.queue.push(...scripts)
  }

  reset(): void {
    this.queue = []
    this.requests.length = 0
  }

  get chatRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith('/chat/completions'))
  }

  lastChat(): any {
    return this.chatRequests.at(-1)?.body
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    let raw = ''
    for await (const chunk of req) raw += chunk
    const body = raw ? JSON.parse(raw) : {}
    this.requests.push({ path: req.url ?? '', body, headers: req.headers })
    if (req.url?.endsWith('/embeddings')) return this.embeddings(body, res)
    const script = this.queue.shift() ?? this.defaultScript
    if ('status' in script) {
      res.writeHead(script.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: script.message ?? `scripted ${script.status}`, type: 'server_error' } }))
      return
    }
    if ('hang' in script) return // never answer; the client's timeout or abort ends it
    if ('nonStreaming' in script) {
      const { text, toolCalls } = script.nonStreaming
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          id: 'chatcmpl-json',
          object: 'chat.completion',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: text ?? null,
                tool_calls: toolCalls?.map((c, i) => ({ id: c.id ?? `call_json_${i}`, type: 'function', function: { name: c.name, arguments: c.arguments } })),
              },
              finish_reason: toolCalls?.length ? 'tool_calls' : 'stop',
            },
          ],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
        }),
      )
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    const id = `chatcmpl-${this.requests.length}`
    const send = (delta: object, finish: string | null = null, usage: Usage | null = null) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`)
    if ('noFinishReason' in script) {
      send({ content: script.noFinishReason })
      res.end('data: [DONE]\n\n')
      return
    }
    if ('garbage' in script) {
      res.end('data: {this is not json\n\n')
      return
    }
    if ('breakAfterChunks' in script) {
      for (const piece of split(script.text, script.breakAfterChunks + 1).slice(0, script.breakAfterChunks)) send({ content: piece })
      // Let the chunks reach the client before the connection drops.
      await new Promise((r) => setTimeout(r, 50))
      res.socket?.destroy()
      return
    }
    send({ role: 'assistant', content: '' })
    if ('refusal' in script) {
      for (const piece of split(script.refusal, 3)) send({ content: null, refusal: piece })
      send({}, 'stop')
      this.finish(res, id, body, undefined)
      return
    }
    if ('toolCalls' in script) {
      if (script.text) send({ content: script.text })
      script.toolCalls.forEach((call, index) => {
        const callId = call.id ?? `call_fake${this.requests.length}_${index}`
        send({ tool_calls: [{ index, id: callId, type: 'function', function: { name: call.name, arguments: '' } }] })
        for (const piece of split(call.arguments, 3)) send({ tool_calls: [{ index, function: { arguments: piece } }] })
      })
      // Some models go on talking after their calls.
      if (script.textAfter) send({ content: script.textAfter })
      send({}, script.finishReason ?? 'tool_calls')
      this.finish(res, id, body, script.usage)
      return
    }
    const pieces = split(script.text, script.chunks ?? 4)
    for (const [i, piece] of pieces.entries()) {
      if (script.hangAfterChunks !== undefined && i >= script.hangAfterChunks) return // stall mid-stream
      if (script.delayMs) await new Promise((r) => setTimeout(r, script.delayMs))
      if (res.destroyed) return
      send({ content: piece })
      // Let the first token leave on its own, as a real model's does, before the burst.
      if (i === 0 && script.flushFirst) await new Promise((r) => setTimeout(r, 1))
    }
    send({}, script.finishReason ?? 'stop')
    this.finish(res, id, body, script.usage)
  }

  private finish(res: ServerResponse, id: string, body: any, usage: Usage | null | undefined) {
    if (usage !== null) {
      const u = usage ?? { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: body.model, choices: [], usage: u })}\n\n`)
    }
    res.end('data: [DONE]\n\n')
  }

  private async embeddings(body: any, res: ServerResponse) {
    if (this.embeddingsHang) return
    if (this.embeddingsGate) await this.embeddingsGate
    if (this.embeddingFailures > 0) {
      this.embeddingFailures--
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: 'scripted embeddings failure', type: 'server_error' } }))
      return
    }
    const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input]
    const data = inputs.map((text, index) => ({ object: 'embedding', index, embedding: embed(text, this.embeddingDims) }))
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: 1, total_tokens: 1 } }))
  }
}

function split(text: string, parts: number): string[] {
  if (!text) return []
  const size = Math.max(1, Math.ceil(text.length / parts))
  const out: string[] = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

/** A deterministic bag-of-words embedding: similar texts get similar vectors. */
export function embed(text: string, dims: number): number[] {
  const v = new Array<number>(dims).fill(0)
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let h = 2166136261
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619)
    v[Math.abs(h) % dims] += 1
  }
  const norm = Math.hypot(...v) || 1
  return v.map((x) => x / norm)
}
