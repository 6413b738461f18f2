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
    for (const [text, rank] of Object.entries(file.special_tokens)) this.bytes[rank] = Buffer.from(text, 'utf8').toString('latin1')
  }

  /** Appends the tokens of one piece (as the tokenizer's pattern cuts text) to `out`. */
  encodePiece(piece: string, out: number[]): void {
    const s = isAscii(piece) ? piece : Buffer.from(piece, 'utf8').toString('latin1')
    const whole = this.ranks.get(s)
    if (whole !== undefined) return void out.push(whole)
    this.merge(s, out)
  }

  /** The UTF-8 bytes of tokens (unknown ones skipped), as a buffer to decode. */
  bytesOf(tokens: readonly number[]): Buffer {
    let s = ''
    for (const t of tokens) s += this.bytes[t] ?? ''
    return Buffer.from(s, 'latin1')
  }

  private merge(s: string, out: number[]): void {
    const n = s.length
    // Parts start at starts[k] and end where the next starts; pairRanks[k] ranks parts k and k+1 joined.
    const starts: number[] = []
    for (let i = 0; i <= n; i++) starts.push(i)
    const pairRanks: number[] = []
    for (let i = 0; i < n - 1; i++) pairRanks.push(this.rankOf(s, i, i + 2))
    while (pairRanks.length > 0) {
      let best = 0
      for (let k = 1; k < pairRanks.length; k++) if (pairRanks[k] < pairRanks[best]) best = k
      if (pairRanks[best] === Infinity) break
      // Merge parts best and best+1: its boundary goes, the pairs on either side change.
      starts.splice(best + 1, 1)
      pairRanks.splice(best, 1)
      if (best > 0) pairRanks[best - 1] = this.rankOf(s, starts[best - 1], starts[best + 1])
      if (best < pairRanks.length) pairRanks[best] = this.rankOf(s, starts[best], starts[best + 2])
    }
    for (let k = 0; k < starts.length - 1; k++) {
      const rank = this.rankOf(s, starts[k], starts[k + 1])
      if (rank !== Infinity) out.push(rank)
    }
  }

  private rankOf(s: string, from: number, to: number): number {
    if (to - from === 2) {
      const rank = this.pairs[(s.charCodeAt(from) << 8) | s.charCodeAt(from + 1)]
      return rank < 0 ? Infinity : rank
    }
    return this.ranks.get(s.slice(from, to)) ?? Infinity
  }
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 127) return false
  return true
}
