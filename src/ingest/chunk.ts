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
const RUN_PIECE = new RegExp(`(\\S{${MAX_RUN}})`)
const SPACE = /\s/

/** Whether `text` has a run of more than MAX_RUN non-whitespace characters (as `/\S{65}/`, in one pass). */
function hasLongRun(text: string): boolean {
  let run = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    const space = c < 128 ? c === 32 || (c >= 9 && c <= 13) : SPACE.test(text[i])
    if (space) run = 0
    else if (++run > MAX_RUN) return true
  }
  return false
}

/** Appends the tokens of `segment` to `out`. */
function encodeSegment(segment: string, out: number[]): void {
  if (!hasLongRun(segment)) return void encode(segment, out)
  for (const part of segment.split(RUN_PIECE)) if (part) encode(part, out)
}

/** Where the segment starting at 0 ends: at a line break (or anywhere, for a pathological single line). */
function segmentEnd(text: string): number {
  let end = Math.min(text.length, SEGMENT_CHARS)
  if (end < text.length) {
    const nl = text.lastIndexOf('\n', end)
    if (nl > 0) end = nl + 1
  }
  return end
}

/**
 * A chunk's text and, when its window is a whole number of steps decoded one by one, those steps'
 * texts: `text` is then exactly `steps.join('').trim()`, and the halves that overlapping chunks
 * share need to be analysed only once (see lexemes.ts).
 */
export interface Chunk {
  text: string
  steps: string[] | null
}

/** Text is handed to the chunker in pieces of this many characters (any size gives the same chunks). */
const PUSH_CHARS = 256 * 1024

/**
 * Incremental chunking: text goes in piece by piece (`push`), chunks come out as soon as they are
 * complete. The chunks do not depend on how the text was cut into pieces, so a streamed file
 * gives exactly the chunks of its whole text. Token windows of `maxTokens`, each starting
 * `maxTokens - overlapTokens` after the previous one, decoded back to text; the last window is
 * emitted only if it holds tokens no earlier window had.
 */
export class Chunker {
  /** Text not yet encoded (less than a segment, or the end of the text). */
  private pending = ''
  private tokens: number[] = []
  /** Index in `tokens` where the next window starts. */
  private head = 0
  /** Tokens from `head` on that the previous chunk already covered. */
  private covered = 0
  private readonly opts: ChunkingOptions
  private readonly step: number
  /** Decoded text of steps of `tokens`, by start index (see `decodeWindow`). */
  private decoded = new Map<number, string>()

  // No parameter properties here: the chunking thread loads this file with Node's type stripping.
  constructor(opts: ChunkingOptions = AUTO_CHUNKING) {
    this.opts = opts
    this.step = opts.maxTokens - opts.overlapTokens
  }

  /** Add text; returns the chunks it completed. */
  push(text: string): Chunk[] {
    this.pending += text
    const out: Chunk[] = []
    // Cut a segment only once more text follows it: then it is the segment the whole text would have.
    while (this.pending.length > SEGMENT_CHARS) this.cutSegment(out)
    return out
  }

  /** The text has ended: the remaining chunks. */
  finish(): Chunk[] {
    const out: Chunk[] = []
    while (this.pending.length > 0) this.cutSegment(out)
    if (this.tokens.length - this.head > this.covered) {
      const last = decode(this.tokens, this.head).trim()
      if (last) out.push({ text: last, steps: null })
    }
    this.tokens = []
    this.head = 0
    this.decoded.clear()
    return out
  }

  private cutSegment(out: Chunk[]): void {
    const end = segmentEnd(this.pending)
    encodeSegment(this.pending.slice(0, end), this.tokens)
    this.pending = this.pending.slice(end)
    const { maxTokens, overlapTokens } = this.opts
    while (this.tokens.length - this.head >= maxTokens) {
      out.push(this.decodeWindow(this.head, this.head + maxTokens))
      this.decoded.delete(this.head)
      this.head += this.step
      this.covered = overlapTokens
    }
    // Drop consumed tokens now and then (not per window: that would copy the buffer each time).
    if (this.head > 16_384) {
      this.tokens = this.tokens.slice(this.head)
      this.decoded = new Map([...this.decoded].map(([at, text]) => [at - this.head, text]))
      this.head = 0
    }
  }

  /**
   * The text of tokens `from`..`to`. Windows overlap, so when a window is a whole number of steps
   * each step's tokens are decoded once and reused by the next window; a step whose text starts or
   * ends inside a character (U+FFFD at its edge) makes the window decode whole instead.
   */
  private decodeWindow(from: number, to: number): Chunk {
    const step = this.step
    const whole = (): Chunk => ({ text: decode(this.tokens, from, to).trim(), steps: null })
    if (step <= 0 || (to - from) % step !== 0) return whole()
    const steps: string[] = []
    for (let at = from; at < to; at += step) {
      let piece = this.decoded.get(at)
      if (piece === undefined) {
        piece = decode(this.tokens, at, at + step)
        this.decoded.set(at, piece)
      }
      if (piece.startsWith('\uFFFD') || piece.endsWith('\uFFFD')) return whole()
      steps.push(piece)
    }
    return { text: steps.join('').trim(), steps }
  }
}

/** All chunks of a text, produced lazily (memory stays bounded by the text). */
export function* chunkText(text: string, opts: ChunkingOptions = AUTO_CHUNKING): Generator<string> {
  const chunker = new Chunker(opts)
  for (let i = 0; i < text.length; i += PUSH_CHARS) for (const chunk of chunker.push(text.slice(i, i + PUSH_CHARS))) yield chunk.text
  for (const chunk of chunker.finish()) yield chunk.text
}
