import { describe, expect, it } from 'vitest'
import { chunkText } from '../../src/ingest/chunk.ts'
import { decode, encode } from '../../src/text/tokens.ts'

/** The definition: token windows of `max`, `max - overlap` apart, each decoded whole. */
function referenceChunks(text: string, max: number, overlap: number): string[] {
  const tokens = encode(text)
  const step = max - overlap
  const out: string[] = []
  let head = 0
  let covered = 0
  while (tokens.length - head >= max) {
    out.push(decode(tokens.slice(head, head + max)).trim())
    head += step
    covered = overlap
  }
  if (tokens.length - head > covered) {
    const last = decode(tokens.slice(head)).trim()
    if (last) out.push(last)
  }
  return out
}

/** Deterministic text mixing ASCII words, CJK, emoji and accents, so that steps end inside characters. */
function mixedText(seed: number, words: number): string {
  const vocab = ['alpha', 'Ωmega', '数据库', '検索', '🙂', '👩‍💻', 'naïve', 'café', 'über', 'x', '—', '…', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '42', 'chunk']
  let state = seed
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31)
  const out: string[] = []
  for (let i = 0; i < words; i++) out.push(vocab[next() % vocab.length] + (next() % 7 === 0 ? '\n' : ' '))
  return out.join('')
}

describe('chunk decoding', () => {
  it('equals decoding every window whole, also where steps end inside multi-byte characters', () => {
    for (const [max, overlap] of [
      [800, 400],
      [100, 50],
      [120, 40],
      [64, 0],
    ]) {
      for (let seed = 1; seed <= 6; seed++) {
        const text = mixedText(seed, 3000)
        expect([...chunkText(text, { maxTokens: max, overlapTokens: overlap })]).toEqual(referenceChunks(text, max, overlap))
      }
    }
  })
})
