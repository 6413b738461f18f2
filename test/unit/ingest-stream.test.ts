import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Chunker, chunkText } from '../../src/ingest/chunk.ts'
import { extractText } from '../../src/ingest/parse.ts'
import { documentText, streamText, STREAM_MIN_BYTES } from '../../src/ingest/source.ts'

const dir = mkdtempSync(join(tmpdir(), 'ingest-stream-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function write(name: string, bytes: Buffer | string): string {
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return path
}

async function collect(slices: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = []
  for await (const s of slices) out.push(s)
  return out
}

/** Text with what the clean-up and the decoder must get right at any cut: blanks before line ends, CRLF, 2-4 byte characters. */
const TRICKY = '\uFEFF \t\n  first line  \t\r\nsecond\t \nnaïve café 日本語 😀 emoji\n\n   \nlast words \t \n \n'

describe('streamed text', () => {
  it('is exactly the whole-file text, whatever the slice size', async () => {
    const text = TRICKY.repeat(40)
    const path = write('tricky.md', text)
    const whole = await extractText(Buffer.from(text), 'tricky.md')
    for (const slice of [1, 2, 3, 5, 7, 64, 1000, 1 << 20]) {
      const parts = await collect(streamText(path, slice))
      expect(parts.join('')).toBe(whole)
    }
  })

  it('refuses invalid UTF-8 and NUL bytes anywhere, and text-free files', async () => {
    const bad = write('bad.txt', Buffer.concat([Buffer.from('fine text '.repeat(50)), Buffer.from([0xe6, 0x97]), Buffer.from(' more')]))
    await expect(collect(streamText(bad, 16))).rejects.toMatchObject({ code: 'unsupported_file' })
    const truncated = write('truncated.txt', Buffer.concat([Buffer.from('fine text '.repeat(50)), Buffer.from([0xe6, 0x97])]))
    await expect(collect(streamText(truncated, 16))).rejects.toMatchObject({ code: 'unsupported_file' })
    const nul = write('nul.txt', Buffer.concat([Buffer.from('fine text '.repeat(50)), Buffer.from([0]), Buffer.from(' more')]))
    await expect(collect(streamText(nul, 16))).rejects.toMatchObject({ code: 'unsupported_file' })
    const blank = write('blank.txt', ' \n\t \r\n'.repeat(100))
    await expect(collect(streamText(blank, 16))).rejects.toMatchObject({ code: 'invalid_file' })
  })

  it('streams large text files and parses other or small files whole', async () => {
    const big = write('big.txt', 'word '.repeat(STREAM_MIN_BYTES / 5 + 10))
    expect((await collect(await documentText(big, 'big.txt', 64 * 1024))).length).toBeGreaterThan(1)
    const small = write('small.txt', 'a few words')
    expect(await collect(await documentText(small, 'small.txt'))).toEqual(['a few words'])
    const html = write('page.html', `<html><body>${'<p>para</p>'.repeat(STREAM_MIN_BYTES / 10)}</body></html>`)
    const parts = await collect(await documentText(html, 'page.html'))
    expect(parts).toHaveLength(1)
    expect(parts[0]).not.toContain('<p>')
  })
})

describe('incremental chunking', () => {
  it('gives the chunks of the whole text however the text is cut', () => {
    const text = Array.from({ length: 3000 }, (_, i) => `Paragraph ${i}: naïve café ${'x'.repeat(i % 90)} 日本 😀\n`).join('')
    for (const opts of [
      { maxTokens: 800, overlapTokens: 400 },
      { maxTokens: 100, overlapTokens: 0 },
      { maxTokens: 333, overlapTokens: 111 },
    ]) {
      const whole = [...chunkText(text, opts)]
      for (const cut of [1, 997, 70_001]) {
        const chunker = new Chunker(opts)
        const chunks: string[] = []
        for (let i = 0; i < text.length; i += cut) chunks.push(...chunker.push(text.slice(i, i + cut)).map((c) => c.text))
        chunks.push(...chunker.finish().map((c) => c.text))
        expect(chunks).toEqual(whole)
      }
    }
  })
})
