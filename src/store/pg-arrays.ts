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
 * Sent as a binary parameter (both drivers send bytes in binary format).
 */
export function binaryArray(elementOid: number, items: readonly (Uint8Array | null)[]): Buffer {
  let size = 20
  for (const item of items) size += 4 + (item?.length ?? 0)
  const out = Buffer.allocUnsafe(size)
  out.writeInt32BE(1, 0) // dimensions
  out.writeInt32BE(items.includes(null) ? 1 : 0, 4) // has nulls
  out.writeInt32BE(elementOid, 8)
  out.writeInt32BE(items.length, 12)
  out.writeInt32BE(1, 16) // lower bound
  let at = 20
  for (const item of items) {
    if (item === null) {
      at = out.writeInt32BE(-1, at)
      continue
    }
    at = out.writeInt32BE(item.length, at)
    out.set(item, at)
    at += item.length
  }
  return out
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
