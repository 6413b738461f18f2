import { decode, encode } from './tokenize.ts'

export interface ChunkingOptions {
  maxTokens: number
  overlapTokens: number
}

/** OpenAI's `auto` strategy. */
export const AUTO_CHUNKING: ChunkingOptions = { maxTokens: 800, overlapTokens: 400 }

/** Encoding works on pieces of about this many characters, so memory does not grow with the file. */
const SEGMENT_CHARS = 64 * 1024

/** Split text into segments at line breaks (or anywhere, for a pathological single line). */
function* segments(text: string): Generator<string> {
  let start = 0
  while (start < text.length) {
    let end = Math.min(text.length, start + SEGMENT_CHARS)
    if (end < text.length) {
      const nl = text.lastIndexOf('\n', end)
      if (nl > start) end = nl + 1
    }
    yield text.slice(start, end)
    start = end
  }
}

/**
 * Token windows of `maxTokens`, each starting `maxTokens - overlapTokens` after the previous one,
 * decoded back to text. The last window is emitted only if it holds tokens no earlier window had.
 */
export function* chunkText(text: string, opts: ChunkingOptions = AUTO_CHUNKING): Generator<string> {
  const step = opts.maxTokens - opts.overlapTokens
  let buffer: number[] = []
  /** Tokens at the start of `buffer` that the previous chunk already covered. */
  let covered = 0
  for (const segment of segments(text)) {
    buffer = buffer.concat(encode(segment))
    while (buffer.length >= opts.maxTokens) {
      yield decode(buffer.slice(0, opts.maxTokens)).trim()
      buffer = buffer.slice(step)
      covered = opts.overlapTokens
    }
  }
  if (buffer.length > covered) {
    const last = decode(buffer).trim()
    if (last) yield last
  }
}
