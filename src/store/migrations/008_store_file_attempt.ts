import type { Kysely } from 'kysely'
import { execScript } from './exec-script.ts'

/**
 * Which ingestion of a store file is current: re-adding a finished file restarts its ingestion and
 * counts up `attempt` (a file removed and added again is a new row, a new `seq`). An ingestion
 * still under way for an earlier one (a cancelled batch's file, a removed file) then neither
 * writes chunks for the new one nor completes it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await execScript(db, `
    alter table vector_store_files add column attempt integer not null default 0;
  `)
}
