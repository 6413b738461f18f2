import { sql } from 'kysely'
import type { AppServices } from '../services.ts'
import type { Attributes } from '../store/repos/vector-stores.ts'
import { touchVectorStores } from '../store/repos/vector-stores.ts'
import { Embedder } from './embeddings.ts'

export type ComparisonFilter = { key: string; type: 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'nin'; value: string | number | boolean | (string | number)[] }
export type CompoundFilter = { type: 'and' | 'or'; filters: (ComparisonFilter | CompoundFilter)[] }
export type Filter = ComparisonFilter | CompoundFilter

export interface SearchHit {
  file_id: string
  filename: string
  score: number
  attributes: Attributes
  text: string
  chunkId: string
}

export interface SearchOptions {
  maxResults: number
  scoreThreshold?: number
  filters?: Filter | null
}

/** Candidates each ranker contributes before fusion. */
const CANDIDATES = 50
/** Reciprocal rank fusion constant (the usual 60). */
const RRF_K = 60

/**
 * Search chunks of the given stores. Lexical (Postgres full text) always; when embeddings are
 * configured, also an exact cosine scan, fused with the lexical ranking by reciprocal rank.
 *
 * Scores are in [0, 1]: lexical-only scores are `rank / (rank + 0.1)` of `ts_rank_cd`, hybrid
 * scores are the fused RRF score relative to the best possible (first in both lists = 1).
 */
export async function searchChunks(services: AppServices, storeIds: string[], queries: string[], opts: SearchOptions): Promise<SearchHit[]> {
  if (storeIds.length === 0) return []
  const { db } = services
  const queryText = queries.join(' ').trim()
  if (!queryText) return []
  let fileFilter: { vector_store_id: string; id: string }[] | null = null
  if (opts.filters) {
    const files = await db.selectFrom('vector_store_files').select(['vector_store_id', 'id', 'attributes']).where('vector_store_id', 'in', storeIds).execute()
    fileFilter = files.filter((f) => matches(opts.filters!, f.attributes ?? {}))
    if (fileFilter.length === 0) return []
  }
  const scope = (alias: string) =>
    fileFilter
      ? sql`(${sql.ref(`${alias}.vector_store_id`)}, ${sql.ref(`${alias}.file_id`)}) in (${sql.join(fileFilter.map((f) => sql`(${f.vector_store_id}, ${f.id})`))})`
      : sql`${sql.ref(`${alias}.vector_store_id`)} in (${sql.join(storeIds)})`

  // OR of the query's lexemes: a question rarely has every word in the answering chunk.
  const lexical = await sql<{ id: string; rank: number }>`
    with q as (
      select coalesce(string_agg(quote_literal(lexeme), ' | '), '')::tsquery as query
      from unnest(to_tsvector('english', ${queryText}))
    )
    select c.id, ts_rank_cd(c.tsv, q.query, 1) as rank
    from chunks c, q
    where ${scope('c')} and c.tsv @@ q.query
    order by rank desc, c.id
    limit ${CANDIDATES}
  `.execute(db)

  let semantic: { id: string; score: number }[] = []
  const embedder = Embedder.fromConfig(services.config)
  const vector = embedder
    ? await embedder.embed([queryText]).then(
        ([v]) => v,
        (err) => (services.log.warn({ err }, 'query embedding failed; searching lexically'), null),
      )
    : null
  if (vector) {
    const literal = `{${vector.join(',')}}`
    semantic = (
      await sql<{ id: string; score: number }>`
        select c.id, (select sum(a * b) from unnest(c.embedding, ${literal}::real[]) as t(a, b)) as score
        from chunks c
        where ${scope('c')} and c.embedding is not null
        order by score desc nulls last, c.id
        limit ${CANDIDATES}
      `.execute(db)
    ).rows
  }

  const scores = new Map<string, number>()
  if (semantic.length > 0) {
    const fuse = (ids: string[]) => ids.forEach((id, i) => scores.set(id, (scores.get(id) ?? 0) + 1 / (RRF_K + i + 1)))
    fuse(lexical.rows.map((r) => r.id))
    fuse(semantic.map((r) => r.id))
    const best = 2 / (RRF_K + 1)
    for (const [id, s] of scores) scores.set(id, s / best)
  } else {
    for (const r of lexical.rows) scores.set(r.id, Number(r.rank) / (Number(r.rank) + 0.1))
  }
  const threshold = opts.scoreThreshold ?? 0
  const ranked = [...scores.entries()]
    .filter(([, s]) => s >= threshold)
    .sort((a, b) => b[1] - a[1] || Number(a[0]) - Number(b[0]))
    .slice(0, opts.maxResults)
  if (ranked.length === 0) {
    await touchVectorStores(db, storeIds)
    return []
  }
  const rows = await db
    .selectFrom('chunks as c')
    .innerJoin('vector_store_files as vf', (j) => j.onRef('vf.vector_store_id', '=', 'c.vector_store_id').onRef('vf.id', '=', 'c.file_id'))
    .leftJoin('files as f', 'f.id', 'c.file_id')
    .select(['c.id', 'c.file_id', 'c.text', 'vf.attributes', 'f.filename'])
    .where(
      'c.id',
      'in',
      ranked.map(([id]) => id),
    )
    .execute()
  await touchVectorStores(db, storeIds)
  const byId = new Map(rows.map((r) => [String(r.id), r]))
  return ranked.flatMap(([id, score]) => {
    const r = byId.get(String(id))
    if (!r) return []
    return [{ chunkId: String(id), file_id: r.file_id, filename: r.filename ?? '', score: round(score), attributes: r.attributes ?? {}, text: r.text }]
  })
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6
}

/** Evaluate an OpenAI attribute filter against a file's attributes. */
export function matches(filter: Filter, attributes: Record<string, unknown>): boolean {
  if (filter.type === 'and') return (filter as CompoundFilter).filters.every((f) => matches(f, attributes))
  if (filter.type === 'or') return (filter as CompoundFilter).filters.some((f) => matches(f, attributes))
  const { key, type, value } = filter as ComparisonFilter
  const actual = attributes[key]
  switch (type) {
    case 'eq':
      return actual === value
    case 'ne':
      return actual !== value
    case 'in':
      return Array.isArray(value) && value.includes(actual as string | number)
    case 'nin':
      return Array.isArray(value) && !value.includes(actual as string | number)
    default: {
      if (typeof actual !== typeof value || (typeof actual !== 'number' && typeof actual !== 'string')) return false
      const a = actual as number | string
      const v = value as number | string
      return type === 'gt' ? a > v : type === 'gte' ? a >= v : type === 'lt' ? a < v : a <= v
    }
  }
}
