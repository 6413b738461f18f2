import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/**
 * A vector store's `description` (accepted on create and returned as given, as OpenAI does), and
 * an index to find a file's entries in every store (deleting a file removes it from all of them).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    alter table vector_stores add column description text;
    create index vector_store_files_file on vector_store_files (id);
  `)
}
