import { createReadStream, readFileSync, statSync } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { detectKind, extractText, noText, notText } from './parse.ts'

/** Files up to this size are read and parsed whole; larger plain-text files are streamed. */
export const STREAM_MIN_BYTES = 1024 * 1024
/** Bytes read at a time when streaming. */
export const SLICE_BYTES = 1024 * 1024
/** Bytes the kind of a streamed file is detected from. */
const HEAD_BYTES = 64 * 1024

/**
 * The text of a stored file, as a sequence of slices whose concatenation is exactly the text
 * `extractText` gives for the whole file. Plain text, Markdown, source code and JSON larger than
 * STREAM_MIN_BYTES are read slice by slice, so memory does not grow with the file; PDF, DOCX and
 * HTML are parsed whole (their parsers need the whole document).
 */
export async function documentText(path: string, filename: string, sliceBytes = SLICE_BYTES): Promise<AsyncIterable<string>> {
  // Files up to STREAM_MIN_BYTES (most documents) are read in one blocking call, at most a
  // millisecond or so from the page cache: through the thread pool, the five round trips of a
  // stat and a read cost the event loop more than that (a third of a millisecond per small file).
  const { size } = statSync(path)
  if (size <= STREAM_MIN_BYTES) return whole(await extractText(readFileSync(path), filename))
  const kind = await detectKind(await readHead(path), filename, false)
  if (kind === 'text' || kind === 'json') return streamText(path, sliceBytes)
  return whole(await extractText(await readFile(path), filename))
}

async function* whole(text: string): AsyncGenerator<string> {
  yield text
}

async function readHead(path: string): Promise<Buffer> {
  const handle = await open(path)
  try {
    const head = Buffer.alloc(HEAD_BYTES)
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0)
    return head.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

/** A UTF-8 file's text, slice by slice (invalid UTF-8 or NUL bytes anywhere: not text). */
export async function* streamText(path: string, sliceBytes = SLICE_BYTES): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const cleaner = new TextCleaner()
  const decode = (bytes?: Buffer) => {
    try {
      return bytes ? decoder.decode(bytes, { stream: true }) : decoder.decode()
    } catch {
      throw notText()
    }
  }
  let first = true
  for await (const bytes of createReadStream(path, { highWaterMark: sliceBytes }) as AsyncIterable<Buffer>) {
    if (bytes.includes(0)) throw notText()
    let text = decode(bytes)
    if (first && text) {
      text = text.replace(/^\uFEFF/, '')
      first = false
    }
    const out = cleaner.push(text)
    if (out) yield out
  }
  // Whatever the cleaner still holds is trailing whitespace: dropped, as `trim()` would.
  const out = cleaner.push(decode())
  if (out) yield out
  if (!cleaner.sawText) throw noText()
}

const WHITESPACE = /\s/

/**
 * `extractText`'s clean-up (`replace(/[ \t]+\n/g, '\n').trim()`) applied incrementally: text is
 * passed on up to its last non-whitespace character, so no match of the pattern is ever cut and
 * trailing whitespace is held back until more text follows (or dropped at the end).
 */
export class TextCleaner {
  private carry = ''
  sawText = false

  push(text: string): string {
    this.carry += text
    let end = this.carry.length
    while (end > 0 && WHITESPACE.test(this.carry[end - 1])) end--
    if (end === 0) return ''
    let out = this.carry.slice(0, end).replace(/[ \t]+\n/g, '\n')
    this.carry = this.carry.slice(end)
    if (!this.sawText) out = out.trimStart()
    this.sawText = true
    return out
  }
}
