/**
 * The official SDK's own usage patterns replayed against the real server: its generated
 * api-resources tests (each method with only the required params and with every param, through
 * `asResponse()` / `withResponse()`), the Assistants examples (raw `stream: true` iteration, the
 * AssistantStream helpers and their events, polling helpers) and the stream-to-client pattern
 * (`toReadableStream()` → `AssistantStream.fromReadableStream()`). Only the model is scripted.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import OpenAI, { toFile } from 'openai'
import { AssistantStream } from 'openai/lib/AssistantStream'
import type { AssistantStreamEvent } from 'openai/resources/beta/assistants'
import { startTestServer, type TestContext } from '../support/harness.ts'

let t: TestContext
let assistantId: string
beforeAll(async () => {
  t = await startTestServer()
  assistantId = (await t.client.beta.assistants.create({ model: 'gpt-4o', instructions: 'You are a math tutor.' })).id
})
afterAll(async () => t?.close())
beforeEach(() => t.upstream.reset())

const poll = { pollIntervalMs: 20 }

async function upload(text: string, name = 'notes.txt') {
  return t.client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'assistants' })
}

/** The SDK tests' check: the same parsed object and Response from every accessor, status 2xx. */
async function raw<T>(p: ReturnType<OpenAI['beta']['assistants']['retrieve']> | PromiseLike<T> | any): Promise<{ data: any; response: Response }> {
  const response: Response = await p.asResponse()
  expect(response).toBeInstanceOf(Response)
  expect(response.status).toBeGreaterThanOrEqual(200)
  expect(response.status).toBeLessThan(300)
  const data = await p
  expect(data).not.toBeInstanceOf(Response)
  const both = await p.withResponse()
  expect(both.data).toBe(data)
  expect(both.response).toBe(response)
  return { data, response }
}

describe('SDK api-resources: beta assistants, threads, messages, runs, steps', () => {
  it('assistants: create (required / all params), retrieve, update, list, delete', async () => {
    const { data: min } = await raw(t.client.beta.assistants.create({ model: 'gpt-4o' }))
    expect(min).toMatchObject({ object: 'assistant', model: 'gpt-4o', tools: [] })

    const file = await upload('code interpreter input')
    const storeFile = await upload('file search input')
    const store = await t.client.vectorStores.create({ name: 'kb' })
    const full = await t.client.beta.assistants.create({
      model: 'gpt-4o',
      description: 'description',
      instructions: 'instructions',
      metadata: { foo: 'string' },
      name: 'name',
      reasoning_effort: 'none',
      response_format: 'auto',
      temperature: 1,
      tool_resources: { code_interpreter: { file_ids: [file.id] }, file_search: { vector_store_ids: [store.id] } },
      tools: [{ type: 'code_interpreter' }],
      top_p: 1,
    })
    expect(full).toMatchObject({ object: 'assistant', reasoning_effort: 'none', response_format: 'auto', metadata: { foo: 'string' } })
    // The vector_stores helper with its chunking_strategy, file_ids and metadata.
    const helper = await t.client.beta.assistants.create({
      model: 'gpt-4o',
      tools: [{ type: 'file_search' }],
      tool_resources: { file_search: { vector_stores: [{ chunking_strategy: { type: 'auto' }, file_ids: [storeFile.id], metadata: { foo: 'string' } }] } },
    })
    const helperStores = helper.tool_resources?.file_search?.vector_store_ids ?? []
    expect(helperStores).toHaveLength(1)
    expect(await t.client.vectorStores.retrieve(helperStores[0])).toMatchObject({ metadata: { foo: 'string' } })

    // Every value of the SDK's ReasoningEffort (the Assistant type itself does not declare the field).
    for (const effort of ['minimal', 'low', 'medium', 'high', 'xhigh', 'max'] as const) {
      const created = await t.client.beta.assistants.create({ model: 'o3', reasoning_effort: effort })
      expect(created).toMatchObject({ reasoning_effort: effort })
    }

    expect((await raw(t.client.beta.assistants.retrieve(full.id))).data.id).toBe(full.id)
    expect((await raw(t.client.beta.assistants.update(full.id, {}))).data).toMatchObject({ id: full.id, name: 'name' })
    const { data: page } = await raw(t.client.beta.assistants.list())
    expect(page.data.map((a: { id: string }) => a.id)).toContain(full.id)
    const { data: listed } = await raw(t.client.beta.assistants.list({ after: full.id, limit: 1, order: 'asc' }))
    expect(listed.data.length).toBeLessThanOrEqual(1)
    expect((await raw(t.client.beta.assistants.delete(min.id))).data).toEqual({ id: min.id, object: 'assistant.deleted', deleted: true })
  })

  it('threads: create (empty / all params), retrieve, update, delete', async () => {
    const { data: empty } = await raw(t.client.beta.threads.create())
    expect(empty).toMatchObject({ object: 'thread', metadata: {} })
    const file = await upload('attachment')
    const store = await t.client.vectorStores.create({})
    const full = await t.client.beta.threads.create({
      messages: [
        {
          content: 'string',
          role: 'user',
          attachments: [{ file_id: file.id, tools: [{ type: 'code_interpreter' }] }],
          metadata: { foo: 'string' },
        },
      ],
      metadata: { foo: 'string' },
      tool_resources: { code_interpreter: { file_ids: [file.id] }, file_search: { vector_store_ids: [store.id] } },
    })
    expect(full).toMatchObject({ object: 'thread', metadata: { foo: 'string' }, tool_resources: { file_search: { vector_store_ids: [store.id] } } })
    expect((await raw(t.client.beta.threads.retrieve(full.id))).data.id).toBe(full.id)
    expect((await raw(t.client.beta.threads.update(full.id, {}))).data).toMatchObject({ id: full.id, metadata: { foo: 'string' } })
    expect((await raw(t.client.beta.threads.delete(empty.id))).data).toEqual({ id: empty.id, object: 'thread.deleted', deleted: true })
  })

  it('threads.createAndRun (required / all params)', async () => {
    t.upstream.enqueue({ text: 'ok' })
    const { data: run } = await raw(t.client.beta.threads.createAndRun({ assistant_id: assistantId }))
    expect(run).toMatchObject({ object: 'thread.run', assistant_id: assistantId })
    await t.client.beta.threads.runs.poll(run.id, { thread_id: run.thread_id, ...poll })

    const file = await upload('run attachment')
    const store = await t.client.vectorStores.create({})
    t.upstream.enqueue({ text: 'done' })
    const full = await t.client.beta.threads.createAndRun({
      assistant_id: assistantId,
      instructions: 'instructions',
      max_completion_tokens: 256,
      max_prompt_tokens: 256,
      metadata: { foo: 'string' },
      model: 'gpt-5.6-sol',
      parallel_tool_calls: true,
      response_format: 'auto',
      stream: false,
      temperature: 1,
      thread: {
        messages: [
          { content: 'string', role: 'user', attachments: [{ file_id: file.id, tools: [{ type: 'code_interpreter' }] }], metadata: { foo: 'string' } },
        ],
        metadata: { foo: 'string' },
        tool_resources: { code_interpreter: { file_ids: [file.id] }, file_search: { vector_store_ids: [store.id] } },
      },
      tool_choice: 'none',
      tool_resources: { code_interpreter: { file_ids: [file.id] }, file_search: { vector_store_ids: [store.id] } },
      tools: [{ type: 'code_interpreter' }],
      top_p: 1,
      truncation_strategy: { type: 'auto', last_messages: 1 },
    })
    expect(full).toMatchObject({ object: 'thread.run', model: 'gpt-5.6-sol', tool_choice: 'none', max_prompt_tokens: 256, max_completion_tokens: 256 })
    const done = await t.client.beta.threads.runs.poll(full.id, { thread_id: full.thread_id, ...poll })
    expect(done.status).toBe('completed')
    expect(t.upstream.lastChat().model).toBe('gpt-5.6-sol')
  })

  it('messages: create (required / all params), retrieve, update, list, delete', async () => {
    const thread = await t.client.beta.threads.create()
    const { data: msg } = await raw(t.client.beta.threads.messages.create(thread.id, { content: 'string', role: 'user' }))
    expect(msg).toMatchObject({ object: 'thread.message', role: 'user', content: [{ type: 'text', text: { value: 'string', annotations: [] } }] })
    const file = await upload('message attachment')
    const full = await t.client.beta.threads.messages.create(thread.id, {
      content: 'string',
      role: 'user',
      attachments: [{ file_id: file.id, tools: [{ type: 'code_interpreter' }] }],
      metadata: { foo: 'string' },
    })
    expect(full).toMatchObject({ attachments: [{ file_id: file.id, tools: [{ type: 'code_interpreter' }] }], metadata: { foo: 'string' } })
    expect((await raw(t.client.beta.threads.messages.retrieve(msg.id, { thread_id: thread.id }))).data.id).toBe(msg.id)
    expect((await raw(t.client.beta.threads.messages.update(msg.id, { thread_id: thread.id }))).data.id).toBe(msg.id)
    expect((await t.client.beta.threads.messages.update(msg.id, { thread_id: thread.id, metadata: { foo: 'string' } })).metadata).toEqual({ foo: 'string' })
    const { data: page } = await raw(t.client.beta.threads.messages.list(thread.id))
    expect(page.data.map((m: { id: string }) => m.id)).toEqual([full.id, msg.id])
    expect((await raw(t.client.beta.threads.messages.delete(msg.id, { thread_id: thread.id }))).data).toEqual({
      id: msg.id,
      object: 'thread.message.deleted',
      deleted: true,
    })
  })

  it('runs: create (required / all params), retrieve, update, list, cancel; steps: retrieve, list (with include)', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    t.upstream.enqueue({ text: 'first' })
    const { data: run } = await raw(t.client.beta.threads.runs.create(thread.id, { assistant_id: assistantId }))
    expect(run).toMatchObject({ object: 'thread.run', thread_id: thread.id })
    await t.client.beta.threads.runs.poll(run.id, { thread_id: thread.id, ...poll })

    const file = await upload('attached to an additional message')
    t.upstream.enqueue({ text: 'second' })
    const full = await t.client.beta.threads.runs.create(thread.id, {
      assistant_id: assistantId,
      include: ['step_details.tool_calls[*].file_search.results[*].content'],
      additional_instructions: 'additional_instructions',
      additional_messages: [
        { content: 'string', role: 'user', attachments: [{ file_id: file.id, tools: [{ type: 'code_interpreter' }] }], metadata: { foo: 'string' } },
      ],
      instructions: 'instructions',
      max_completion_tokens: 256,
      max_prompt_tokens: 256,
      metadata: { foo: 'string' },
      model: 'gpt-5.6-sol',
      parallel_tool_calls: true,
      reasoning_effort: 'none',
      response_format: 'auto',
      stream: false,
      temperature: 1,
      tool_choice: 'none',
      tools: [{ type: 'code_interpreter' }],
      top_p: 1,
      truncation_strategy: { type: 'auto', last_messages: 1 },
    })
    expect(full).toMatchObject({ object: 'thread.run', reasoning_effort: 'none', metadata: { foo: 'string' } })
    const done = await t.client.beta.threads.runs.poll(full.id, { thread_id: thread.id, ...poll })
    expect(done.status).toBe('completed')

    expect((await raw(t.client.beta.threads.runs.retrieve(full.id, { thread_id: thread.id }))).data.id).toBe(full.id)
    expect((await raw(t.client.beta.threads.runs.update(full.id, { thread_id: thread.id }))).data.metadata).toEqual({ foo: 'string' })
    expect((await t.client.beta.threads.runs.update(full.id, { thread_id: thread.id, metadata: { foo: 'bar' } })).metadata).toEqual({ foo: 'bar' })
    const { data: runs } = await raw(t.client.beta.threads.runs.list(thread.id))
    expect(runs.data.map((r: { id: string }) => r.id)).toEqual([full.id, run.id])

    const { data: steps } = await raw(t.client.beta.threads.runs.steps.list(full.id, { thread_id: thread.id }))
    expect(steps.data).toHaveLength(1)
    const stepId = steps.data[0].id
    const withAll = await t.client.beta.threads.runs.steps.list(full.id, {
      thread_id: thread.id,
      include: ['step_details.tool_calls[*].file_search.results[*].content'],
      limit: 1,
      order: 'asc',
    })
    expect(withAll.data.map((s) => s.id)).toEqual([stepId])
    expect((await raw(t.client.beta.threads.runs.steps.retrieve(stepId, { thread_id: thread.id, run_id: full.id }))).data).toMatchObject({
      object: 'thread.run.step',
      type: 'message_creation',
    })
    const step = await t.client.beta.threads.runs.steps.retrieve(stepId, {
      thread_id: thread.id,
      run_id: full.id,
      include: ['step_details.tool_calls[*].file_search.results[*].content'],
    })
    expect(step.id).toBe(stepId)

    // cancel: a run waiting for tool outputs is cancelled.
    t.upstream.enqueue({ toolCalls: [{ name: 'lookup', arguments: '{}' }] })
    const waiting = await t.client.beta.threads.runs.createAndPoll(
      thread.id,
      { assistant_id: assistantId, tools: [{ type: 'function', function: { name: 'lookup' } }] },
      poll,
    )
    expect(waiting.status).toBe('requires_action')
    const { data: cancelled } = await raw(t.client.beta.threads.runs.cancel(waiting.id, { thread_id: thread.id }))
    expect(cancelled).toMatchObject({ id: waiting.id, object: 'thread.run' })
    expect(['cancelling', 'cancelled']).toContain(cancelled.status)
    expect((await t.client.beta.threads.runs.poll(waiting.id, { thread_id: thread.id, ...poll })).status).toBe('cancelled')
  })

  it('runs.submitToolOutputs (all params, stream: false)', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather?' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'weather', arguments: '{"city":"Paris"}', id: 'call_w' }] }, { text: 'Sunny.' })
    const run = await t.client.beta.threads.runs.createAndPoll(
      thread.id,
      { assistant_id: assistantId, tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }] },
      poll,
    )
    expect(run.required_action?.submit_tool_outputs.tool_calls[0].id).toBe('call_w')
    const { data: submitted } = await raw(
      t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: thread.id, tool_outputs: [{ output: 'sunny', tool_call_id: 'call_w' }], stream: false }),
    )
    expect(submitted).toMatchObject({ id: run.id, object: 'thread.run' })
    expect((await t.client.beta.threads.runs.poll(run.id, { thread_id: thread.id, ...poll })).status).toBe('completed')
  })
})

describe('SDK api-resources: files and vector stores', () => {
  it('files: create (required / expires_after), retrieve, list, delete, content', async () => {
    const { data: file } = await raw(t.client.files.create({ file: await toFile(Buffer.from('Example data'), 'README.md'), purpose: 'assistants' }))
    expect(file).toMatchObject({ object: 'file', filename: 'README.md', bytes: 12 })
    const expiring = await t.client.files.create({
      file: await toFile(Buffer.from('Example data'), 'README.md'),
      purpose: 'assistants',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    })
    expect(expiring.expires_at).toBe(expiring.created_at + 3600)
    expect((await raw(t.client.files.retrieve(file.id))).data.id).toBe(file.id)
    const { data: page } = await raw(t.client.files.list())
    expect(page.data.map((f: { id: string }) => f.id)).toContain(file.id)
    expect((await t.client.files.list({ limit: 1, order: 'asc', purpose: 'assistants' })).data).toHaveLength(1)
    expect(await (await t.client.files.content(file.id)).text()).toBe('Example data')
    expect((await raw(t.client.files.delete(expiring.id))).data).toEqual({ id: expiring.id, object: 'file', deleted: true })
  })

  it('vector stores: create ({}), retrieve, update ({}), list, search (required / all params), delete', async () => {
    const { data: store } = await raw(t.client.vectorStores.create({}))
    expect(store).toMatchObject({ object: 'vector_store', status: 'completed' })
    expect((await raw(t.client.vectorStores.retrieve(store.id))).data.id).toBe(store.id)
    expect((await raw(t.client.vectorStores.update(store.id, {}))).data.id).toBe(store.id)
    expect((await raw(t.client.vectorStores.list())).data.data.map((s: { id: string }) => s.id)).toContain(store.id)

    const file = await upload('The quarterly revenue grew by twelve percent in the northern region.')
    await t.client.vectorStores.files.createAndPoll(store.id, { file_id: file.id, attributes: { region: 'north' } }, poll)
    const { data: hits } = await raw(t.client.vectorStores.search(store.id, { query: 'revenue' }))
    expect(hits.data[0]).toMatchObject({ file_id: file.id })
    for (const ranker of ['none', 'auto', 'default-2024-11-15'] as const) {
      const page = await t.client.vectorStores.search(store.id, {
        query: 'revenue',
        filters: { key: 'region', type: 'eq', value: 'north' },
        max_num_results: 1,
        ranking_options: { ranker, score_threshold: 0 },
        rewrite_query: true,
      })
      expect(page.data.map((h) => h.file_id)).toEqual([file.id])
    }
    expect((await raw(t.client.vectorStores.delete(store.id))).data).toEqual({ id: store.id, object: 'vector_store.deleted', deleted: true })
  })

  it('vector store files: create (required / all params), retrieve, update, list (filter), content, delete', async () => {
    const store = await t.client.vectorStores.create({})
    const a = await upload('alpha document text')
    const b = await upload('beta document text')
    const { data: created } = await raw(t.client.vectorStores.files.create(store.id, { file_id: a.id }))
    expect(created).toMatchObject({ object: 'vector_store.file', id: a.id, vector_store_id: store.id })
    const full = await t.client.vectorStores.files.create(store.id, { file_id: b.id, attributes: { foo: 'string' }, chunking_strategy: { type: 'auto' } })
    expect(full).toMatchObject({ id: b.id, attributes: { foo: 'string' } })
    await t.client.vectorStores.files.poll(store.id, a.id, poll)
    await t.client.vectorStores.files.poll(store.id, b.id, poll)
    expect((await raw(t.client.vectorStores.files.retrieve(a.id, { vector_store_id: store.id }))).data.status).toBe('completed')
    expect((await raw(t.client.vectorStores.files.update(a.id, { vector_store_id: store.id, attributes: { foo: 'string' } }))).data.attributes).toEqual({
      foo: 'string',
    })
    expect((await raw(t.client.vectorStores.files.list(store.id))).data.data).toHaveLength(2)
    const completed = await t.client.vectorStores.files.list(store.id, { filter: 'completed', limit: 1, order: 'asc' })
    expect(completed.data).toHaveLength(1)
    const { data: content } = await raw(t.client.vectorStores.files.content(a.id, { vector_store_id: store.id }))
    expect(content.data.map((c: { text: string }) => c.text).join('')).toContain('alpha document')
    expect((await raw(t.client.vectorStores.files.delete(a.id, { vector_store_id: store.id }))).data).toEqual({
      id: a.id,
      object: 'vector_store.file.deleted',
      deleted: true,
    })
  })

  it('file batches: create (file_ids / files with per-file attributes), retrieve, cancel, listFiles (filter)', async () => {
    const store = await t.client.vectorStores.create({})
    const [a, b, c] = await Promise.all([upload('apples are red'), upload('bananas are yellow'), upload('cherries are dark')])
    const { data: batch } = await raw(
      t.client.vectorStores.fileBatches.create(store.id, { file_ids: [a.id], attributes: { kind: 'fruit' }, chunking_strategy: { type: 'auto' } }),
    )
    expect(batch).toMatchObject({ object: 'vector_store.files_batch', vector_store_id: store.id })
    // `files` gives each file its own attributes and chunking strategy.
    const perFile = await t.client.vectorStores.fileBatches.createAndPoll(
      store.id,
      {
        files: [
          { file_id: b.id, attributes: { colour: 'yellow' } },
          { file_id: c.id, attributes: { colour: 'dark' }, chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 10 } } },
        ],
      },
      poll,
    )
    expect(perFile).toMatchObject({ status: 'completed', file_counts: { completed: 2, total: 2 } })
    expect((await t.client.vectorStores.files.retrieve(b.id, { vector_store_id: store.id })).attributes).toEqual({ colour: 'yellow' })
    expect((await t.client.vectorStores.files.retrieve(c.id, { vector_store_id: store.id })).chunking_strategy).toEqual({
      type: 'static',
      static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 10 },
    })
    expect((await raw(t.client.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: store.id }))).data.id).toBe(batch.id)
    await t.client.vectorStores.fileBatches.poll(store.id, batch.id, poll)
    const { data: files } = await raw(t.client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id }))
    expect(files.data.map((f: { id: string }) => f.id)).toEqual([a.id])
    expect((await t.client.vectorStores.files.retrieve(a.id, { vector_store_id: store.id })).attributes).toEqual({ kind: 'fruit' })
    const filtered = await t.client.vectorStores.fileBatches.listFiles(perFile.id, { vector_store_id: store.id, filter: 'completed', limit: 1, order: 'asc' })
    expect(filtered.data).toHaveLength(1)
    const { data: cancelled } = await raw(t.client.vectorStores.fileBatches.cancel(batch.id, { vector_store_id: store.id }))
    expect(cancelled).toMatchObject({ id: batch.id, object: 'vector_store.files_batch' })
  })

  it('uploadAndPoll: vector store files and file batches (files and fileIds)', async () => {
    const store = await t.client.vectorStores.create({ name: 'uploads' })
    const single = await t.client.vectorStores.files.uploadAndPoll(store.id, await toFile(Buffer.from('single upload text'), 'one.txt'), poll)
    expect(single).toMatchObject({ object: 'vector_store.file', status: 'completed' })
    const existing = await upload('already uploaded')
    const batch = await t.client.vectorStores.fileBatches.uploadAndPoll(
      store.id,
      { files: [await toFile(Buffer.from('batch one'), 'b1.md'), await toFile(Buffer.from('batch two'), 'b2.md')], fileIds: [existing.id] },
      poll,
    )
    expect(batch).toMatchObject({ status: 'completed', file_counts: { total: 3, completed: 3 } })
    expect((await t.client.vectorStores.retrieve(store.id)).file_counts).toMatchObject({ total: 4, completed: 4 })
  })

  it('the polling helpers without pollIntervalMs follow the server\'s openai-poll-after-ms (not the SDK\'s 5 s default)', async () => {
    // With embeddings, ingestion waits on the (gated) upstream, so the first polls see in_progress.
    const e = await startTestServer({ embeddingModel: 'text-embedding-3-small' })
    let release = () => {}
    try {
      const store = await e.client.vectorStores.create({})
      const gate = () => (e.upstream.embeddingsGate = new Promise<void>((r) => (release = r)))
      const file = await e.client.files.create({ file: await toFile(Buffer.from('gated ingestion text'), 'a.txt'), purpose: 'assistants' })
      gate()
      await e.client.vectorStores.files.create(store.id, { file_id: file.id })
      const { data, response } = await e.client.vectorStores.files.retrieve(file.id, { vector_store_id: store.id }).withResponse()
      expect(data.status).toBe('in_progress')
      expect(Number(response.headers.get('openai-poll-after-ms'))).toBeGreaterThan(0)
      // Once ingestion can finish, the helper notices within a poll interval or two (not 5 s).
      let releasedAt = 0
      const releaseSoon = () => setTimeout(() => ((releasedAt = Date.now()), release()), 150)
      releaseSoon()
      expect((await e.client.vectorStores.files.poll(store.id, file.id)).status).toBe('completed')
      expect(Date.now() - releasedAt).toBeLessThan(2_500)

      const batchFile = await e.client.files.create({ file: await toFile(Buffer.from('another gated text'), 'b.txt'), purpose: 'assistants' })
      gate()
      const batch = await e.client.vectorStores.fileBatches.create(store.id, { file_ids: [batchFile.id] })
      const batchResponse = await e.client.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: store.id }).asResponse()
      expect(Number(batchResponse.headers.get('openai-poll-after-ms'))).toBeGreaterThan(0)
      releaseSoon()
      expect((await e.client.vectorStores.fileBatches.poll(store.id, batch.id)).status).toBe('completed')
      expect(Date.now() - releasedAt).toBeLessThan(2_500)
    } finally {
      release()
      e.upstream.embeddingsGate = null
      await e.close()
    }
  })

  it('auto-pagination over every list (limit 2)', async () => {
    const store = await t.client.vectorStores.create({})
    const files = await Promise.all([1, 2, 3].map((i) => upload(`paged ${i}`)))
    await t.client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: files.map((f) => f.id) }, poll)
    const storeFiles: string[] = []
    for await (const f of t.client.vectorStores.files.list(store.id, { limit: 2 })) storeFiles.push(f.id)
    expect(storeFiles.sort()).toEqual(files.map((f) => f.id).sort())
    const stores: string[] = []
    for await (const s of t.client.vectorStores.list({ limit: 2 })) stores.push(s.id)
    expect(stores).toContain(store.id)
    const allFiles: string[] = []
    for await (const f of t.client.files.list({ limit: 2 })) allFiles.push(f.id)
    expect(allFiles).toEqual(expect.arrayContaining(files.map((f) => f.id)))
    expect(new Set(allFiles).size).toBe(allFiles.length)

    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'go' }] })
    for (const text of ['a', 'b', 'c']) {
      t.upstream.enqueue({ text })
      await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId }, poll)
    }
    const runs: string[] = []
    for await (const r of t.client.beta.threads.runs.list(thread.id, { limit: 2 })) runs.push(r.id)
    expect(runs).toHaveLength(3)
    const assistants: string[] = []
    for await (const a of t.client.beta.assistants.list({ limit: 2 })) assistants.push(a.id)
    expect(assistants).toContain(assistantId)
    const page = await t.client.beta.threads.messages.list(thread.id, { limit: 2 })
    expect(page.getPaginatedItems()).toHaveLength(2)
    expect(page.hasNextPage()).toBe(true)
  })
})

describe('SDK examples: streaming', () => {
  it('assistant-stream-raw: runs.create({stream: true}) iterated with for await', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'I need to solve 3x + 11 = 14.' }] })
    t.upstream.enqueue({ text: 'x equals one, Jane Doe.' })
    const stream = await t.client.beta.threads.runs.create(thread.id, {
      assistant_id: assistantId,
      additional_instructions: 'Please address the user as Jane Doe.',
      stream: true,
    })
    let out = ''
    const seen: string[] = []
    for await (const event of stream) {
      seen.push(event.event)
      if (event.event === 'thread.message.delta') {
        const chunk = event.data.delta.content?.[0]
        if (chunk && 'text' in chunk && chunk.text?.value) out += chunk.text.value
      }
    }
    expect(out).toBe('x equals one, Jane Doe.')
    expect(seen.at(-1)).toBe('thread.run.completed')
    expect(t.upstream.lastChat().messages[0]).toEqual({ role: 'system', content: 'You are a math tutor.\n\nPlease address the user as Jane Doe.' })
  })

  it('assistant-stream: every convenience event, the snapshots, currentRun / currentEvent and finalRun', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Help' }] })
    t.upstream.enqueue({ text: 'Subtract eleven, then divide by three.', chunks: 4, delayMs: 10 })
    const got: Record<string, number> = {}
    const count = (name: string) => (got[name] = (got[name] ?? 0) + 1)
    const raw: AssistantStreamEvent[] = []
    let lastSnapshot = ''
    let connected = false
    let ended = false
    let runSeen: OpenAI.Beta.Threads.Run | undefined
    const stream = t.client.beta.threads.runs
      .stream(thread.id, { assistant_id: assistantId })
      .on('connect', () => (connected = true))
      .on('event', (e) => {
        raw.push(e)
        expect(stream.currentEvent()).toBe(e)
      })
      .on('run', (run) => (runSeen = run))
      .on('runStepCreated', (step) => {
        count('runStepCreated')
        expect(step).toMatchObject({ object: 'thread.run.step', type: 'message_creation' })
      })
      .on('runStepDone', (step) => {
        count('runStepDone')
        expect(step.status).toBe('completed')
      })
      .on('messageCreated', (m) => {
        count('messageCreated')
        expect(m).toMatchObject({ object: 'thread.message', role: 'assistant' })
      })
      .on('messageDelta', (_d, snapshot) => {
        count('messageDelta')
        expect(stream.currentMessageSnapshot()?.id).toBe(snapshot.id)
      })
      .on('messageDone', (m) => {
        count('messageDone')
        expect(m.status).toBe('completed')
        expect(m.content[0]).toMatchObject({ type: 'text', text: { value: 'Subtract eleven, then divide by three.' } })
      })
      .on('textCreated', (text) => {
        count('textCreated')
        // The SDK hands out its live snapshot (the first delta applied, later ones as they come).
        expect('Subtract eleven, then divide by three.'.startsWith(text.value)).toBe(true)
        expect(text.annotations).toEqual([])
      })
      .on('textDelta', (delta, snapshot) => {
        count('textDelta')
        expect(snapshot.value.endsWith(delta.value ?? '')).toBe(true)
        lastSnapshot = snapshot.value
        expect(stream.currentRun()?.status).toBe('in_progress')
        expect(stream.currentRunStepSnapshot()?.type).toBe('message_creation')
      })
      .on('textDone', (text, message) => {
        count('textDone')
        expect(text.value).toBe(message.content[0].type === 'text' ? message.content[0].text.value : null)
      })
      .on('end', () => (ended = true))
    const run = await stream.finalRun()
    expect(run).toMatchObject({ status: 'completed', thread_id: thread.id })
    expect(runSeen?.id).toBe(run.id)
    expect(connected && ended).toBe(true)
    expect(lastSnapshot).toBe('Subtract eleven, then divide by three.')
    expect(got).toMatchObject({ runStepCreated: 1, runStepDone: 1, messageCreated: 1, messageDone: 1, textCreated: 1, textDone: 1 })
    expect(got.textDelta).toBeGreaterThan(1)
    expect(got.messageDelta).toBe(got.textDelta)
    expect(raw[0].event).toBe('thread.run.created')
    expect(raw.at(-1)!.event).toBe('thread.run.completed')
    expect(stream.currentRun()?.status).toBe('completed')
    const [message] = await stream.finalMessages()
    expect(message.status).toBe('completed')
  })

  it('for await over an AssistantStream, and its events() iterator', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Count' }] })
    t.upstream.enqueue({ text: 'one two three' })
    const names: string[] = []
    for await (const event of t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId })) names.push(event.event)
    expect(names[0]).toBe('thread.run.created')
    expect(names.at(-1)).toBe('thread.run.completed')

    t.upstream.enqueue({ text: 'four five six' })
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId })
    let text = ''
    for await (const [delta] of stream.events('textDelta')) text += delta.value ?? ''
    expect(text).toBe('four five six')
    expect((await stream.finalRun()).status).toBe('completed')
  })

  it('stream-to-client: toReadableStream() on the server side, AssistantStream.fromReadableStream() on the client', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Relay' }] })
    t.upstream.enqueue({ text: 'Relayed through a readable stream.' })
    const upstreamSide = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId })
    // What a route handler returns: new Response(stream.toReadableStream()); the browser reads its body.
    const response = new Response(upstreamSide.toReadableStream())
    const client = AssistantStream.fromReadableStream(response.body!)
    let text = ''
    let created = 0
    client.on('textCreated', () => created++).on('textDelta', (d) => (text += d.value ?? ''))
    const run = await client.finalRun()
    expect(run.status).toBe('completed')
    expect(text).toBe('Relayed through a readable stream.')
    expect(created).toBe(1)
    const [message] = await client.finalMessages()
    expect(message.content[0]).toMatchObject({ type: 'text', text: { value: 'Relayed through a readable stream.' } })
    expect((await upstreamSide.finalRun()).id).toBe(run.id)
  })

  it('stream.abort(): the SDK reports the abort, the run still finishes server-side and nothing fails', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Long answer' }] })
    t.upstream.enqueue({ text: 'a slow answer in several pieces', chunks: 6, delayMs: 30 })
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId })
    let aborted: unknown
    stream.on('abort', (err) => (aborted = err))
    stream.on('textDelta', () => stream.abort())
    await expect(stream.finalRun()).rejects.toBeInstanceOf(OpenAI.APIUserAbortError)
    expect(aborted).toBeInstanceOf(OpenAI.APIUserAbortError)
    const runId = stream.currentRun()!.id
    // Closing the connection is not a cancel: the run completes and its message is kept.
    const run = await t.client.beta.threads.runs.poll(runId, { thread_id: thread.id, ...poll })
    expect(run.status).toBe('completed')
    const messages = await t.client.beta.threads.messages.list(thread.id, { run_id: runId })
    expect(messages.data[0].content[0]).toMatchObject({ text: { value: 'a slow answer in several pieces' } })
    // The server keeps serving the thread.
    t.upstream.enqueue({ text: 'next' })
    expect((await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId }, poll)).status).toBe('completed')
  })

  it('function calling: toolCallCreated / toolCallDelta / toolCallDone, requires_action, then submitToolOutputsStream', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }] })
    t.upstream.enqueue(
      { toolCalls: [{ name: 'weather', arguments: '{"city":"Paris"}', id: 'call_p' }, { name: 'weather', arguments: '{"city":"Rome"}', id: 'call_r' }] },
      { text: 'Paris is sunny, Rome is rainy.' },
    )
    const created: string[] = []
    const args: Record<string, string> = {}
    const done: string[] = []
    const stream = t.client.beta.threads.runs
      .stream(thread.id, {
        assistant_id: assistantId,
        tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      })
      .on('toolCallCreated', (call) => created.push(call.id))
      .on('toolCallDelta', (delta, snapshot) => {
        expect(delta.type).toBe('function')
        if (snapshot.type === 'function') args[snapshot.id] = snapshot.function.arguments
      })
      .on('toolCallDone', (call) => done.push(call.id))
    const waiting = await stream.finalRun()
    expect(waiting.status).toBe('requires_action')
    expect(stream.currentRun()?.required_action?.type).toBe('submit_tool_outputs')
    expect(created).toEqual(['call_p', 'call_r'])
    expect(args).toEqual({ call_p: '{"city":"Paris"}', call_r: '{"city":"Rome"}' })
    expect(done).toEqual(['call_p', 'call_r'])
    const [step] = await stream.finalRunSteps()
    expect(step).toMatchObject({ type: 'tool_calls', status: 'in_progress' })

    let text = ''
    const resumed = t.client.beta.threads.runs
      .submitToolOutputsStream(waiting.id, {
        thread_id: thread.id,
        tool_outputs: [
          { tool_call_id: 'call_p', output: 'sunny' },
          { tool_call_id: 'call_r', output: 'rainy' },
        ],
      })
      .on('textDelta', (d) => (text += d.value ?? ''))
    const finished = await resumed.finalRun()
    expect(finished).toMatchObject({ id: waiting.id, status: 'completed' })
    expect(text).toBe('Paris is sunny, Rome is rainy.')
    const steps = await t.client.beta.threads.runs.steps.list(waiting.id, { thread_id: thread.id, order: 'asc' })
    expect(steps.data.map((s) => [s.type, s.status])).toEqual([
      ['tool_calls', 'completed'],
      ['message_creation', 'completed'],
    ])
  })

  it('file search quickstart: uploadAndPoll, assistant update, attachments, messageDone citations → files.retrieve', async () => {
    const store = await t.client.vectorStores.create({ name: 'Financial Statement' })
    const report = await t.client.vectorStores.fileBatches.uploadAndPoll(
      store.id,
      { files: [await toFile(Buffer.from('Revenue for fiscal 2023 was 383 billion dollars.'), 'aapl-10k.txt')] },
      poll,
    )
    expect(report.file_counts).toMatchObject({ completed: 1, failed: 0 })
    const assistant = await t.client.beta.assistants.create({
      name: 'Financial Analyst Assistant',
      instructions: 'You are an expert financial analyst.',
      model: 'gpt-4o',
      tools: [{ type: 'file_search' }],
    })
    await t.client.beta.assistants.update(assistant.id, { tool_resources: { file_search: { vector_store_ids: [store.id] } } })
    const goto = await t.client.files.create({ file: await toFile(Buffer.from('GoTo had 1.2 billion in revenue.'), 'goto.txt'), purpose: 'assistants' })
    const thread = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: 'How many shares were outstanding?', attachments: [{ file_id: goto.id, tools: [{ type: 'file_search' }] }] }],
    })
    // The thread's own store holds the attachment.
    const threadStores = thread.tool_resources?.file_search?.vector_store_ids ?? []
    expect(threadStores).toHaveLength(1)
    await t.client.vectorStores.files.poll(threadStores[0], goto.id, poll)

    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"revenue"}' }] }, { text: 'Revenue was 383 billion 【0:0†aapl-10k.txt】.' })
    let final = ''
    const citations: string[] = []
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id }).on('messageDone', async (event) => {
      if (event.content[0].type !== 'text') return
      const { text } = event.content[0]
      let index = 0
      for (const annotation of text.annotations) {
        text.value = text.value.replace(annotation.text, `[${index}]`)
        if (annotation.type === 'file_citation') {
          const cited = await t.client.files.retrieve(annotation.file_citation.file_id)
          citations.push(`[${index}] ${cited.filename}`)
        }
        index++
      }
      final = text.value
    })
    const toolCalls: string[] = []
    stream.on('toolCallCreated', (call) => toolCalls.push(call.type))
    expect((await stream.finalRun()).status).toBe('completed')
    await new Promise((r) => setTimeout(r, 50)) // the async listener's files.retrieve
    expect(toolCalls).toEqual(['file_search'])
    expect(final).toBe('Revenue was 383 billion [0].')
    expect(citations).toEqual(['[0] aapl-10k.txt'])
  })

  it('stream helpers surface refused requests as the SDK\'s typed errors (error event, rejected finalRun / done)', async () => {
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'x' }] })
    const missing = t.client.beta.threads.runs.stream(thread.id, { assistant_id: 'asst_missing' })
    let emitted: unknown
    missing.on('error', (err) => (emitted = err))
    await expect(missing.finalRun()).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    expect(emitted).toBeInstanceOf(OpenAI.NotFoundError)
    await expect(t.client.beta.threads.runs.stream('thread_missing', { assistant_id: assistantId }).done()).rejects.toMatchObject({
      status: 404,
      error: { message: "No thread found with id 'thread_missing'.", type: 'invalid_request_error' },
    })
    t.upstream.enqueue({ text: 'ok' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistantId }, poll)
    const late = t.client.beta.threads.runs.submitToolOutputsStream(run.id, { thread_id: thread.id, tool_outputs: [{ tool_call_id: 'call_x', output: 'y' }] })
    await expect(late.finalRun()).rejects.toBeInstanceOf(OpenAI.BadRequestError)
    await expect(t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: thread.id, tool_outputs: [{ tool_call_id: 'call_x', output: 'y' }] })).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    )
  })

  it('createAndRunStream and createAndRunPoll with a failing model: failed run, last_error, no throw', async () => {
    t.upstream.enqueue({ status: 400, message: 'bad request upstream' })
    const stream = t.client.beta.threads.createAndRunStream({ assistant_id: assistantId, thread: { messages: [{ role: 'user', content: 'x' }] } })
    const failed = await stream.finalRun()
    expect(failed.status).toBe('failed')
    expect(failed.last_error?.code).toMatch(/^(server_error|rate_limit_exceeded|invalid_prompt)$/)

    t.upstream.enqueue({ status: 429, message: 'slow down' }, { status: 429 }, { status: 429 }, { status: 429 })
    const limited = await t.client.beta.threads.createAndRunPoll({ assistant_id: assistantId, thread: { messages: [{ role: 'user', content: 'y' }] } }, poll)
    expect(limited).toMatchObject({ status: 'failed', last_error: { code: 'rate_limit_exceeded' } })
  })
})
