/**
 * A sweep of malformed requests over raw HTTP: each must get the OpenAI error body with the right
 * status, type, param and code — never a 5xx — and none may leave a partial write behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, TEST_KEYS, type TestContext } from '../support/harness.ts'

let t: TestContext
let small: TestContext
let assistantId: string
let threadId: string
let messageId: string
beforeAll(async () => {
  ;[t, small] = await Promise.all([startTestServer(), startTestServer({ maxBodyBytes: 1024 })])
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o' })).id
  threadId = (await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'hi' }] })).id
  messageId = (await t.client.beta.threads.messages.list(threadId)).data[0].id
})
afterAll(async () => Promise.all([t?.close(), small?.close()]))

interface Case {
  name: string
  method?: string
  path: string | (() => string)
  /** A raw string is sent as is; anything else is JSON-encoded. */
  body?: unknown
  headers?: Record<string, string>
  status: number
  param?: string | null
  code?: string | null
  message?: string | RegExp
}

const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : { a: nested(depth - 1) })
const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']))
const JSON_ERROR = /^We could not parse the JSON body of your request\./

const CASES: Case[] = [
  // Body syntax and shape
  { name: 'malformed JSON', method: 'POST', path: '/assistants', body: '{"model": "gpt-4o",', status: 400, param: null, code: null, message: JSON_ERROR },
  { name: 'JSON with trailing garbage', method: 'POST', path: '/threads', body: '{} x', status: 400, param: null, message: JSON_ERROR },
  { name: 'a JSON array body', method: 'POST', path: '/assistants', body: '[1,2]', status: 400, param: null, code: 'invalid_type', message: "Invalid type for 'body': expected an object, but got an array instead." },
  { name: 'a JSON string body', method: 'POST', path: '/threads', body: '"hello"', status: 400, param: null, code: 'invalid_type' },
  { name: 'a JSON null body', method: 'POST', path: '/threads', body: 'null', status: 400, param: null, code: 'invalid_type' },
  { name: 'NUL in a string', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', name: 'a\u0000b' }, status: 400, param: 'name', code: 'invalid_value' },
  { name: 'NUL in a metadata key', method: 'POST', path: '/threads', body: { metadata: { 'k\u0000': 'v' } }, status: 400, param: 'metadata.k\u0000', code: 'invalid_value' },
  { name: 'NUL in message content', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user', content: 'x\u0000' }, status: 400, param: 'content', code: 'invalid_value' },
  { name: 'an unpaired surrogate in metadata', method: 'POST', path: '/threads', body: '{"metadata":{"k":"a\\ud800b"}}', status: 400, param: 'metadata.k', code: 'invalid_value' },
  { name: 'an unpaired surrogate in content', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user', content: [{ type: 'text', text: 'x\udc00' }] }, status: 400, param: 'content[0].text', code: 'invalid_value' },
  { name: 'a surrogate pair (emoji) is fine', method: 'POST', path: '/assistants/asst_unknown', body: { name: 'ok \ud83d\ude00' }, status: 404 },
  { name: 'a __proto__ metadata key', method: 'POST', path: '/threads', body: '{"metadata":{"__proto__":{"polluted":"yes"}}}', status: 400, param: 'metadata.__proto__', code: 'invalid_value' },
  { name: 'absurdly nested JSON', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', tools: [{ type: 'function', function: { name: 'f', parameters: nested(500) } }] }, status: 400, code: 'invalid_value' },

  // Unknown fields
  { name: 'one unknown field', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', colour: 'red' }, status: 400, param: null, code: null, message: 'Unrecognized request argument supplied: colour' },
  { name: 'two unknown fields', method: 'POST', path: '/threads', body: { foo: 1, bar: 2 }, status: 400, param: null, code: null, message: 'Unrecognized request arguments supplied: foo, bar' },
  { name: 'an unknown nested field', method: 'POST', path: '/threads', body: { messages: [{ role: 'user', content: 'x', colour: 'red' }] }, status: 400, param: 'messages[0].colour', code: 'unknown_parameter', message: "Unknown parameter: 'messages[0].colour'." },
  { name: 'the vector_stores helper on an assistant modify (create only)', method: 'POST', path: () => `/assistants/${assistantId}`, body: { tool_resources: { file_search: { vector_stores: [{}] } } }, status: 400, param: 'tool_resources.file_search.vector_stores', code: 'unknown_parameter', message: "Unknown parameter: 'tool_resources.file_search.vector_stores'." },
  { name: 'the vector_stores helper on a thread modify (create only)', method: 'POST', path: () => `/threads/${threadId}`, body: { tool_resources: { file_search: { vector_stores: [{}] } } }, status: 400, param: 'tool_resources.file_search.vector_stores', code: 'unknown_parameter' },
  { name: 'v1-only assistant field', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', file_ids: [] }, status: 400, param: null, message: 'Unrecognized request argument supplied: file_ids' },
  { name: 'an unknown query parameter', path: '/assistants?colour=red', status: 400, param: null, message: 'Unrecognized request argument supplied: colour' },

  // Missing required fields
  { name: 'assistant without model', method: 'POST', path: '/assistants', body: { name: 'x' }, status: 400, param: 'model', code: 'missing_required_parameter', message: "Missing required parameter: 'model'." },
  { name: 'assistant with an empty body', method: 'POST', path: '/assistants', status: 400, param: 'model', code: 'missing_required_parameter' },
  { name: 'message without role', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { content: 'x' }, status: 400, param: 'role', code: 'missing_required_parameter' },
  { name: 'message without content', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user' }, status: 400, param: 'content', code: 'missing_required_parameter' },
  { name: 'text part without text', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user', content: [{ type: 'text' }] }, status: 400, param: 'content[0].text', code: 'missing_required_parameter' },
  { name: 'image_file without file_id', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user', content: [{ type: 'image_file', image_file: {} }] }, status: 400, param: 'content[0].image_file.file_id', code: 'missing_required_parameter' },
  { name: 'tool without type', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', tools: [{}] }, status: 400, param: 'tools[0].type', code: 'missing_required_parameter' },
  { name: 'function tool without function', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', tools: [{ type: 'function' }] }, status: 400, param: 'tools[0].function', code: 'missing_required_parameter' },

  // Wrong types
  { name: 'model as a number', method: 'POST', path: '/assistants', body: { model: 4 }, status: 400, param: 'model', code: 'invalid_type', message: "Invalid type for 'model': expected a string, but got an integer instead." },
  { name: 'temperature as a string', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', temperature: 'hot' }, status: 400, param: 'temperature', code: 'invalid_type', message: "Invalid type for 'temperature': expected a decimal, but got a string instead." },
  { name: 'tools as a string', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', tools: 'all' }, status: 400, param: 'tools', code: 'invalid_type', message: "Invalid type for 'tools': expected an array of objects, but got a string instead." },
  { name: 'metadata as an array', method: 'POST', path: '/threads', body: { metadata: ['a'] }, status: 400, param: 'metadata', code: 'invalid_type' },
  { name: 'a metadata value as a number', method: 'POST', path: '/threads', body: { metadata: { k: 1 } }, status: 400, param: 'metadata.k', code: 'invalid_type', message: "Invalid type for 'metadata.k': expected a string, but got an integer instead." },
  { name: 'messages as an object', method: 'POST', path: '/threads', body: { messages: { role: 'user' } }, status: 400, param: 'messages', code: 'invalid_type' },
  { name: 'content as a number', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user', content: 5 }, status: 400, param: 'content', code: 'invalid_type', message: "Invalid type for 'content': expected one of a string or array of objects, but got an integer instead." },
  { name: 'attachments as a string', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user', content: 'x', attachments: 'file-1' }, status: 400, param: 'attachments', code: 'invalid_type' },

  // Bad values
  { name: 'an unknown role', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'system', content: 'x' }, status: 400, param: 'role', code: 'invalid_value', message: "Invalid value: 'system'. Supported values are: 'user' and 'assistant'." },
  { name: 'an unknown content part type', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user', content: [{ type: 'audio' }] }, status: 400, param: 'content[0].type', code: 'invalid_value' },
  { name: 'an image_url that is no URL', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user', content: [{ type: 'image_url', image_url: { url: 'not a url' } }] }, status: 400, param: 'content[0].image_url.url', code: 'invalid_value' },
  { name: 'an empty content array', method: 'POST', path: () => `/threads/${threadId}/messages`, body: { role: 'user', content: [] }, status: 400, param: 'content', code: 'empty_array' },
  { name: 'an unknown tool type', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', tools: [{ type: 'browser' }] }, status: 400, param: 'tools[0].type', code: 'invalid_value', message: "Invalid value: 'browser'. Supported values are: 'code_interpreter', 'file_search', and 'function'." },
  { name: 'temperature above 2', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', temperature: 2.1 }, status: 400, param: 'temperature', code: 'decimal_above_max_value', message: "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.1 instead." },
  { name: 'an empty model', method: 'POST', path: '/assistants', body: { model: '' }, status: 400, param: 'model', code: 'empty_string' },
  { name: 'two vector stores on a thread', method: 'POST', path: '/threads', body: { tool_resources: { file_search: { vector_store_ids: ['vs_1', 'vs_2'] } } }, status: 400, param: 'tool_resources.file_search.vector_store_ids', code: 'array_above_max_length' },
  { name: '21 code_interpreter files', method: 'POST', path: '/threads', body: { tool_resources: { code_interpreter: { file_ids: Array.from({ length: 21 }, (_, i) => `file-${i}`) } } }, status: 400, param: 'tool_resources.code_interpreter.file_ids', code: 'array_above_max_length' },

  // Metadata limits
  { name: 'metadata with 17 keys', method: 'POST', path: '/assistants', body: { model: 'gpt-4o', metadata: many(17) }, status: 400, param: 'metadata', code: 'object_above_max_properties', message: "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with 17 properties instead." },
  { name: 'a 65-character metadata key', method: 'POST', path: '/threads', body: { metadata: { ['k'.repeat(65)]: 'v' } }, status: 400, param: `metadata.${'k'.repeat(65)}`, code: 'property_name_above_max_length', message: `Invalid property name in 'metadata': '${'k'.repeat(65)}' is too long. Expected a string with maximum length 64, but got a string with length 65 instead.` },
  { name: 'a 513-character metadata value', method: 'POST', path: () => `/threads/${threadId}/messages/${messageId}`, body: { metadata: { k: 'v'.repeat(513) } }, status: 400, param: 'metadata.k', code: 'string_above_max_length', message: "Invalid 'metadata.k': string too long. Expected a string with maximum length 512, but got a string with length 513 instead." },
  { name: 'metadata over the limit on a thread modify', method: 'POST', path: () => `/threads/${threadId}`, body: { metadata: many(17) }, status: 400, param: 'metadata', code: 'object_above_max_properties' },

  // List parameters
  { name: 'limit 0', path: '/assistants?limit=0', status: 400, param: 'limit', code: 'integer_below_min_value', message: "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 instead." },
  { name: 'limit 101', path: () => `/threads/${threadId}/messages?limit=101`, status: 400, param: 'limit', code: 'integer_above_max_value', message: "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 instead." },
  { name: 'limit abc', path: '/assistants?limit=abc', status: 400, param: 'limit', code: 'invalid_type', message: "Invalid type for 'limit': expected an integer, but got a string instead." },
  { name: 'limit 2.5', path: '/assistants?limit=2.5', status: 400, param: 'limit', code: 'invalid_type' },
  { name: 'order sideways', path: () => `/threads/${threadId}/messages?order=sideways`, status: 400, param: 'order', code: 'invalid_value', message: "Invalid value: 'sideways'. Supported values are: 'asc' and 'desc'." },
  { name: 'an unknown after cursor', path: '/assistants?after=asst_nope', status: 400, param: 'after', code: 'invalid_value' },
  { name: 'an unknown before cursor', path: () => `/threads/${threadId}/messages?before=msg_nope`, status: 400, param: 'before', code: 'invalid_value' },
  { name: 'an empty after cursor', path: '/assistants?after=', status: 400, param: 'after', code: 'empty_string' },
  { name: 'NUL in a cursor', path: '/assistants?after=asst_%00', status: 400, param: 'after', code: 'invalid_value' },

  // Unknown ids and malformed ids
  { name: 'an unknown assistant', path: '/assistants/asst_unknown', status: 404, param: null, code: null, message: "No assistant found with id 'asst_unknown'." },
  { name: 'modify an unknown assistant', method: 'POST', path: '/assistants/asst_unknown', body: { name: 'x' }, status: 404, message: "No assistant found with id 'asst_unknown'." },
  { name: 'delete an unknown assistant', method: 'DELETE', path: '/assistants/asst_unknown', status: 404, message: "No assistant found with id 'asst_unknown'." },
  { name: 'an unknown thread', path: '/threads/thread_unknown', status: 404, param: null, code: null, message: "No thread found with id 'thread_unknown'." },
  { name: 'messages of an unknown thread', path: '/threads/thread_unknown/messages', status: 404, message: "No thread found with id 'thread_unknown'." },
  { name: 'an unknown message', path: () => `/threads/${threadId}/messages/msg_unknown`, status: 404, message: "No message found with id 'msg_unknown'." },
  { name: 'a thread id without the thread prefix', path: '/threads/abc123', status: 400, param: 'thread_id', code: 'invalid_value', message: "Invalid 'thread_id': 'abc123'. Expected an ID that begins with 'thread'." },
  { name: "an assistant's id as a thread id", method: 'POST', path: () => `/threads/${assistantId}/messages`, body: { role: 'user', content: 'x' }, status: 400, param: 'thread_id' },
  { name: 'NUL in a path id', path: '/assistants/asst_%00', status: 400, param: 'assistant_id', code: 'invalid_value' },

  // Routing
  { name: 'an unknown route', path: '/nothing-here', status: 404, param: null, code: null, message: 'Invalid URL (GET /v1/nothing-here)' },
  { name: 'an unknown nested route', method: 'POST', path: () => `/threads/${threadId}/messages/${messageId}/reactions`, body: {}, status: 404 },
  { name: 'a trailing slash', path: '/assistants/', status: 404, param: null, code: null, message: 'Invalid URL (GET /v1/assistants/)' },
  { name: 'a trailing slash on a nested route', method: 'POST', path: () => `/threads/${threadId}/messages/`, body: { role: 'user', content: 'x' }, status: 404 },
  { name: 'an empty id segment', path: '/threads//messages', status: 404 },
  { name: 'PUT on assistants', method: 'PUT', path: '/assistants', body: {}, status: 405, code: 'method_not_allowed' },
  { name: 'DELETE on the message list', method: 'DELETE', path: () => `/threads/${threadId}/messages`, status: 405, code: 'method_not_allowed' },
  { name: 'PATCH on a thread', method: 'PATCH', path: () => `/threads/${threadId}`, body: {}, status: 405, code: 'method_not_allowed' },

  // Auth
  { name: 'no key', path: '/assistants', headers: { authorization: '' }, status: 401, param: null, code: null, message: /^You didn't provide an API key/ },
  { name: 'a wrong key', path: '/assistants', headers: { authorization: 'Bearer sk-not-a-real-key' }, status: 401, code: 'invalid_api_key', message: /^Incorrect API key provided/ },
  { name: 'a v1 beta header', path: '/assistants', headers: { 'openai-beta': 'assistants=v1' }, status: 400, code: 'invalid_beta' },
]

async function send(base: string, c: Case): Promise<Response> {
  const path = typeof c.path === 'function' ? c.path() : c.path
  const headers: Record<string, string> = { authorization: `Bearer ${TEST_KEYS.a}`, 'openai-beta': 'assistants=v2', ...c.headers }
  let body: string | undefined
  if (c.body !== undefined) {
    body = typeof c.body === 'string' ? c.body : JSON.stringify(c.body)
    headers['content-type'] = 'application/json'
  }
  if (headers.authorization === '') delete headers.authorization
  return fetch(`${base}${path}`, { method: c.method ?? 'GET', headers, body })
}

async function count(path: string): Promise<number> {
  let n = 0
  let after = ''
  for (;;) {
    const res = await fetch(`${t.baseURL}${path}?limit=100${after}`, { headers: { authorization: `Bearer ${TEST_KEYS.a}` } })
    const page = await res.json()
    n += page.data.length
    if (!page.has_more) return n
    after = `&after=${page.last_id}`
  }
}

/** Threads have no list endpoint in the API; count them in the store. */
async function countThreads(): Promise<number> {
  const rows = await t.server.services.db.selectFrom('threads').select('id').execute()
  return rows.length
}

describe('bad-input sweep', () => {
  it('every malformed request gets its OpenAI error and nothing is written', async () => {
    const before = { assistants: await count('/assistants'), threads: await countThreads(), messages: await count(`/threads/${threadId}/messages`) }
    const failures: string[] = []
    for (const c of CASES) {
      const res = await send(t.baseURL, c)
      const text = await res.text()
      let body: any
      try {
        body = JSON.parse(text)
      } catch {
        failures.push(`${c.name}: not JSON: ${text.slice(0, 100)}`)
        continue
      }
      const got = body?.error
      const problems: string[] = []
      if (res.status !== c.status) problems.push(`status ${res.status} != ${c.status}`)
      if (!res.headers.get('content-type')?.startsWith('application/json')) problems.push('content-type')
      if (!got || Object.keys(got).sort().join() !== 'code,message,param,type') problems.push(`body shape ${text.slice(0, 200)}`)
      else {
        if (got.type !== 'invalid_request_error') problems.push(`type ${got.type}`)
        if (c.param !== undefined && got.param !== c.param) problems.push(`param ${got.param} != ${c.param}`)
        if (c.code !== undefined && got.code !== c.code) problems.push(`code ${got.code} != ${c.code}`)
        if (typeof c.message === 'string' && got.message !== c.message) problems.push(`message "${got.message}"`)
        if (c.message instanceof RegExp && !c.message.test(got.message)) problems.push(`message "${got.message}"`)
      }
      if (problems.length) failures.push(`${c.name}: ${problems.join('; ')} (${got?.message})`)
    }
    expect(failures).toEqual([])

    const after = { assistants: await count('/assistants'), threads: await countThreads(), messages: await count(`/threads/${threadId}/messages`) }
    expect(after).toEqual(before)
    expect((await t.client.beta.threads.messages.retrieve(messageId, { thread_id: threadId })).metadata).toEqual({})
  })

  it('a thread whose last initial message is bad creates no thread and no messages', async () => {
    const threads = await countThreads()
    const messages = (await t.server.services.db.selectFrom('messages').select('id').execute()).length
    for (const bad of [{ role: 'user', content: 7 }, { role: 'user', content: 'x', metadata: many(17) }, { role: 'user', content: 'nul\u0000' }]) {
      const res = await send(t.baseURL, { name: 'thread', method: 'POST', path: '/threads', body: { messages: [{ role: 'user', content: 'fine' }, bad] }, status: 400 })
      expect(res.status).toBe(400)
      expect((await res.json()).error.param).toMatch(/^messages\[1\]/)
    }
    expect(await countThreads()).toBe(threads)
    expect((await t.server.services.db.selectFrom('messages').select('id').execute()).length).toBe(messages)
  })

  it('a failed modify leaves the object unchanged', async () => {
    const a = await t.client.beta.assistants.create({ model: 'gpt-4o', name: 'keep', metadata: { a: '1' } })
    const res = await send(t.baseURL, { name: 'modify', method: 'POST', path: `/assistants/${a.id}`, body: { name: 'changed', temperature: 9 }, status: 400 })
    expect(res.status).toBe(400)
    expect(await t.client.beta.assistants.retrieve(a.id)).toEqual(a)
  })

  it('bodies over the size limit get 413, and smaller ones still work', async () => {
    const big = { model: 'gpt-4o', instructions: 'x'.repeat(4096) }
    const res = await send(small.baseURL, { name: 'big', method: 'POST', path: '/assistants', body: big, status: 413 })
    expect(res.status).toBe(413)
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' })
    // Without a content-length (chunked), the limit still holds.
    const chunked = await fetch(`${small.baseURL}/assistants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.a}`, 'content-type': 'application/json' },
      body: new Blob([JSON.stringify(big)]).stream(),
      duplex: 'half',
    } as RequestInit)
    expect(chunked.status).toBe(413)
    expect((await small.client.beta.assistants.list()).data).toEqual([])
    const ok = await small.client.beta.assistants.create({ model: 'gpt-4o', instructions: 'short' })
    expect(ok.instructions).toBe('short')
  })

  it('405 names the allowed methods in the Allow header', async () => {
    const res = await send(t.baseURL, { name: 'put', method: 'PUT', path: `/threads/${threadId}`, body: {}, status: 405 })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, POST, DELETE')
  })

  it('the server still serves normally after the sweep', async () => {
    expect((await fetch(`${t.server.url}/health`)).status).toBe(200)
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'still alive' }] })
    const list = await t.client.beta.threads.messages.list(thread.id)
    expect((list.data[0].content[0] as any).text.value).toBe('still alive')
    expect((await t.client.beta.assistants.retrieve(assistantId)).id).toBe(assistantId)
  })
})
