/**
 * Arrays as statement parameters, so that a statement's text does not depend on how many rows it
 * carries (`unnest($1::text[], …)` instead of a `values` list of one parameter per field): it is
 * parsed once and its plan is small, where a `values` list of 200 rows (1,600 parameters) was a
 * new statement for every batch size and a large query tree copied and planned at every run.
 */

/** Type OIDs of array elements sent in binary (`pg_type.oid`: fixed since Postgres 8.3). */
export const TEXT_OID = 25
export const TSVECTOR_OID = 3614

/**
 * A one-dimensional array in Postgres' binary format (what `array_recv` reads): its elements in
 * their type's binary format (text: its UTF-8 bytes; tsvector: `tsvectorrecv`'s), null for NULL.
 * The embedded database's Bind encoder writes it straight into the Bind (`writeTo`: the elements
 * are copied once); `pg` asks for it as bytes (`toPostgres`), which it sends in binary format.
 * Only erasable TypeScript here (the database's thread loads it through `pglite-bind.ts`).
 */
export class BinaryArray {
  readonly elementOid: number
  readonly items: readonly (Uint8Array | null)[]
  readonly byteLength: number

  constructor(elementOid: number, items: readonly (Uint8Array | null)[]) {
    this.elementOid = elementOid
    this.items = items
    let size = 20
    for (const item of items) size += 4 + (item?.length ?? 0)
    this.byteLength = size
  }

  /** Write it into `out` at `at`; returns where it ends. */
  writeTo(out: Buffer, at: number): number {
    at = out.writeInt32BE(1, at) // dimensions
    at = out.writeInt32BE(this.items.includes(null) ? 1 : 0, at) // has nulls
    at = out.writeInt32BE(this.elementOid, at)
    at = out.writeInt32BE(this.items.length, at)
    at = out.writeInt32BE(1, at) // lower bound
    for (const item of this.items) {
      if (item === null) {
        at = out.writeInt32BE(-1, at)
        continue
      }
      at = out.writeInt32BE(item.length, at)
      out.set(item, at)
      at += item.length
    }
    return at
  }

  /** As `pg` prepares a parameter with this method: the bytes (sent in binary format). */
  toPostgres(): Buffer {
    const out = Buffer.allocUnsafe(this.byteLength)
    this.writeTo(out, 0)
    return out
  }
}

/** A one-dimensional array's text form (`{"a","b",NULL}`, `{1,2}`), for `$n::text[]` or `$n::int[]`. */
export function arrayLiteral(items: readonly (string | number | bigint | null)[]): string {
  const parts = items.map((item) => {
    if (item === null) return 'NULL'
    if (typeof item !== 'string') return String(item)
    return `"${item.replace(/[\\"]/g, '\\$&')}"`
  })
  return `{${parts.join(',')}}`
}
