import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/**
 * Statistics added by completing files go first into `lexeme_stats_deltas`: a few rows per
 * completion (one per hash bucket of its lexemes: a line `lexeme<TAB>df` each, as text)
 * instead of a row per lexeme, which cost 2 MB of new text ~40 ms at the very end of its
 * ingestion. Searches add the deltas to `lexeme_stats`; they are folded into it when ingestion
 * pauses, or once a store has many (see `term-stats.ts`). Deleting a store deletes them too.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    create table lexeme_stats_deltas (
      id bigint generated always as identity primary key,
      vector_store_id text not null,
      bucket smallint not null,
      stats text not null
    );
    create index lexeme_stats_deltas_store on lexeme_stats_deltas (vector_store_id, bucket);
    -- One line: the script is split into statements at a semicolon ending a line.
    create or replace function lexeme_stats_forget_stores() returns trigger language plpgsql as $$ begin delete from lexeme_stats s using gone g where s.vector_store_id = g.id; delete from lexeme_stats_deltas d using gone g where d.vector_store_id = g.id; return null; end $$;
  `)
}
