import type { PGlite } from '@electric-sql/pglite'
import type { EmbeddedPostgres } from './pglite-thread.ts'

type Connection = {
  query(sql: string, params?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number; command: string }>
  release(): void
}

/**
 * Presents the embedded database (one PGlite session) as a `pg`-style pool so Kysely's Postgres
 * driver can use it. Queries go to the database as they come, in order, and queue there; only a
 * transaction is exclusive: from its BEGIN to its COMMIT or ROLLBACK, queries from other callers
 * wait (in order) so that none slips inside it.
 */
export class PGlitePool {
  /** The connection inside a transaction, if any. */
  private owner: Connection | null = null
  private waiting: { connection: Connection; sql: string; resume: () => void }[] = []

  constructor(readonly database: EmbeddedPostgres) {}

  async connect(): Promise<Connection> {
    const connection: Connection = {
      query: async (sql, params) => {
        await this.admit(connection, sql)
        try {
          const result = await this.database.query(sql, params)
          return { rows: result.rows, rowCount: result.affectedRows, command: commandOf(sql) }
        } finally {
          if (this.owner === connection && endsTransaction(sql)) this.openGate()
        }
      },
      release: () => {
        // A transaction left open by its caller must not block everyone else.
        if (this.owner === connection) this.openGate()
      },
    }
    return connection
  }

  private admit(connection: Connection, sql: string): Promise<void> | void {
    if (this.owner === connection) return
    if (this.owner === null && this.waiting.length === 0) {
      if (beginsTransaction(sql)) this.owner = connection
      return
    }
    return new Promise((resume) => this.waiting.push({ connection, sql, resume }))
  }

  /** The transaction ended: let waiting queries go, in order, up to the next transaction. */
  private openGate(): void {
    this.owner = null
    while (this.waiting.length > 0 && this.owner === null) {
      const next = this.waiting.shift()!
      if (beginsTransaction(next.sql)) this.owner = next.connection
      next.resume()
    }
  }

  async end() {
    if (!this.database.closed) await this.database.close()
  }
}

/** PGlite on the calling thread (tests' set-up, tools), as an `EmbeddedPostgres`. */
export function inThisThread(pglite: PGlite): EmbeddedPostgres {
  return {
    query: async (sql, params) => {
      const result = await pglite.query<Record<string, unknown>>(sql, params as unknown[], { rowMode: 'object' })
      return { rows: result.rows, affectedRows: result.affectedRows ?? 0 }
    },
    close: () => pglite.close(),
    get closed() {
      return pglite.closed
    },
  }
}

const beginsTransaction = (sql: string) => /^\s*(begin|start\s+transaction)\b/i.test(sql)
const endsTransaction = (sql: string) => /^\s*(commit|end|rollback(?!\s+to\b))\b/i.test(sql)

function commandOf(sql: string): string {
  return sql.trimStart().split(/\s/, 1)[0].toUpperCase()
}
