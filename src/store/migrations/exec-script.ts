import { sql, type Kysely } from 'kysely'

/** Run a DDL script statement by statement (PGlite's extended protocol takes one at a time). */
export async function execScript(db: Kysely<unknown>, script: string): Promise<void> {
  const statements = script
    .split(/;\s*\n/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean)
  for (const statement of statements) await sql.raw(statement).execute(db)
}
