import { sql } from 'kysely'
import type { Db } from '../store/db.ts'
import { mayHoldTag, type LexemeSource } from './chunk-source.ts'

/**
 * The full-text vectors of chunks, built here instead of by `to_tsvector('english', text)` in the
 * database. Parsing text is most of what `to_tsvector` costs (on embedded PGlite it runs at a few
 * MB/s), and with OpenAI's default 800/400 chunking every byte would be parsed twice. Postgres'
 * default text-search parser never lets a token span ASCII whitespace (markup tags aside), so a
 * text's vector is the union of its whitespace-separated pieces' vectors with positions shifted.
 * Each distinct piece is analysed once by the database itself (same parser, stemmer and stop
 * words, so queries still match) and remembered; a chunk that may contain a tag (`<`) is analysed
 * whole. The result equals `to_tsvector('english', text)`. It is sent in tsvector's binary format
 * (`tsvectorrecv`): building it is a copy of each lexeme's bytes and two bytes per position, and
 * the database reads it without the quoting, escapes and number parsing of the text form. Its
 * lexemes are sent in the order the database keeps them (see `rankNewLexemes`).
 */

/** What `to_tsvector` makes of one piece: (lexeme id, position relative to the piece) pairs. */
interface PieceLexemes {
  occurrences: number[]
  /** Positions the piece takes up (stop words count: `to_tsvector('simple', …)`'s last one). */
  width: number
}

export interface ChunkLexemes {
  /** The tsvector in binary format: a parameter for `$n::tsvector` (sent as binary by both drivers). */
  tsv: Buffer
  /** Its distinct lexemes (for the store's document frequencies). */
  lexemes: string[]
}

/** Postgres' limits: positions above 16383 are clamped, a lexeme keeps at most 255 of them. */
const MAX_POS = 16383
const MAX_POSITIONS = 255
const CACHE_LIMIT = 200_000
/** Longer pieces (minified code, base64) rarely repeat: not worth remembering. */
const CACHEABLE_PIECE = 64
const ASCII_SPACE = /[ \t\n\v\f\r]+/

/** Known pieces, and the lexemes they use, numbered (cleared together when the cache is full). */
let cache = new Map<string, PieceLexemes>()
let lexemeIds = new Map<string, number>()
let lexemeNames: string[] = []
/**
 * The lexemes' UTF-8 bytes, by id: `lexemeArena[lexemeStart[id] .. lexemeEnd[id])`. One buffer,
 * not a Buffer per lexeme: the caches' objects are what the garbage collector keeps marking.
 */
let lexemeArena = Buffer.allocUnsafe(1 << 16)
let arenaUsed = 0
let lexemeStart = new Int32Array(1024)
let lexemeEnd = new Int32Array(1024)
/**
 * The positions of each lexeme in the chunk being built, as a list through scratch slots:
 * `positionCounts[id]` of them, from slot `firstSlot[id]` following `nextSlot` (to `lastSlot[id]`).
 * Counts are reset as each chunk's vector is written.
 */
let positionCounts = new Int32Array(1024)
let firstSlot = new Int32Array(1024)
let lastSlot = new Int32Array(1024)
let slotPosition: Int32Array<ArrayBuffer> = new Int32Array(4096)
let nextSlot: Int32Array<ArrayBuffer> = new Int32Array(4096)
/** Scratch for the ids a chunk uses (one array for all chunks: a new one per chunk was garbage). */
let touched: Int32Array<ArrayBuffer> = new Int32Array(1024)
/**
 * The lexemes in the order of a tsvector's: `lexemeRank[id]` is an id's place, `rankedIds[rank]`
 * the id at a place; ids from `ranked` on are not placed yet. `tsvectorrecv` sorts a vector whose
 * lexemes arrive out of that order (a qsort per chunk, in the database's thread); sent in order,
 * it only checks. Sorting a chunk's ids is then a numeric sort of their ranks, here.
 */
let lexemeRank: Int32Array<ArrayBuffer> = new Int32Array(1024)
let rankedIds: Int32Array<ArrayBuffer> = new Int32Array(1024)
let ranked = 0
/** Scratch for a chunk's ranks. */
let ranks: Int32Array<ArrayBuffer> = new Int32Array(1024)

function grow(list: Int32Array): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(list.length * 2)
  grown.set(list)
  return grown
}

/** Forget every lexeme (with the piece cache). */
function resetLexemes(): void {
  cache = new Map()
  singleLexemes = []
  lexemeIds = new Map()
  lexemeNames = []
  lexemeArena = Buffer.allocUnsafe(1 << 16)
  arenaUsed = 0
  lexemeStart = new Int32Array(1024)
  lexemeEnd = new Int32Array(1024)
  positionCounts = new Int32Array(1024)
  firstSlot = new Int32Array(1024)
  lastSlot = new Int32Array(1024)
  lexemeRank = new Int32Array(1024)
  rankedIds = new Int32Array(1024)
  ranked = 0
}

function lexemeId(lexeme: string): number {
  let id = lexemeIds.get(lexeme)
  if (id === undefined) {
    id = lexemeNames.length
    lexemeIds.set(lexeme, id)
    lexemeNames.push(lexeme)
    if (id >= positionCounts.length) {
      positionCounts = grow(positionCounts)
      firstSlot = grow(firstSlot)
      lastSlot = grow(lastSlot)
      lexemeStart = grow(lexemeStart)
      lexemeEnd = grow(lexemeEnd)
      lexemeRank = grow(lexemeRank)
      rankedIds = grow(rankedIds)
    }
    const size = Buffer.byteLength(lexeme)
    if (arenaUsed + size > lexemeArena.length) {
      const grown = Buffer.allocUnsafe(Math.max(lexemeArena.length * 2, arenaUsed + size))
      lexemeArena.copy(grown, 0, 0, arenaUsed)
      lexemeArena = grown
    }
    lexemeStart[id] = arenaUsed
    arenaUsed += lexemeArena.write(lexeme, arenaUsed, 'utf8')
    lexemeEnd[id] = arenaUsed
  }
  return id
}

/**
 * Two lexemes in a tsvector's order: their UTF-8 bytes compared as unsigned (`memcmp`), a prefix
 * before the longer lexeme (Postgres' `tsCompareString`). Negative if `a` comes first.
 */
function compareLexemes(a: number, b: number): number {
  const arena = lexemeArena
  let i = lexemeStart[a]
  let j = lexemeStart[b]
  const endA = lexemeEnd[a]
  const endB = lexemeEnd[b]
  for (; i < endA && j < endB; i++, j++) {
    const d = arena[i] - arena[j]
    if (d !== 0) return d
  }
  return endA - i - (endB - j)
}

/**
 * Place the lexemes added since the last call among the ranked ones: the new ones sorted, each
 * one's place found by binary search, the ranked ids moved up past them in blocks. A batch of new
 * text adds a few thousand lexemes to tens of thousands: a few milliseconds; known text, nothing.
 */
function rankNewLexemes(): void {
  const total = lexemeNames.length
  if (ranked === total) return
  const fresh = Array.from({ length: total - ranked }, (_, k) => ranked + k).sort(compareLexemes)
  // Where each new id goes among the ranked ones (non-decreasing, as the new ids are sorted).
  const places = new Int32Array(fresh.length)
  let low = 0
  for (let k = 0; k < fresh.length; k++) {
    let high = ranked
    while (low < high) {
      const mid = (low + high) >>> 1
      if (compareLexemes(rankedIds[mid], fresh[k]) < 0) low = mid + 1
      else high = mid
    }
    places[k] = low
  }
  // From the last new id back: the ranked ids at and after its place move up by the new ids up to it.
  let end = ranked
  for (let k = fresh.length - 1; k >= 0; k--) {
    const place = places[k]
    rankedIds.copyWithin(place + k + 1, place, end)
    rankedIds[place + k] = fresh[k]
    end = place
  }
  for (let rank = 0; rank < total; rank++) lexemeRank[rankedIds[rank]] = rank
  ranked = total
}

/** Sort a chunk's ids into a tsvector's order, by their ranks. */
function sortLexemes(ids: Int32Array): void {
  if (ranks.length < ids.length) ranks = new Int32Array(touched.length)
  const scratch = ranks.subarray(0, ids.length)
  for (let k = 0; k < ids.length; k++) scratch[k] = lexemeRank[ids[k]]
  scratch.sort()
  for (let k = 0; k < ids.length; k++) ids[k] = rankedIds[scratch[k]]
}

/** Calls run one after another: a call must not see the cache cleared while it waits for the database. */
let queue: Promise<unknown> = Promise.resolve()

/** Lexemes and binary tsvectors of chunks, one database round trip for what is not known yet. */
export function chunkLexemes(db: Db, chunks: readonly LexemeSource[]): Promise<ChunkLexemes[]> {
  const result = queue.then(() => buildLexemes(db, chunks))
  queue = result.catch(() => undefined)
  return result
}

/** A step's pieces, and its inner pieces (all but the first and last) analysed as one, once all are known. */
interface StepParts {
  pieces: string[]
  inner: PieceLexemes | null
}

/**
 * What a chunk is analysed as, in order: pieces (their lexemes, or the piece itself while it is
 * not known yet), and the inner pieces of steps (a step's first and last piece may join the
 * neighbouring step's into one piece). Overlapping chunks share steps, so a step's inner pieces
 * are looked up once for both.
 */
type Part = PieceLexemes | string | StepParts

const NOTHING: PieceLexemes = { occurrences: [], width: 0 }

/**
 * One call's look-ups: each piece is looked up in the cache once (the cache is large, and most of
 * the time went to looking pieces up in it twice); those not in it are collected for the database.
 */
class Lookups {
  readonly unknown = new Set<string>()
  readonly steps = new Map<string, StepParts>()

  /** The piece's lexemes if known; else the piece, noted as unknown. */
  piece(piece: string): PieceLexemes | string {
    if (!piece) return NOTHING
    const known = cache.get(piece)
    if (known) return known
    this.unknown.add(piece)
    return piece
  }

  step(step: string): StepParts {
    let parts = this.steps.get(step)
    if (parts) return parts
    const pieces = step.split(ASCII_SPACE)
    parts = { pieces, inner: null }
    if (pieces.length > 2) {
      const known: PieceLexemes[] = []
      for (let k = 1; k < pieces.length - 1; k++) {
        const p = this.piece(pieces[k])
        if (typeof p === 'string') break
        known.push(p)
      }
      // All known: combined now; else once the database has analysed the rest (and the rest looked up).
      if (known.length === pieces.length - 2) parts.inner = concatenated(known)
      else for (let k = known.length + 2; k < pieces.length - 1; k++) this.piece(pieces[k])
    }
    this.steps.set(step, parts)
    return parts
  }
}

/** Pieces analysed as one: their occurrences with positions shifted, their widths summed. */
function concatenated(pieces: readonly PieceLexemes[]): PieceLexemes {
  const out: PieceLexemes = { occurrences: [], width: 0 }
  for (const known of pieces) {
    const occ = known.occurrences
    for (let j = 0; j < occ.length; j += 2) out.occurrences.push(occ[j], out.width + occ[j + 1])
    out.width += known.width
  }
  return out
}

function partsOf(source: LexemeSource, lookups: Lookups): Part[] {
  if (typeof source === 'string') {
    if (mayHoldTag(source)) return [lookups.piece(source)]
    return source.split(ASCII_SPACE).map((piece) => lookups.piece(piece))
  }
  const steps = source.steps
  // The pieces of `steps.join('')`: each step's inner pieces, and at each boundary the last piece
  // of one step joined to the first of the next (one piece unless a space is between them).
  const parts: Part[] = []
  let carry = ''
  for (const step of steps) {
    const stepParts = lookups.step(step)
    const pieces = stepParts.pieces
    if (pieces.length === 1) {
      carry += pieces[0]
      continue
    }
    parts.push(lookups.piece(carry + pieces[0]))
    if (pieces.length > 2) parts.push(stepParts)
    carry = pieces[pieces.length - 1]
  }
  parts.push(lookups.piece(carry))
  return parts
}

async function buildLexemes(db: Db, chunks: readonly LexemeSource[]): Promise<ChunkLexemes[]> {
  // Cleared only here, so the pieces a call finds known stay known until it is done.
  if (cache.size > CACHE_LIMIT) resetLexemes()
  const lookups = new Lookups()
  const plans = chunks.map((chunk) => partsOf(chunk, lookups))
  const analysed = lookups.unknown.size > 0 ? await analyse(db, [...lookups.unknown]) : null
  rankNewLexemes()
  // Pieces not known before the call: the cache has the short ones now, `analysed` the others.
  const lookup = (piece: string) => cache.get(piece) ?? analysed!.get(piece)!
  const resolve = (part: Part): PieceLexemes => {
    if (typeof part === 'string') return lookup(part)
    if ('occurrences' in part) return part
    if (part.inner) return part.inner
    const inner: PieceLexemes[] = []
    for (let k = 1; k < part.pieces.length - 1; k++) inner.push(part.pieces[k] ? lookup(part.pieces[k]) : NOTHING)
    return (part.inner = concatenated(inner))
  }
  // `touched` lists the ids the chunk uses, in order of first use (the first `used`).
  const counts = positionCounts
  return plans.map((plan) => {
    let used = 0
    let slots = 0
    let offset = 0
    for (const part of plan) {
      const known = resolve(part)
      const occ = known.occurrences
      for (let k = 0; k < occ.length; k += 2) {
        const id = occ[k]
        const n = counts[id]
        if (n >= MAX_POSITIONS) continue
        if (slots === slotPosition.length) {
          slotPosition = grow(slotPosition)
          nextSlot = grow(nextSlot)
        }
        slotPosition[slots] = Math.min(MAX_POS, offset + occ[k + 1])
        if (n === 0) {
          if (used === touched.length) touched = grow(touched)
          touched[used++] = id
          firstSlot[id] = slots
        } else {
          nextSlot[lastSlot[id]] = slots
        }
        lastSlot[id] = slots++
        counts[id] = n + 1
      }
      offset += known.width
    }
    const ids = touched.subarray(0, used)
    sortLexemes(ids)
    const lexemes: string[] = new Array(used)
    for (let k = 0; k < used; k++) lexemes[k] = lexemeNames[ids[k]]
    const tsv = binaryTsvector(ids)
    return { tsv, lexemes }
  })
}

/**
 * The binary form of a tsvector (as `tsvectorrecv` reads it): the number of lexemes, then each
 * lexeme's bytes, a NUL, its number of positions and the positions (16 bits, weight bits 0).
 * Positions must be strictly increasing: those clamped to MAX_POS repeat and are dropped, as the
 * text form's parser drops duplicates. Resets the counts of the lexemes it writes.
 */
function binaryTsvector(ids: Int32Array): Buffer {
  const counts = positionCounts
  let size = 4
  for (const id of ids) size += lexemeEnd[id] - lexemeStart[id] + 3 + 2 * counts[id]
  const out = Buffer.allocUnsafe(size)
  out.writeInt32BE(ids.length, 0)
  let at = 4
  for (const id of ids) {
    for (let b = lexemeStart[id], end = lexemeEnd[id]; b < end; b++) out[at++] = lexemeArena[b]
    out[at++] = 0
    const countAt = at
    at += 2
    const at0 = at
    let last = 0
    for (let slot = firstSlot[id], j = counts[id]; j > 0; slot = nextSlot[slot], j--) {
      const p = slotPosition[slot]
      if (p <= last) continue
      out[at++] = p >> 8
      out[at++] = p & 0xff
      last = p
    }
    const written = (at - at0) >> 1
    out[countAt] = written >> 8
    out[countAt + 1] = written & 0xff
    counts[id] = 0
  }
  return out.subarray(0, at)
}

/**
 * A piece that is one ASCII word, perhaps followed by a punctuation mark: the parser reads it as a
 * single `asciiword` token, which the english configuration hands to the `english_stem`
 * dictionary. Most pieces of prose are like this, and asking the dictionary directly costs a
 * fraction of parsing the piece.
 */
const PLAIN_WORD = /^([A-Za-z]{1,64})[.,;:!?]?$/

/** A stop word's analysis: no lexeme, one position. */
const STOP_WORD: PieceLexemes = { occurrences: [], width: 1 }
/** One-lexeme words' analyses by lexeme id, shared by the words that stem alike ("report", "Reports,"). */
let singleLexemes: PieceLexemes[] = []

/** What a plain word is analysed as, given its stem ('' for a stop word; shared objects: fewer for the collector to mark). */
function wordLexemes(stem: string): PieceLexemes {
  if (!stem) return STOP_WORD
  const id = lexemeId(stem)
  return (singleLexemes[id] ??= { occurrences: [id, 1], width: 1 })
}

/** Ask the database for the lexemes of texts (pieces or whole chunks): short pieces are remembered, the others returned. */
async function analyse(db: Db, texts: string[]): Promise<Map<string, PieceLexemes>> {
  const words: string[] = []
  const others: string[] = []
  for (const text of texts) (PLAIN_WORD.test(text) ? words : others).push(text)
  const [stems, parsed] = await Promise.all([stemWords(db, words), parse(db, others)])
  // Straight into the cache (a new word is most of a batch of new text): only what it does not
  // keep goes in the map this call's vectors look up as well.
  const uncached = new Map<string, PieceLexemes>()
  const keep = (text: string, entry: PieceLexemes) => (text.length <= CACHEABLE_PIECE && !mayHoldTag(text) ? cache : uncached).set(text, entry)
  for (let i = 0; i < words.length; i++) keep(words[i], wordLexemes(stems[i]))
  const entries = new Map<string, PieceLexemes>()
  for (const r of parsed) {
    const text = others[r.i - 1]
    let entry = entries.get(text)
    if (!entry) entries.set(text, (entry = { occurrences: [], width: r.width ?? 0 }))
    if (r.lexeme === null) continue
    const id = lexemeId(r.lexeme)
    for (const p of parsePositions(r.positions)) entry.occurrences.push(id, p)
  }
  for (const [text, entry] of entries) keep(text, entry)
  return uncached
}

/** The dictionary's lexeme for each plain word ('' for a stop word), in order. */
async function stemWords(db: Db, words: string[]): Promise<string[]> {
  if (words.length === 0) return []
  // Each word once: the dictionary lower-cases what it is given, so "Report", "report," and
  // "report." (three pieces) are one request.
  const distinct = new Map<string, number>()
  const which = words.map((w) => {
    const word = PLAIN_WORD.exec(w)![1].toLowerCase()
    let k = distinct.get(word)
    if (k === undefined) distinct.set(word, (k = distinct.size))
    return k
  })
  // The stems come back as one string, a line each ('' for a stop word): a row per word cost the
  // database, the thread hop and this thread more than the stemming (the dictionary gives ASCII
  // words at most one lexeme, and never one with a line break).
  const { rows } = await sql<{ stems: string }>`
    select string_agg(coalesce((ts_lexize('english_stem', w.word))[1], ''), chr(10) order by w.i) as stems
    from unnest(${[...distinct.keys()]}::text[]) with ordinality as w(word, i)
  `.execute(db)
  const stems = rows[0].stems.split('\n')
  return which.map((k) => stems[k])
}

/** What `to_tsvector` makes of texts: a row per (text, lexeme), and the positions each text takes up. */
async function parse(db: Db, texts: string[]) {
  if (texts.length === 0) return []
  const { rows } = await sql<{ i: number; lexeme: string | null; positions: number[] | string | null; width: number | null }>`
    select w.i::int as i, t.lexeme, t.positions,
      (select max(p) from unnest(to_tsvector('simple', w.text)) s, unnest(s.positions) p)::int as width
    from unnest(${texts}::text[]) with ordinality as w(text, i)
    left join lateral unnest(to_tsvector('english', w.text)) t on true
  `.execute(db)
  return rows
}

/** `smallint[]` arrives parsed (pg) or as its text form `{1,2}` (depending on the driver). */
function parsePositions(value: number[] | string | null): number[] {
  if (value === null) return []
  if (Array.isArray(value)) return value.map(Number)
  return value.replace(/[{}]/g, '').split(',').filter(Boolean).map(Number)
}
