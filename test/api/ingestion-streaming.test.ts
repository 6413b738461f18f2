import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { toFile } from 'openai'
import { sql } from 'kysely'
import { startTestServer, type TestContext } from '../support/harness.ts'
import { collectEvents } from '../support/stream.ts'
import { Chunker, chunkText } from '../../src/ingest/chunk.ts'
import { ingestor } from '../../src/ingest/ingestion.ts'
import { chunkLexemes } from '../../src/ingest/lexemes.ts'
import { lexemeSource } from '../../src/ingest/chunk-source.ts'
import { extractText } from '../../src/ingest/parse.ts'
import { SLICE_BYTES, STREAM_MIN_BYTES } from '../../src/ingest/source.ts'

let t: TestContext
beforeAll(async () => {
  t = await startTestServer()
})
afterAll(() => t?.close())
beforeEach(() => t.upstream.reset())

/** Deterministic filler: numbered lines with multi-byte characters, trailing blanks and CRLFs. */
function filler(bytes: number, seed: number): string {
  const lines: string[] = []
  let size = 0
  for (let i = 0; size < bytes; i++) {
    const n = (i * 7919 + seed) % 1000
    const line = `Line ${seed}-${i}: the survey notes mention café ${n}, über-wide corridors and 日本 tea, checked on day ${n % 31}. ${i % 5 === 0 ? '  \t' : ''}${i % 11 === 0 ? '\r' : ''}`
    lines.push(line)
    size += Buffer.byteLength(line) + 1
  }
  return lines.join('\n')
}

async function storedChunks(storeId: string, fileId: string): Promise<string[]> {
  const rows = await t.server.services.db
    .selectFrom('chunks')
    .select(['text', 'chunk_index'])
    .where('vector_store_id', '=', storeId)
    .where('file_id', '=', fileId)
    .orderBy('chunk_index')
    .execute()
  return rows.map((r) => r.text)
}

describe('streamed ingestion of large text files', () => {
  it('gives the same chunks as parsing the whole file, across slice boundaries, and cites them', async () => {
    // A fact written across the first slice boundary, one in the last lines, then trailing whitespace.
    const boundaryFact = 'The vault combination of the quillfeather archive is 4417-zephyr-9.'
    const head = filler(SLICE_BYTES - 30, 1)
    const text = `\uFEFF  \n${head}\n${boundaryFact}\n${filler(STREAM_MIN_BYTES + 200_000, 2)}\nFinally the lantern keeper named Orsolya Brightwater signed the log.\n \t\n\n`
    const bytes = Buffer.from(text)
    expect(bytes.length).toBeGreaterThan(STREAM_MIN_BYTES)
    // The fact really straddles the first slice.
    const factStart = bytes.indexOf(boundaryFact)
    expect(factStart).toBeLessThan(SLICE_BYTES)
    expect(factStart + boundaryFact.length).toBeGreaterThan(SLICE_BYTES)

    const file = await t.client.files.create({ file: await toFile(bytes, 'survey.md'), purpose: 'assistants' })
    const store = await t.client.vectorStores.create({ name: 'big' })
    const chunking_strategy = { type: 'static' as const, static: { max_chunk_size_tokens: 300, chunk_overlap_tokens: 100 } }
    const vsFile = await t.client.vectorStores.files.createAndPoll(store.id, { file_id: file.id, chunking_strategy }, { pollIntervalMs: 100 })
    expect(vsFile).toMatchObject({ status: 'completed', last_error: null })

    // Exactly the chunks of the whole file's text: overlap carried over slice boundaries.
    const expected = [...chunkText(await extractText(bytes, 'survey.md'), { maxTokens: 300, overlapTokens: 100 })]
    const chunks = await storedChunks(store.id, file.id)
    expect(chunks.length).toBe(expected.length)
    expect(chunks).toEqual(expected)
    expect(chunks.some((c) => c.includes(boundaryFact))).toBe(true)
    expect(chunks.at(-1)).toMatch(/signed the log\.$/)
    // Its parsed contents: the whole text once, a slice per item (streamed in the response).
    const content = await t.client.vectorStores.files.content(file.id, { vector_store_id: store.id })
    expect(content.data.length).toBeGreaterThan(1)
    expect(content.data.map((d) => d.text).join('')).toBe(await extractText(bytes, 'survey.md'))

    // Searchable, with the right file and text.
    const found = await t.client.vectorStores.search(store.id, { query: 'quillfeather vault combination', max_num_results: 3 })
    expect(found.data[0]).toMatchObject({ file_id: file.id, filename: 'survey.md' })
    // Overlapping chunks: the fact is whole in one of the best (others hold part of it).
    expect(found.data.some((r) => r.content[0].text.includes(boundaryFact))).toBe(true)
    const last = await t.client.vectorStores.search(store.id, { query: 'Orsolya Brightwater lantern keeper', max_num_results: 3 })
    expect(last.data.some((r) => r.content[0].text.includes('Orsolya Brightwater'))).toBe(true)

    // A run cites the streamed file.
    const assistant = await t.client.beta.assistants.create({ model: 'gpt-4o', tools: [{ type: 'file_search' }], tool_resources: { file_search: { vector_store_ids: [store.id] } } })
    const answer = 'It is 4417-zephyr-9 【0:0†survey.md】.'
    t.upstream.enqueue({ toolCalls: [{ name: 'file_search', arguments: '{"query":"quillfeather archive vault combination"}' }] }, { text: answer })
    const thread = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'What opens the quillfeather vault?' }] })
    const events = await collectEvents(t.client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id }))
    expect(events.at(-1)!.event).toBe('thread.run.completed')
    const toolMessage = t.upstream.lastChat().messages.find((m: any) => m.role === 'tool')
    expect(toolMessage.content).toContain('4417-zephyr-9')
    const completed = events.find((e) => e.event === 'thread.message.completed')!.data
    const start = answer.indexOf('【')
    expect(completed.content[0].text.annotations).toEqual([
      { type: 'file_citation', text: '【0:0†survey.md】', file_citation: { file_id: file.id }, start_index: start, end_index: start + '【0:0†survey.md】'.length },
    ])
  })

  it('fails a large file with invalid UTF-8 after its first slice and keeps none of its chunks', async () => {
    const bytes = Buffer.concat([Buffer.from(filler(STREAM_MIN_BYTES + SLICE_BYTES, 3)), Buffer.from([0xc3, 0x28]), Buffer.from(' tail\n')])
    const file = await t.client.files.create({ file: await toFile(bytes, 'broken.txt'), purpose: 'assistants' })
    const store = await t.client.vectorStores.create({ name: 'broken' })
    const vsFile = await t.client.vectorStores.files.createAndPoll(store.id, { file_id: file.id }, { pollIntervalMs: 100 })
    expect(vsFile.status).toBe('failed')
    expect(vsFile.last_error).toMatchObject({ code: 'unsupported_file' })
    expect(await storedChunks(store.id, file.id)).toEqual([])
    expect((await t.client.vectorStores.search(store.id, { query: 'survey notes corridors' })).data).toEqual([])
  })
})

/** The lexemes of a tsvector in binary format, in the order written. */
function binaryLexemes(tsv: Buffer): Buffer[] {
  const out: Buffer[] = []
  let at = 4
  for (let k = tsv.readInt32BE(0); k > 0; k--) {
    const end = tsv.indexOf(0, at)
    out.push(tsv.subarray(at, end))
    at = end + 1 + 2 + 2 * tsv.readUInt16BE(end + 1)
  }
  expect(at).toBe(tsv.length)
  return out
}

describe('full-text vectors built from per-word analyses', () => {
  it('equal to_tsvector of the whole chunk', async () => {
    const texts = [
      'The quick brown foxes jumped over the lazy dogs; the dogs were not amused.',
      "Don't e-mail john.doe@example.com about the state-of-the-art v2.3.1 release at https://example.com/a/b?c=1 or /usr/local/bin.",
      'Numbers: 42, -17, 3.14159, 1e10, 0x1F and 2024-05-01; café, naïve, straße, Ελληνικά, русский, 日本語 text.',
      'code: const x = foo(bar)->baz[1]; if (a && b || !c) { return a_b_c + d.e.f } // comment',
      "Quotes 'single' and \"double\", back\\slash, O'Reilly's books, l'été, tab\tseparated\r\nlines",
      'A tag <a href="https://example.com/x y">link text</a> and <b>bold</b> and a < b > c comparison.',
      'Stop words: the a an of to in is it and or but - then hyphen-ated co-operation self-driving-cars.',
      `${'word '.repeat(300)}repeated many times, more than the 255 positions a lexeme keeps.`,
      '   leading and trailing blanks   ',
      // Plain words (asked of the stemming dictionary directly), with trailing punctuation and in capitals.
      `The Running CARESSES ponies, relational; Generously: I! A? an. ${'x'.repeat(64)} ${'y'.repeat(65)} Was WAS was. said: http: mailto: www. e. g. etc.`,
      'Ünïcödé\u00a0non-breaking\u2003em-space\u3000ideographic space and zero\u200bwidth.',
      // Lexemes first used out of the database's order: prefixes after longer words, bytes above ASCII, astral letters.
      'zebra zebras zeb ábaco abacus catalogue category cat 𝔘nicode ｆull ωmega zz z',
    ]
    const built = await chunkLexemes(t.server.services.db, texts)
    for (const [i, text] of texts.entries()) {
      // Sent in the order the database keeps a vector's lexemes (bytes, a prefix first): it has nothing to sort.
      const lexemes = binaryLexemes(built[i].tsv)
      for (let k = 1; k < lexemes.length; k++) expect(Buffer.compare(lexemes[k - 1], lexemes[k])).toBe(-1)
      const { rows } = await sql<{ same: boolean; ours: string; theirs: string }>`
        select ${built[i].tsv}::tsvector = to_tsvector('english', ${text}) as same, ${built[i].tsv}::tsvector::text as ours, to_tsvector('english', ${text})::text as theirs
      `.execute(t.server.services.db)
      expect(rows[0].ours).toBe(rows[0].theirs)
      expect(rows[0].same).toBe(true)
    }
    // Pieces seen before are known without the database: the same vectors again.
    expect(await chunkLexemes(t.server.services.db, texts)).toEqual(built)
  })

  it('a chunk written without a vector gets to_tsvector of its text; a supplied one is kept', async () => {
    const file = await t.client.files.create({ file: await toFile(Buffer.from('harbour pilots and tide tables'), 'tides.txt'), purpose: 'assistants' })
    const store = await t.client.vectorStores.create({ file_ids: [file.id] })
    await ingestor(t.server.services).idle()
    const { db } = t.server.services
    const text = 'Lighthouse keepers logged the running tides.'
    await sql`insert into chunks (vector_store_id, file_id, chunk_index, text) values (${store.id}, ${file.id}, 99, ${text})`.execute(db)
    const built = (await chunkLexemes(db, ['Supplied vectors are kept as they are.']))[0].tsv
    await sql`insert into chunks (vector_store_id, file_id, chunk_index, text, tsv) values (${store.id}, ${file.id}, 100, ${'anything'}, ${built}::tsvector)`.execute(db)
    const { rows } = await sql<{ chunk_index: number; ok: boolean }>`
      select chunk_index, case chunk_index when 99 then tsv = to_tsvector('english', text) else tsv = to_tsvector('english', 'Supplied vectors are kept as they are.') end as ok
      from chunks where vector_store_id = ${store.id} and chunk_index in (99, 100) order by chunk_index
    `.execute(db)
    expect(rows).toEqual([
      { chunk_index: 99, ok: true },
      { chunk_index: 100, ok: true },
    ])
  })
})

describe('full-text vectors of overlapping chunks, built from their shared steps', () => {
  it('equal to_tsvector of each chunk, wherever the steps cut words, whatever the window', async () => {
    // Invented words (split into several tokens, so steps often end inside one), numbers, URLs,
    // hyphenated words, stop words, non-ASCII letters and spaces, runs without spaces, tags.
    let seed = 11
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    const syllables = ['zor', 'qua', 'mel', 'thi', 'vex', 'ont', 'ra', 'ul', 'pré', 'ße']
    const extras = ['the', 'and', 'of', 'e-mail', 'v2.3.1', 'https://example.com/a?b=1', '42,', 'state-of-the-art', 'café.', 'x'.repeat(70), 'nbsp\u00a0word', '\u3000ideo', 'end.\n\n', 'tab\there']
    const word = () => (rand() < 0.3 ? extras[Math.floor(rand() * extras.length)] : Array.from({ length: 1 + Math.floor(rand() * 4) }, () => syllables[Math.floor(rand() * syllables.length)]).join(''))
    const text = Array.from({ length: 6000 }, word).join(' ')
    const tagged = `${text.slice(0, 3000)} <b>bold words</b> ${text.slice(3000, 6000)}`
    for (const [source, opts] of [
      [text, { maxTokens: 800, overlapTokens: 400 }],
      [text, { maxTokens: 60, overlapTokens: 30 }],
      [text, { maxTokens: 90, overlapTokens: 60 }],
      [text, { maxTokens: 64, overlapTokens: 0 }],
      [text, { maxTokens: 100, overlapTokens: 35 }],
      [tagged, { maxTokens: 50, overlapTokens: 25 }],
    ] as const) {
      const chunker = new Chunker(opts)
      const chunks = [...chunker.push(source), ...chunker.finish()]
      expect(chunks.map((c) => c.text)).toEqual([...chunkText(source, opts)])
      // Windows of whole steps come with their steps (those are what this test is about).
      if (opts.maxTokens % (opts.maxTokens - opts.overlapTokens) === 0) expect(chunks.filter((c) => c.steps).length).toBeGreaterThan(chunks.length / 2)
      // Each chunk's source as the chunking thread decides it (its steps where it can).
      const built = await chunkLexemes(t.server.services.db, chunks.map(lexemeSource))
      // Each vector as the parameter ingestion sends (binary tsvector), next to its chunk's text.
      const { rows } = await sql<{ i: number; ours: string; theirs: string }>`
        select i, ours::text as ours, to_tsvector('english', text)::text as theirs
        from (values ${sql.join(chunks.map((c, i) => sql`(${i}::int, ${c.text}::text, ${built[i].tsv}::tsvector)`))}) as u(i, text, ours)
        where ours is distinct from to_tsvector('english', text)
      `.execute(t.server.services.db)
      expect(rows, JSON.stringify(opts)).toEqual([])
      for (const { tsv } of built) {
        const lexemes = binaryLexemes(tsv)
        expect(lexemes.every((l, k) => k === 0 || Buffer.compare(lexemes[k - 1], l) < 0)).toBe(true)
      }
      // The same chunks as plain texts (no steps): the same vectors.
      expect(await chunkLexemes(t.server.services.db, chunks.map((c) => c.text))).toEqual(built)
    }
    // Steps whose joined text `trim()` cuts at other Unicode spaces, or at a step's whole text.
    const edges = [
      [' \u00a0alpha beta ', 'gamma\u3000 '],
      ['\n\n', '  delta epsilon', ' zeta  '],
      ['eta the', '', 'theta\u2003'],
      ['spl', 'it word', 's end'],
    ].map((steps) => ({ text: steps.join('').trim(), steps }))
    const built = await chunkLexemes(t.server.services.db, edges.map(lexemeSource))
    for (const [i, edge] of edges.entries()) {
      const { rows } = await sql<{ same: boolean }>`select ${built[i].tsv}::tsvector = to_tsvector('english', ${edge.text}) as same`.execute(t.server.services.db)
      expect(rows[0].same, JSON.stringify(edge.steps)).toBe(true)
    }
  })
})
