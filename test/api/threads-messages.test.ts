import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestContext } from '../support/harness.ts'

let t: TestContext
let assistantId: string
beforeAll(async () => {
  t = await startTestServer()
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o' })).id
})
afterAll(async () => t?.close())

const notFound = async (p: Promise<unknown>, message: string) => {
  const err: any = await p.catch((e: unknown) => e)
  expect(err).toBeInstanceOf(OpenAI.NotFoundError)
  expect(err.error).toEqual({ message, type: 'invalid_request_error', param: null, code: null })
}

/** The list envelope as sent (the SDK's page object hides first_id/last_id). */
const rawList = async (path: string) => {
  const res = await fetch(`${t.baseURL}${path}`, { headers: { authorization: `Bearer ${t.apiKey}` } })
  expect(res.status).toBe(200)
  return res.json()
}

describe('threads', () => {
  it('creates an empty thread with OpenAI defaults', async () => {
    const thread = await t.client.beta.threads.create()
    expect(thread.id).toMatch(/^thread_[A-Za-z0-9]{20,}$/)
    expect(thread).toEqual({ id: thread.id, object: 'thread', created_at: expect.any(Number), metadata: {}, tool_resources: {} })
    expect(await t.client.beta.threads.retrieve(thread.id)).toEqual(thread)
    // A resource given without ids lists none (file_ids defaults to []).
    const bare = await t.client.beta.threads.create({ tool_resources: { code_interpreter: {} } })
    expect(bare.tool_resources).toEqual({ code_interpreter: { file_ids: [] } })
  })

  it('creates a thread with initial messages, tool_resources and metadata', async () => {
    const file = await t.client.files.create({ file: await toFile(Buffer.from('one'), 'one.txt'), purpose: 'assistants' })
    const store = await t.client.vectorStores.create({ name: 'thread store' })
    const tool_resources = { code_interpreter: { file_ids: [file.id] }, file_search: { vector_store_ids: [store.id] } }
    const thread = await t.client.beta.threads.create({
      messages: [
        { role: 'user', content: 'First question', metadata: { n: '1' } },
        { role: 'assistant', content: [{ type: 'text', text: 'An answer' }] },
        { role: 'user', content: 'Second question' },
      ],
      tool_resources,
      metadata: { user: 'u1' },
    })
    expect(thread).toMatchObject({ object: 'thread', metadata: { user: 'u1' }, tool_resources })
    const list = await t.client.beta.threads.messages.list(thread.id, { order: 'asc' })
    expect(list.data.map((m) => [m.role, (m.content[0] as any).text.value])).toEqual([
      ['user', 'First question'],
      ['assistant', 'An answer'],
      ['user', 'Second question'],
    ])
    expect(list.data[0].metadata).toEqual({ n: '1' })
    for (const m of list.data) {
      expect(m).toMatchObject({ object: 'thread.message', thread_id: thread.id, status: 'completed', assistant_id: null, run_id: null, completed_at: null })
    }
  })

  it('modify replaces metadata and tool_resources; retrieve sees it', async () => {
    const thread = await t.client.beta.threads.create({ metadata: { a: '1' } })
    const file = await t.client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'assistants' })
    const modified = await t.client.beta.threads.update(thread.id, {
      metadata: { b: '2' },
      tool_resources: { code_interpreter: { file_ids: [file.id] } },
    })
    expect(modified).toEqual({ ...thread, metadata: { b: '2' }, tool_resources: { code_interpreter: { file_ids: [file.id] } } })
    expect(await t.client.beta.threads.retrieve(thread.id)).toEqual(modified)
    expect(await t.client.beta.threads.update(thread.id, {})).toEqual(modified)
    const cleared = await t.client.beta.threads.update(thread.id, { metadata: null })
    expect(cleared.metadata).toEqual({})
  })

  it('delete removes the thread with its messages and runs', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    t.upstream.enqueue({ text: 'Hello!' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId }, { pollIntervalMs: 20 })
    expect(run.status).toBe('completed')
    const messages = (await t.client.beta.threads.messages.list(thread.id)).data
    expect(messages).toHaveLength(2)

    const deleted = await t.client.beta.threads.delete(thread.id)
    expect(deleted).toEqual({ id: thread.id, object: 'thread.deleted', deleted: true })
    await notFound(t.client.beta.threads.retrieve(thread.id), `No thread found with id '${thread.id}'.`)
    await notFound(t.client.beta.threads.messages.list(thread.id), `No thread found with id '${thread.id}'.`)
    await notFound(t.client.beta.threads.messages.retrieve(messages[0].id, { thread_id: thread.id }), `No message found with id '${messages[0].id}'.`)
    await notFound(t.client.beta.threads.runs.retrieve(run.id, { thread_id: thread.id }), expect.stringContaining(run.id) as never)
    // Nothing is left behind in the database either.
    const db = t.server.services.db
    const leftovers = await Promise.all(
      (['messages', 'runs', 'run_steps'] as const).map((table) => db.selectFrom(table).select('id').where('thread_id', '=', thread.id).execute()),
    )
    expect(leftovers.map((rows) => rows.length)).toEqual([0, 0, 0])
    await notFound(t.client.beta.threads.delete(thread.id), `No thread found with id '${thread.id}'.`)
  })
})

describe('messages', () => {
  it('creates a message from a string with every field of the wire object', async () => {
    const thread = await t.client.beta.threads.create()
    const before = Math.floor(Date.now() / 1000)
    const m = await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'Hello there', metadata: { k: 'v' } })
    expect(m.id).toMatch(/^msg_[A-Za-z0-9]{20,}$/)
    expect(m).toEqual({
      id: m.id,
      object: 'thread.message',
      created_at: expect.any(Number),
      thread_id: thread.id,
      status: 'completed',
      incomplete_details: null,
      // Only messages a run writes are stamped; OpenAI leaves completed_at null on these.
      completed_at: null,
      incomplete_at: null,
      role: 'user',
      content: [{ type: 'text', text: { value: 'Hello there', annotations: [] } }],
      assistant_id: null,
      run_id: null,
      attachments: [],
      metadata: { k: 'v' },
    })
    expect(m.created_at).toBeGreaterThanOrEqual(before)
    expect(await t.client.beta.threads.messages.retrieve(m.id, { thread_id: thread.id })).toEqual(m)
  })

  it('keeps any Unicode text exactly, in content and metadata', async () => {
    const thread = await t.client.beta.threads.create()
    const text = 'naïve café — 日本語 😀 \u200b "quotes" \\ backslash\nnew line'
    const m = await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: text, metadata: { 'ключ 🔑': text.slice(0, 40) } })
    const back = await t.client.beta.threads.messages.retrieve(m.id, { thread_id: thread.id })
    expect((back.content[0] as any).text.value).toBe(text)
    expect(back.metadata).toEqual({ 'ключ 🔑': text.slice(0, 40) })
  })

  it('stores arrays of text, image_file and image_url parts', async () => {
    const thread = await t.client.beta.threads.create()
    const m = await t.client.beta.threads.messages.create(thread.id, {
      role: 'user',
      content: [
        { type: 'text', text: 'Look at these' },
        { type: 'image_file', image_file: { file_id: 'file-img1', detail: 'high' } },
        { type: 'image_file', image_file: { file_id: 'file-img2' } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
        { type: 'image_url', image_url: { url: 'https://example.com/dog.png' } },
      ],
    })
    expect(m.content).toEqual([
      { type: 'text', text: { value: 'Look at these', annotations: [] } },
      { type: 'image_file', image_file: { file_id: 'file-img1', detail: 'high' } },
      { type: 'image_file', image_file: { file_id: 'file-img2', detail: 'auto' } },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
      { type: 'image_url', image_url: { url: 'https://example.com/dog.png', detail: 'auto' } },
    ])
    expect((await t.client.beta.threads.messages.retrieve(m.id, { thread_id: thread.id })).content).toEqual(m.content)
  })

  it('keeps attachments and the assistant role', async () => {
    const thread = await t.client.beta.threads.create()
    const attachments = [
      { file_id: 'file-a', tools: [{ type: 'code_interpreter' as const }] },
      { file_id: 'file-b', tools: [{ type: 'file_search' as const }, { type: 'code_interpreter' as const }] },
    ]
    const m = await t.client.beta.threads.messages.create(thread.id, { role: 'assistant', content: 'I made files', attachments })
    expect(m.role).toBe('assistant')
    expect(m.attachments).toEqual(attachments)
    expect((await t.client.beta.threads.messages.retrieve(m.id, { thread_id: thread.id })).attachments).toEqual(attachments)
    const nullAttachments = await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'x', attachments: null })
    expect(nullAttachments.attachments).toEqual([])
  })

  it("attachments add their files to the thread's tool_resources, per tool", async () => {
    const upload = async (name: string) => (await t.client.files.create({ file: await toFile(Buffer.from(name), name), purpose: 'assistants' })).id
    const [f1, f2, f3, f4, f5] = await Promise.all(['1.csv', '2.txt', '3.csv', '4.csv', '5.csv'].map(upload))
    const thread = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: 'data', attachments: [{ file_id: f1, tools: [{ type: 'code_interpreter' }] }] }],
    })
    expect(thread.tool_resources).toEqual({ code_interpreter: { file_ids: [f1] } })
    await t.client.beta.threads.messages.create(thread.id, {
      role: 'user',
      content: 'more',
      attachments: [
        { file_id: f2, tools: [{ type: 'code_interpreter' }, { type: 'file_search' }] },
        { file_id: f1, tools: [{ type: 'code_interpreter' }] },
        { file_id: 'file-unknown', tools: [{ type: 'code_interpreter' }] },
      ],
    })
    const after = (await t.client.beta.threads.retrieve(thread.id)).tool_resources!
    expect(after.code_interpreter).toEqual({ file_ids: [f1, f2] })
    expect(after.file_search!.vector_store_ids).toHaveLength(1)
    // Concurrent messages each add their file; none is lost.
    await Promise.all(
      [f3, f4, f5].map((id) => t.client.beta.threads.messages.create(thread.id, { role: 'user', content: id, attachments: [{ file_id: id, tools: [{ type: 'code_interpreter' }] }] })),
    )
    const files = (await t.client.beta.threads.retrieve(thread.id)).tool_resources!.code_interpreter!.file_ids!
    expect([...files].sort()).toEqual([f1, f2, f3, f4, f5].sort())
  })

  it('modify changes metadata only', async () => {
    const thread = await t.client.beta.threads.create()
    const m = await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'Hi', metadata: { a: '1' } })
    const modified = await t.client.beta.threads.messages.update(m.id, { thread_id: thread.id, metadata: { b: '2' } })
    expect(modified).toEqual({ ...m, metadata: { b: '2' } })
    expect(await t.client.beta.threads.messages.retrieve(m.id, { thread_id: thread.id })).toEqual(modified)
    const raw = await fetch(`${t.baseURL}/threads/${thread.id}/messages/${m.id}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'changed' }),
    })
    expect(raw.status).toBe(400)
    expect((await raw.json()).error.message).toBe('Unrecognized request argument supplied: content')
  })

  it('delete returns the deletion object and the message leaves the list', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'one' }, { role: 'user', content: 'two' }] })
    const [newest, oldest] = (await t.client.beta.threads.messages.list(thread.id)).data
    const deleted = await t.client.beta.threads.messages.delete(newest.id, { thread_id: thread.id })
    expect(deleted).toEqual({ id: newest.id, object: 'thread.message.deleted', deleted: true })
    expect((await t.client.beta.threads.messages.list(thread.id)).data.map((m) => m.id)).toEqual([oldest.id])
    await notFound(t.client.beta.threads.messages.retrieve(newest.id, { thread_id: thread.id }), `No message found with id '${newest.id}'.`)
    await notFound(t.client.beta.threads.messages.delete(newest.id, { thread_id: thread.id }), `No message found with id '${newest.id}'.`)
  })

  it('a message is only found under its own thread', async () => {
    const a = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'in a' }] })
    const b = await t.client.beta.threads.create()
    const [m] = (await t.client.beta.threads.messages.list(a.id)).data
    await notFound(t.client.beta.threads.messages.retrieve(m.id, { thread_id: b.id }), `No message found with id '${m.id}'.`)
    await notFound(t.client.beta.threads.messages.update(m.id, { thread_id: b.id, metadata: {} }), `No message found with id '${m.id}'.`)
    await notFound(t.client.beta.threads.messages.delete(m.id, { thread_id: b.id }), `No message found with id '${m.id}'.`)
    expect((await t.client.beta.threads.messages.retrieve(m.id, { thread_id: a.id })).id).toBe(m.id)
  })

  it('messages racing a thread delete get 200 or 404, never a 5xx', async () => {
    for (let round = 0; round < 5; round++) {
      const thread = await t.client.beta.threads.create()
      const post = () =>
        fetch(`${t.baseURL}/threads/${thread.id}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ role: 'user', content: 'racing' }),
        })
      const del = () => fetch(`${t.baseURL}/threads/${thread.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${t.apiKey}` } })
      const responses = await Promise.all([...Array.from({ length: 10 }, post), del(), ...Array.from({ length: 10 }, post)])
      const statuses = responses.map((r) => r.status)
      expect(statuses.every((s) => s === 200 || s === 404), statuses.join()).toBe(true)
      const leftovers = await t.server.services.db.selectFrom('messages').select('id').where('thread_id', '=', thread.id).execute()
      expect(leftovers).toEqual([])
    }
  })

  it('messages to an unknown thread are a 404', async () => {
    await notFound(t.client.beta.threads.messages.create('thread_nope', { role: 'user', content: 'x' }), "No thread found with id 'thread_nope'.")
  })

  it('lists filtered by run_id', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Question 1' }] })
    t.upstream.enqueue({ text: 'Answer 1' })
    const run1 = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId }, { pollIntervalMs: 20 })
    await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'Question 2' })
    t.upstream.enqueue({ text: 'Answer 2' })
    const run2 = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId }, { pollIntervalMs: 20 })
    expect([run1.status, run2.status]).toEqual(['completed', 'completed'])

    const all = await t.client.beta.threads.messages.list(thread.id, { order: 'asc' })
    expect(all.data.map((m) => (m.content[0] as any).text.value)).toEqual(['Question 1', 'Answer 1', 'Question 2', 'Answer 2'])
    // Only the run's answers carry completed_at.
    expect(all.data.map((m) => typeof m.completed_at)).toEqual(['object', 'number', 'object', 'number'])
    const only1 = await t.client.beta.threads.messages.list(thread.id, { run_id: run1.id })
    expect(only1.data.map((m) => [m.role, m.run_id, m.assistant_id, (m.content[0] as any).text.value])).toEqual([
      ['assistant', run1.id, assistantId, 'Answer 1'],
    ])
    const raw1 = await rawList(`/threads/${thread.id}/messages?run_id=${run1.id}`)
    expect(raw1).toMatchObject({ object: 'list', first_id: only1.data[0].id, last_id: only1.data[0].id, has_more: false })
    const only2 = await t.client.beta.threads.messages.list(thread.id, { run_id: run2.id })
    expect(only2.data.map((m) => (m.content[0] as any).text.value)).toEqual(['Answer 2'])
    expect(await rawList(`/threads/${thread.id}/messages?run_id=run_unknown`)).toEqual({
      object: 'list',
      data: [],
      first_id: null,
      last_id: null,
      has_more: false,
    })
  })
})
