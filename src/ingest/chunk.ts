import { decode, encode } from '../text/tokens.ts'

export interface ChunkingOptions {
  maxTokens: number
  overlapTokens: number
}

/** OpenAI's `auto` strategy. */
export const AUTO_CHUNKING: ChunkingOptions = { maxTokens: 800, overlapTokens: 400 }

/** Encoding works on pieces of about this many characters, so memory does not grow with the file. */
const SEGMENT_CHARS = 64 * 1024

/**
 * Byte-pair encoding is quadratic in the length of one pre-token, so runs without whitespace
 * (base64, minified code) are encoded in pieces of this many characters.
 */
const MAX_RUN = 64
const LONG_RUN = new RegExp(`\\S{${MAX_RUN + 1}}`)
const RUN_PIECE = new RegExp(`(\\S{${MAX_RUN}})`)

function encodeSegment(segment: string): number[] {
  if (!LONG_RUN.test(segment)) return encode(segment)
  const out: number[] = []
  for (const part of segment.split(RUN_PIECE)) if (part) for (const t of encode(part)) out.push(t)
  return out
}

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
    buffer = buffer.concat(encodeSegment(segment))
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
