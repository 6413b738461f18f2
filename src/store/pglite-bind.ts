/**
 * Statements for the embedded database's thread, encoded on the sending side. A query's text
 * parameters are written once, straight into the bytes of the wire protocol's Bind message (and
 * the Describe, Execute and Sync after it), and that buffer is handed over to the database's
 * thread without a copy. Sent as strings instead, each parameter was copied by the message
 * channel, rebuilt as a string there and encoded again: for ingestion, whose inserts carry
 * megabytes of chunk text, that was a large share of the database thread's time, on the thread
 * that bounds it. Only erasable TypeScript here: the worker loads this file without a loader.
 */
import { arrayLiteral, BinaryArray } from './pg-arrays.ts'

/** What is prepared and cached: a statement that needs a plan per query opts out by starting with a comment. */
export const DML = /^\s*(select|insert|update|delete|with)\b/i

/** A parameter as the Bind carries it: text, binary (a type's binary input format; an array's, written in place), or null. */
export type BindValue = string | Uint8Array | BinaryArray | null

/**
 * Parameters as the Bind carries them: text, as PGlite's own serializers write them for the types
 * they go to, and bytes as they are, in binary format (ingestion sends tsvectors built in their
 * binary form, read without the text form's quoting and escapes), arrays of numbers in
 * array syntax; `null` when one needs the type to be known (other arrays, objects): those take
 * PGlite's `query`.
 */
export function bindValues(params: readonly unknown[]): BindValue[] | null {
  const out: BindValue[] = []
  for (const value of params) {
    if (value === null || value === undefined) out.push(null)
    else if (typeof value === 'string') out.push(value)
    else if (typeof value === 'number' && Number.isFinite(value)) out.push(String(value))
    else if (typeof value === 'bigint') out.push(String(value))
    else if (typeof value === 'boolean') out.push(value ? 't' : 'f')
    else if (value instanceof Date) out.push(value.toISOString())
    else if (value instanceof Uint8Array || value instanceof BinaryArray) out.push(value)
    else if (Array.isArray(value) && value.every((n) => typeof n === 'number')) out.push(arrayLiteral(value)) // real[] (embeddings)
    else return null
  }
  return out
}

/** Room before the parameters for the Bind message's head: type, length, portal '' and a statement name. */
const HEAD_ROOM = 1 + 4 + 1 + 64
/** Describe the unnamed portal, execute it, sync. */
const TAIL = Uint8Array.from([0x44, 0, 0, 0, 6, 0x50, 0, 0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x53, 0, 0, 0, 4])

/**
 * A Bind of `values` (strings in text format, bytes in binary; text results) to a statement named
 * later, followed by Describe, Execute and Sync; room is left in front for the head (see `bindMessages`).
 */
export function encodeBind(values: readonly BindValue[], buffers?: BindBuffers): Uint8Array {
  let size = HEAD_ROOM + 2 + 2 * values.length + 2 + 2 + TAIL.length
  const lengths = values.map((v) => (v === null ? -1 : typeof v === 'string' ? Buffer.byteLength(v) : v instanceof BinaryArray ? v.byteLength : v.length))
  for (const n of lengths) size += 4 + Math.max(n, 0)
  // Its own memory (not the shared pool of small buffers): it is transferred to the other thread.
  const out = buffers ? buffers.take(size) : Buffer.allocUnsafeSlow(size)
  let at = HEAD_ROOM
  at = out.writeUInt16BE(values.length, at)
  for (const v of values) at = out.writeUInt16BE(v === null || typeof v === 'string' ? 0 : 1, at) // format: text or binary
  at = out.writeUInt16BE(values.length, at)
  values.forEach((v, i) => {
    at = out.writeInt32BE(lengths[i], at)
    if (typeof v === 'string') at += out.write(v, at, 'utf8')
    else if (v instanceof BinaryArray) at = v.writeTo(out, at)
    else if (v !== null) {
      out.set(v, at)
      at += v.length
    }
  })
  at = out.writeUInt16BE(0, at) // results in text format
  out.set(TAIL, at)
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

/** Binds from this size on go in buffers that come back once their statement ran. */
export const REUSE_FROM = 64 * 1024
/** Buffers kept for reuse (a few inserts are under way at once while ingesting), and the largest kept. */
const KEEP = 4
const KEEP_UP_TO = 8 * 1024 * 1024

/** Whether a Bind's memory is worth handing back for reuse (a rare huge statement's is not held on to). */
export const reusableBindMemory = (memory: ArrayBuffer) => memory.byteLength >= REUSE_FROM && memory.byteLength <= KEEP_UP_TO

/**
 * Memory for large encoded Binds, handed back by the database's thread once their statement ran
 * (ingestion's inserts carry a megabyte each). A new buffer for every insert was fresh memory
 * every time, and the first touch of a page costs ~13 µs on the VMs we measure on: ~1,200 page
 * faults per 2 MB of small files ingested, on the thread that feeds the database.
 */
export class BindBuffers {
  private readonly spare: ArrayBuffer[] = []

  /** A buffer of `size` bytes over memory of at least that size. */
  take(size: number): Buffer {
    if (size < REUSE_FROM) return Buffer.allocUnsafeSlow(size)
    const i = this.spare.findIndex((b) => b.byteLength >= size)
    // A little room over: the next Bind is often a bit larger than this one.
    const memory = i >= 0 ? this.spare.splice(i, 1)[0] : Buffer.allocUnsafeSlow(Math.ceil(size * 1.25)).buffer
    return Buffer.from(memory, 0, size)
  }

  /** A Bind's memory back from the database's thread. */
  give(memory: ArrayBuffer): void {
    if (!reusableBindMemory(memory)) return
    if (this.spare.length >= KEEP) this.spare.shift() // keep the most recent sizes
    this.spare.push(memory)
  }
}

/** The protocol messages of an encoded Bind (and what follows it) for the statement `name`, head written in place. */
export function bindMessages(encoded: Uint8Array, name: string): Uint8Array {
  const nameBytes = Buffer.from(name, 'utf8')
  if (nameBytes.length > HEAD_ROOM - 7) throw new Error('statement name too long')
  // 'B', length, portal name '' and the statement's name end exactly where the parameters start.
  const start = HEAD_ROOM - 7 - nameBytes.length
  const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength)
  view.setUint8(start, 0x42) // 'B'
  view.setInt32(start + 1, encoded.length - TAIL.length - start - 1)
  encoded[start + 5] = 0 // portal ''
  encoded.set(nameBytes, start + 6)
  encoded[HEAD_ROOM - 1] = 0
  return encoded.subarray(start)
}
