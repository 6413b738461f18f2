/**
 * Worker-thread entry that cuts texts into chunks (see `chunk-thread.ts`). Loaded by Node with its
 * own type stripping, so this file and what it imports use only erasable TypeScript syntax.
 */
import { parentPort } from 'node:worker_threads'
import { Chunker, type Chunk } from './chunk.ts'
import { lexemeSource } from './chunk-source.ts'
import type { ChunkRequest, CutChunks } from './chunk-thread.ts'

const port = parentPort
if (!port) throw new Error('chunk-worker.ts runs as a worker thread')

/** Texts sent slice by slice (large files): their chunkers, by stream id. */
const streams = new Map<number, Chunker>()

function handle(request: ChunkRequest): Chunk[] {
  switch (request.op) {
    case 'whole': {
      const chunker = new Chunker(request.options)
      return [...chunker.push(request.text), ...chunker.finish()]
    }
    case 'push': {
      let chunker = streams.get(request.stream)
      if (!chunker) streams.set(request.stream, (chunker = new Chunker(request.options)))
      return chunker.push(request.text)
    }
    case 'finish': {
      const chunker = streams.get(request.stream) ?? new Chunker(request.options)
      streams.delete(request.stream)
      return chunker.finish()
    }
    case 'drop':
      streams.delete(request.stream)
      return []
  }
}

/**
 * The chunks' texts as UTF-8 in one buffer (moved to the other thread, not copied: they are written
 * to the database as bytes there), with what their vectors are built from.
 */
function cut(chunks: Chunk[]): CutChunks {
  let size = 0
  for (const chunk of chunks) size += Buffer.byteLength(chunk.text)
  const bytes = new Uint8Array(size)
  const view = Buffer.from(bytes.buffer)
  const ends = new Int32Array(chunks.length)
  let at = 0
  chunks.forEach((chunk, i) => {
    at += view.write(chunk.text, at, 'utf8')
    ends[i] = at
  })
  return { bytes, ends, sources: chunks.map(lexemeSource) }
}

port.on('message', (request: ChunkRequest) => {
  try {
    const chunks = cut(handle(request))
    port.postMessage({ id: request.id, chunks }, [chunks.bytes.buffer])
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    port.postMessage({ id: request.id, error: { message: e.message, stack: e.stack } })
  }
})
