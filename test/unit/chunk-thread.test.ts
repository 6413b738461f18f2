import { afterAll, describe, expect, it } from 'vitest'
import { Chunker, type Chunk } from '../../src/ingest/chunk.ts'
import { ChunkingThread } from '../../src/ingest/chunk-thread.ts'

const thread = ChunkingThread.start()
afterAll(() => thread.close())

const TEXT = 'The lighthouse keeper logged storms, ships and supply boats. naïve café 日本語 😀\n'.repeat(400)
const OPTIONS = { maxTokens: 120, overlapTokens: 40 }

function inProcess(slices: string[]): Chunk[] {
  const chunker = new Chunker(OPTIONS)
  return [...slices.flatMap((s) => chunker.push(s)), ...chunker.finish()]
}

describe('the chunking thread', () => {
  it("cuts a whole text into this thread's chunks", async () => {
    const chunks = await thread.whole(TEXT, OPTIONS)
    expect(chunks.length).toBeGreaterThan(10)
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
    expect((await Promise.all(ra)).flat()).toEqual(inProcess([big]))
    expect((await Promise.all(rb)).flat()).toEqual(inProcess([big.toUpperCase()]))
  })

  it('refuses requests once closed, and says it failed', async () => {
    const other = ChunkingThread.start()
    expect(await other.whole('a few words', OPTIONS)).toEqual([{ text: 'a few words', steps: null }])
    await other.close()
    expect(other.failed).toBe(true)
    await expect(other.whole('more words', OPTIONS)).rejects.toThrow(/closed/)
  })
})
