import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BindBuffers, encodeBind, REUSE_FROM } from '../../src/store/pglite-bind.ts'
import { arrayLiteral, BinaryArray, TEXT_OID, TSVECTOR_OID } from '../../src/store/pg-arrays.ts'
import { PGliteThread } from '../../src/store/pglite-thread.ts'

describe('BindBuffers', () => {
  it('hands back memory given to it for a Bind that fits, and allocates otherwise', () => {
    const buffers = new BindBuffers()
    const first = buffers.take(REUSE_FROM * 2)
    expect(first.length).toBe(REUSE_FROM * 2)
    expect(first.buffer.byteLength).toBeGreaterThanOrEqual(REUSE_FROM * 2)
    buffers.give(first.buffer as ArrayBuffer)
    const again = buffers.take(REUSE_FROM * 2 + 10)
    expect(again.buffer).toBe(first.buffer) // 25 % room over: the slightly larger Bind fits
    expect(again.length).toBe(REUSE_FROM * 2 + 10)
    // Taken: not handed out twice.
    expect(buffers.take(REUSE_FROM * 2).buffer).not.toBe(first.buffer)
  })

  it('leaves small Binds to the allocator, and does not hold on to huge ones', () => {
    const buffers = new BindBuffers()
    const small = buffers.take(100)
    buffers.give(small.buffer as ArrayBuffer)
    expect(buffers.take(100).buffer).not.toBe(small.buffer)
    const huge = buffers.take(16 * 1024 * 1024)
    buffers.give(huge.buffer as ArrayBuffer)
    expect(buffers.take(REUSE_FROM).buffer).not.toBe(huge.buffer)
  })

  it('encodes into the memory it takes', () => {
    const buffers = new BindBuffers()
    const memory = buffers.take(REUSE_FROM * 4).buffer as ArrayBuffer
    buffers.give(memory)
    const encoded = encodeBind(['x'.repeat(REUSE_FROM * 2)], buffers)
    expect(encoded.buffer).toBe(memory)
  })
})

describe('large Binds on the embedded database thread', () => {
  let db: PGliteThread
  beforeAll(async () => {
    db = await PGliteThread.start({ dataDir: null })
    await db.query('create table big (id int primary key, body text not null)')
  })
  afterAll(() => db.close())

  it('writes what each statement was given while their memory goes back and forth', async () => {
    // Different sizes and contents, some sent before the previous ones are answered: each Bind's
    // memory is reused only once its statement ran.
    const bodies = Array.from({ length: 12 }, (_, i) => String.fromCharCode(97 + i).repeat(REUSE_FROM + i * 40_000))
    const inserts = bodies.map((body, i) => db.query('insert into big (id, body) values ($1, $2)', [i, body]))
    await Promise.all(inserts.slice(0, 6))
    for (let i = 6; i < bodies.length; i++) {
      await inserts[i]
      await db.query('update big set body = $2 where id = $1', [i, bodies[i] + '!'])
    }
    await Promise.all(inserts)
    const { rows } = await db.query('select id, length(body) as n, left(body, 1) as c, right(body, 1) as last from big order by id')
    expect(rows).toEqual(bodies.map((body, i) => ({ id: i, n: body.length + (i >= 6 ? 1 : 0), c: body[0], last: i >= 6 ? '!' : body[0] })))
  })
})

describe('array parameters (pg-arrays)', () => {
  let db: PGliteThread
  beforeAll(async () => {
    db = await PGliteThread.start({ dataDir: null })
  })
  afterAll(() => db.close())

  it('text forms quote what needs it and keep NULLs; binary arrays of text and tsvector read back element by element', async () => {
    const strings = ['plain', 'a "quoted" word', 'back\\slash', '{braces, commas}', '', 'NULL', null, 'ünïcode 𝔘']
    const texts = ['first chunk', '', 'ünïcode 𝔘 text', null].map((t) => (t === null ? null : Buffer.from(t)))
    // tsvectorrecv's format: lexeme count, then each lexeme, NUL, its position count and positions.
    const tsv = Buffer.from([0, 0, 0, 2, ...Buffer.from('cat'), 0, 0, 1, 0, 2, ...Buffer.from('dog'), 0, 0, 2, 0, 1, 0, 3])
    const { rows } = await db.query(
      `select $1::text[] as strings, $2::int[] as numbers, array_length($3::text[], 1) as n,
         ($3::text[])[1] as t1, ($3::text[])[2] as t2, ($3::text[])[3] as t3, ($3::text[])[4] is null as t4,
         ($4::tsvector[])[1]::text as v1, ($4::tsvector[])[2] is null as v2`,
      [arrayLiteral(strings), arrayLiteral([1, -2, null, 3]), new BinaryArray(TEXT_OID, texts), new BinaryArray(TSVECTOR_OID, [tsv, null])],
    )
    expect(rows[0]).toEqual({ strings, numbers: [1, -2, null, 3], n: 4, t1: 'first chunk', t2: '', t3: 'ünïcode 𝔘 text', t4: true, v1: "'cat':2 'dog':1,3", v2: true })
  })
})
