import type { Migration, MigrationProvider } from 'kysely/migration'
import * as m001 from './001_foundation.ts'
import * as m002 from './002_files.ts'
import * as m003 from './003_search_stats.ts'
import * as m004 from './004_chunk_index_unique.ts'
import * as m005 from './005_chunk_tsv_supplied.ts'
import * as m006 from './006_chunk_storage_uncompressed.ts'
import * as m007 from './007_vector_store_compat.ts'
import * as m008 from './008_store_file_attempt.ts'
import * as m009 from './009_lexeme_stats_unchecked.ts'
import * as m010 from './010_lexeme_stats_deltas.ts'

/** Numbered migrations, applied in order at start-up; the same files serve PGlite and Postgres. */
const migrations: Record<string, Migration> = {
  '001_foundation': m001,
  '002_files': m002,
  '003_search_stats': m003,
  '004_chunk_index_unique': m004,
  '005_chunk_tsv_supplied': m005,
  '006_chunk_storage_uncompressed': m006,
  '007_vector_store_compat': m007,
  '008_store_file_attempt': m008,
  '009_lexeme_stats_unchecked': m009,
  '010_lexeme_stats_deltas': m010,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}
