import type { PGlite } from '@electric-sql/pglite'

/**
 * Presents one PGlite instance as a `pg`-style pool so Kysely's Postgres driver can use it.
 * PGlite is a single session: a connection is lent to one caller at a time, so a transaction
 * holds the database until it commits and no unrelated query can slip inside it.
 */
export class PGlitePool {
  private queue: Array<() => void> = []
  private busy = false

  constructor(readonly pglite: PGlite) {}

  async connect() {
    if (this.busy) await new Promise<void>((resolve) => this.queue.push(resolve))
    this.busy = true
    const pglite = this.pglite
    return {
      query: async (sql: string, params?: readonly unknown[]) => {
        const result = await pglite.query(sql, params as unknown[], { rowMode: 'object' })
        return {
          rows: result.rows,
          rowCount: result.affectedRows ?? 0,
          command: commandOf(sql),
        }
      },
      release: () => this.release(),
    }
  }

  private release() {
    const next = this.queue.shift()
    if (next) next()
    else this.busy = false
  }

  async end() {
    if (!this.pglite.closed) await this.pglite.close()
  }
}

function commandOf(sql: string): string {
  return sql.trimStart().split(/\s/, 1)[0].toUpperCase()
}
