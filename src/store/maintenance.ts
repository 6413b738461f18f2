import { sql } from 'kysely'
import type { Db } from './db.ts'

/** Autovacuum's defaults: analyze a table once 50 rows + 10 % of it changed since the last time. */
const ANALYZE_THRESHOLD = 50
const ANALYZE_SCALE_FACTOR = 0.1

/**
 * What autovacuum does for the retrieval tables on a real Postgres, done for the embedded
 * database, which has no autovacuum daemon. Without it the planner never learns how many chunks
 * a store holds: a search is planned as if its store were tiny, reading every chunk of the store
 * instead of the full-text index (at 10k chunks, 13 ms instead of 3 ms). The full-text index's
 * pending list (new entries not yet merged, scanned in full by every search) is merged at the
 * same time. Call after writing many chunks; it does nothing until enough has changed.
 * `lexeme_stats` is left alone: it is only ever read by its primary key, whatever its statistics
 * say, and analyzing it cost more than all the chunks' index merging.
 */
export async function maintainRetrievalTables(db: Db): Promise<void> {
  // Counts of changes reach the statistics views only now and then; ask for this session's now.
  await sql`select pg_stat_force_next_flush()`.execute(db)
  const {
    rows: [chunks],
  } = await sql<{ changed: number; tuples: number }>`
    select s.n_mod_since_analyze::float8 as changed, greatest(c.reltuples, 0)::float8 as tuples
    from pg_stat_user_tables s join pg_class c on c.oid = s.relid
    where s.schemaname = 'public' and s.relname = 'chunks'
  `.execute(db)
  if (!chunks || chunks.changed <= ANALYZE_THRESHOLD + ANALYZE_SCALE_FACTOR * chunks.tuples) return
  await sql`analyze chunks`.execute(db)
  await sql`select gin_clean_pending_list('chunks_tsv'::regclass)`.execute(db)
}
