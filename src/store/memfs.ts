/**
 * How the embedded database's in-memory files grow (Emscripten's MEMFS, as PGlite bundles it): in
 * place, and without writing the zeros Postgres extends relations with. Applied on the database's
 * thread (`pglite-worker.ts`) to an in-memory database only. Only erasable TypeScript here: the
 * worker loads this file without a loader.
 */
import type { PGlite } from '@electric-sql/pglite'

/** What this file relies on of Emscripten's in-memory file system (MEMFS): a file's node, its growth and its writes. */
type MemNode = { contents: Uint8Array | null; usedBytes: number; mtime: number; ctime: number; parent?: { name?: string } }
type Write = (stream: { node: MemNode }, buffer: Uint8Array | Int8Array, offset: number, length: number, position: number, canOwn?: boolean) => number
type Memfs = { expandFileStorage: (node: MemNode, wanted: number) => void; ops_table?: { file?: { stream?: { write?: Write } } } }

/** Files past this size grow in place (see below); smaller ones are copied as Emscripten does. */
const GROW_IN_PLACE_FROM = 1024 * 1024
/**
 * The most a file grown in place can reach: Postgres splits relations into 1 GB segment files and
 * WAL into 16 MB ones. Address space only: memory is used as the file fills.
 */
const MAX_IN_PLACE = 1088 * 1024 * 1024

/**
 * Emscripten's in-memory file system grows a file by 12.5 % at a time once it passes 1 MB, copying
 * it whole each time: the WAL segments and the relations ingestion fills were copied about eight
 * times their size (a tenth of the database thread's time while ingesting). Grow by doubling, as
 * it does below 1 MB; and past 1 MB in place, in a resizable buffer: no copy at all, where a copy
 * into fresh memory cost ~3 ms per MB on these VMs (a 16 → 32 MB relation file: 50 ms in the
 * middle of an insert). The untouched tail costs no resident memory. Only for an in-memory
 * database (a data dir is a real directory), and only if this PGlite's file system has the shape
 * this expects.
 */
export function growInMemoryFilesInPlace(pglite: PGlite): MemfsGrowth | null {
  type Fs = { lookupPath(path: string): { node: { mount: { type: Partial<Memfs> } } } }
  let memfs: Partial<Memfs> | undefined
  try {
    memfs = (pglite as unknown as { Module?: { FS?: Fs } }).Module?.FS?.lookupPath('/pglite/data').node.mount.type
  } catch {
    return null // not the layout this knows: keep Emscripten's own growth
  }
  if (!memfs || typeof memfs.expandFileStorage !== 'function') return null
  const fs = memfs as Memfs
  const growth: MemfsGrowth = { zeroBytesSkipped: 0 }
  skipZeroExtension(fs, growth)
  fs.expandFileStorage = (node: MemNode, wanted: number): void => {
    const capacity = node.contents?.length ?? 0
    if (capacity >= wanted) return
    const size = Math.max(wanted, capacity * 2, 256)
    const buffer = node.contents?.buffer
    if (buffer instanceof ArrayBuffer && buffer.resizable && size <= buffer.maxByteLength) {
      buffer.resize(size)
      if (node.contents!.length >= wanted) return // a length-tracking view: it grew with its buffer
    }
    const grown = size > GROW_IN_PLACE_FROM && size <= MAX_IN_PLACE ? resizable(size) : new Uint8Array(size)
    if (node.contents && node.usedBytes > 0) grown.set(node.contents.subarray(0, node.usedBytes))
    node.contents = grown
  }
  return growth
}

/** What the hooks did (tests). */
export interface MemfsGrowth {
  /** Zeros written at the end of files that were not copied. */
  zeroBytesSkipped: number
}

/**
 * Postgres extends a relation by writing zeroed blocks at its end (a block or a few at a time),
 * and writes each block's contents later, when its buffer is flushed. In memory, that first write
 * copied 8 kB of zeros into pages never used before: ~13 µs of page faults per block on these VMs,
 * ~16 % of the database thread's time while ingesting (perf), in the middle of every insert. A
 * file's bytes past its end are always zero here (fresh memory, or zeroed when it was truncated),
 * so zeros written at or past the end only move the end: the pages are first touched when the
 * block's contents are written, at a checkpoint or when the buffer is evicted. Not for WAL
 * segments: those are filled with zeros when created ahead, at a checkpoint (the upkeep after
 * ingestion), and WAL is then written into them during the next ingestion: touched when created,
 * their pages cost nothing then (perf: skipped, the WAL writes at commit took their faults).
 */
function skipZeroExtension(memfs: Memfs, growth: MemfsGrowth): void {
  const ops = memfs.ops_table?.file?.stream
  const write = ops?.write
  if (!ops || typeof write !== 'function') return
  ops.write = (stream, buffer, offset, length, position, canOwn) => {
    const node = stream.node
    try {
      if (length > 0 && node.usedBytes > 0 && position >= node.usedBytes && node.parent?.name !== 'pg_wal' && isZero(buffer, offset, length)) {
        memfs.expandFileStorage(node, position + length)
        node.usedBytes = position + length
        node.mtime = node.ctime = Date.now()
        growth.zeroBytesSkipped += length
        return length
      }
    } catch {
      // Whatever went wrong here, Emscripten's own write does the job (a failed write, Postgres retries forever).
    }
    return write(stream, buffer, offset, length, position, canOwn)
  }
}

const ZEROS = new Uint8Array(64 * 1024)

/**
 * Whether `buffer[offset, offset + length)` is all zeros (a block's contents differ from its first
 * bytes). The database's writes come from its heap, an `Int8Array`: compared as bytes.
 */
function isZero(buffer: ArrayLike<number> & ArrayBufferView, offset: number, length: number): boolean {
  for (let at = offset, end = offset + length; at < end; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, end - at)
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset + at, n)
    if (Buffer.compare(bytes, n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n)) !== 0) return false
  }
  return true
}

/** A length-tracking view of a resizable buffer; a plain one if address space cannot be reserved. */
function resizable(size: number): Uint8Array {
  try {
    return new Uint8Array(new ArrayBuffer(size, { maxByteLength: MAX_IN_PLACE }))
  } catch {
    return new Uint8Array(size)
  }
}
