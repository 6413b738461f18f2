import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { assertValidEvent, names } from '../support/stream.ts'

let t: TestContext
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(async () => t?.close())

describe('smoke', () => {
  it('creates an assistant and streams a run', async () => {
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', name: 'Smoke', instructions: 'Be brief.' })
    expect(assistant.id).toMatch(/^asst_/)
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    t.upstream.enqueue({ text: 'Hello there, friend.' })
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id })
    const events: { event: string; data: unknown }[] = []
    for await (const e of stream) {
      assertValidEvent(e)
      events.push(e)
    }
    expect(names(events)).toEqual([
      'thread.run.created',
      'thread.run.queued',
      'thread.run.in_progress',
      'thread.run.step.created',
      'thread.run.step.in_progress',
      'thread.message.created',
      'thread.message.in_progress',
      'thread.message.delta',
      'thread.message.delta',
      'thread.message.delta',
      'thread.message.delta',
      'thread.message.completed',
      'thread.run.step.completed',
      'thread.run.completed',
    ])
    const messages = await t.client.beta.threads.messages.list(thread.id)
    expect(messages.data[0].content[0]).toMatchObject({ type: 'text', text: { value: 'Hello there, friend.' } })
    expect(t.upstream.lastChat().messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ])
  })
})
