import { sql, type RawBuilder } from 'kysely'
import type { AppServices } from '../services.ts'
import type { Attributes } from '../store/repos/vector-stores.ts'
import { touchVectorStores } from '../store/repos/vector-stores.ts'
import { Embedder } from './embeddings.ts'
import { deltaBucket, deltaFrequency, deltaLineAt } from './term-stats.ts'

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
 * Scores are in [0, 1]: lexical-only scores are the share of the query's information (IDF) a
 * chunk contains; hybrid scores are the fused RRF score relative to the best possible (first in
 * both lists = 1).
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

  const lexical = await lexicalSearch(services, storeIds, scope, queryText)

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
    fuse(semantic.map((r) => String(r.id)))
    const best = 2 / (RRF_K + 1)
    for (const [id, s] of scores) scores.set(id, s / best)
  } else {
    for (const r of lexical.rows) scores.set(r.id, r.score)
  }
  const threshold = opts.scoreThreshold ?? 0
  const ranked = [...scores.entries()]
    .filter(([, s]) => s >= threshold)
    // Stable: equal scores keep the rankers' order (lexically: proximity, density, id).
    .sort((a, b) => b[1] - a[1])
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

/** Chunks a term may appear in and still narrow the candidates (share of the store). */
const SELECTIVE_SHARE = 0.05

/**
 * Lexical ranking with IDF weights (Postgres' own ranks have none, so common words would drown
 * the rare ones that identify a passage). One query stems the query into lexemes and reads their
 * document frequencies (kept by ingestion in `lexeme_stats` and its deltas); a second scores the chunks that
 * contain a selective lexeme (or, for a query of common words only, all of them) by the IDF of the
 * lexemes they contain. Ties go to the chunk where all the terms stand closest (`ts_rank_cd` of
 * their conjunction), then to the denser one (of their disjunction).
 */
async function lexicalSearch(services: AppServices, storeIds: string[], scope: (alias: string) => RawBuilder<unknown>, queryText: string) {
  const { db } = services
  const stores = sql.join(storeIds)
  const stats = await sql<{ lexeme: string; df: string; n: string }>`
    with lex as (select distinct lexeme from unnest(to_tsvector('english', ${queryText})))
    select lex.lexeme,
      coalesce((select sum(s.df) from lexeme_stats s where s.lexeme = lex.lexeme and s.vector_store_id in (${stores})), 0)
        + coalesce((
          select sum(${deltaFrequency(sql.ref('d.stats'), sql.ref('lex.lexeme'))}) from lexeme_stats_deltas d
          where d.vector_store_id in (${stores}) and d.bucket = ${deltaBucket(sql.ref('lex.lexeme'))} and ${deltaLineAt(sql.ref('d.stats'), sql.ref('lex.lexeme'))} > 0
        ), 0) as df,
      (select coalesce(sum(f.chunk_count), 0) from vector_store_files f where f.vector_store_id in (${stores})) as n
    from lex
  `.execute(db)
  const all = stats.rows.map((r) => {
    const df = Number(r.df)
    const n = Number(r.n)
    return { lexeme: r.lexeme, df, n, idf: Math.log(1 + (n - df + 0.5) / (df + 0.5)) }
  })
  const terms = all.filter((t) => t.df > 0)
  if (terms.length === 0) return { rows: [] as { id: string; score: number }[] }
  const totalIdf = all.reduce((sum, t) => sum + t.idf, 0)
  const n = terms[0].n
  const selective = terms.filter((t) => t.df <= Math.max(50, n * SELECTIVE_SHARE))
  const tsq = (ts: { lexeme: string }[], op: string) => ts.map((t) => `'${t.lexeme.replace(/'/g, "''")}'`).join(op)
  const candidates = selective.length > 0 ? tsq(selective, ' | ') : tsq(terms, ' & ')
  const weighted = sql.join(
    terms.map((t) => sql`(case when c.tsv @@ ${tsq([t], '')}::tsquery then ${t.idf}::float8 else 0 end)`),
    sql` + `,
  )
  // The comment first keeps this query out of the embedded database's prepared-statement cache
  // (pglite-worker.ts caches statements starting with select/insert/…): a cached statement gets a
  // generic plan after a few runs, which cannot see how selective the query's lexemes are in this
  // store (≈120 ms instead of ≈30 ms at 100k chunks). Planned per query, as on Postgres.
  const rows = await sql<{ id: string; weight: number }>`
    /* lexical search: planned per query */
    select c.id, ${weighted} as weight,
      ts_rank_cd(c.tsv, ${tsq(terms, ' & ')}::tsquery, 1) as proximity,
      ts_rank_cd(c.tsv, ${tsq(terms, ' | ')}::tsquery, 1) as density
    from chunks c
    where ${scope('c')} and c.tsv @@ ${candidates}::tsquery
    order by weight desc, proximity desc, density desc, c.id
    limit ${CANDIDATES}
  `.execute(db)
  return { rows: rows.rows.map((r) => ({ id: String(r.id), score: Math.min(1, Number(r.weight) / totalIdf) })) }
}
