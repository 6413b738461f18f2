import OpenAI, { APIError, toFile } from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTestServer, TEST_KEYS, type TestContext } from '../support/harness.ts'

// OpenAI's format: `req_` and 32 lowercase hex digits.
const REQUEST_ID = /^req_[0-9a-f]{32}$/

let t: TestContext
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

describe('x-request-id', () => {
  it('is on every JSON result, one fresh id per request, as the SDK reads it', async () => {
    const created = await t.client.beta.assistants.create({ model: 'gpt-4o' })
    expect(created._request_id).toMatch(REQUEST_ID)
    const { data, response, request_id } = await t.client.beta.assistants.retrieve(created.id).withResponse()
    expect(request_id).toMatch(REQUEST_ID)
    expect(response.headers.get('x-request-id')).toBe(request_id)
    expect(data.id).toBe(created.id)
    expect(request_id).not.toBe(created._request_id)
    expect((await t.client.beta.assistants.list().withResponse()).request_id).toMatch(REQUEST_ID)
    const deleted = await t.client.beta.assistants.delete(created.id)
    expect(deleted._request_id).toMatch(REQUEST_ID)
  })

  it('is on errors: 404 for an unknown object, 400 from validation, 401, and unknown routes', async () => {
    const notFound = await t.client.beta.assistants.retrieve('asst_doesnotexist').catch((e: unknown) => e)
    expect(notFound).toBeInstanceOf(OpenAI.NotFoundError)
    expect((notFound as APIError).requestID).toMatch(REQUEST_ID)

    const bad = await t.client.beta.assistants.create({ model: 'gpt-4o', temperature: 5 }).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError)
    expect((bad as APIError).requestID).toMatch(REQUEST_ID)

    const unauthorized = await t.clientFor('sk-not-a-key').beta.assistants.list().catch((e: unknown) => e)
    expect(unauthorized).toBeInstanceOf(OpenAI.AuthenticationError)
    expect((unauthorized as APIError).requestID).toMatch(REQUEST_ID)

    // Outside the SDK: an unknown path (404), a wrong method (405) and the health check.
    for (const [method, path] of [
      ['GET', '/v1/nope'],
      ['PUT', '/v1/assistants'],
    ] as const) {
      const res = await fetch(`${t.baseURL.replace(/\/v1$/, '')}${path}`, { method, headers: { authorization: `Bearer ${TEST_KEYS.a}` } })
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(res.headers.get('x-request-id')).toMatch(REQUEST_ID)
      await res.text()
    }
    const health = await fetch(`${t.baseURL.replace(/\/v1$/, '')}/health`)
    expect(health.status).toBe(200)
    expect(health.headers.get('x-request-id')).toMatch(REQUEST_ID)
    await health.text()
  })

  it('is on file uploads and binary file content', async () => {
    const file = await t.client.files.create({ file: await toFile(Buffer.from('hello'), 'hello.txt'), purpose: 'assistants' })
    expect(file._request_id).toMatch(REQUEST_ID)
    const content = await t.client.files.content(file.id)
    expect(content.headers.get('x-request-id')).toMatch(REQUEST_ID)
    expect(await content.text()).toBe('hello')
  })

  it('is on streamed runs (createAndRun and run create), in the SSE response headers', async () => {
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o' })
    t.upstream.enqueue({ text: 'One.' }, { text: 'Two.' })

    const first = await t.client.beta.threads.createAndRun({ assistant_id: assistant.id, stream: true }).withResponse()
    expect(first.response.headers.get('content-type')).toContain('text/event-stream')
    expect(first.request_id).toMatch(REQUEST_ID)
    const events: string[] = []
    let threadId = ''
    for await (const e of first.data) {
      events.push(e.event)
      if (e.event === 'thread.created') threadId = e.data.id
    }
    expect(events.at(-1)).toBe('thread.run.completed')

    const second = await t.client.beta.threads.runs.create(threadId, { assistant_id: assistant.id, stream: true }).withResponse()
    expect(second.response.headers.get('x-request-id')).toMatch(REQUEST_ID)
    expect(second.request_id).not.toBe(first.request_id)
    const more: string[] = []
    for await (const e of second.data) more.push(e.event)
    expect(more.at(-1)).toBe('thread.run.completed')

    // Resuming a run's stream (the `/events` extension) is an SSE response too.
    const runId = (await t.client.beta.threads.runs.list(threadId, { limit: 1 })).data[0].id
    const resumed = await fetch(`${t.baseURL}/threads/${threadId}/runs/${runId}/events`, { headers: { authorization: `Bearer ${TEST_KEYS.a}` } })
    expect(resumed.headers.get('content-type')).toContain('text/event-stream')
    expect(resumed.headers.get('x-request-id')).toMatch(REQUEST_ID)
    expect(await resumed.text()).toContain('data: [DONE]')
  })
})
