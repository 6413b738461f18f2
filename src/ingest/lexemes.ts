import { sql } from 'kysely'
import type { Db } from '../store/db.ts'

/**
 * The full-text vectors of chunks, built here instead of by `to_tsvector('english', text)` in the
 * database. Parsing text is most of what `to_tsvector` costs (on embedded PGlite it runs at a few
 * MB/s), and with OpenAI's default 800/400 chunking every byte would be parsed twice. Postgres'
 * default text-search parser never lets a token span ASCII whitespace (markup tags aside), so a
 * text's vector is the union of its whitespace-separated pieces' vectors with positions shifted.
 * Each distinct piece is analysed once by the database itself (same parser, stemmer and stop
 * words, so queries still match) and remembered; a chunk that may contain a tag (`<`) is analysed
 * whole. The result equals `to_tsvector('english', text)`.
 */

/** What `to_tsvector` makes of one piece: lexemes with positions relative to the piece. */
interface PieceLexemes {
  lexemes: { lexeme: string; positions: number[] }[]
  /** Positions the piece takes up (stop words count: `to_tsvector('simple', …)`'s last one). */
  width: number
}

export interface ChunkLexemes {
  /** tsvector input literal. */
  tsv: string
  /** Distinct lexemes (for the store's document frequencies). */
  lexemes: string[]
}

/** Postgres' limits: positions above 16383 are clamped, a lexeme keeps at most 255 of them. */
const MAX_POS = 16383
const MAX_POSITIONS = 255
const CACHE_LIMIT = 200_000
/** Longer pieces (minified code, base64) rarely repeat: not worth remembering. */
const CACHEABLE_PIECE = 64
const ASCII_SPACE = /[ \t\n\v\f\r]+/

const cache = new Map<string, PieceLexemes>()

/** Text that may hold a markup tag, which the parser reads as one token across spaces. */
const mayHoldTag = (text: string) => text.includes('<')

/** Lexemes and tsvector literals of `texts`, one database round trip for what is not known yet. */
export async function chunkLexemes(db: Db, texts: string[]): Promise<ChunkLexemes[]> {
  const unknown = new Set<string>()
  for (const text of texts) {
    if (mayHoldTag(text)) unknown.add(text)
    else for (const piece of text.split(ASCII_SPACE)) if (piece && !cache.has(piece)) unknown.add(piece)
  }
  const analysed = unknown.size > 0 ? await analyse(db, [...unknown]) : new Map<string, PieceLexemes>()
  return texts.map((text) => {
    if (mayHoldTag(text)) return toLiteral(analysed.get(text)!.lexemes)
    const merged = new Map<string, number[]>()
    let offset = 0
    for (const piece of text.split(ASCII_SPACE)) {
      if (!piece) continue
      const known = cache.get(piece) ?? analysed.get(piece)!
      for (const { lexeme, positions } of known.lexemes) {
        let list = merged.get(lexeme)
        if (!list) merged.set(lexeme, (list = []))
        for (const p of positions) list.push(Math.min(MAX_POS, offset + p))
      }
      offset += known.width
    }
    return toLiteral([...merged].map(([lexeme, positions]) => ({ lexeme, positions })))
  })
}

/** Ask the database for the lexemes of texts (pieces or whole chunks); remembers short pieces. */
async function analyse(db: Db, texts: string[]): Promise<Map<string, PieceLexemes>> {
  const { rows } = await sql<{ i: number; lexeme: string | null; positions: number[] | null; width: number | null }>`
    select w.i::int as i, t.lexeme, t.positions,
      (select max(p) from unnest(to_tsvector('simple', w.text)) s, unnest(s.positions) p)::int as width
    from unnest(${texts}::text[]) with ordinality as w(text, i)
    left join lateral unnest(to_tsvector('english', w.text)) t on true
  `.execute(db)
  const out = new Map<string, PieceLexemes>()
  for (const r of rows) {
    const text = texts[r.i - 1]
    let entry = out.get(text)
    if (!entry) out.set(text, (entry = { lexemes: [], width: r.width ?? 0 }))
    if (r.lexeme !== null) entry.lexemes.push({ lexeme: r.lexeme, positions: parsePositions(r.positions) })
  }
  for (const [text, entry] of out) {
    if (text.length > CACHEABLE_PIECE || mayHoldTag(text)) continue
    if (cache.size >= CACHE_LIMIT) cache.clear()
    cache.set(text, entry)
  }
  return out
}

/** `smallint[]` arrives parsed (pg) or as its text form `{1,2}` (depending on the driver). */
function parsePositions(value: number[] | string | null): number[] {
  if (value === null) return []
  if (Array.isArray(value)) return value.map(Number)
  return value.replace(/[{}]/g, '').split(',').filter(Boolean).map(Number)
}

function toLiteral(lexemes: { lexeme: string; positions: number[] }[]): ChunkLexemes {
  const parts: string[] = []
  for (const { lexeme, positions } of lexemes) {
    const quoted = `'${lexeme.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
    parts.push(positions.length ? `${quoted}:${positions.slice(0, MAX_POSITIONS).join(',')}` : quoted)
  }
  return { tsv: parts.join(' '), lexemes: lexemes.map((l) => l.lexeme) }
}
