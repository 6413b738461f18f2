/**
 * file_search inside assistants/threads/runs, checked through the official SDK against OpenAI's
 * spec: tool_resources validation and round trips, attachments feeding the thread's store, the
 * run step a search leaves (with and without `include[]`), ranking options as OpenAI reports
 * them, max_num_results, and file_citation annotations.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import OpenAI, { toFile } from 'openai'
import { startTestServer, TEST_KEYS, type TestContext } from '../support/harness.ts'
import { collectEvents } from '../support/stream.ts'

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures', name))
const INCLUDE = 'step_details.tool_calls[*].file_search.results[*].content' as const

let t: TestContext
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(() => t?.close())
beforeEach(() => t.upstream.reset())

async function upload(name: string, content?: string) {
  const data = content === undefined ? fixture(name) : Buffer.from(content)
  return t.client.files.create({ file: await toFile(data, name), purpose: 'assistants' })
}

/** The run's only tool_calls step, as the steps API lists it. */
async function searchStep(threadId: string, runId: string, include: boolean) {
  const steps = await t.client.beta.threads.runs.steps.list(runId, { thread_id: threadId, order: 'asc', ...(include ? { include: [INCLUDE] } : {}) })
  const step = steps.data.find((s) => s.type === 'tool_calls')!
  return { step, calls: (step.step_details as OpenAI.Beta.Threads.Runs.ToolCallsStepDetails).tool_calls }
}

async function expectError(promise: Promise<unknown>, status: number, param: string | null, code: string | null) {
  const err = (await promise.then(
    () => null,
    (e) => e,
  )) as InstanceType<typeof OpenAI.APIError> | null
  expect(err, 'request should have failed').toBeInstanceOf(OpenAI.APIError)
  expect(err!.status).toBe(status)
  expect(err!.error).toMatchObject({ type: 'invalid_request_error', param, code })
  return err!
}

describe('tool_resources.file_search validation', () => {
  it('refuses more than one vector store on assistants and threads, create and modify', async () => {
    const two = { file_search: { vector_store_ids: ['vs_a', 'vs_b'] } }
    const param = 'tool_resources.file_search.vector_store_ids'
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o' })
    const thread = await t.client.beta.threads.create()
    const errors = [
      await expectError(t.client.beta.assistants.create({ model: 'gpt-4o', tool_resources: two }), 400, param, 'array_above_max_length'),
      await expectError(t.client.beta.assistants.update(assistant.id, { tool_resources: two }), 400, param, 'array_above_max_length'),
      await expectError(t.client.beta.threads.create({ tool_resources: two }), 400, param, 'array_above_max_length'),
      await expectError(t.client.beta.threads.update(thread.id, { tool_resources: two }), 400, param, 'array_above_max_length'),
      await expectError(t.client.beta.threads.createAndRun({ assistant_id: assistant.id, thread: { tool_resources: two } }), 400, `thread.${param}`, 'array_above_max_length'),
    ]
    expect((errors[0].error as any).message).toBe(
      "Invalid 'tool_resources.file_search.vector_store_ids': array too long. Expected an array with maximum length 1, but got an array with length 2 instead.",
    )
    // Nothing changed.
    expect((await t.client.beta.assistants.retrieve(assistant.id)).tool_resources).toEqual({})
    expect((await t.client.beta.threads.retrieve(thread.id)).tool_resources).toEqual({})
  })

  it('refuses more than one vector_stores helper entry, and both vector_store_ids and vector_stores, creating no store', async () => {
    const md = await upload('notes.md')
    const before = (await t.client.vectorStores.list({ limit: 100 })).data.length
    await expectError(
      t.client.beta.assistants.create({ model: 'gpt-4o', tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id] }, { file_ids: [md.id] }] } } }),
      400,
      'tool_resources.file_search.vector_stores',
      'array_above_max_length',
    )
    const existing = await t.client.vectorStores.create({ name: 'existing' })
    const both = { file_search: { vector_store_ids: [existing.id], vector_stores: [{ file_ids: [md.id] }] } }
    const err = await expectError(t.client.beta.assistants.create({ model: 'gpt-4o', tool_resources: both }), 400, 'tool_resources.file_search', 'invalid_value')
    expect(err.message).toMatch(/vector_store_ids.*vector_stores/)
    await expectError(t.client.beta.threads.create({ tool_resources: both }), 400, 'tool_resources.file_search', 'invalid_value')
    await expectError(
      t.client.beta.threads.createAndRun({ assistant_id: (await t.client.beta.assistants.create({ model: 'gpt-4o' })).id, thread: { tool_resources: both } }),
      400,
      'thread.tool_resources.file_search',
      'invalid_value',
    )
    // Only the store created above exists in addition: the refused requests made none.
    expect((await t.client.vectorStores.list({ limit: 100 })).data.length).toBe(before + 1)
  })

  it('checks the file_search tool options: max_num_results 1–50, score_threshold 0–1, known rankers', async () => {
    const create = (file_search: Record<string, unknown>) => t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search', file_search }] })
    await expectError(create({ max_num_results: 0 }), 400, 'tools[0].file_search.max_num_results', 'integer_below_min_value')
    await expectError(create({ max_num_results: 51 }), 400, 'tools[0].file_search.max_num_results', 'integer_above_max_value')
    await expectError(create({ max_num_results: 2.5 }), 400, 'tools[0].file_search.max_num_results', 'invalid_type')
    await expectError(create({ ranking_options: { score_threshold: 1.5 } }), 400, 'tools[0].file_search.ranking_options.score_threshold', 'decimal_above_max_value')
    await expectError(create({ ranking_options: { score_threshold: -0.1 } }), 400, 'tools[0].file_search.ranking_options.score_threshold', 'decimal_below_min_value')
    await expectError(create({ ranking_options: { ranker: 'bm25', score_threshold: 0 } }), 400, 'tools[0].file_search.ranking_options.ranker', 'invalid_value')
    await expectError(create({ ranking_options: { ranker: 'auto' } }), 400, 'tools[0].file_search.ranking_options.score_threshold', 'missing_required_parameter')
    await expectError(create({ max_results: 5 }), 400, 'tools[0].file_search.max_results', 'unknown_parameter')
    // The bounds themselves are fine, and the tool is stored as given.
    for (const file_search of [{ max_num_results: 1 }, { max_num_results: 50, ranking_options: { ranker: 'auto' as const, score_threshold: 1 } }]) {
      const a = await create(file_search)
      expect(a.tools).toEqual([{ type: 'file_search', file_search }])
      expect((await t.client.beta.assistants.retrieve(a.id)).tools).toEqual([{ type: 'file_search', file_search }])
    }
    // Runs check the same on their tools override.
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o' })
    const thread = await t.client.beta.threads.create()
    await expectError(
      t.client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id, tools: [{ type: 'file_search', file_search: { max_num_results: 51 } }] }),
      400,
      'tools[0].file_search.max_num_results',
      'integer_above_max_value',
    )
  })
})

describe('tool_resources.file_search round trips', () => {
  it('assistants: create, retrieve, list, and modify (replace, clear) keep vector_store_ids as given', async () => {
    const [s1, s2] = await Promise.all([t.client.vectorStores.create({ name: 'one' }), t.client.vectorStores.create({ name: 'two' })])
    const created = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }], tool_resources: { file_search: { vector_store_ids: [s1.id] } } })
    expect(created.tool_resources).toEqual({ file_search: { vector_store_ids: [s1.id] } })
    expect((await t.client.beta.assistants.retrieve(created.id)).tool_resources).toEqual(created.tool_resources)
    const listed = (await t.client.beta.assistants.list({ limit: 100 })).data.find((a) => a.id === created.id)!
    expect(listed.tool_resources).toEqual(created.tool_resources)

    // Modifying other fields keeps the resources.
    expect((await t.client.beta.assistants.update(created.id, { name: 'renamed' })).tool_resources).toEqual({ file_search: { vector_store_ids: [s1.id] } })
    const replaced = await t.client.beta.assistants.update(created.id, { tool_resources: { file_search: { vector_store_ids: [s2.id] } } })
    expect(replaced.tool_resources).toEqual({ file_search: { vector_store_ids: [s2.id] } })
    const cleared = await t.client.beta.assistants.update(created.id, { tool_resources: { file_search: { vector_store_ids: [] } } })
    expect(cleared.tool_resources).toEqual({ file_search: { vector_store_ids: [] } })
    expect((await t.client.beta.assistants.retrieve(created.id)).tool_resources).toEqual({ file_search: { vector_store_ids: [] } })
  })

  it('threads: create, retrieve, modify keep vector_store_ids; the vector_stores helper becomes an id', async () => {
    const store = await t.client.vectorStores.create({ name: 'thread store' })
    const thread = await t.client.beta.threads.create({ tool_resources: { file_search: { vector_store_ids: [store.id] } } })
    expect(thread.tool_resources).toEqual({ file_search: { vector_store_ids: [store.id] } })
    expect((await t.client.beta.threads.retrieve(thread.id)).tool_resources).toEqual(thread.tool_resources)
    expect((await t.client.beta.threads.update(thread.id, { metadata: { k: 'v' } })).tool_resources).toEqual(thread.tool_resources)
    const cleared = await t.client.beta.threads.update(thread.id, { tool_resources: { file_search: { vector_store_ids: [] } } })
    expect(cleared.tool_resources).toEqual({ file_search: { vector_store_ids: [] } })

    const md = await upload('notes.md')
    const helper = await t.client.beta.threads.create({
      tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id], chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 200, chunk_overlap_tokens: 50 } } }] } },
    })
    const [id] = helper.tool_resources!.file_search!.vector_store_ids!
    expect(helper.tool_resources).toEqual({ file_search: { vector_store_ids: [id] } })
    const file = await t.client.vectorStores.files.retrieve(md.id, { vector_store_id: id })
    expect(file.chunking_strategy).toEqual({ type: 'static', static: { max_chunk_size_tokens: 200, chunk_overlap_tokens: 50 } })
  })

  it('createAndRun: the thread gets its tool_resources (helper included) and the created thread event shows them', async () => {
    const md = await upload('notes.md')
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }] })
    t.upstream.enqueue({ text: 'ok' })
    const events = await collectEvents(
      t.client.beta.threads.createAndRunStream({
        assistant_id: assistant.id,
        thread: { messages: [{ role: 'user', content: 'hi' }], tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id] }] } } },
      }),
    )
    const created = events.find((e) => e.event === 'thread.created')!.data
    const [id] = created.tool_resources.file_search.vector_store_ids
    expect(id).toMatch(/^vs_/)
    expect(created.tool_resources).toEqual({ file_search: { vector_store_ids: [id] } })
    expect((await t.client.beta.threads.retrieve(created.id)).tool_resources).toEqual(created.tool_resources)
    expect((await t.client.vectorStores.files.list(id)).data.map((f) => f.id)).toEqual([md.id])
  })

  it('a store deleted after it was attached is no longer searched (the run still completes)', async () => {
    const md = await upload('notes.md')
    const store = await t.client.vectorStores.create({ file_ids: [md.id] })
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }], tool_resources: { file_search: { vector_store_ids: [store.id] } } })
    await t.client.vectorStores.delete(store.id)
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"lighthouse lamp"}' }] }, { text: 'Unknown.' })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'When is the lamp lit?' }] })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 20 })
    expect(run.status).toBe('completed')
    const { calls } = await searchStep(thread.id, run.id, true)
    expect((calls[0] as any).file_search.results).toEqual([])
    expect(JSON.stringify(t.upstream.chatRequests.map((r) => r.body))).not.toContain('paraffin')
  })
})

describe('tool_resources naming unknown vector stores or files', () => {
  /** What a refused request leaves behind: nothing. */
  const counts = async () => {
    const db = t.server.services.db
    const count = async (table: 'assistants' | 'threads' | 'messages' | 'runs' | 'vector_stores') =>
      Number((await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
    return { assistants: await count('assistants'), threads: await count('threads'), messages: await count('messages'), runs: await count('runs'), stores: await count('vector_stores') }
  }
  async function expectNotFound(promise: Promise<unknown>, message: string) {
    const err = await expectError(promise, 404, null, null)
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect(err.error).toEqual({ message, type: 'invalid_request_error', param: null, code: null })
  }

  it("a missing or another project's vector store is a 404 on assistant and thread create/modify and createAndRun; nothing is written", async () => {
    const other = new OpenAI({ apiKey: TEST_KEYS.b, baseURL: t.baseURL, maxRetries: 0 })
    const foreign = await other.vectorStores.create({ name: 'foreign' })
    const md = await upload('notes.md')
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }] })
    const thread = await t.client.beta.threads.create({ metadata: { k: 'v' } })
    const before = await counts()
    for (const id of ['vs_doesnotexist', foreign.id]) {
      const message = `No vector store found with id '${id}'.`
      const named = { file_search: { vector_store_ids: [id] } }
      await expectNotFound(t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }], tool_resources: named }), message)
      await expectNotFound(t.client.beta.assistants.update(assistant.id, { tool_resources: named, name: 'changed' }), message)
      await expectNotFound(t.client.beta.threads.create({ messages: [{ role: 'user', content: 'hi' }], tool_resources: named }), message)
      await expectNotFound(t.client.beta.threads.update(thread.id, { tool_resources: named, metadata: { k: 'changed' } }), message)
      await expectNotFound(t.client.beta.threads.createAndRun({ assistant_id: assistant.id, tool_resources: named }), message)
      await expectNotFound(t.client.beta.threads.createAndRun({ assistant_id: assistant.id, thread: { messages: [{ role: 'user', content: 'hi' }], tool_resources: named } }), message)
      // Checked before the thread's helper creates a store.
      await expectNotFound(
        t.client.beta.threads.createAndRun({ assistant_id: assistant.id, thread: { tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id] }] } } }, tool_resources: named }),
        message,
      )
    }
    expect(t.upstream.chatRequests).toHaveLength(0)
    expect(await counts()).toEqual(before)
    expect(await t.client.beta.assistants.retrieve(assistant.id)).toEqual(assistant)
    expect(await t.client.beta.threads.retrieve(thread.id)).toEqual(thread)
    // The other project's store is untouched and still its own.
    expect((await other.vectorStores.retrieve(foreign.id)).id).toBe(foreign.id)
  })

  it('a missing code_interpreter file is a 404 naming it; existing files and stores are accepted', async () => {
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'code_interpreter' }] })
    const before = await counts()
    const missing = { code_interpreter: { file_ids: ['file-doesnotexist'] } }
    const message = "No file found with id 'file-doesnotexist'."
    await expectNotFound(t.client.beta.assistants.create({ model: 'gpt-4o', tool_resources: missing }), message)
    await expectNotFound(t.client.beta.threads.create({ tool_resources: missing }), message)
    await expectNotFound(t.client.beta.threads.createAndRun({ assistant_id: assistant.id, tool_resources: missing }), message)
    // Checked before the helper creates its store.
    const md = await upload('notes.md')
    await expectNotFound(t.client.beta.assistants.create({ model: 'gpt-4o', tool_resources: { ...missing, file_search: { vector_stores: [{ file_ids: [md.id] }] } } }), message)
    expect(await counts()).toEqual(before)

    const store = await t.client.vectorStores.create({ file_ids: [md.id] })
    const resources = { code_interpreter: { file_ids: [md.id] }, file_search: { vector_store_ids: [store.id] } }
    expect((await t.client.beta.assistants.create({ model: 'gpt-4o', tool_resources: resources })).tool_resources).toEqual(resources)
    expect((await t.client.beta.threads.create({ tool_resources: resources })).tool_resources).toEqual(resources)
  })
})

describe('message attachments and the thread store', () => {
  it('attachments on a new thread create its store; later attachments join that store; the run searches it', async () => {
    const md = await upload('notes.md')
    const doc = await upload('garden.docx')
    const thread = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: 'Here are my notes', attachments: [{ file_id: md.id, tools: [{ type: 'file_search' }] }] }],
    })
    // The store appears on the thread object right away (OpenAI shows it in the create response).
    const [storeId] = thread.tool_resources!.file_search!.vector_store_ids!
    expect(storeId).toMatch(/^vs_/)
    expect((await t.client.beta.threads.retrieve(thread.id)).tool_resources).toEqual({ file_search: { vector_store_ids: [storeId] } })
    const store = await t.client.vectorStores.retrieve(storeId)
    expect(store.expires_after).toEqual({ anchor: 'last_active_at', days: 7 })

    const message = await t.client.beta.threads.messages.create(thread.id, {
      role: 'user',
      content: 'And my garden memo',
      attachments: [{ file_id: doc.id, tools: [{ type: 'file_search' }] }],
    })
    expect(message.attachments).toEqual([{ file_id: doc.id, tools: [{ type: 'file_search' }] }])
    expect((await t.client.beta.threads.retrieve(thread.id)).tool_resources!.file_search!.vector_store_ids).toEqual([storeId])
    expect((await t.client.vectorStores.files.list(storeId)).data.map((f) => f.id).sort()).toEqual([md.id, doc.id].sort())

    // code_interpreter-only attachments do not go to the store.
    const csv = await upload('temps.csv', 'day,temp\n1,20\n')
    await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'data', attachments: [{ file_id: csv.id, tools: [{ type: 'code_interpreter' }] }] })
    expect((await t.client.vectorStores.files.list(storeId)).data.map((f) => f.id)).not.toContain(csv.id)

    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"tomatoes ripen"}' }] }, { text: 'Late summer.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 20 })
    expect(run.status).toBe('completed')
    const { calls } = await searchStep(thread.id, run.id, false)
    expect((calls[0] as any).file_search.results[0]).toMatchObject({ file_id: doc.id, file_name: 'garden.docx' })
  })

  it('concurrent messages with attachments on a thread without a store share one new store', async () => {
    const files = await Promise.all(['a.txt', 'b.txt', 'c.txt'].map((name) => upload(name, `Contents of ${name}`)))
    const thread = await t.client.beta.threads.create()
    const before = (await t.client.vectorStores.list({ limit: 100 })).data.length
    await Promise.all(
      files.map((f) => t.client.beta.threads.messages.create(thread.id, { role: 'user', content: f.filename, attachments: [{ file_id: f.id, tools: [{ type: 'file_search' }] }] })),
    )
    const ids = (await t.client.beta.threads.retrieve(thread.id)).tool_resources!.file_search!.vector_store_ids!
    expect(ids).toHaveLength(1)
    expect((await t.client.vectorStores.files.list(ids[0])).data.map((f) => f.id).sort()).toEqual(files.map((f) => f.id).sort())
    expect((await t.client.vectorStores.list({ limit: 100 })).data.length).toBe(before + 1)
  })

  it('attachments join a store the thread already names', async () => {
    const store = await t.client.vectorStores.create({ name: 'mine' })
    const md = await upload('notes.md')
    const thread = await t.client.beta.threads.create({ tool_resources: { file_search: { vector_store_ids: [store.id] } } })
    await t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'notes', attachments: [{ file_id: md.id, tools: [{ type: 'file_search' }] }] })
    expect((await t.client.beta.threads.retrieve(thread.id)).tool_resources).toEqual({ file_search: { vector_store_ids: [store.id] } })
    expect((await t.client.vectorStores.files.list(store.id)).data.map((f) => f.id)).toEqual([md.id])
  })

  it('createAndRun thread messages with attachments create the thread store before the run searches', async () => {
    const doc = await upload('garden.docx')
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"tomatoes ripen"}' }] }, { text: 'Soon.' })
    const run = await t.client.beta.threads.createAndRunPoll(
      { assistant_id: assistant.id, thread: { messages: [{ role: 'user', content: 'When?', attachments: [{ file_id: doc.id, tools: [{ type: 'file_search' }] }] }] } },
      { pollIntervalMs: 20 },
    )
    expect(run.status).toBe('completed')
    const thread = await t.client.beta.threads.retrieve(run.thread_id)
    expect(thread.tool_resources!.file_search!.vector_store_ids).toHaveLength(1)
    const { calls } = await searchStep(run.thread_id, run.id, false)
    expect((calls[0] as any).file_search.results[0].file_id).toBe(doc.id)
  })
})

describe('file_search run steps', () => {
  async function searchRun(tool: OpenAI.Beta.FileSearchTool, opts: { runTools?: OpenAI.Beta.AssistantTool[]; text?: string; query?: string } = {}) {
    const md = await upload('notes.md')
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [tool], tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id] }] } } })
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: JSON.stringify({ query: opts.query ?? 'lighthouse lamp' }) }] }, { text: opts.text ?? 'Done.' })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Search my notes' }] })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id, ...(opts.runTools ? { tools: opts.runTools } : {}) }, { pollIntervalMs: 20 })
    expect(run.status).toBe('completed')
    return { thread, run, md, assistant }
  }

  it('reports the ranking options OpenAI reports: auto resolves to default_2024_08_21, threshold 0 by default', async () => {
    const cases: [OpenAI.Beta.FileSearchTool, { ranker: string; score_threshold: number }][] = [
      [{ type: 'file_search' }, { ranker: 'default_2024_08_21', score_threshold: 0 }],
      [{ type: 'file_search', file_search: { ranking_options: { ranker: 'auto', score_threshold: 0 } } }, { ranker: 'default_2024_08_21', score_threshold: 0 }],
      [{ type: 'file_search', file_search: { ranking_options: { score_threshold: 0.25 } } }, { ranker: 'default_2024_08_21', score_threshold: 0.25 }],
      [{ type: 'file_search', file_search: { ranking_options: { ranker: 'default_2024_08_21', score_threshold: 0.1 } } }, { ranker: 'default_2024_08_21', score_threshold: 0.1 }],
    ]
    for (const [tool, expected] of cases) {
      const { thread, run } = await searchRun(tool)
      const { calls } = await searchStep(thread.id, run.id, false)
      expect(calls[0].type).toBe('file_search')
      expect((calls[0] as any).file_search.ranking_options).toEqual(expected)
    }
  })

  it('results carry file_id, file_name and score; content only with include[] (list and retrieve)', async () => {
    const { thread, run, md } = await searchRun({ type: 'file_search' })
    const plain = await searchStep(thread.id, run.id, false)
    const call = plain.calls[0] as OpenAI.Beta.Threads.Runs.FileSearchToolCall
    expect(call.id).toMatch(/^call_/)
    expect(Object.keys(call).sort()).toEqual(['file_search', 'id', 'type'])
    expect(call.file_search.results!.length).toBeGreaterThan(0)
    for (const r of call.file_search.results!) {
      expect(Object.keys(r).sort()).toEqual(['file_id', 'file_name', 'score'])
      expect(r).toMatchObject({ file_id: md.id, file_name: 'notes.md' })
      expect(r.score).toBeGreaterThan(0)
      expect(r.score).toBeLessThanOrEqual(1)
    }
    const retrieved = await t.client.beta.threads.runs.steps.retrieve(plain.step.id, { thread_id: thread.id, run_id: run.id })
    expect(retrieved).toEqual(plain.step)

    const full = await searchStep(thread.id, run.id, true)
    const withContent = (full.calls[0] as OpenAI.Beta.Threads.Runs.FileSearchToolCall).file_search.results!
    expect(withContent.map(({ content: _c, ...rest }) => rest)).toEqual(call.file_search.results)
    for (const r of withContent) {
      expect(r.content!.length).toBe(1)
      expect(r.content![0].type).toBe('text')
      expect(r.content![0].text!.length).toBeGreaterThan(0)
    }
    const retrievedFull = await t.client.beta.threads.runs.steps.retrieve(plain.step.id, { thread_id: thread.id, run_id: run.id, include: [INCLUDE] })
    expect(retrievedFull).toEqual(full.step)
    // Scores come best first.
    const scores = withContent.map((r) => r.score)
    expect([...scores].sort((a, b) => b - a)).toEqual(scores)
  })

  it('an unsupported include value is a 400', async () => {
    const { thread, run } = await searchRun({ type: 'file_search' })
    await expectError(
      t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id, include: ['step_details.tool_calls[*].file_search.results[*].score' as never] }),
      400,
      'include',
      'invalid_value',
    )
  })

  it('max_num_results: 20 by default (5 for gpt-3.5-turbo), the assistant tool value, and a run tools override', async () => {
    const paragraphs = Array.from({ length: 150 }, (_, i) => `Entry ${i}: the lighthouse keeper logged the tide at the northern harbour, noting gulls, fog and the beacon lamp in the ledger.`).join('\n\n')
    const log = await upload('lighthouse.txt', paragraphs)
    const store = await t.client.vectorStores.create({ name: 'lighthouse' })
    await t.client.vectorStores.files.createAndPoll(
      store.id,
      { file_id: log.id, chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 0 } } },
      { pollIntervalMs: 20 },
    )
    const chunks = (await t.client.vectorStores.search(store.id, { query: 'lighthouse keeper tide', max_num_results: 50 })).data.length
    expect(chunks).toBeGreaterThan(20)

    const run = async (tool: OpenAI.Beta.FileSearchTool, runTools?: OpenAI.Beta.AssistantTool[], model = 'gpt-4o') => {
      const assistant = await t.client.beta.assistants.create({ model, tools: [tool], tool_resources: { file_search: { vector_store_ids: [store.id] } } })
      t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"lighthouse keeper tide"}' }] }, { text: 'Logged.' })
      const thread = await t.client.beta.threads.create()
      const r = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id, ...(runTools ? { tools: runTools } : {}) }, { pollIntervalMs: 20 })
      const { calls } = await searchStep(thread.id, r.id, false)
      return (calls[0] as any).file_search.results.length as number
    }
    expect(await run({ type: 'file_search' })).toBe(20)
    expect(await run({ type: 'file_search' }, undefined, 'gpt-3.5-turbo')).toBe(5)
    expect(await run({ type: 'file_search', file_search: { max_num_results: 9 } }, undefined, 'gpt-3.5-turbo')).toBe(9)
    expect(await run({ type: 'file_search', file_search: { max_num_results: 3 } })).toBe(3)
    expect(await run({ type: 'file_search', file_search: { max_num_results: 3 } }, [{ type: 'file_search', file_search: { max_num_results: 7 } }])).toBe(7)
  })

  it('streams the call: created with no calls, a delta with id/type, results without content, then the completed step', async () => {
    const md = await upload('notes.md')
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }], tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id] }] } } })
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"lighthouse lamp"}' }] }, { text: 'Found.' })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Search' }] })
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id })
    const snapshots: any[] = []
    stream.on('toolCallDone', (call) => snapshots.push(call))
    const events = await collectEvents(stream)
    expect(events.at(-1)!.event).toBe('thread.run.completed')

    const toolStepCreated = events.find((e) => e.event === 'thread.run.step.created' && e.data.type === 'tool_calls')!.data
    expect(toolStepCreated.step_details).toEqual({ type: 'tool_calls', tool_calls: [] })
    const deltas = events.filter((e) => e.event === 'thread.run.step.delta' && e.data.id === toolStepCreated.id)
    expect(deltas.length).toBeGreaterThan(0)
    const first = deltas[0].data.delta.step_details.tool_calls[0]
    expect(first).toMatchObject({ index: 0, type: 'file_search', file_search: expect.any(Object) })
    expect(first.id).toMatch(/^call_/)
    for (const d of deltas) {
      expect(d.data.object).toBe('thread.run.step.delta')
      for (const c of d.data.delta.step_details.tool_calls) for (const r of c.file_search?.results ?? []) expect(r).not.toHaveProperty('content')
    }
    const completed = events.find((e) => e.event === 'thread.run.step.completed' && e.data.id === toolStepCreated.id)!.data
    const stored = await t.client.beta.threads.runs.steps.retrieve(toolStepCreated.id, { thread_id: thread.id, run_id: completed.run_id })
    expect(completed.step_details).toEqual(stored.step_details)
    // The SDK's accumulated call equals the stored one.
    expect(snapshots).toHaveLength(1)
    expect(snapshots[0]).toEqual({ index: 0, ...(stored.step_details as any).tool_calls[0] })
  })

  it('two searches in one step: the SDK announces and finishes each call once, with its results', async () => {
    const md = await upload('notes.md')
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }], tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id] }] } } })
    t.upstream.enqueue(
      { toolCalls: [{ name: 'file_search', arguments: '{"query":"lighthouse lamp"}' }, { name: 'file_search', arguments: '{"query":"keeper tide"}' }] },
      { text: 'Found.' },
    )
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Search twice' }] })
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id })
    const created: string[] = []
    const done: any[] = []
    stream.on('toolCallCreated', (call) => created.push(call.id))
    stream.on('toolCallDone', (call) => done.push(structuredClone(call)))
    const steps = await stream.finalRunSteps()
    const stored = steps.find((s) => s.type === 'tool_calls')!
    const calls = (stored.step_details as any).tool_calls as any[]
    expect(calls.map((c) => c.type)).toEqual(['file_search', 'file_search'])
    expect(created).toEqual(calls.map((c) => c.id))
    expect(done).toEqual(calls.map((c, index) => ({ index, ...c })))
    expect(done[0].file_search.results.length).toBeGreaterThan(0)
  })

  it('a stream created with include[] carries the results content in the completed step (deltas name the results only)', async () => {
    const md = await upload('notes.md')
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }], tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id] }] } } })
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"lighthouse lamp"}' }] }, { text: 'Found.' })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Search' }] })
    const stream = t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id, include: [INCLUDE] })
    const snapshots: any[] = []
    stream.on('toolCallDone', (call) => snapshots.push(call))
    const events = await collectEvents(stream)
    const completed = events.find((e) => e.event === 'thread.run.step.completed' && e.data.type === 'tool_calls')!.data
    const stored = await t.client.beta.threads.runs.steps.retrieve(completed.id, { thread_id: thread.id, run_id: completed.run_id, include: [INCLUDE] })
    expect(completed.step_details).toEqual(stored.step_details)
    const results = (stored.step_details as any).tool_calls[0].file_search.results
    expect(results[0].content[0].text).toContain('lighthouse')
    const lastDelta = events.filter((e) => e.event === 'thread.run.step.delta' && e.data.id === completed.id).at(-1)!.data
    expect(lastDelta.delta.step_details.tool_calls[0].file_search.results).toEqual(results.map(({ content: _c, ...rest }: any) => rest))
    expect(snapshots).toHaveLength(1)

    // The same run's events replayed without include[] (the resume extension) show no content.
    const resumed = await fetch(`${t.baseURL}/threads/${thread.id}/runs/${completed.run_id}/events`, { headers: { authorization: `Bearer ${t.apiKey}`, 'openai-beta': 'assistants=v2' } })
    const frames = (await resumed.text()).split('\n\n').filter((f) => f.includes('event: thread.run.step.completed'))
    const replayed = frames.map((f) => JSON.parse(f.slice(f.indexOf('data: ') + 6))).find((d) => d.id === completed.id)
    expect(replayed.step_details.tool_calls[0].file_search.results).toEqual(results.map(({ content: _c, ...rest }: any) => rest))
  })

  it('two searches in one step are numbered apart: a marker of the second search cites its file', async () => {
    const md = await upload('notes.md')
    const doc = await upload('garden.docx')
    const assistant = await t.client.beta.assistants.create({
      model: 'gpt-4o',
      tools: [{ type: 'file_search', file_search: { max_num_results: 1 } }],
      tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id, doc.id] }] } },
    })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Two questions' }] })
    const answer = 'Tomatoes ripen late 【1:0†garden.docx】 and the notes say so 【0:0†notes.md】.'
    t.upstream.enqueue(
      { toolCalls: [{ name: 'file_search', arguments: '{"query":"lighthouse lamp"}' }, { name: 'file_search', arguments: '{"query":"tomatoes ripen"}' }] },
      { text: answer },
    )
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 20 })
    expect(run.status).toBe('completed')
    const { calls } = await searchStep(thread.id, run.id, false)
    expect(calls.map((c: any) => c.file_search.results.map((r: any) => r.file_id))).toEqual([[md.id], [doc.id]])
    // What the model was told: each search's markers carry its own number.
    const toolMessages = t.upstream.lastChat().messages.filter((m: any) => m.role === 'tool')
    expect(toolMessages[0].content).toMatch(/^【0:0†notes\.md】/)
    expect(toolMessages[1].content).toMatch(/^【1:0†garden\.docx】/)
    const [message] = (await t.client.beta.threads.messages.list(thread.id, { limit: 1 })).data
    const text = (message.content[0] as OpenAI.Beta.Threads.TextContentBlock).text
    const cite = (marker: string, fileId: string) => ({
      type: 'file_citation',
      text: marker,
      file_citation: { file_id: fileId },
      start_index: answer.indexOf(marker),
      end_index: answer.indexOf(marker) + marker.length,
    })
    expect(text).toEqual({ value: answer, annotations: [cite('【1:0†garden.docx】', doc.id), cite('【0:0†notes.md】', md.id)] })
  })

  it('annotations: markers that name no result stay plain text; a renumbered marker resolves by file name; indexes point at the marker', async () => {
    const answer = 'Per the notes 【7:3†notes.md】, and elsewhere 【0:9†unknown.pdf】 — done 【0:0†source】.'
    const { thread, md } = await searchRun({ type: 'file_search' }, { text: answer })
    const [message] = (await t.client.beta.threads.messages.list(thread.id, { limit: 1 })).data
    const text = (message.content[0] as OpenAI.Beta.Threads.TextContentBlock).text
    expect(text.value).toBe(answer)
    for (const a of text.annotations) {
      expect(a.type).toBe('file_citation')
      expect(answer.slice(a.start_index, a.end_index)).toBe(a.text)
    }
    expect(text.annotations.map((a) => [a.text, (a as any).file_citation.file_id])).toEqual([
      ['【7:3†notes.md】', md.id],
      ['【0:0†source】', md.id],
    ])
  })
})
