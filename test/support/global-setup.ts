import { writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PostgresDialect } from 'kysely'
import type pg from 'pg'
import type { TestProject } from 'vitest/node'
import { migrate } from '../../src/store/db.ts'
import { inThisThread, PGlitePool } from '../../src/store/pglite-pool.ts'
import { createLogger } from '../../src/log.ts'
import { startPostgresCluster, findPostgresBin, type PostgresCluster } from './postgres-cluster.ts'

/** Once per test run: a migrated PGlite snapshot (skips initdb per test file) and a Postgres cluster. */
export default async function setup(project: TestProject) {
  const snapshot = join(tmpdir(), `threadline-pglite-${process.pid}.tar.gz`)
  const pglite = await PGlite.create()
  const db = new Kysely({ dialect: new PostgresDialect({ pool: new PGlitePool(inThisThread(pglite)) as unknown as pg.Pool }) })
  await migrate(db as never, createLogger('silent'))
  const blob = await pglite.dumpDataDir('gzip')
  writeFileSync(snapshot, Buffer.from(await blob.arrayBuffer()))
  await db.destroy()
  project.provide('pgliteSnapshot', snapshot)

  let cluster: PostgresCluster | null = null
  const wanted = process.env.CI === 'true' || findPostgresBin() !== null
  if (wanted) cluster = await startPostgresCluster()
  project.provide('postgresUrl', cluster?.url ?? null)

  return () => {
    cluster?.stop()
    rmSync(snapshot, { force: true })
  }
}
