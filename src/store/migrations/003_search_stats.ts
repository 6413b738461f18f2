import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/**
 * Term statistics for lexical ranking: how many chunks of a store contain each lexeme, and how
 * many chunks each file has. Postgres ranks carry no inverse document frequency; counting it per
 * query through the GIN index costs too much on large stores, so ingestion keeps it up to date.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    alter table vector_store_files add column chunk_count integer not null default 0;

    create table lexeme_stats (
      vector_store_id text not null references vector_stores (id) on delete cascade,
      lexeme text not null,
      df integer not null,
      primary key (vector_store_id, lexeme)
    );
  `)
}
