/**
 * Byte-pair encoding of one pre-tokenized piece, with the ranks js-tiktoken ships. Same algorithm
 * and output as tiktoken (repeatedly merge the adjacent pair of lowest rank, leftmost first), but
 * bytes are held as a latin1 string (one char per byte) and looked up as such: js-tiktoken joins
 * byte arrays into "104,101" keys for every pair at every step, which made encoding text new to
 * the process the largest cost of chunking it.
 */
export interface RankFile {
  pat_str: string
  special_tokens: Record<string, number>
  bpe_ranks: string
}

export class BytePairEncoder {
  /** Token bytes (as latin1) → rank. */
  private readonly ranks = new Map<string, number>()
  /** Rank → token bytes (as latin1). */
  private readonly bytes: string[] = []
  /** Ranks of two-byte tokens by `first << 8 | second` (-1: no such token): most merges look these up. */
  private readonly pairs = new Int32Array(1 << 16).fill(-1)
  /** Rank of each single byte (all 256 are tokens). */
  private readonly byteRanks = new Int32Array(256)
  /** Joined ranks remembered by `joinedRank`: left rank (-1: free slot), right rank, result. */
  private readonly joinedLeft = new Int32Array(JOINED_SLOTS).fill(-1)
  private readonly joinedRight = new Int32Array(JOINED_SLOTS)
  private readonly joinedRanks = new Int32Array(JOINED_SLOTS)
  private joinedCount = 0
  /** Every token's bytes, by rank: `tokenBytes[tokenStarts[t] .. tokenStarts[t + 1])` (none for unknown ranks). */
  private readonly tokenBytes: Uint8Array
  private readonly tokenStarts: Int32Array

  constructor(file: RankFile) {
    // Lines: `<ignored> <first rank> <base64 token> <base64 token> …`, ranks consecutive.
    for (const line of file.bpe_ranks.split('\n')) {
      if (!line) continue
      const fields = line.split(' ')
      const first = Number.parseInt(fields[1], 10)
      for (let i = 2; i < fields.length; i++) {
        const token = Buffer.from(fields[i], 'base64').toString('latin1')
        this.ranks.set(token, first + i - 2)
        this.bytes[first + i - 2] = token
        if (token.length === 2) this.pairs[(token.charCodeAt(0) << 8) | token.charCodeAt(1)] = first + i - 2
      }
    }
    for (let b = 0; b < 256; b++) {
      const rank = this.ranks.get(String.fromCharCode(b))
      if (rank === undefined) throw new Error(`byte ${b} is not a token of this encoding`)
      this.byteRanks[b] = rank
    }
    for (const [text, rank] of Object.entries(file.special_tokens)) this.bytes[rank] = Buffer.from(text, 'utf8').toString('latin1')
    this.tokenStarts = new Int32Array(this.bytes.length + 1)
    let size = 0
    for (let t = 0; t < this.bytes.length; t++) {
      this.tokenStarts[t] = size
      size += this.bytes[t]?.length ?? 0
    }
    this.tokenStarts[this.bytes.length] = size
    this.tokenBytes = new Uint8Array(size)
    for (let t = 0; t < this.bytes.length; t++) {
      const b = this.bytes[t]
      if (b === undefined) continue
      for (let i = 0, at = this.tokenStarts[t]; i < b.length; i++) this.tokenBytes[at + i] = b.charCodeAt(i)
    }
  }

  /** Appends the tokens of one piece (as the tokenizer's pattern cuts text) to `out`. */
  encodePiece(piece: string, out: number[]): void {
    const s = isAscii(piece) ? piece : Buffer.from(piece, 'utf8').toString('latin1')
    const whole = this.ranks.get(s)
    if (whole !== undefined) return void out.push(whole)
    this.merge(s, out)
  }

  /** The UTF-8 bytes of `tokens[from..to)` (unknown ones skipped), as a buffer to decode. */
  bytesOf(tokens: readonly number[], from = 0, to = tokens.length): Buffer {
    // Copied from one array of every token's bytes: concatenating the tokens' strings made a
    // string per token (a tenth of what ingestion allocated), reading the strings a char at a time was slower.
    to = Math.min(to, tokens.length)
    const starts = this.tokenStarts
    const arena = this.tokenBytes
    const last = starts.length - 1
    let size = 0
    for (let k = from; k < to; k++) {
      const t = tokens[k]
      if (t >= 0 && t < last) size += starts[t + 1] - starts[t]
    }
    const out = Buffer.allocUnsafe(size)
    let at = 0
    for (let k = from; k < to; k++) {
      const t = tokens[k]
      if (t < 0 || t >= last) continue
      for (let i = starts[t], end = starts[t + 1]; i < end; i++) out[at++] = arena[i]
    }
    return out
  }

  private merge(s: string, out: number[]): void {
    // Parts as the ranks of their bytes (every byte is a token); pairRanks[k] ranks parts k and k+1 joined.
    const parts: number[] = []
    for (let i = 0; i < s.length; i++) parts.push(this.byteRanks[s.charCodeAt(i)])
    const pairRanks: number[] = []
    for (let i = 0; i < s.length - 1; i++) pairRanks.push(this.joinedRank(parts[i], parts[i + 1]))
    while (pairRanks.length > 0) {
      let best = 0
      for (let k = 1; k < pairRanks.length; k++) if (pairRanks[k] < pairRanks[best]) best = k
      if (pairRanks[best] === NO_TOKEN) break
      // Merge parts best and best+1: the pairs on either side change.
      parts[best] = pairRanks[best]
      removeAt(parts, best + 1)
      removeAt(pairRanks, best)
      if (best > 0) pairRanks[best - 1] = this.joinedRank(parts[best - 1], parts[best])
      if (best < pairRanks.length) pairRanks[best] = this.joinedRank(parts[best], parts[best + 1])
    }
    for (const rank of parts) out.push(rank)
  }

  /**
   * The rank of two tokens' bytes joined (NO_TOKEN if that is not a token). Remembered by the
   * pair of ranks in an open-addressing table: words new to the process share most of their
   * pairs, and looking up a pair of numbers beats slicing and hashing the bytes each time.
   */
  private joinedRank(left: number, right: number): number {
    if (left < 256 && right < 256) {
      const b = this.bytes[left]
      const c = this.bytes[right]
      if (b.length === 1 && c.length === 1) {
        const rank = this.pairs[(b.charCodeAt(0) << 8) | c.charCodeAt(0)]
        return rank < 0 ? NO_TOKEN : rank
      }
    }
    const mask = this.joinedLeft.length - 1
    const home = ((Math.imul(left, 0x9e3779b1) ^ Math.imul(right, 0x85ebca6b)) >>> 12) & mask
    let slot = home
    for (;;) {
      const l = this.joinedLeft[slot]
      if (l === -1) break
      if (l === left && this.joinedRight[slot] === right) return this.joinedRanks[slot]
      slot = (slot + 1) & mask
    }
    const rank = this.ranks.get(this.bytes[left] + this.bytes[right]) ?? NO_TOKEN
    if (++this.joinedCount > (mask >> 1)) {
      // Half full: start again (probes stay short; the pairs in use come back quickly).
      this.joinedLeft.fill(-1)
      this.joinedCount = 1
      slot = home
    }
    this.joinedLeft[slot] = left
    this.joinedRight[slot] = right
    this.joinedRanks[slot] = rank
    return rank
  }
}

/** Removes `list[at]` (as `splice(at, 1)`, without making an array of what it removed). */
function removeAt(list: number[], at: number): void {
  list.copyWithin(at, at + 1)
  list.pop()
}

/** Larger than any rank: a pair that is no token never wins a merge. */
const NO_TOKEN = 0x7fffffff
/** Slots of the joined-rank table (a power of two). */
const JOINED_SLOTS = 1 << 17

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 127) return false
  return true
}
