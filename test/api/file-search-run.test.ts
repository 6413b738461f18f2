import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { toFile } from 'openai'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { collectEvents } from '../support/stream.ts'
import { ingestor } from '../../src/ingest/ingestion.ts'

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures', name))
const INCLUDE = 'step_details.tool_calls[*].file_search.results[*].content' as const

let t: TestContext
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(() => t?.close())
beforeEach(() => t.upstream.reset())

describe('file_search in runs', () => {
  it('searches the assistant store, records the call, and annotates citations in the stream and the message', async () => {
    const pdf = await t.client.files.create({ file: await toFile(fixture('turbine.pdf'), 'turbine.pdf'), purpose: 'assistants' })
    const md = await t.client.files.create({ file: await toFile(fixture('notes.md'), 'notes.md'), purpose: 'assistants' })
    const assistant = await t.client.beta.assistants.create({
      model: 'gpt-4o',
      tools: [{ type: 'file_search', file_search: { max_num_results: 3 } }],
      tool_resources: { file_search: { vector_stores: [{ file_ids: [pdf.id, md.id] }] } },
    })
    const storeIds = assistant.tool_resources!.file_search!.vector_store_ids!
    expect(storeIds).toHaveLength(1)
    expect(storeIds[0]).toMatch(/^vs_/)
    expect((await t.client.vectorStores.retrieve(storeIds[0])).file_counts.total).toBe(2)

    const answer = 'The blade is titanium alloy 【0:0†turbine.pdf】.'
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"turbine blade material"}' }] }, { text: answer })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'What is the turbine blade made of?' }] })
    const events = await collectEvents(t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id, include: [INCLUDE] }))
    const run = events.at(-1)!.data
    expect(events.at(-1)!.event).toBe('thread.run.completed')

    // The model was offered the tool and got the search results with citation markers.
    const firstChat = t.upstream.chatRequests[0].body
    expect(firstChat.tools.map((x: any) => x.function.name)).toEqual(['file_search'])
    const toolMessage = t.upstream.lastChat().messages.find((m: any) => m.role === 'tool')
    expect(toolMessage.content).toContain('【0:0†turbine.pdf】')
    expect(toolMessage.content).toContain('titanium alloy')

    // The step: a file_search call with ranking options and (asked for) the results' content.
    // Streamed: one delta announces the call with its results, without their text.
    const callDeltas = events.filter((e) => e.event === 'thread.run.step.delta')
    expect(callDeltas).toHaveLength(1)
    const resultDelta = callDeltas[0].data.delta.step_details.tool_calls[0]
    expect(resultDelta).toMatchObject({ index: 0, type: 'file_search', id: expect.stringMatching(/^call_/) })
    expect(resultDelta.file_search.results[0]).toMatchObject({ file_id: pdf.id, file_name: 'turbine.pdf' })
    expect(resultDelta.file_search.results[0]).not.toHaveProperty('content')
    const stepDone = events.find((e) => e.event === 'thread.run.step.completed' && e.data.type === 'tool_calls')!.data
    const call = stepDone.step_details.tool_calls[0]
    expect(call.type).toBe('file_search')
    expect(call.id).toBe(resultDelta.id)
    expect(call.file_search.ranking_options).toEqual({ ranker: 'default_2024_08_21', score_threshold: 0 })
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id, include: [INCLUDE], order: 'asc' })
    const stored = steps.data[0].step_details as any
    const results = stored.tool_calls[0].file_search.results
    expect(results[0]).toMatchObject({ file_id: pdf.id, file_name: 'turbine.pdf' })
    expect(results[0].score).toBeGreaterThan(0)
    expect(results[0].content[0].text).toContain('titanium')
    expect(results.length).toBeLessThanOrEqual(3)
    // Without include[], no content.
    const plain = await t.client.beta.threads.runs.steps.retrieve(steps.data[0].id, { thread_id: thread.id, run_id: run.id })
    expect((plain.step_details as any).tool_calls[0].file_search.results[0].content).toBeUndefined()

    // Annotations: in the streamed deltas and the final message.
    const start = answer.indexOf('【')
    const annotation = { type: 'file_citation', text: '【0:0†turbine.pdf】', file_citation: { file_id: pdf.id }, start_index: start, end_index: start + '【0:0†turbine.pdf】'.length }
    const streamed = events
      .filter((e) => e.event === 'thread.message.delta')
      .flatMap((e) => e.data.delta.content ?? [])
      .flatMap((c: any) => c.text?.annotations ?? [])
    expect(streamed).toContainEqual({ index: 0, ...annotation })
    const completed = events.find((e) => e.event === 'thread.message.completed')!.data
    expect(completed.content[0].text).toEqual({ value: answer, annotations: [annotation] })
    const messages = await t.client.beta.threads.messages.list(thread.id, { order: 'desc', limit: 1 })
    expect((messages.data[0].content[0] as any).text.annotations).toEqual([annotation])
  })

  it('adds file_search attachments to an auto-created thread store and honours score_threshold', async () => {
    const doc = await t.client.files.create({ file: await toFile(fixture('garden.docx'), 'garden.docx'), purpose: 'assistants' })
    const assistant = await t.client.beta.assistants.create({
      model: 'gpt-4o',
      tools: [{ type: 'file_search', file_search: { ranking_options: { score_threshold: 0.99 } } }],
    })
    const thread = await t.client.beta.threads.create()
    await t.client.beta.threads.messages.create(thread.id, {
      role: 'user',
      content: 'When do the tomatoes ripen?',
      attachments: [{ file_id: doc.id, tools: [{ type: 'file_search' }] }],
    })
    const updated = await t.client.beta.threads.retrieve(thread.id)
    const storeId = updated.tool_resources!.file_search!.vector_store_ids![0]
    expect(storeId).toMatch(/^vs_/)
    const files = await t.client.vectorStores.files.list(storeId)
    expect(files.data.map((f) => f.id)).toEqual([doc.id])

    // Half of this query's words are in no file: the garden memo matches it only partly.
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"tomatoes ripen purple moonlight"}' }] }, { text: 'Nothing relevant was found.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 50 })
    expect(run.status).toBe('completed')
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id, include: [INCLUDE], order: 'asc' })
    const call = (steps.data[0].step_details as any).tool_calls[0]
    expect(call.file_search.ranking_options.score_threshold).toBe(0.99)
    // Below the threshold: no results, and the model is told so.
    expect(call.file_search.results).toEqual([])
    expect(t.upstream.lastChat().messages.find((m: any) => m.role === 'tool').content).toBe('No results found in the attached files.')

    // Without the threshold the same search finds the document (so the run did wait for its ingestion).
    await ingestor(t.server.services).idle()
    const hits = await t.client.vectorStores.search(storeId, { query: 'tomatoes ripen purple moonlight' })
    expect(hits.data[0].file_id).toBe(doc.id)
    expect(hits.data[0].score).toBeGreaterThan(0)
    expect(hits.data[0].score).toBeLessThan(0.99)
    expect((await t.client.vectorStores.search(storeId, { query: 'tomatoes ripen' })).data[0].score).toBe(1)
  })

  it('file_search attachments on additional_messages of a run also reach the thread store', async () => {
    const doc = await t.client.files.create({ file: await toFile(fixture('garden.docx'), 'garden.docx'), purpose: 'assistants' })
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }] })
    const thread = await t.client.beta.threads.create()
    t.upstream.enqueue({ text: 'Attached.' })
    const run = await t.client.beta.threads.runs.createAndPoll(
      thread.id,
      {
        assistant_id: assistant.id,
        additional_messages: [{ role: 'user', content: 'Keep this', attachments: [{ file_id: doc.id, tools: [{ type: 'file_search' }] }] }],
      },
      { pollIntervalMs: 50 },
    )
    expect(run.status).toBe('completed')
    const storeId = (await t.client.beta.threads.retrieve(thread.id)).tool_resources!.file_search!.vector_store_ids![0]
    expect(storeId).toMatch(/^vs_/)
    expect((await t.client.vectorStores.files.list(storeId)).data.map((f) => f.id)).toEqual([doc.id])
  })

  it('creates thread stores from tool_resources.file_search.vector_stores', async () => {
    const md = await t.client.files.create({ file: await toFile(fixture('notes.md'), 'notes.md'), purpose: 'assistants' })
    const thread = await t.client.beta.threads.create({ tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id], metadata: { k: 'v' } }] } } })
    const ids = thread.tool_resources!.file_search!.vector_store_ids!
    expect(ids).toHaveLength(1)
    expect(thread.tool_resources!.file_search).not.toHaveProperty('vector_stores')
    const store = await t.client.vectorStores.retrieve(ids[0])
    expect(store.metadata).toEqual({ k: 'v' })
    await expect(
      t.client.beta.threads.create({ tool_resources: { file_search: { vector_stores: [{ file_ids: ['file-missing'] }] } } }),
    ).rejects.toMatchObject({ status: 404 })
  })

  it("fails the run when the thread's vector store has expired (OpenAI: runs on that thread fail)", async () => {
    const md = await t.client.files.create({ file: await toFile(fixture('notes.md'), 'notes.md'), purpose: 'assistants' })
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }] })
    const thread = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: 'What does the keeper log?' }],
      tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id] }] } },
    })
    const storeId = thread.tool_resources!.file_search!.vector_store_ids![0]
    await ingestor(t.server.services).idle()
    // Seven days without activity, as far as the store knows.
    await t.server.services.db.updateTable('vector_stores').set({ expires_at: 1000 }).where('id', '=', storeId).execute()
    expect((await t.client.vectorStores.retrieve(storeId)).status).toBe('expired')
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"keeper log"}' }] }, { text: 'Nothing found.' })
    const run = await t.client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id }, { pollIntervalMs: 20 })
    expect(run.status).toBe('failed')
    expect(run.last_error).toEqual({ code: 'invalid_prompt', message: expect.stringContaining(`Vector store ${storeId} has expired`) })
    const steps = await t.client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id })
    expect(steps.data.find((s) => s.type === 'tool_calls')).toMatchObject({ status: 'failed', last_error: run.last_error })
  })
})

describe("createAndRun's top-level tool_resources", () => {
  const upload = async (name: string) => t.client.files.create({ file: await toFile(fixture(name), name), purpose: 'assistants' })
  const searchedFiles = async (threadId: string, runId: string) => {
    const steps = await t.client.beta.threads.runs.steps.list(runId, { thread_id: threadId, order: 'asc' })
    const call = steps.data.flatMap((s) => (s.step_details.type === 'tool_calls' ? s.step_details.tool_calls : []))[0] as any
    return new Set<string>(call.file_search.results.map((r: { file_id: string }) => r.file_id))
  }

  it("are the assistant's stores for that run: searched instead of the assistant's, next to the thread's, stored on neither", async () => {
    const [pdf, md, doc] = [await upload('turbine.pdf'), await upload('notes.md'), await upload('garden.docx')]
    const runStore = await t.client.vectorStores.create({ name: 'for this run', file_ids: [pdf.id] })
    // The assistant's own store (the lighthouse notes) is what the run's store replaces.
    const assistant = await t.client.beta.assistants.create({
      model: 'gpt-4o',
      tools: [{ type: 'file_search' }],
      tool_resources: { file_search: { vector_stores: [{ file_ids: [md.id] }] } },
    })
    await ingestor(t.server.services).idle()

    // One query that matches all three documents: each store's file shows up if that store is searched.
    const query = '{"query":"turbine blade lighthouse lamp tomatoes"}'
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: query }] }, { text: 'Titanium.' })
    const run = await t.client.beta.threads.createAndRunPoll(
      {
        assistant_id: assistant.id,
        thread: {
          messages: [{ role: 'user', content: 'What is the turbine blade made of?' }],
          tool_resources: { file_search: { vector_stores: [{ file_ids: [doc.id] }] } },
        },
        tool_resources: { file_search: { vector_store_ids: [runStore.id] } },
      },
      { pollIntervalMs: 50 },
    )
    expect(run.status).toBe('completed')
    expect(await searchedFiles(run.thread_id, run.id)).toEqual(new Set([pdf.id, doc.id]))
    expect(t.upstream.lastChat().messages.find((m: any) => m.role === 'tool').content).toContain('titanium alloy')

    // The thread keeps only its own store; the assistant is unchanged.
    const thread = await t.client.beta.threads.retrieve(run.thread_id)
    const threadStores = thread.tool_resources!.file_search!.vector_store_ids!
    expect(threadStores).toHaveLength(1)
    expect(threadStores).not.toContain(runStore.id)
    expect((await t.client.beta.assistants.retrieve(assistant.id)).tool_resources).toEqual(assistant.tool_resources)

    // A later run on that thread (no override) searches the assistant's store and the thread's again.
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: query }] }, { text: 'Lighthouse.' })
    const next = await t.client.beta.threads.runs.createAndPoll(run.thread_id, { assistant_id: assistant.id }, { pollIntervalMs: 50 })
    expect(next.status).toBe('completed')
    expect(await searchedFiles(run.thread_id, next.id)).toEqual(new Set([md.id, doc.id]))
  })

  it('work for an assistant without resources, and refuse the vector_stores helper (not in the spec there)', async () => {
    const pdf = await upload('turbine.pdf')
    const runStore = await t.client.vectorStores.create({ file_ids: [pdf.id] })
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }] })
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"turbine blade material"}' }] }, { text: 'Titanium.' })
    const run = await t.client.beta.threads.createAndRunPoll(
      { assistant_id: assistant.id, tool_resources: { file_search: { vector_store_ids: [runStore.id] } } },
      { pollIntervalMs: 50 },
    )
    expect(run.status).toBe('completed')
    expect(await searchedFiles(run.thread_id, run.id)).toEqual(new Set([pdf.id]))
    expect((await t.client.beta.threads.retrieve(run.thread_id)).tool_resources).toEqual({})

    const chatsBefore = t.upstream.chatRequests.length
    const err = await t.client.beta.threads
      .createAndRun({ assistant_id: assistant.id, tool_resources: { file_search: { vector_stores: [{ file_ids: [pdf.id] }] } } as any })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 400, param: 'tool_resources.file_search.vector_stores' })
    expect(t.upstream.chatRequests.length).toBe(chatsBefore)
  })
})
