import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI, { toFile } from 'openai'
import { sql } from 'kysely'
import { startTestServer, TEST_KEYS, type TestContext } from '../support/harness.ts'
import { ingestor } from '../../src/ingest/ingestion.ts'
import { addLexemeStats, deltaBucket, deltaFrequency, deltaLineAt, statsDelta, storeDocumentFrequencies } from '../../src/ingest/term-stats.ts'
import type { ChunkingThread } from '../../src/ingest/chunk-thread.ts'
import { fileStorage } from '../../src/files/storage.ts'
import { embed } from '../support/fake-upstream.ts'

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures', name))

let t: TestContext
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(() => t?.close())

async function upload(client: OpenAI, name: string, bytes: Buffer | string) {
  return client.files.create({ file: await toFile(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, name), purpose: 'assistants' })
}

describe('vector stores', () => {
  it('ingests real PDF, DOCX, Markdown and HTML files via uploadAndPoll and finds them by search', async () => {
    const store = await t.client.vectorStores.create({ name: 'docs', metadata: { team: 'a' } })
    expect(store).toMatchObject({ object: 'vector_store', name: 'docs', status: 'completed', usage_bytes: 0, metadata: { team: 'a' } })
    expect(store.file_counts).toEqual({ in_progress: 0, completed: 0, failed: 0, cancelled: 0, total: 0 })
    expect(store.id).toMatch(/^vs_/)

    const batch = await t.client.vectorStores.fileBatches.uploadAndPoll(
      store.id,
      {
        files: await Promise.all([
          toFile(fixture('turbine.pdf'), 'turbine.pdf'),
          toFile(fixture('garden.docx'), 'garden.docx'),
          toFile(fixture('notes.md'), 'notes.md'),
          toFile(fixture('page.html'), 'page.html'),
        ]),
      },
      { pollIntervalMs: 50 },
    )
    expect(batch).toMatchObject({ object: 'vector_store.files_batch', status: 'completed', vector_store_id: store.id })
    expect(batch.id).toMatch(/^vsfb_/)
    expect(batch.file_counts).toEqual({ in_progress: 0, completed: 4, failed: 0, cancelled: 0, total: 4 })

    const files = await t.client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id })
    expect(files.data).toHaveLength(4)
    for (const f of files.data) {
      expect(f).toMatchObject({ object: 'vector_store.file', status: 'completed', last_error: null, vector_store_id: store.id })
      expect(f.chunking_strategy).toEqual({ type: 'static', static: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 } })
      expect(f.usage_bytes).toBeGreaterThan(0)
    }
    const after = await t.client.vectorStores.retrieve(store.id)
    expect(after.status).toBe('completed')
    expect(after.file_counts.completed).toBe(4)
    expect(after.usage_bytes).toBe(files.data.reduce((n, f) => n + f.usage_bytes, 0))

    const cases: [string, string, string][] = [
      ['what is the turbine blade made of', 'turbine.pdf', 'titanium'],
      ['when do greenhouse tomatoes ripen', 'garden.docx', 'seventeen days'],
      ['lighthouse lens mercury', 'notes.md', '1874'],
      ['sourdough starter name', 'page.html', 'Bartholomew'],
    ]
    for (const [query, filename, expected] of cases) {
      const page = await t.client.vectorStores.search(store.id, { query })
      expect(page.data[0], query).toMatchObject({ filename })
      expect(page.data[0].content[0].type).toBe('text')
      expect(page.data[0].content[0].text).toContain(expected)
      expect(page.data[0].score).toBeGreaterThan(0)
      expect(page.data[0].score).toBeLessThanOrEqual(1)
    }
    // HTML scripts and styles are not indexed.
    expect((await t.client.vectorStores.search(store.id, { query: 'zzzscriptzzz' })).data).toEqual([])

    // The parsed contents: the text read from the file (a PDF's words, not its bytes).
    const pdf = (await t.client.files.list()).data.find((f) => f.filename === 'turbine.pdf')!
    const content = await t.client.vectorStores.files.content(pdf.id, { vector_store_id: store.id })
    expect(content.data).toHaveLength(1)
    expect(content.data[0].type).toBe('text')
    expect(content.data[0].text).toContain('titanium')
    expect(content.data[0].text).not.toContain('%PDF')
  })

  it("returns a file's parsed contents once, not its overlapping chunks, cleaned up as ingested", async () => {
    const sentences = Array.from({ length: 120 }, (_, i) => `Sentence ${i} of the keeper's log mentions gull ${i * 7} and lamp ${i}.   `)
    const text = `\n\n  ${sentences.join('\n')}\n\n`
    const file = await upload(t.client, 'log.txt', text)
    const store = await t.client.vectorStores.create({ name: 'contents' })
    const added = await t.client.vectorStores.files.createAndPoll(store.id, { file_id: file.id, chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 50 } } }, { pollIntervalMs: 50 })
    expect(added.status).toBe('completed')
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from chunks where vector_store_id = ${store.id}`.execute(t.server.services.db)
    expect(rows[0].n).toBeGreaterThan(20)
    const response = await t.client.vectorStores.files.content(file.id, { vector_store_id: store.id }).asResponse()
    expect(response.headers.get('content-type')).toMatch(/^application\/json/)
    const page = await response.json()
    expect(Object.keys(page).sort()).toEqual(['data', 'has_more', 'next_page', 'object'])
    expect(page).toMatchObject({ object: 'vector_store.file_content.page', has_more: false, next_page: null })
    const content = await t.client.vectorStores.files.content(file.id, { vector_store_id: store.id })
    // Trailing blanks before line ends and around the text are dropped, as for indexing.
    expect(content.data).toEqual([{ type: 'text', text: sentences.map((s) => s.trimEnd()).join('\n') }])

    // Its stored bytes gone (a damaged data dir): an empty page, not a server error.
    const row = await t.server.services.db.selectFrom('files').select('storage_key').where('id', '=', file.id).executeTakeFirstOrThrow()
    rmSync((await fileStorage(t.server.services.config)).pathOf(row.storage_key))
    const gone = await t.client.vectorStores.files.content(file.id, { vector_store_id: store.id })
    expect(gone.data).toEqual([])
  })

  it('fails bad files with a clear last_error while the others complete', async () => {
    const good = await upload(t.client, 'good.txt', 'Penguins huddle together to survive the antarctic winter.')
    const corrupt = await upload(t.client, 'corrupt.pdf', fixture('corrupt.pdf'))
    const binary = await upload(t.client, 'image.md', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 1, 2, 3]))
    const empty = await upload(t.client, 'empty.txt', '   \n\n ')
    const store = await t.client.vectorStores.create({ name: 'mixed' })
    const batch = await t.client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: [good.id, corrupt.id, binary.id, empty.id] }, { pollIntervalMs: 50 })
    expect(batch.file_counts).toEqual({ in_progress: 0, completed: 1, failed: 3, cancelled: 0, total: 4 })
    const get = (id: string) => t.client.vectorStores.files.retrieve(id, { vector_store_id: store.id })
    expect(await get(good.id)).toMatchObject({ status: 'completed', last_error: null })
    expect(await get(corrupt.id)).toMatchObject({ status: 'failed', last_error: { code: 'invalid_file' } })
    expect(await get(binary.id)).toMatchObject({ status: 'failed', last_error: { code: 'unsupported_file' } })
    expect(await get(empty.id)).toMatchObject({ status: 'failed', last_error: { code: 'invalid_file' } })
    const failed = await t.client.vectorStores.files.list(store.id, { filter: 'failed' })
    expect(failed.data.map((f) => f.id).sort()).toEqual([corrupt.id, binary.id, empty.id].sort())
    // Paging a filtered list from a file that does not match the filter (as when the last file seen
    // `in_progress` has completed since), page by page through the SDK.
    const after = await t.client.vectorStores.files.list(store.id, { filter: 'failed', order: 'asc', after: good.id, limit: 1 })
    const paged: string[] = []
    for await (const f of after) paged.push(f.id)
    expect(paged).toEqual([corrupt.id, binary.id, empty.id])
    const inBatch: string[] = []
    for await (const f of t.client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id, filter: 'failed', order: 'asc', after: good.id, limit: 1 })) inBatch.push(f.id)
    expect(inBatch).toEqual([corrupt.id, binary.id, empty.id])
    const hits = await t.client.vectorStores.search(store.id, { query: 'penguins winter' })
    expect(hits.data.map((h) => h.file_id)).toEqual([good.id])
  })

  it('honours static chunking, attributes filters, max_num_results and file removal', async () => {
    const words = Array.from({ length: 600 }, (_, i) => `word${i}`).join(' ')
    const long = await upload(t.client, 'long.txt', words)
    const store = await t.client.vectorStores.create({ name: 'chunks' })
    const vsFile = await t.client.vectorStores.files.createAndPoll(
      store.id,
      { file_id: long.id, chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 50 } }, attributes: { lang: 'en', year: 2020 } },
      { pollIntervalMs: 50 },
    )
    expect(vsFile).toMatchObject({ status: 'completed', attributes: { lang: 'en', year: 2020 } })
    expect(vsFile.chunking_strategy).toEqual({ type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 50 } })
    const chunks = await sql<{ n: number }>`select count(*)::int as n from chunks where vector_store_id = ${store.id}`.execute(t.server.services.db)
    expect(chunks.rows[0].n).toBeGreaterThan(10)

    const other = await upload(t.client, 'other.txt', 'word5 appears here too')
    await t.client.vectorStores.files.createAndPoll(store.id, { file_id: other.id, attributes: { lang: 'de', year: 2024 } }, { pollIntervalMs: 50 })

    const all = await t.client.vectorStores.search(store.id, { query: 'word5', max_num_results: 2 })
    expect(all.data).toHaveLength(2)
    const de = await t.client.vectorStores.search(store.id, { query: 'word5', filters: { type: 'eq', key: 'lang', value: 'de' } })
    expect(de.data.map((d) => d.file_id)).toEqual([other.id])
    expect(de.data[0].attributes).toEqual({ lang: 'de', year: 2024 })
    const recent = await t.client.vectorStores.search(store.id, {
      query: 'word5',
      filters: { type: 'and', filters: [{ type: 'gte', key: 'year', value: 2021 }, { type: 'ne', key: 'lang', value: 'en' }] },
    })
    expect(recent.data.map((d) => d.file_id)).toEqual([other.id])

    expect(await t.client.vectorStores.files.delete(long.id, { vector_store_id: store.id })).toEqual({ id: long.id, object: 'vector_store.file.deleted', deleted: true })
    const rest = await t.client.vectorStores.search(store.id, { query: 'word5' })
    expect(rest.data.map((d) => d.file_id)).toEqual([other.id])
    // The term statistics followed: 'word5' is now in the other file's single chunk only.
    const stat = (await storeDocumentFrequencies(t.server.services.db, store.id)).find((s) => s.lexeme === 'word5')
    expect(stat?.df).toBe(1)
    // The file itself is still there.
    expect((await t.client.files.retrieve(long.id)).id).toBe(long.id)
  })

  it('ingests a batch of files together (a large one among them), each file counted as if alone', async () => {
    const small = await Promise.all(
      Array.from({ length: 24 }, (_, i) => upload(t.client, `note-${i}.md`, `# Note ${i}\n\nShared harbour words, and topic${i} with tide${i % 5}. `.repeat(40 + i * 10))),
    )
    // Over a megabyte: streamed, and settled on its own after the smaller files of its group.
    const large = await upload(t.client, 'large.txt', 'A large log of harbour tides and weather.\n'.repeat(30_000))
    const store = await t.client.vectorStores.create({ name: 'together' })
    const batch = await t.client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: [large.id, ...small.map((f) => f.id)] }, { pollIntervalMs: 50 })
    expect(batch.file_counts).toMatchObject({ completed: 25, failed: 0, in_progress: 0, total: 25 })

    const { db } = t.server.services
    // Each file's chunk count and bytes are its own.
    const files = await db.selectFrom('vector_store_files').select(['id', 'chunk_count', 'usage_bytes']).where('vector_store_id', '=', store.id).execute()
    const chunks = await db.selectFrom('chunks').select(['file_id', 'chunk_index', 'text']).where('vector_store_id', '=', store.id).execute()
    for (const f of files) {
      const own = chunks.filter((c) => c.file_id === f.id)
      expect(own.length).toBeGreaterThan(0)
      expect(f.chunk_count).toBe(own.length)
      expect(own.map((c) => c.chunk_index).sort((a, b) => a - b)).toEqual(own.map((_, i) => i))
      expect(Number(f.usage_bytes)).toBe(own.reduce((n, c) => n + Buffer.byteLength(c.text), 0))
    }
    // The store's document frequencies are exactly those of its chunks.
    const { rows: expected } = await sql<{ word: string; ndoc: number }>`
      select word, ndoc from ts_stat(${`select tsv from chunks where vector_store_id = '${store.id}'`}) order by word
    `.execute(db)
    const stats = await storeDocumentFrequencies(db, store.id)
    expect(stats.map((r) => [r.lexeme, r.df])).toEqual(expected.map((r) => [r.word, r.ndoc]))
    expect(stats.find((r) => r.lexeme === 'topic7')?.df).toBe(files.find((f) => f.id === small[7].id)!.chunk_count)

    const hits = await t.client.vectorStores.search(store.id, { query: 'topic7' })
    expect(hits.data[0].file_id).toBe(small[7].id)

    // Deleting the store deletes its statistics (a trigger: they have no foreign key).
    await t.client.vectorStores.delete(store.id)
    const left = await db.selectFrom('lexeme_stats').select((eb) => eb.fn.countAll<string>().as('n')).where('vector_store_id', '=', store.id).executeTakeFirstOrThrow()
    expect(Number(left.n)).toBe(0)
    const deltas = await db.selectFrom('lexeme_stats_deltas').select((eb) => eb.fn.countAll<string>().as('n')).where('vector_store_id', '=', store.id).executeTakeFirstOrThrow()
    expect(Number(deltas.n)).toBe(0)
  })

  it('searches count statistics still in deltas exactly as folded ones; removal and many completions fold them', async () => {
    const { db } = t.server.services
    const texts = ['Harbour tides and the keeper of the lighthouse. ', 'Weather notes from the northern pier and its tides. ']
    const files = await Promise.all(texts.map((text, i) => upload(t.client, `delta-${i}.txt`, text.repeat(300))))
    const store = await t.client.vectorStores.create({ name: 'deltas' })
    await t.client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: files.map((f) => f.id) }, { pollIntervalMs: 50 })
    await ingestor(t.server.services).idle() // folded once ingestion paused
    const deltaRows = async () =>
      Number((await db.selectFrom('lexeme_stats_deltas').select((eb) => eb.fn.countAll<string>().as('n')).where('vector_store_id', '=', store.id).executeTakeFirstOrThrow()).n)
    expect(await deltaRows()).toBe(0)
    const folded = await storeDocumentFrequencies(db, store.id)
    expect(folded.find((s) => s.lexeme === 'tide')?.df).toBeGreaterThan(1)
    const search = async () => (await t.client.vectorStores.search(store.id, { query: 'lighthouse keeper tides', max_num_results: 20 })).data.map((d) => [d.file_id, d.score, d.content[0].text])
    const foldedHits = await search()
    expect(foldedHits.length).toBeGreaterThan(0)

    // The same statistics as two completions' deltas, not yet folded: searches see the same.
    await db.deleteFrom('lexeme_stats').where('vector_store_id', '=', store.id).execute()
    const half = Math.ceil(folded.length / 2)
    await db.transaction().execute(async (trx) => {
      for (const part of [folded.slice(0, half), folded.slice(half)]) await addLexemeStats(trx, store.id, statsDelta(new Map(part.map((s) => [s.lexeme, s.df]))))
    })
    expect(await deltaRows()).toBeGreaterThan(2)
    expect(await storeDocumentFrequencies(db, store.id)).toEqual(folded)
    expect(await search()).toEqual(foldedHits)

    // Removing a file folds the deltas first, then takes its chunks out of the statistics.
    await t.client.vectorStores.files.delete(files[0].id, { vector_store_id: store.id })
    expect(await deltaRows()).toBe(0)
    const { rows: expected } = await sql<{ word: string; ndoc: number }>`
      select word, ndoc from ts_stat(${`select tsv from chunks where vector_store_id = '${store.id}'`}) order by word
    `.execute(db)
    expect((await storeDocumentFrequencies(db, store.id)).map((s) => [s.lexeme, s.df])).toEqual(expected.map((r) => [r.word, r.ndoc]))
    expect((await storeDocumentFrequencies(db, store.id)).find((s) => s.lexeme === 'lighthous')).toBeUndefined()

    // A store with many completions' deltas has them folded by the next completion.
    const before = await storeDocumentFrequencies(db, store.id)
    let seed = 7
    const letter = () => String.fromCharCode(97 + ((seed = (seed * 1103515245 + 12345) % 2147483648) % 26))
    const words = [...new Set(Array.from({ length: 600 }, (_, i) => `${letter()}${letter()}q${i}${letter()}`))].sort()
    let most = 0
    for (let k = 0; k < 12; k++) {
      await addLexemeStats(db, store.id, statsDelta(new Map(words.map((w) => [w, 1]))))
      most = Math.max(most, await deltaRows())
    }
    const folded12 = await db.selectFrom('lexeme_stats').select('df').where('vector_store_id', '=', store.id).where('lexeme', '=', words[0]).executeTakeFirst()
    expect(folded12?.df).toBeGreaterThan(0) // some completions' deltas were folded on the way
    expect(most).toBeLessThanOrEqual(1024)
    const after = new Map((await storeDocumentFrequencies(db, store.id)).map((s) => [s.lexeme, s.df]))
    for (const w of words) expect(after.get(w)).toBe(12)
    for (const s of before) expect(after.get(s.lexeme)).toBe(s.df)

    // A lexeme's row is found where searches look for it (the bucket computed alike in SQL), whatever its characters.
    const odd = ['café', 'straße', '中文', 'x😀', '😀x', 'naïve-ish', 'a', 'ǅ', "o'neil", 'tab\tline']
    await addLexemeStats(db, 'vs_buckets', statsDelta(new Map(odd.map((l, i) => [l, i + 1]))))
    for (const [i, lexeme] of odd.entries()) {
      const { rows } = await sql<{ df: number | null }>`
        select sum(${deltaFrequency(sql.ref('d.stats'), sql.val(lexeme))})::int as df from lexeme_stats_deltas d
        where d.vector_store_id = 'vs_buckets' and d.bucket = ${deltaBucket(sql.val(lexeme))} and ${deltaLineAt(sql.ref('d.stats'), sql.val(lexeme))} > 0
      `.execute(db)
      const direct = await db.selectFrom('lexeme_stats').select('df').where('vector_store_id', '=', 'vs_buckets').where('lexeme', '=', lexeme).executeTakeFirst()
      expect(rows[0].df ?? direct?.df).toBe(i + 1)
    }
  })

  it('ranks chunks of equal term weight by how close the query terms stand (proximity breaks ties)', async () => {
    // Same lexemes in both, so the same IDF score; the first-created one has them far apart.
    const apart = await upload(t.client, 'apart.txt', `lighthouse ${'keeper notes weather tide '.repeat(20)}beacon`)
    const close = await upload(t.client, 'close.txt', `${'keeper notes weather tide '.repeat(20)}lighthouse beacon`)
    const store = await t.client.vectorStores.create({ name: 'proximity', file_ids: [apart.id, close.id] })
    await ingestor(t.server.services).idle()
    expect((await t.client.vectorStores.retrieve(store.id)).file_counts.completed).toBe(2)
    const page = await t.client.vectorStores.search(store.id, { query: 'lighthouse beacon' })
    expect(page.data.map((r) => r.filename)).toEqual(['close.txt', 'apart.txt'])
    expect(page.data[0].score).toBe(page.data[1].score)
  })

  it('creates a store from file_ids, modifies, lists, deletes and validates', async () => {
    const f = await upload(t.client, 'a.txt', 'alpha beta gamma')
    const store = await t.client.vectorStores.create({ name: 'x', file_ids: [f.id], expires_after: { anchor: 'last_active_at', days: 2 } })
    expect(store.file_counts.total).toBe(1)
    expect(store.expires_after).toEqual({ anchor: 'last_active_at', days: 2 })
    expect(store.expires_at).toBe(store.last_active_at! + 2 * 86400)
    await ingestor(t.server.services).idle()
    const renamed = await t.client.vectorStores.update(store.id, { name: 'renamed', metadata: { k: 'v' } })
    expect(renamed).toMatchObject({ name: 'renamed', metadata: { k: 'v' }, status: 'completed' })
    const list = await t.client.vectorStores.list({ limit: 100 })
    expect(list.data.map((s) => s.id)).toContain(store.id)

    await expect(t.client.vectorStores.create({ file_ids: ['file-nope'] })).rejects.toMatchObject({ status: 404 })
    await expect(
      t.client.vectorStores.create({ chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 60 } } }),
    ).rejects.toMatchObject({ status: 400 })
    await expect(
      t.client.vectorStores.create({ chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 5000, chunk_overlap_tokens: 0 } } }),
    ).rejects.toMatchObject({ status: 400 })
    await expect(t.client.vectorStores.retrieve('nope')).rejects.toMatchObject({ status: 400 })
    await expect(t.client.vectorStores.search(store.id, { query: '' })).rejects.toMatchObject({ status: 400 })
    await expect(t.clientFor(TEST_KEYS.b).vectorStores.retrieve(store.id)).rejects.toMatchObject({ status: 404 })
    await expect(t.clientFor(TEST_KEYS.b).vectorStores.files.create(store.id, { file_id: f.id })).rejects.toMatchObject({ status: 404 })

    expect(await t.client.vectorStores.delete(store.id)).toEqual({ id: store.id, object: 'vector_store.deleted', deleted: true })
    await expect(t.client.vectorStores.retrieve(store.id)).rejects.toMatchObject({ status: 404 })
  })

  it('cancels a batch: files not yet ingested become cancelled', async () => {
    // Enough text (3 MB) that its ingestion cannot be over before the cancel lands, however fast it got.
    const ids = []
    for (let i = 0; i < 24; i++) ids.push((await upload(t.client, `c${i}.txt`, `cancellable document number ${i} `.repeat(4000))).id)
    const store = await t.client.vectorStores.create({ name: 'cancel' })
    const batch = await t.client.vectorStores.fileBatches.create(store.id, { file_ids: ids })
    expect(batch.status).toBe('in_progress')
    const cancelled = await t.client.vectorStores.fileBatches.cancel(batch.id, { vector_store_id: store.id })
    expect(cancelled.status).toBe('cancelled')
    await ingestor(t.server.services).idle()
    const final = await t.client.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: store.id })
    expect(final.status).toBe('cancelled')
    expect(final.file_counts.cancelled).toBeGreaterThan(0)
    expect(final.file_counts.cancelled + final.file_counts.completed).toBe(24)
    const cancelledFiles = await t.client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id, filter: 'cancelled' })
    const cancelledIds = new Set(cancelledFiles.data.map((f) => f.id))
    // Cancelled files left nothing searchable behind.
    const hits = await t.client.vectorStores.search(store.id, { query: 'cancellable document', max_num_results: 50 })
    for (const h of hits.data) expect(cancelledIds.has(h.file_id)).toBe(false)
  })
})

describe('vector stores with embeddings', () => {
  let e: TestContext
  beforeAll(async () => {
    e = await startTestServer({ embeddingModel: 'text-embedding-3-small' })
  })
  afterAll(() => e?.close())

  it('embeds chunks through the upstream /embeddings and ranks by hybrid fusion', async () => {
    const a = await upload(e.client, 'animals.txt', 'The cheetah is the fastest land animal.')
    const b = await upload(e.client, 'plants.txt', 'Bamboo is among the fastest growing plants.')
    const store = await e.client.vectorStores.create({ name: 'emb', file_ids: [a.id, b.id] })
    await ingestor(e.server.services).idle()
    const embedCalls = e.upstream.requests.filter((r) => r.path.endsWith('/embeddings'))
    // Files ingested together share requests (batches of chunks), so one or more.
    expect(embedCalls.length).toBeGreaterThanOrEqual(1)
    expect(embedCalls[0].body.model).toBe('text-embedding-3-small')
    expect(embedCalls[0].headers.authorization).toBe('Bearer sk-upstream-secret')
    const page = await e.client.vectorStores.search(store.id, { query: 'cheetah fastest animal' })
    expect(page.data[0].file_id).toBe(a.id)
    expect(page.data[0].score).toBeCloseTo(1, 5) // first in both rankings
    expect(e.upstream.requests.filter((r) => r.path.endsWith('/embeddings')).length).toBe(embedCalls.length + 1)
    const rows = await e.server.services.db.selectFrom('chunks').select('embedding').where('vector_store_id', '=', store.id).execute()
    expect(rows.every((r) => Array.isArray(r.embedding) && r.embedding.length === e.upstream.embeddingDims)).toBe(true)
  })

  it("stores each chunk's own embedding, batches of many chunks from several files alike", async () => {
    const words = ['orchard', 'glacier', 'lantern', 'meadow', 'copper']
    const files = await Promise.all(words.map((w, i) => upload(e.client, `own-${w}.txt`, Array.from({ length: 40 * (i + 1) }, (_, k) => `${w} note ${k} about the ${w} and its keeper.`).join(' '))))
    const store = await e.client.vectorStores.create({ name: 'own embeddings' })
    const chunking_strategy = { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 20 } } as const
    await e.client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: files.map((f) => f.id), chunking_strategy }, { pollIntervalMs: 50 })
    const rows = await e.server.services.db.selectFrom('chunks').select(['text', 'embedding']).where('vector_store_id', '=', store.id).execute()
    expect(rows.length).toBeGreaterThan(40)
    for (const row of rows) {
      const expected = embed(row.text, e.upstream.embeddingDims)
      expect((row.embedding as number[]).map((x, k) => Math.abs(x - expected[k]) < 1e-6)).not.toContain(false)
    }
  })

  it('a file removed from its store while its group is being ingested does not fail the others', async () => {
    const files = await Promise.all(['alpha', 'beta', 'gamma'].map((w) => upload(e.client, `${w}.txt`, `The ${w} report about harbour tides. `.repeat(50))))
    const store = await e.client.vectorStores.create({ name: 'removal' })
    let release!: () => void
    e.upstream.embeddingsGate = new Promise((resolve) => (release = resolve))
    const before = e.upstream.requests.filter((r) => r.path.endsWith('/embeddings')).length
    try {
      const batch = await e.client.vectorStores.fileBatches.create(store.id, { file_ids: files.map((f) => f.id) })
      // The group's chunks are cut and wait for their embeddings: remove one file now.
      while (e.upstream.requests.filter((r) => r.path.endsWith('/embeddings')).length === before) await new Promise((r) => setTimeout(r, 10))
      await e.client.vectorStores.files.delete(files[1].id, { vector_store_id: store.id })
      release()
      const done = await e.client.vectorStores.fileBatches.poll(store.id, batch.id, { pollIntervalMs: 50 })
      expect(done.status).toBe('completed')
    } finally {
      e.upstream.embeddingsGate = null
      release()
    }
    const left = await e.client.vectorStores.files.list(store.id)
    expect(left.data.map((f) => [f.id, f.status]).sort()).toEqual([[files[0].id, 'completed'], [files[2].id, 'completed']].sort())
    const chunks = await e.server.services.db.selectFrom('chunks').select('file_id').where('vector_store_id', '=', store.id).execute()
    expect(new Set(chunks.map((c) => c.file_id))).toEqual(new Set([files[0].id, files[2].id]))
    const hits = await e.client.vectorStores.search(store.id, { query: 'gamma report' })
    expect(hits.data[0].file_id).toBe(files[2].id)
  })

  it('retries a failed embeddings request, and fails the file with server_error when the endpoint stays down', async () => {
    const f = await upload(e.client, 'retry.txt', 'Retries make flaky endpoints bearable.')
    const store = await e.client.vectorStores.create({ name: 'retry' })
    e.upstream.embeddingFailures = 1
    const ok = await e.client.vectorStores.files.createAndPoll(store.id, { file_id: f.id }, { pollIntervalMs: 50 })
    expect(ok).toMatchObject({ status: 'completed', last_error: null })

    const g = await upload(e.client, 'down.txt', 'This one never gets embedded.')
    e.upstream.embeddingFailures = 100
    const failed = await e.client.vectorStores.files.createAndPoll(store.id, { file_id: g.id }, { pollIntervalMs: 50 })
    e.upstream.embeddingFailures = 0
    expect(failed).toMatchObject({ status: 'failed', last_error: { code: 'server_error' } })
    // The other file is unaffected.
    expect((await e.client.vectorStores.retrieve(store.id)).file_counts).toMatchObject({ completed: 1, failed: 1, total: 2 })

    // Many batches of chunks waiting for their embeddings at once, all failing: the file fails
    // (no batch's failure goes unhandled while the ones before it are still being sent).
    const many = await upload(e.client, 'many-batches.txt', Array.from({ length: 3000 }, (_, i) => `line ${i} of a long file.`).join('\n'))
    e.upstream.embeddingFailures = 1000
    const manyFailed = await e.client.vectorStores.files.createAndPoll(
      store.id,
      { file_id: many.id, chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 0 } } },
      { pollIntervalMs: 50 },
    )
    e.upstream.embeddingFailures = 0
    expect(manyFailed).toMatchObject({ status: 'failed', last_error: { code: 'server_error' } })
  })
})

describe('the chunking thread', () => {
  const chunkCount = async (storeId: string) =>
    (await sql<{ n: number }>`select count(*)::int as n from chunks where vector_store_id = ${storeId}`.execute(t.server.services.db)).rows[0].n
  /** Waits until ingestion has written a first chunk into the store (the thread is then mid-way). */
  async function firstChunkWritten(storeId: string): Promise<void> {
    const deadline = Date.now() + 20_000
    while ((await chunkCount(storeId)) === 0) {
      if (Date.now() > deadline) throw new Error('no chunk written')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  it('gone mid-ingestion: the file being cut fails with server_error, the next ones complete on a new thread', async () => {
    const line = (i: number) => `Report ${i}: the weather station logged wind, rain and the temperature at dawn.`
    const big = await upload(t.client, 'big-log.txt', Array.from({ length: 80_000 }, (_, i) => line(i)).join('\n'))
    const store = await t.client.vectorStores.create({ name: 'thread' })
    const service = ingestor(t.server.services) as unknown as { chunkingThread(): ChunkingThread }
    await t.client.vectorStores.files.create(store.id, { file_id: big.id })
    // Once its first chunks are written, the thread cutting them is ended (as if it had crashed).
    await firstChunkWritten(store.id)
    await service.chunkingThread().close()
    const failed = await t.client.vectorStores.files.poll(store.id, big.id, { pollIntervalMs: 50 })
    expect(failed).toMatchObject({ status: 'failed', last_error: { code: 'server_error' } })
    expect(await chunkCount(store.id)).toBe(0)

    const small = await upload(t.client, 'small-log.txt', line(1))
    expect(await t.client.vectorStores.files.createAndPoll(store.id, { file_id: small.id }, { pollIntervalMs: 50 })).toMatchObject({ status: 'completed' })
    expect((await t.client.vectorStores.search(store.id, { query: 'weather station' })).data.map((d) => d.file_id)).toEqual([small.id])
  })

  it('gone while small files wait to be cut: they are cut again by a new thread, and all complete', async () => {
    const service = ingestor(t.server.services) as unknown as { chunkingThread(): ChunkingThread }
    const ids: string[] = []
    for (let i = 0; i < 300; i++) ids.push((await upload(t.client, `memo-${i}.txt`, `Memo ${i}. ${'The ferry timetable changes with the tides and the season. '.repeat(160)}`)).id)
    const store = await t.client.vectorStores.create({ name: 'many' })
    const batch = await t.client.vectorStores.fileBatches.create(store.id, { file_ids: ids })
    await firstChunkWritten(store.id)
    const gone = service.chunkingThread()
    await gone.close()
    const done = await t.client.vectorStores.fileBatches.poll(store.id, batch.id, { pollIntervalMs: 50 })
    expect(done.file_counts).toEqual({ in_progress: 0, completed: 300, failed: 0, cancelled: 0, total: 300 })
    // A new thread took over (the files after the ended one were cut by it).
    expect(service.chunkingThread()).not.toBe(gone)
  })
})

describe('deleting while ingesting', () => {
  it('deletes stores whose files are being ingested, every time (no deadlock with the ingestion completing them)', async () => {
    // On Postgres, deleting a store locks its row and then its files'; completing files locked the
    // files' rows and then met the store's row: one of the two was aborted as a deadlock (a 500).
    const text = Array.from({ length: 400 }, (_, i) => `The lighthouse lamp ${i} is lit with paraffin at dusk.`).join('\n')
    for (let i = 0; i < 25; i++) {
      const file = await upload(t.client, `lamp-${i}.md`, text)
      const store = await t.client.vectorStores.create({ file_ids: [file.id] })
      await new Promise((resolve) => setTimeout(resolve, i % 10))
      expect(await t.client.vectorStores.delete(store.id)).toEqual({ id: store.id, object: 'vector_store.deleted', deleted: true })
    }
    await ingestor(t.server.services).idle()
  })

  it('deletes files, removes them from a store and cancels their batch while they are ingested, every time', async () => {
    const text = Array.from({ length: 400 }, (_, i) => `The harbour crane ${i} lifts crates at noon.`).join('\n')
    const store = await t.client.vectorStores.create({ name: 'busy' })
    for (let i = 0; i < 20; i++) {
      const f = await upload(t.client, `crane-${i}.md`, text)
      const g = await upload(t.client, `crate-${i}.md`, text)
      const batch = await t.client.vectorStores.fileBatches.create(store.id, { file_ids: [f.id, g.id] })
      await new Promise((resolve) => setTimeout(resolve, i % 10))
      await Promise.all([
        t.client.files.delete(f.id),
        i % 2 ? t.client.vectorStores.files.delete(g.id, { vector_store_id: store.id }) : t.client.vectorStores.fileBatches.cancel(batch.id, { vector_store_id: store.id }),
      ])
    }
    await ingestor(t.server.services).idle()
    const counts = (await t.client.vectorStores.retrieve(store.id)).file_counts
    expect(counts.in_progress).toBe(0)
    expect(counts.total).toBe(counts.completed + counts.cancelled + counts.failed)
  })
})

describe('the embedded database without autovacuum', () => {
  it.skipIf(process.env.TEST_DB === 'postgres')('is analyzed once enough chunks arrive, so searches are planned for the real table', async () => {
    const text = Array.from({ length: 6000 }, (_, i) => `entry${i % 701} holds value ${i}.`).join('\n')
    const file = await upload(t.client, 'many-chunks.txt', text)
    const store = await t.client.vectorStores.create({
      name: 'planner statistics',
      file_ids: [file.id],
      chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 0 } },
    })
    await ingestor(t.server.services).idle()
    expect((await t.client.vectorStores.retrieve(store.id)).file_counts.completed).toBe(1)
    const { rows } = await sql<{ tuples: number; total: number; analyzed: boolean }>`
      select c.reltuples::float8 as tuples, (select count(*) from chunks)::float8 as total, s.last_analyze is not null as analyzed
      from pg_class c join pg_stat_user_tables s on s.relid = c.oid
      where c.relname = 'chunks' and s.schemaname = 'public'
    `.execute(t.server.services.db)
    expect(rows[0].analyzed).toBe(true)
    // Analyzed after this store's chunks were written: the planner knows about them.
    expect(rows[0].tuples).toBe(rows[0].total)
    expect(rows[0].total).toBeGreaterThan(300)
  })
})

describe('the upkeep after ingestion', () => {
  it('waits for ingestion to pause: batches back to back are completed without it, and it folds their statistics once', async () => {
    const ingest = ingestor(t.server.services)
    const { db } = t.server.services
    const delay = ingest.upkeepDelayMs
    ingest.upkeepDelayMs = 60_000 // longer than the test: only idle() starts it
    try {
      const store = await t.client.vectorStores.create({ name: 'upkeep' })
      const deltaRows = async () =>
        Number((await db.selectFrom('lexeme_stats_deltas').select((eb) => eb.fn.countAll<string>().as('n')).where('vector_store_id', '=', store.id).executeTakeFirstOrThrow()).n)
      // Each completion writes its statistics as delta rows (one per bucket its lexemes fall in).
      const rowsAfter: number[] = []
      for (const [i, word] of ['quartz', 'basalt'].entries()) {
        const file = await upload(t.client, `upkeep-${i}.txt`, `Notes on ${word} and granite. `.repeat(200))
        const batch = await t.client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: [file.id] }, { pollIntervalMs: 20 })
        expect(batch.file_counts.completed).toBe(1)
        rowsAfter.push(await deltaRows())
      }
      // Both completions' statistics are still deltas: no upkeep ran between or after the batches.
      expect(rowsAfter[0]).toBeGreaterThan(0)
      expect(rowsAfter[1]).toBeGreaterThan(rowsAfter[0])
      const hits = await t.client.vectorStores.search(store.id, { query: 'basalt' })
      expect(new Set(hits.data.map((h) => h.filename))).toEqual(new Set(['upkeep-1.txt']))
      // Waiting for ingestion to be idle runs the upkeep now: the deltas are folded, the counts kept.
      await ingest.idle()
      expect(await deltaRows()).toBe(0)
      const stats = new Map((await storeDocumentFrequencies(db, store.id)).map((r) => [r.lexeme, r.df]))
      expect(stats.get('granit')).toBe(stats.get('quartz')! + stats.get('basalt')!)
      expect(stats.get('quartz')).toBeGreaterThan(0)
    } finally {
      ingest.upkeepDelayMs = delay
    }
  })
})

describe('concurrent changes to a store', () => {
  const text = (word: string) => Array.from({ length: 120 }, (_, i) => `The ${word} ${i} is moored at the quay.`).join('\n')

  it('adds the same files in different orders at once (batches, single files, attachments), without a deadlock', async () => {
    const store = await t.client.vectorStores.create({ name: 'shared' })
    for (let i = 0; i < 20; i++) {
      const files = await Promise.all(Array.from({ length: 6 }, (_, j) => upload(t.client, `moor-${i}-${j}.md`, text(`barge${i}x${j}`))))
      const ids = files.map((f) => f.id)
      const [a, b] = await Promise.all([
        t.client.vectorStores.fileBatches.create(store.id, { file_ids: ids }),
        t.client.vectorStores.fileBatches.create(store.id, { file_ids: [...ids].reverse() }),
        ...ids.map((file_id) => t.client.vectorStores.files.create(store.id, { file_id })),
      ])
      expect([a.object, b.object]).toEqual(['vector_store.files_batch', 'vector_store.files_batch'])
    }
    // Two messages with attachments on one thread: both add to the thread's store.
    const thread = await t.client.beta.threads.create()
    const files = await Promise.all(Array.from({ length: 6 }, (_, j) => upload(t.client, `note-${j}.md`, text(`note${j}`))))
    await Promise.all(
      [files, [...files].reverse()].map((fs) =>
        t.client.beta.threads.messages.create(thread.id, { role: 'user', content: 'see', attachments: fs.map((f) => ({ file_id: f.id, tools: [{ type: 'file_search' as const }] })) }),
      ),
    )
    await ingestor(t.server.services).idle()
    const counts = (await t.client.vectorStores.retrieve(store.id)).file_counts
    expect(counts).toMatchObject({ completed: 120, total: 120, in_progress: 0 })
  })

  it('adds files to a store while the store or the file is deleted: a 404 or a success, never a file left in a store without it', async () => {
    for (let i = 0; i < 20; i++) {
      const store = await t.client.vectorStores.create({ name: `doomed-${i}` })
      const f = await upload(t.client, `doomed-${i}.md`, text(`skiff${i}`))
      const status = (p: Promise<unknown>) => p.then(() => 200, (err) => (err instanceof OpenAI.APIError ? err.status : 0))
      const results = await Promise.all([
        status(t.client.vectorStores.files.create(store.id, { file_id: f.id })),
        status(t.client.vectorStores.fileBatches.create(store.id, { file_ids: [f.id] })),
        status(t.client.vectorStores.update(store.id, { metadata: { round: String(i) } })),
        status(i % 2 ? t.client.vectorStores.delete(store.id) : t.client.files.delete(f.id)),
      ])
      for (const s of results) expect([200, 404]).toContain(s)
      if (i % 2 === 0) {
        // The file is gone: it is in no store (adding it afterwards is a 404 too).
        await expect(t.client.vectorStores.files.retrieve(f.id, { vector_store_id: store.id })).rejects.toMatchObject({ status: 404 })
      }
    }
    await ingestor(t.server.services).idle()
  })
})

describe('adding a file again while it is being ingested', () => {
  it('a file removed (or its batch cancelled) and added again mid-ingestion is completed by its new ingestion, with its chunks and statistics', async () => {
    // The earlier ingestion went on and completed the new entry: its chunks had gone with the
    // removal (a completed file without chunks), or the statistics counted the file twice.
    const text = (word: string) => Array.from({ length: 200 }, (_, i) => `The ${word} ${i} sails past the quay at dawn.`).join('\n')
    const store = await t.client.vectorStores.create({ name: 'again' })
    for (let i = 0; i < 20; i++) {
      const f = await upload(t.client, `again-${i}.md`, text(`ketch${i}`))
      const batch = await t.client.vectorStores.fileBatches.create(store.id, { file_ids: [f.id] })
      await new Promise((resolve) => setTimeout(resolve, i % 7))
      // The removal and the new add race too: either order must end with the file completed (or
      // removed, when the add came first).
      await Promise.all([
        i % 2
          ? t.client.vectorStores.files.delete(f.id, { vector_store_id: store.id })
          : t.client.vectorStores.fileBatches.cancel(batch.id, { vector_store_id: store.id }),
        t.client.vectorStores.files.create(store.id, { file_id: f.id }),
      ])
    }
    await ingestor(t.server.services).idle()
    const files = await t.client.vectorStores.files.list(store.id, { limit: 100 })
    expect(files.data.length).toBeGreaterThanOrEqual(10)
    for (const f of files.data) expect(f.status).toMatch(/^(completed|cancelled)$/)
    for (const f of files.data.filter((f) => f.status === 'completed')) {
      const content = await t.client.vectorStores.files.content(f.id, { vector_store_id: store.id })
      expect(content.data.length).toBeGreaterThan(0)
    }
    // The store's statistics count each completed file's chunks once.
    const { rows: expected } = await sql<{ word: string; ndoc: number }>`
      select word, ndoc from ts_stat(${`select tsv from chunks c join vector_store_files f on f.vector_store_id = c.vector_store_id and f.id = c.file_id where c.vector_store_id = '${store.id}' and f.status = 'completed'`}) order by word
    `.execute(t.server.services.db)
    const stats = await storeDocumentFrequencies(t.server.services.db, store.id)
    expect(stats.filter((s) => s.df !== 0).map((s) => [s.lexeme, s.df])).toEqual(expected.map((r) => [r.word, r.ndoc]))
    const chunkCounts = await sql<{ id: string }>`
      select f.id from vector_store_files f
      where f.vector_store_id = ${store.id} and f.chunk_count <> (select count(*) from chunks c where c.vector_store_id = f.vector_store_id and c.file_id = f.id)
    `.execute(t.server.services.db)
    expect(chunkCounts.rows).toEqual([])
  })
})
