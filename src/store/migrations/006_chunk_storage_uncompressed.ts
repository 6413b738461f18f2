import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/**
 * Chunk text and its tsvector are stored out of line without compression: ingestion writes every
 * byte of a file twice (chunks overlap by half), and compressing it was a large share of the
 * embedded database's work per MB; reading a chunk back skips decompression too. Costs disk.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    alter table chunks alter column text set storage external;
    alter table chunks alter column tsv set storage external;
  `)
}
