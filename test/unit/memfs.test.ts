import { describe, expect, it } from 'vitest'
import { PGlite } from '@electric-sql/pglite'
import { growInMemoryFilesInPlace } from '../../src/store/memfs.ts'

/** A summary of the table that differs if any row or any byte of it does. */
const summary = async (db: PGlite) =>
  (
    await db.query<{ n: number; digest: string; found: number }>(
      `select count(*)::int as n, md5(string_agg(id::text || ':' || body, ',' order by id)) as digest,
         (select count(*)::int from t where body like 'row 7%') as found
       from t`,
    )
  ).rows[0]

describe('in-memory database files', () => {
  it('grown in place and extended without writing zeros, hold exactly what Postgres wrote (read back from a dump of the files)', async () => {
    const db = await PGlite.create()
    const growth = growInMemoryFilesInPlace(db)
    expect(growth).not.toBeNull()
    await db.exec(`create table t (id int primary key, body text not null); alter table t alter column body set storage external; create index t_body on t (left(body, 20))`)
    // Rows of a few kB (some moved to the TOAST table), relations growing past 1 MB (grown in place).
    const insert = (from: number, to: number) =>
      db.query(`insert into t select i, 'row ' || i || ' ' || repeat(md5(i::text), 20 + i % 90) from generate_series($1::int, $2::int) as i`, [from, to])
    await insert(1, 3000)
    await db.exec(`update t set body = body || ' updated' where id % 7 = 0; delete from t where id > 2500`)
    // Vacuum truncates the emptied end of the relation; it then grows again from there.
    await db.exec(`vacuum t`)
    await insert(2501, 4000)
    await db.exec('checkpoint')
    expect(growth!.zeroBytesSkipped).toBeGreaterThan(1024 * 1024)
    const before = await summary(db)
    expect(before.n).toBe(4000)

    // A new database from the files alone: every page is read from them, not from shared buffers.
    const copy = await PGlite.create({ loadDataDir: await db.dumpDataDir('none') })
    expect(await summary(copy)).toEqual(before)
    expect((await copy.query<{ ok: boolean }>(`select count(*) = 4000 as ok from t where id between 1 and 4000`)).rows[0].ok).toBe(true)
    await Promise.all([db.close(), copy.close()])
  })
})
