import { afterAll, describe, expect, it } from 'vitest'
import { Chunker, type Chunk } from '../../src/ingest/chunk.ts'
import { ChunkingThread, type CutChunk } from '../../src/ingest/chunk-thread.ts'
import { lexemeSource } from '../../src/ingest/chunk-source.ts'

const thread = ChunkingThread.start()
afterAll(() => thread.close())

const TEXT = 'The lighthouse keeper logged storms, ships and supply boats. naïve café 日本語 😀\n'.repeat(400)
const OPTIONS = { maxTokens: 120, overlapTokens: 60 }

/** Chunks cut on this thread, as the chunking thread sends them: their text, and their vectors' source. */
function inProcess(slices: string[]) {
  const chunker = new Chunker(OPTIONS)
  const chunks: Chunk[] = [...slices.flatMap((s) => chunker.push(s)), ...chunker.finish()]
  return chunks.map((c) => ({ text: c.text, source: lexemeSource(c) }))
}

const received = (chunks: CutChunk[]) => chunks.map((c) => ({ text: c.bytes.toString('utf8'), source: c.source }))

describe('the chunking thread', () => {
  it("cuts a whole text into this thread's chunks", async () => {
    const chunks = received(await thread.whole(TEXT, OPTIONS))
    expect(chunks.length).toBeGreaterThan(10)
    // Most are built from their steps (overlapping halves analysed once).
    expect(chunks.filter((c) => typeof c.source !== 'string').length).toBeGreaterThan(chunks.length / 2)
    expect(chunks).toEqual(inProcess([TEXT]))
  })

  it('cuts texts sent slice by slice, several at once, each as if whole', async () => {
    const cut = (text: string, size: number) => Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size))
    const big = TEXT.repeat(8)
    const a = cut(big, 70_001)
    const b = cut(big.toUpperCase(), 90_001)
    expect(a.length).toBeGreaterThan(3)
    const sa = thread.stream(OPTIONS)
    const sb = thread.stream(OPTIONS)
    // Interleaved requests: each stream keeps its own state on the thread.
    const pa = a.map((s) => sa.push(s))
    const pb = b.map((s) => sb.push(s))
    const [ra, rb] = [[...pa, sa.finish()], [...pb, sb.finish()]]
    expect(received((await Promise.all(ra)).flat())).toEqual(inProcess([big]))
    expect(received((await Promise.all(rb)).flat())).toEqual(inProcess([big.toUpperCase()]))
  })

  it('refuses requests once closed, and says it failed', async () => {
    const other = ChunkingThread.start()
    expect(received(await other.whole('a few words', OPTIONS))).toEqual([{ text: 'a few words', source: 'a few words' }])
    await other.close()
    expect(other.failed).toBe(true)
    await expect(other.whole('more words', OPTIONS)).rejects.toThrow(/closed/)
  })
})
