import { sql, type RawBuilder } from 'kysely'
import type { Db } from '../store/db.ts'

/**
 * Per-store document frequencies of lexemes (`lexeme_stats`) and per-file chunk counts, kept in
 * step with the chunks: lexical ranking reads them instead of counting through the index.
 * Call inside the transaction that writes or removes the chunks.
 */
const fileChunksQuery = (storeId: string, fileId: string) =>
  sql`format('select tsv from chunks where vector_store_id = %L and file_id = %L', ${storeId}::text, ${fileId}::text)`

/** Count a file's (just inserted) chunks into its store's statistics. */
export async function addFileStats(db: Db, storeId: string, fileId: string, chunkCount: number): Promise<void> {
  if (chunkCount === 0) return
  // Ordered by lexeme, so concurrent ingestions into one store lock rows in the same order.
  await sql`
    insert into lexeme_stats (vector_store_id, lexeme, df)
    select ${storeId}, word, ndoc from ts_stat(${fileChunksQuery(storeId, fileId)}) order by word
    on conflict (vector_store_id, lexeme) do update set df = lexeme_stats.df + excluded.df
  `.execute(db)
  await db.updateTable('vector_store_files').set({ chunk_count: chunkCount }).where('vector_store_id', '=', storeId).where('id', '=', fileId).execute()
}

/** Document frequencies of lexemes. */
export interface LexemeCounts {
  lexemes: string[]
  dfs: number[]
}

/** The sum of files' document frequencies, as the delta that adds it to their store's statistics. */
export function deltaOfFiles(files: readonly Map<string, number>[]): StatsDelta {
  let sum = files[0] ?? new Map<string, number>()
  if (files.length > 1) {
    const total = new Map<string, number>()
    // forEach: iterating entries would make an array per lexeme of every file.
    const add = (n: number, lexeme: string) => void total.set(lexeme, (total.get(lexeme) ?? 0) + n)
    for (const m of files) m.forEach(add)
    sum = total
  }
  return statsDelta(sum)
}

/**
 * A completion's statistics not yet in `lexeme_stats` are kept in up to this many rows, by a hash
 * of their lexemes: a search reads one short row per completion for each of its lexemes.
 */
const DELTA_BUCKETS = 256
/**
 * Which of a delta's rows holds `lexeme`: a hash computed alike here and in SQL (`deltaBucket`), of
 * its first and last characters and its length in bytes (lexemes are never empty).
 */
function bucketOf(lexeme: string): number {
  let last = lexeme.codePointAt(lexeme.length - 1)!
  if (last >= 0xdc00 && last <= 0xdfff && lexeme.length > 1) last = lexeme.codePointAt(lexeme.length - 2)!
  return (lexeme.codePointAt(0)! * 31 + last * 7 + Buffer.byteLength(lexeme)) & (DELTA_BUCKETS - 1)
}
/** `bucketOf` in SQL (`ascii` gives a character's code point in a UTF-8 database). */
export const deltaBucket = (lexeme: RawBuilder<unknown>) =>
  sql<number>`((ascii(${lexeme}) * 31 + ascii(right(${lexeme}, 1)) * 7 + octet_length(${lexeme})) & ${sql.lit(DELTA_BUCKETS - 1)})`
/** Where `lexeme`'s line starts in a delta row's text (0 if it has none). */
export const deltaLineAt = (stats: RawBuilder<unknown>, lexeme: RawBuilder<unknown>) => sql<number>`strpos(${stats}, chr(10) || ${lexeme} || chr(9))`
/**
 * A delta row's document frequency of `lexeme` (null if it has none): rows are text, a line per
 * lexeme, `\n<lexeme>\t<df>\n`, which the database stores as it comes (no parsing on the way in).
 */
export const deltaFrequency = (stats: RawBuilder<unknown>, lexeme: RawBuilder<unknown>) =>
  sql<number | null>`nullif(split_part(substr(${stats}, ${deltaLineAt(stats, lexeme)} + length(${lexeme}) + 2), chr(10), 1), '')::int`
/** A store's deltas are folded into `lexeme_stats` once it has more rows of them than this (a few completions' worth). */
const FOLD_ROWS = 4 * DELTA_BUCKETS
/** A lexeme that cannot be a line of a delta (the parser's lexemes never hold these). */
const NOT_A_LINE = /[\t\n]/

/**
 * Count just-inserted chunks into their store's statistics from the document frequencies
 * ingestion collected while building the chunks' vectors (no pass over the index). The files'
 * chunk counts are set with their completion (`completeStoreFiles`), in the same transaction.
 * They go in as a delta (see migration 010): searches add deltas up, and they are folded into
 * `lexeme_stats` when ingestion pauses (`foldAllLexemeStats`) or, under a steady stream of
 * completions, here once the store has many. Writing a row per lexeme here was most of what
 * completing a group of new files cost after its last chunks were written (2 MB of new text:
 * 8,000 lexemes, ~40 ms).
 */
export async function addLexemeStats(db: Db, storeId: string, { buckets, texts, odd }: StatsDelta): Promise<void> {
  if (buckets.length === 0 && odd.lexemes.length === 0) return
  const { rows } = await sql<{ n: number }>`
    with added as (
      insert into lexeme_stats_deltas (vector_store_id, bucket, stats)
      select ${storeId}, t.bucket, t.stats from unnest(${buckets}::int[], ${texts}::text[]) as t(bucket, stats)
      returning 1
    )
    select (select count(*) from added)::int + (select count(*) from lexeme_stats_deltas where vector_store_id = ${storeId})::int as n
  `.execute(db)
  if (odd.lexemes.length > 0) await addToLexemeStats(db, storeId, sql`select * from unnest(${odd.lexemes}::text[], ${odd.dfs}::int[]) as t(lexeme, df)`)
  if (rows[0].n > FOLD_ROWS) await foldLexemeStats(db, storeId)
}

/** A delta's rows: each bucket's lines (see `deltaFrequency`); lexemes that cannot be a line go straight to `lexeme_stats` (sorted). */
export interface StatsDelta {
  buckets: number[]
  texts: string[]
  odd: LexemeCounts
}

/** Document frequencies as a delta (built before the completing transaction, which then only sends it). */
export function statsDelta(counts: { forEach(add: (df: number, lexeme: string) => void): void }): StatsDelta {
  const lines = new Map<number, string[]>()
  const odd: [string, number][] = []
  counts.forEach((df, lexeme) => {
    if (NOT_A_LINE.test(lexeme)) return void odd.push([lexeme, df])
    const bucket = bucketOf(lexeme)
    let list = lines.get(bucket)
    if (!list) lines.set(bucket, (list = []))
    list.push(`${lexeme}\t${df}`)
  })
  odd.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  const buckets = [...lines.keys()]
  return { buckets, texts: buckets.map((b) => `\n${lines.get(b)!.join('\n')}\n`), odd: { lexemes: odd.map((o) => o[0]), dfs: odd.map((o) => o[1]) } }
}

/**
 * Add document frequencies (`counts`: a query of rows `lexeme`, `df`) to a store's `lexeme_stats`,
 * in lexeme order (concurrent writers lock rows in the same order). `ctes` is the statement's
 * `with` clause, for `counts` to read from (a data-modifying one must head the statement).
 */
function addToLexemeStats(db: Db, storeId: string, counts: RawBuilder<unknown>, ctes: RawBuilder<unknown> = sql``) {
  return sql`
    ${ctes}
    insert into lexeme_stats (vector_store_id, lexeme, df)
    select ${storeId}, c.lexeme, c.df from (${counts}) c order by c.lexeme
    on conflict (vector_store_id, lexeme) do update set df = lexeme_stats.df + excluded.df
  `.execute(db)
}

/** The lines of a store's deltas as rows `lexeme`, `df` (`deltas`: a query of their `stats`). */
const deltaLines = (deltas: RawBuilder<unknown>) => sql`
  select split_part(line, chr(9), 1) as lexeme, split_part(line, chr(9), 2)::int as df
  from (${deltas}) d, unnest(string_to_array(d.stats, chr(10))) as line
  where line <> ''
`

/**
 * Move a store's deltas into `lexeme_stats`, in one statement: a search sees them in one table or
 * the other, never both or neither. Concurrent folds of one store do not count a delta twice: the
 * second waits for the first's delete and then finds those rows gone.
 */
export async function foldLexemeStats(db: Db, storeId: string): Promise<void> {
  await addToLexemeStats(
    db,
    storeId,
    sql`select lexeme, sum(df)::int as df from (${deltaLines(sql`select stats from folded`)}) l group by lexeme`,
    sql`with folded as (delete from lexeme_stats_deltas where vector_store_id = ${storeId} returning stats)`,
  )
}

/** Fold every store's deltas (once ingestion pauses). */
export async function foldAllLexemeStats(db: Db): Promise<void> {
  const stores = await db.selectFrom('lexeme_stats_deltas').select('vector_store_id').distinct().orderBy('vector_store_id').execute()
  for (const { vector_store_id } of stores) await foldLexemeStats(db, vector_store_id)
}

/** A store's document frequencies as searches see them (`lexeme_stats` and deltas added up), by lexeme. */
export async function storeDocumentFrequencies(db: Db, storeId: string): Promise<{ lexeme: string; df: number }[]> {
  const { rows } = await sql<{ lexeme: string; df: number }>`
    select lexeme, sum(df)::int as df from (
      select lexeme, df from lexeme_stats where vector_store_id = ${storeId}
      union all
      ${deltaLines(sql`select stats from lexeme_stats_deltas where vector_store_id = ${storeId}`)}
    ) s
    group by lexeme
    order by lexeme
  `.execute(db)
  return rows
}

/** Remove a file's chunks and take them out of the statistics. */
export async function removeFileChunks(db: Db, storeId: string, fileId: string): Promise<void> {
  const file = await db
    .selectFrom('vector_store_files')
    .select('chunk_count')
    .where('vector_store_id', '=', storeId)
    .where('id', '=', fileId)
    .executeTakeFirst()
  if (file && file.chunk_count > 0) {
    // Its counts may still be in a delta: subtracted from `lexeme_stats` once they are in it.
    await foldLexemeStats(db, storeId)
    await sql`
      update lexeme_stats s set df = s.df - t.ndoc
      from (select word, ndoc from ts_stat(${fileChunksQuery(storeId, fileId)}) order by word) t
      where s.vector_store_id = ${storeId} and s.lexeme = t.word
    `.execute(db)
    await db.deleteFrom('lexeme_stats').where('vector_store_id', '=', storeId).where('df', '<=', 0).execute()
    await db.updateTable('vector_store_files').set({ chunk_count: 0 }).where('vector_store_id', '=', storeId).where('id', '=', fileId).execute()
  }
  await db.deleteFrom('chunks').where('vector_store_id', '=', storeId).where('file_id', '=', fileId).execute()
}
