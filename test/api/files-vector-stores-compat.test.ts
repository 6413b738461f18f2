/**
 * Files and Vector Stores, checked against OpenAI's spec through the official SDK: object shapes,
 * limits, defaults, pagination and the error bodies for bad input and unknown ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI, { toFile } from 'openai'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { ingestor } from '../../src/ingest/ingestion.ts'

let t: TestContext
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(() => t?.close())

const poll = { pollIntervalMs: 20 }

async function upload(text: string, name = 'doc.txt', client: OpenAI = t.client) {
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'assistants' })
}

/** The SDK's error for a failing call (status and OpenAI error body). */
async function failure(p: Promise<unknown>): Promise<{ status: number; error: { message: string; type: string; param: string | null; code: string | null } }> {
  const err = await p.then(
    () => {
      throw new Error('expected the call to fail')
    },
    (e) => e,
  )
  expect(err).toBeInstanceOf(OpenAI.APIError)
  return err
}

/** The search page as sent (the SDK's Page keeps only `data`). */
async function rawSearch(storeId: string, body: object) {
  const res = await fetch(`${t.baseURL}/vector_stores/${storeId}/search`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  expect(res.status).toBe(200)
  return res.json()
}

async function expectInvalid(p: Promise<unknown>, param: string | null, code?: string | null) {
  const err = await failure(p)
  expect(err.status).toBe(400)
  expect(err.error.type).toBe('invalid_request_error')
  expect(err.error.param).toBe(param)
  if (code !== undefined) expect(err.error.code).toBe(code)
  expect(typeof err.error.message).toBe('string')
  return err.error
}

describe('files', () => {
  it('returns the spec file object: required fields, no null where the spec has a string', async () => {
    const file = await upload('shape of a file object')
    expect(Object.keys(file).sort()).toEqual(['bytes', 'created_at', 'filename', 'id', 'object', 'purpose', 'status'])
    expect(file).toMatchObject({ object: 'file', bytes: 22, filename: 'doc.txt', purpose: 'assistants', status: 'processed' })
    expect(file.id).toMatch(/^file-[A-Za-z0-9]+$/)
    expect(Number.isInteger(file.created_at)).toBe(true)
    // The SDK helper polls until a terminal status.
    expect(await t.client.files.waitForProcessing(file.id, { pollInterval: 10 })).toEqual(file)
  })

  it('honours expires_after (anchor created_at, 3600..2592000 seconds) and expires batch files after 30 days', async () => {
    const file = await t.client.files.create({
      file: await toFile(Buffer.from('short lived'), 'tmp.txt'),
      purpose: 'assistants',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    })
    expect(file.expires_at).toBe(file.created_at + 3600)
    expect((await t.client.files.retrieve(file.id)).expires_at).toBe(file.created_at + 3600)

    const batchFile = await t.client.files.create({ file: await toFile(Buffer.from('{}\n'), 'in.jsonl'), purpose: 'batch' })
    expect(batchFile.expires_at).toBe(batchFile.created_at + 30 * 86400)

    const tooShort = await expectInvalid(
      t.client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'assistants', expires_after: { anchor: 'created_at', seconds: 3599 } }),
      'expires_after[seconds]',
      'integer_below_min_value',
    )
    expect(tooShort.message).toContain('3600')
    await expectInvalid(
      t.client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'assistants', expires_after: { anchor: 'created_at', seconds: 2_592_001 } }),
      'expires_after[seconds]',
      'integer_above_max_value',
    )
    await expectInvalid(
      t.client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'assistants', expires_after: { anchor: 'last_active_at' as never, seconds: 4000 } }),
      'expires_after[anchor]',
    )
    // Both fields are required.
    await expectInvalid(
      t.client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'assistants', expires_after: { anchor: 'created_at' } as never }),
      'expires_after[seconds]',
      'missing_required_parameter',
    )
    await expectInvalid(
      t.client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'assistants', expires_after: { seconds: 4000 } as never }),
      'expires_after[anchor]',
      'missing_required_parameter',
    )
    // Nothing was stored by the refused uploads.
    expect((await t.client.files.list()).data.filter((f) => f.filename === 'x.txt')).toEqual([])
  })

  it('answers unknown ids with 404 "No such File object" on retrieve, delete and content', async () => {
    for (const call of [() => t.client.files.retrieve('file-nope'), () => t.client.files.delete('file-nope'), () => t.client.files.content('file-nope')]) {
      const err = await failure(call())
      expect(err.status).toBe(404)
      expect(err.error).toEqual({ message: 'No such File object: file-nope', type: 'invalid_request_error', param: 'id', code: null })
    }
  })

  it('pages the file list with limit (1..10000), order and after, and filters by purpose', async () => {
    const own = new OpenAI({ apiKey: t.apiKey, baseURL: t.baseURL, maxRetries: 0 })
    const before = (await own.files.list({ limit: 10000 })).data.length
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await t.client.files.create({ file: await toFile(Buffer.from(`v${i}`), `v${i}.png`), purpose: 'vision' })).id)
    const all = await t.client.files.list({ purpose: 'vision' })
    expect(all.data.map((f) => f.id)).toEqual([...ids].reverse())
    expect((await t.client.files.list()).data.length).toBe(before + 3)

    const first = await t.client.files.list({ purpose: 'vision', limit: 2 })
    expect(first.data.map((f) => f.id)).toEqual([ids[2], ids[1]])
    expect(first.has_more).toBe(true)
    const next = await first.getNextPage()
    expect(next.data.map((f) => f.id)).toEqual([ids[0]])
    expect(next.has_more).toBe(false)
    const asc = await t.client.files.list({ purpose: 'vision', order: 'asc', after: ids[0] })
    expect(asc.data.map((f) => f.id)).toEqual([ids[1], ids[2]])

    // Raw body: first_id / last_id as in the spec's ListFilesResponse.
    const res = await fetch(`${t.baseURL}/files?purpose=vision&limit=2&order=asc`, { headers: { authorization: `Bearer ${t.apiKey}` } })
    expect(await res.json()).toMatchObject({ object: 'list', first_id: ids[0], last_id: ids[1], has_more: true })

    await expectInvalid(t.client.files.list({ limit: 0 }), 'limit', 'integer_below_min_value')
    await expectInvalid(t.client.files.list({ limit: 10001 }), 'limit', 'integer_above_max_value')
    await expectInvalid(t.client.files.list({ order: 'sideways' as never }), 'order', 'invalid_value')
  })

  it('deleting a file removes it from every vector store (spec: "Delete a file and remove it from all vector stores")', async () => {
    const keep = await upload('Otters hold hands while they sleep.', 'keep.txt')
    const gone = await upload('Otters use rocks as tools to open shells.', 'gone.txt')
    const storeA = await t.client.vectorStores.create({ name: 'a', file_ids: [keep.id, gone.id] })
    const storeB = await t.client.vectorStores.create({ name: 'b', file_ids: [gone.id] })
    await ingestor(t.server.services).idle()
    expect((await t.client.vectorStores.search(storeA.id, { query: 'otters rocks tools' })).data[0].file_id).toBe(gone.id)

    expect(await t.client.files.delete(gone.id)).toEqual({ id: gone.id, object: 'file', deleted: true })
    expect((await t.client.vectorStores.files.list(storeA.id)).data.map((f) => f.id)).toEqual([keep.id])
    expect((await t.client.vectorStores.files.list(storeB.id)).data).toEqual([])
    expect((await t.client.vectorStores.retrieve(storeA.id)).file_counts).toEqual({ in_progress: 0, completed: 1, failed: 0, cancelled: 0, total: 1 })
    expect((await t.client.vectorStores.retrieve(storeB.id)).usage_bytes).toBe(0)
    const err = await failure(t.client.vectorStores.files.retrieve(gone.id, { vector_store_id: storeB.id }))
    expect(err.status).toBe(404)
    const hits = await t.client.vectorStores.search(storeA.id, { query: 'otters rocks tools' })
    expect(hits.data.map((h) => h.file_id)).toEqual([keep.id])
    // Deleted means deleted: a second delete is a 404.
    expect((await failure(t.client.files.delete(gone.id))).status).toBe(404)
  })

  it('an expired file is gone: not retrievable, not listed, not attachable, and out of its vector stores', async () => {
    const file = await t.client.files.create({
      file: await toFile(Buffer.from('Expiring knowledge about narwhal tusks.'), 'expiring.txt'),
      purpose: 'assistants',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    })
    const store = await t.client.vectorStores.files.createAndPoll((await t.client.vectorStores.create({ name: 'exp' })).id, { file_id: file.id }, poll)
    expect(store.status).toBe('completed')
    // Time passes: the expiry is in the past.
    await t.server.services.db.updateTable('files').set({ expires_at: file.created_at - 1 }).where('id', '=', file.id).execute()

    expect((await failure(t.client.files.retrieve(file.id))).status).toBe(404)
    // Found expired, it was deleted for good: out of its vector store too.
    expect((await t.client.vectorStores.files.list(store.vector_store_id)).data).toEqual([])
    expect((await failure(t.client.files.content(file.id))).status).toBe(404)
    expect((await t.client.files.list()).data.map((f) => f.id)).not.toContain(file.id)
    const other = await t.client.vectorStores.create({ name: 'late' })
    expect((await failure(t.client.vectorStores.files.create(other.id, { file_id: file.id }))).status).toBe(404)
    expect((await failure(t.client.files.delete(file.id))).status).toBe(404)

    // Listing files sweeps the project's expired files the same way.
    const later = await t.client.files.create({
      file: await toFile(Buffer.from('Expiring knowledge about beluga songs.'), 'later.txt'),
      purpose: 'assistants',
      expires_after: { anchor: 'created_at', seconds: 7200 },
    })
    await t.client.vectorStores.files.createAndPoll(other.id, { file_id: later.id }, poll)
    await t.server.services.db.updateTable('files').set({ expires_at: later.created_at - 1 }).where('id', '=', later.id).execute()
    expect((await t.client.files.list()).data.map((f) => f.id)).not.toContain(later.id)
    expect((await t.client.vectorStores.retrieve(other.id)).file_counts.total).toBe(0)
  })
})

describe('vector stores', () => {
  it('returns the spec vector store object and keeps the description given on create', async () => {
    const store = await t.client.vectorStores.create({ name: 'described', description: 'Answers about otters.', metadata: { owner: 'zoo' } })
    expect(store).toMatchObject({
      object: 'vector_store',
      name: 'described',
      description: 'Answers about otters.',
      status: 'completed',
      usage_bytes: 0,
      metadata: { owner: 'zoo' },
      expires_at: null,
      file_counts: { in_progress: 0, completed: 0, failed: 0, cancelled: 0, total: 0 },
    })
    expect(store.id).toMatch(/^vs_/)
    expect(store.last_active_at).toBe(store.created_at)
    expect(await t.client.vectorStores.retrieve(store.id)).toEqual(store)
    expect((await t.client.vectorStores.list({ limit: 100 })).data.find((s) => s.id === store.id)).toEqual(store)
    // Without one, description is null; name defaults to an empty string, metadata to {}.
    const bare = await t.client.vectorStores.create({})
    expect(bare).toMatchObject({ name: '', description: null, metadata: {} })
  })

  it('validates create and update: expires_after days 1..365, metadata limits, unknown fields', async () => {
    await expectInvalid(t.client.vectorStores.create({ expires_after: { anchor: 'last_active_at', days: 0 } }), 'expires_after.days', 'integer_below_min_value')
    await expectInvalid(t.client.vectorStores.create({ expires_after: { anchor: 'last_active_at', days: 366 } }), 'expires_after.days', 'integer_above_max_value')
    await expectInvalid(t.client.vectorStores.create({ expires_after: { anchor: 'created_at' as never, days: 3 } }), 'expires_after.anchor', 'invalid_value')
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']))
    await expectInvalid(t.client.vectorStores.create({ metadata: many }), 'metadata', 'object_above_max_properties')
    await expectInvalid(t.client.vectorStores.create({ metadata: { k: 'v'.repeat(513) } }), 'metadata.k', 'string_above_max_length')
    await expectInvalid(t.client.vectorStores.create({ file_ids: Array.from({ length: 501 }, (_, i) => `file-${i}`) }), 'file_ids', 'array_above_max_length')
    await expectInvalid(t.client.vectorStores.create({ nope: 1 } as never), null)

    const store = await t.client.vectorStores.create({ name: 'upd', expires_after: { anchor: 'last_active_at', days: 3 } })
    expect(store.expires_at).toBe(store.last_active_at! + 3 * 86400)
    const updated = await t.client.vectorStores.update(store.id, { name: null, expires_after: null, metadata: { a: 'b' } })
    expect(updated).toMatchObject({ name: '', expires_at: null, metadata: { a: 'b' } })
    expect(updated.expires_after).toBeUndefined()
    await expectInvalid(t.client.vectorStores.update(store.id, { expires_after: { anchor: 'last_active_at', days: 400 } }), 'expires_after.days')
    await expectInvalid(t.client.vectorStores.update(store.id, { description: 'not updatable' } as never), null)
  })

  it('expires_after counts from last activity; an expired store reports status expired and stays so', async () => {
    const store = await t.client.vectorStores.create({ name: 'expiry', expires_after: { anchor: 'last_active_at', days: 1 } })
    const { db } = t.server.services
    // A day-old store that is still alive: a search is activity, and pushes the expiry out again.
    const dayAgo = store.created_at - 86400 + 60
    await db.updateTable('vector_stores').set({ last_active_at: dayAgo, expires_at: dayAgo + 86400 }).where('id', '=', store.id).execute()
    await t.client.vectorStores.search(store.id, { query: 'anything' })
    const active = await t.client.vectorStores.retrieve(store.id)
    expect(active.last_active_at!).toBeGreaterThanOrEqual(store.created_at)
    expect(active.expires_at).toBe(active.last_active_at! + 86400)
    expect(active.status).toBe('completed')

    // Past its expiry: expired, and using it does not bring it back.
    const past = store.created_at - 2 * 86400
    await db.updateTable('vector_stores').set({ last_active_at: past, expires_at: past + 86400 }).where('id', '=', store.id).execute()
    expect((await t.client.vectorStores.retrieve(store.id)).status).toBe('expired')
    await t.client.vectorStores.search(store.id, { query: 'anything' })
    const still = await t.client.vectorStores.retrieve(store.id)
    expect(still).toMatchObject({ status: 'expired', last_active_at: past, expires_at: past + 86400 })
    expect((await t.client.vectorStores.list({ limit: 100 })).data.find((s) => s.id === store.id)?.status).toBe('expired')
  })

  it('answers unknown or malformed ids the way OpenAI words them', async () => {
    const store = await t.client.vectorStores.create({ name: 'ids' })
    const missingStore = await failure(t.client.vectorStores.retrieve('vs_missing'))
    expect(missingStore.status).toBe(404)
    expect(missingStore.error).toMatchObject({ type: 'invalid_request_error', message: "No vector store found with id 'vs_missing'." })
    const malformed = await failure(t.client.vectorStores.retrieve('store1'))
    expect(malformed.status).toBe(400)
    expect(malformed.error).toMatchObject({ param: 'vector_store_id', message: "Invalid 'vector_store_id': 'store1'. Expected an ID that begins with 'vs'." })

    const missingFile = await failure(t.client.vectorStores.files.retrieve('file-missing', { vector_store_id: store.id }))
    expect(missingFile.status).toBe(404)
    expect(missingFile.error.message).toBe(`No file found with id 'file-missing' in vector store '${store.id}'.`)
    const calls = [
      () => t.client.vectorStores.files.update('file-missing', { vector_store_id: store.id, attributes: { a: 1 } }),
      () => t.client.vectorStores.files.delete('file-missing', { vector_store_id: store.id }),
      () => t.client.vectorStores.files.content('file-missing', { vector_store_id: store.id }),
      () => t.client.vectorStores.fileBatches.retrieve('vsfb_missing', { vector_store_id: store.id }),
      () => t.client.vectorStores.fileBatches.cancel('vsfb_missing', { vector_store_id: store.id }),
      () => t.client.vectorStores.fileBatches.listFiles('vsfb_missing', { vector_store_id: store.id }),
      () => t.client.vectorStores.files.create(store.id, { file_id: 'file-missing' }),
      () => t.client.vectorStores.search('vs_missing', { query: 'x' }),
    ]
    for (const call of calls) expect((await failure(call())).status).toBe(404)
  })

  it('validates attributes: at most 16 keys of at most 64 characters, values string (≤512) / number / boolean', async () => {
    const file = await upload('Attributes on a vector store file.')
    const store = await t.client.vectorStores.create({ name: 'attrs' })
    const create = (attributes: unknown) => t.client.vectorStores.files.create(store.id, { file_id: file.id, attributes: attributes as never })
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i % 2 ? i : `v${i}`]))
    const ok = await create({ ...sixteen, k0: true })
    expect(ok.attributes).toEqual({ ...sixteen, k0: true })

    const tooMany = await expectInvalid(create({ ...sixteen, extra: 1 }), 'attributes', 'object_above_max_properties')
    expect(tooMany.message).toBe("Invalid 'attributes': too many properties. Expected an object with at most 16 properties, but got an object with 17 properties instead.")
    const longKey = 'k'.repeat(65)
    await expectInvalid(create({ [longKey]: 1 }), `attributes.${longKey}`, 'property_name_above_max_length')
    await expectInvalid(create({ k: 'v'.repeat(513) }), 'attributes.k', 'string_above_max_length')
    await expectInvalid(create({ k: { nested: true } }), 'attributes.k', 'invalid_type')
    await expectInvalid(create({ k: [1] }), 'attributes.k', 'invalid_type')

    await ingestor(t.server.services).idle()
    const update = (attributes: unknown) => t.client.vectorStores.files.update(file.id, { vector_store_id: store.id, attributes: attributes as never })
    await expectInvalid(update({ ...sixteen, extra: 1 }), 'attributes', 'object_above_max_properties')
    await expectInvalid(t.client.vectorStores.files.update(file.id, { vector_store_id: store.id } as never), 'attributes', 'missing_required_parameter')
    expect((await update({ lang: 'en' })).attributes).toEqual({ lang: 'en' })
    expect((await t.client.vectorStores.files.retrieve(file.id, { vector_store_id: store.id })).attributes).toEqual({ lang: 'en' })
  })

  it('validates chunking_strategy: auto or static (100..4096 tokens, overlap ≤ half), closed objects', async () => {
    const file = await upload('Chunking strategies decide how a file is cut.')
    const store = await t.client.vectorStores.create({ name: 'chunking' })
    const create = (chunking_strategy: unknown) => t.client.vectorStores.files.create(store.id, { file_id: file.id, chunking_strategy: chunking_strategy as never })
    const s = (max: number, overlap: number) => ({ type: 'static', static: { max_chunk_size_tokens: max, chunk_overlap_tokens: overlap } })

    await expectInvalid(create(s(99, 0)), 'chunking_strategy.static.max_chunk_size_tokens', 'integer_below_min_value')
    await expectInvalid(create(s(4097, 0)), 'chunking_strategy.static.max_chunk_size_tokens', 'integer_above_max_value')
    await expectInvalid(create(s(200, 101)), 'chunking_strategy.static.chunk_overlap_tokens')
    await expectInvalid(create(s(200, -1)), 'chunking_strategy.static.chunk_overlap_tokens', 'integer_below_min_value')
    await expectInvalid(create({ type: 'static' }), 'chunking_strategy.static', 'missing_required_parameter')
    await expectInvalid(create({ type: 'static', static: { max_chunk_size_tokens: 200 } }), 'chunking_strategy.static.chunk_overlap_tokens', 'missing_required_parameter')
    await expectInvalid(create({ type: 'other' }), 'chunking_strategy.type', 'invalid_value')
    await expectInvalid(create({ type: 'auto', max_chunk_size_tokens: 100 }), 'chunking_strategy.max_chunk_size_tokens', 'unknown_parameter')
    await expectInvalid(create({ ...s(200, 100), static: { max_chunk_size_tokens: 200, chunk_overlap_tokens: 100, extra: 1 } }), 'chunking_strategy.static.extra', 'unknown_parameter')
    await expectInvalid(t.client.vectorStores.create({ chunking_strategy: s(4096, 2049) as never }), 'chunking_strategy.static.chunk_overlap_tokens')

    // The bounds themselves are fine; auto is reported as the static sizes it stands for.
    const edge = await t.client.vectorStores.files.createAndPoll(store.id, { file_id: file.id, chunking_strategy: s(4096, 2048) as never }, poll)
    expect(edge.chunking_strategy).toEqual(s(4096, 2048))
    const auto = await t.client.vectorStores.files.createAndPoll(store.id, { file_id: file.id, chunking_strategy: { type: 'auto' } }, poll)
    expect(auto.chunking_strategy).toEqual(s(800, 400))
    expect(auto.status).toBe('completed')
  })

  it('lists vector stores and their files with limit 1..100, order, after, before and the status filter', async () => {
    const stores = []
    for (let i = 0; i < 3; i++) stores.push(await t.client.vectorStores.create({ name: `page-${i}` }))
    const first = await t.client.vectorStores.list({ limit: 2 })
    expect(first.data.map((s) => s.id)).toEqual([stores[2].id, stores[1].id])
    expect(first.has_more).toBe(true)
    const back = await t.client.vectorStores.list({ limit: 2, before: stores[0].id })
    expect(back.data.map((s) => s.id)).toEqual([stores[2].id, stores[1].id])
    const asc = await t.client.vectorStores.list({ order: 'asc', after: stores[0].id, limit: 100 })
    expect(asc.data.map((s) => s.id).slice(0, 2)).toEqual([stores[1].id, stores[2].id])
    await expectInvalid(t.client.vectorStores.list({ limit: 101 }), 'limit', 'integer_above_max_value')
    await expectInvalid(t.client.vectorStores.list({ limit: 0 }), 'limit', 'integer_below_min_value')

    const good = await upload('Seahorses: the males carry the eggs.', 'good.txt')
    const bad = await upload('', 'empty.txt')
    const store = stores[0]
    const batch = await t.client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: [good.id, bad.id] }, poll)
    expect(batch.file_counts).toEqual({ in_progress: 0, completed: 1, failed: 1, cancelled: 0, total: 2 })
    const files = await t.client.vectorStores.files.list(store.id, { limit: 1 })
    expect(files.data.map((f) => f.id)).toEqual([bad.id])
    expect(files.has_more).toBe(true)
    expect((await files.getNextPage()).data.map((f) => f.id)).toEqual([good.id])
    expect((await t.client.vectorStores.files.list(store.id, { filter: 'completed' })).data.map((f) => f.id)).toEqual([good.id])
    expect((await t.client.vectorStores.files.list(store.id, { filter: 'failed', order: 'asc' })).data.map((f) => f.id)).toEqual([bad.id])
    expect((await t.client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id, filter: 'in_progress' })).data).toEqual([])
    await expectInvalid(t.client.vectorStores.files.list(store.id, { filter: 'done' as never }), 'filter', 'invalid_value')
    await expectInvalid(t.client.vectorStores.files.list(store.id, { limit: 101 }), 'limit', 'integer_above_max_value')
  })

  it('searches with the spec request (query string or array, max_num_results 1..50, ranking_options, filters, rewrite_query) and page', async () => {
    const a = await upload('The walrus uses its tusks to haul itself onto the ice.', 'walrus.txt')
    const b = await upload('Puffins nest in burrows on cliff tops.', 'puffin.txt')
    const store = await t.client.vectorStores.create({ name: 'search' })
    await t.client.vectorStores.fileBatches.createAndPoll(
      store.id,
      { files: [{ file_id: a.id, attributes: { kind: 'mammal', legs: 0 } }, { file_id: b.id, attributes: { kind: 'bird', legs: 2 } }] },
      poll,
    )

    const page = await rawSearch(store.id, { query: 'walrus tusks' })
    expect(Object.keys(page).sort()).toEqual(['data', 'has_more', 'next_page', 'object', 'search_query'])
    expect(page).toMatchObject({ object: 'vector_store.search_results.page', search_query: ['walrus tusks'], has_more: false, next_page: null })
    expect(page.data[0]).toEqual({
      file_id: a.id,
      filename: 'walrus.txt',
      score: expect.any(Number),
      attributes: { kind: 'mammal', legs: 0 },
      content: [{ type: 'text', text: 'The walrus uses its tusks to haul itself onto the ice.' }],
    })

    const many = await t.client.vectorStores.search(store.id, { query: ['walrus', 'puffins'], max_num_results: 1 })
    expect(many.data).toHaveLength(1)
    const birds = await t.client.vectorStores.search(store.id, { query: ['walrus', 'puffins'], filters: { type: 'eq', key: 'kind', value: 'bird' } })
    expect(birds.data.map((d) => d.file_id)).toEqual([b.id])
    const legged = await t.client.vectorStores.search(store.id, {
      query: 'walrus puffins',
      filters: { type: 'or', filters: [{ type: 'gt', key: 'legs', value: 1 }, { type: 'in', key: 'kind', value: ['fish'] }] },
    })
    expect(legged.data.map((d) => d.file_id)).toEqual([b.id])
    const strict = await t.client.vectorStores.search(store.id, { query: 'walrus', ranking_options: { ranker: 'auto', score_threshold: 1 } })
    for (const hit of strict.data) expect(hit.score).toBeGreaterThanOrEqual(1)
    const none = await t.client.vectorStores.search(store.id, { query: 'walrus', ranking_options: { ranker: 'none' }, rewrite_query: false })
    expect(none.data[0].file_id).toBe(a.id)
    // The page's search_query is the rewritten query (the SDK's Page does not expose it: read the body).
    const rewritten = await rawSearch(store.id, { query: 'what do walruses use their tusks for?', rewrite_query: true })
    expect(rewritten.search_query).toEqual(['walruses use tusks'])
    expect(rewritten.data[0].file_id).toBe(a.id)

    await expectInvalid(t.client.vectorStores.search(store.id, {} as never), 'query', 'missing_required_parameter')
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', max_num_results: 0 }), 'max_num_results', 'integer_below_min_value')
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', max_num_results: 51 }), 'max_num_results', 'integer_above_max_value')
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', ranking_options: { ranker: 'best' as never } }), 'ranking_options.ranker', 'invalid_value')
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', ranking_options: { score_threshold: 1.5 } }), 'ranking_options.score_threshold')
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', filters: { type: 'eq', key: 'kind' } as never }), 'filters.value', 'missing_required_parameter')
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', filters: { type: 'like', key: 'k', value: 'v' } as never }), 'filters.type', 'invalid_value')
    // Compound filters are told apart by type, and errors point into the nested filter.
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', filters: { type: 'and' } as never }), 'filters.filters', 'missing_required_parameter')
    await expectInvalid(
      t.client.vectorStores.search(store.id, { query: 'x', filters: { type: 'and', filters: [{ type: 'or', filters: [{ type: 'eq', key: 'k', value: null }] }] } as never }),
      'filters.filters[0].filters[0].value',
      'invalid_type',
    )
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', filters: { type: 'eq', key: 'k', value: 'v', extra: 1 } as never }), 'filters.extra', 'unknown_parameter')
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', rewrite_query: 'yes' as never }), 'rewrite_query', 'invalid_type')
    await expectInvalid(t.client.vectorStores.search(store.id, { query: 'x', extra: 1 } as never), null)
  })
})

describe('vector store file batches', () => {
  it('applies top-level attributes and chunking to file_ids, but per-file settings only with files', async () => {
    const f1 = await upload('Batch file one about krill.', 'one.txt')
    const f2 = await upload('Batch file two about plankton.', 'two.txt')
    const store = await t.client.vectorStores.create({ name: 'batch-settings' })
    const chunking = { type: 'static' as const, static: { max_chunk_size_tokens: 300, chunk_overlap_tokens: 100 } }

    const byIds = await t.client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: [f1.id, f2.id], attributes: { src: 'ids' }, chunking_strategy: chunking }, poll)
    expect(byIds).toMatchObject({ object: 'vector_store.files_batch', status: 'completed', vector_store_id: store.id })
    expect(byIds.id).toMatch(/^vsfb_/)
    for (const f of (await t.client.vectorStores.fileBatches.listFiles(byIds.id, { vector_store_id: store.id })).data) {
      expect(f).toMatchObject({ attributes: { src: 'ids' }, chunking_strategy: chunking, status: 'completed' })
    }

    const byFiles = await t.client.vectorStores.fileBatches.createAndPoll(
      store.id,
      { files: [{ file_id: f1.id, attributes: { own: 1 } }, { file_id: f2.id, chunking_strategy: chunking }], attributes: { ignored: true } } as never,
      poll,
    )
    expect(byFiles.file_counts).toEqual({ in_progress: 0, completed: 2, failed: 0, cancelled: 0, total: 2 })
    const one = await t.client.vectorStores.files.retrieve(f1.id, { vector_store_id: store.id })
    expect(one.attributes).toEqual({ own: 1 })
    expect(one.chunking_strategy).toEqual({ type: 'static', static: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 } })
    const two = await t.client.vectorStores.files.retrieve(f2.id, { vector_store_id: store.id })
    expect(two.attributes).toEqual({})
    expect(two.chunking_strategy).toEqual(chunking)
  })

  it('validates the batch body: file_ids or files (not both), 1..2000 entries, per-file fields', async () => {
    const store = await t.client.vectorStores.create({ name: 'batch-validation' })
    const f = await upload('Batch validation.', 'bv.txt')
    await expectInvalid(t.client.vectorStores.fileBatches.create(store.id, {}), 'file_ids')
    await expectInvalid(t.client.vectorStores.fileBatches.create(store.id, { file_ids: [f.id], files: [{ file_id: f.id }] }), 'file_ids')
    await expectInvalid(t.client.vectorStores.fileBatches.create(store.id, { file_ids: [] }), 'file_ids', 'empty_array')
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `file-x${i}`)
    await expectInvalid(t.client.vectorStores.fileBatches.create(store.id, { file_ids: ids(2001) }), 'file_ids', 'array_above_max_length')
    // 2000 is allowed by the schema: these ids are then unknown files, a 404.
    expect((await failure(t.client.vectorStores.fileBatches.create(store.id, { file_ids: ids(2000) }))).status).toBe(404)
    await expectInvalid(t.client.vectorStores.fileBatches.create(store.id, { files: [{ file_id: f.id, extra: 1 }] } as never), 'files[0].extra', 'unknown_parameter')
    await expectInvalid(t.client.vectorStores.fileBatches.create(store.id, { files: [{}] } as never), 'files[0].file_id', 'missing_required_parameter')
    await expectInvalid(
      t.client.vectorStores.fileBatches.create(store.id, { files: [{ file_id: f.id, attributes: { k: { x: 1 } } }] } as never),
      'files[0].attributes.k',
      'invalid_type',
    )
    // Nothing was created by refused batches.
    expect((await t.client.vectorStores.retrieve(store.id)).file_counts.total).toBe(0)
  })

  it('uploads and polls through the SDK helpers; a cancelled batch reports the spec object', async () => {
    const store = await t.client.vectorStores.create({ name: 'helpers' })
    const single = await t.client.vectorStores.files.uploadAndPoll(store.id, await toFile(Buffer.from('Uploaded by the helper.'), 'helper.txt'), poll)
    expect(single).toMatchObject({ object: 'vector_store.file', status: 'completed', vector_store_id: store.id, last_error: null })
    expect(single.usage_bytes).toBeGreaterThan(0)
    expect((await t.client.files.retrieve(single.id)).filename).toBe('helper.txt')

    const existing = await upload('Already uploaded.', 'existing.txt')
    const batch = await t.client.vectorStores.fileBatches.uploadAndPoll(
      store.id,
      { files: [await toFile(Buffer.from('First of the helper batch.'), 'b1.txt')], fileIds: [existing.id] },
      poll,
    )
    expect(batch.file_counts).toEqual({ in_progress: 0, completed: 2, failed: 0, cancelled: 0, total: 2 })
    const retrieved = await t.client.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: store.id })
    expect(Object.keys(retrieved).sort()).toEqual(['created_at', 'file_counts', 'id', 'object', 'status', 'vector_store_id'])
    expect((await t.client.vectorStores.retrieve(store.id)).file_counts.completed).toBe(3)

    const content = await t.client.vectorStores.files.content(existing.id, { vector_store_id: store.id })
    expect(content.data).toEqual([{ type: 'text', text: 'Already uploaded.' }])

    const big = []
    for (let i = 0; i < 3; i++) big.push((await upload(`slow document ${i} `.repeat(3000), `slow${i}.txt`)).id)
    const pending = await t.client.vectorStores.fileBatches.create(store.id, { file_ids: big })
    const cancelled = await t.client.vectorStores.fileBatches.cancel(pending.id, { vector_store_id: store.id })
    expect(cancelled).toMatchObject({ id: pending.id, object: 'vector_store.files_batch', status: 'cancelled', vector_store_id: store.id })
    expect(cancelled.file_counts.total).toBe(3)
    await ingestor(t.server.services).idle()
    const final = await t.client.vectorStores.fileBatches.poll(store.id, pending.id, poll)
    expect(final.status).toBe('cancelled')
    expect(final.file_counts.cancelled + final.file_counts.completed).toBe(3)
  })
})
