import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/**
 * `lexeme_stats` loses its foreign key to `vector_stores`: completing files checked the same store
 * row once per lexeme inserted (8,000 checks for 2 MB of new words, 40 % of the statement). Its
 * rows are only written while the store's row is locked (`lockStoreFiles`), so they cannot
 * outlive it; deleting stores deletes their rows, by this statement-level trigger instead of the
 * cascade.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    alter table lexeme_stats drop constraint lexeme_stats_vector_store_id_fkey;
    -- One line: the script is split into statements at a semicolon ending a line.
    create function lexeme_stats_forget_stores() returns trigger language plpgsql as $$ begin delete from lexeme_stats s using gone g where s.vector_store_id = g.id; return null; end $$;
    create trigger vector_stores_forget_lexeme_stats after delete on vector_stores
      referencing old table as gone for each statement execute function lexeme_stats_forget_stores();
  `)
}
