import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/**
 * Ingestion supplies each chunk's tsvector (built from per-word analyses, see ingest/lexemes.ts)
 * instead of Postgres parsing every chunk: chunks overlap, so each byte was parsed twice. A chunk
 * written without one still gets `to_tsvector('english', text)`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    alter table chunks alter column tsv drop expression;
    -- One line: the script is split into statements at a semicolon ending a line.
    create function chunks_default_tsv() returns trigger language plpgsql as $$ begin if new.tsv is null then new.tsv := to_tsvector('english', new.text); end if; return new; end $$;
    create trigger chunks_default_tsv before insert on chunks
      for each row execute function chunks_default_tsv();
  `)
}
