import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/** One row per chunk position: ingestion writes in batches, and a duplicate job must not double them. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    drop index chunks_store_file;
    create unique index chunks_store_file on chunks (vector_store_id, file_id, chunk_index);
  `)
}
