import { sql } from 'kysely'
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

/** Lexemes upserted per statement. */
const STATS_BATCH = 5000

/** Document frequencies of lexemes, sorted by lexeme (the order rows are locked in). */
export interface LexemeCounts {
  lexemes: string[]
  dfs: number[]
}

/** The sum of files' document frequencies, sorted. */
export function lexemeCounts(files: readonly Map<string, number>[]): LexemeCounts {
  let sum = files[0] ?? new Map<string, number>()
  if (files.length > 1) {
    const total = new Map<string, number>()
    // forEach: iterating entries would make an array per lexeme of every file.
    const add = (n: number, lexeme: string) => void total.set(lexeme, (total.get(lexeme) ?? 0) + n)
    for (const m of files) m.forEach(add)
    sum = total
  }
  const lexemes = [...sum.keys()].sort()
  return { lexemes, dfs: lexemes.map((l) => sum.get(l)!) }
}

/**
 * Count just-inserted chunks into their store's statistics from the document frequencies
 * ingestion collected while building the chunks' vectors (no pass over the index). The files'
 * chunk counts are set with their completion (`completeStoreFiles`).
 */
export async function addLexemeStats(db: Db, storeId: string, { lexemes, dfs }: LexemeCounts): Promise<void> {
  // A store's first statistics (most ingestions: a store is created with its files) are plain
  // inserts, 40 % cheaper than upserts. Only safe while no other transaction can add to the store's
  // statistics: the caller holds the store's row for no key update (see `settleFiles`).
  const fresh = (await db.selectFrom('lexeme_stats').select('df').where('vector_store_id', '=', storeId).limit(1).executeTakeFirst()) === undefined
  // Ordered by lexeme, so concurrent ingestions into one store lock rows in the same order.
  for (let i = 0; i < lexemes.length; i += STATS_BATCH) {
    await sql`
      insert into lexeme_stats (vector_store_id, lexeme, df)
      select ${storeId}, t.lexeme, t.df from unnest(${lexemes.slice(i, i + STATS_BATCH)}::text[], ${dfs.slice(i, i + STATS_BATCH)}::int[]) as t(lexeme, df) order by t.lexeme
      ${fresh ? sql`` : sql`on conflict (vector_store_id, lexeme) do update set df = lexeme_stats.df + excluded.df`}
    `.execute(db)
  }
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
