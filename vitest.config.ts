import { defineConfig } from 'vitest/config'
import { findPostgresBin } from './test/support/postgres-cluster.ts'

// The API suite runs twice: on embedded PGlite and on a real Postgres. In CI the Postgres run is
// mandatory (global setup fails without binaries); elsewhere it runs when Postgres is installed.
const withPostgres = process.env.CI === 'true' || findPostgresBin() !== null

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'pglite', include: ['test/api/**/*.test.ts'], env: { TEST_DB: 'pglite' } } },
      ...(withPostgres
        ? [
            { extends: true, test: { name: 'postgres', include: ['test/api/**/*.test.ts'], env: { TEST_DB: 'postgres' } } },
            // Real child processes on the real Postgres: kill -9, reconnects, bursts.
            { extends: true, test: { name: 'cluster', include: ['test/cluster/**/*.test.ts'], env: { TEST_DB: 'postgres' }, testTimeout: 60_000 } },
          ]
        : []),
    ],
  },
})
