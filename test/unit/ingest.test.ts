import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { chunkText } from '../../src/ingest/chunk.ts'
import { detectKind, extractText, htmlToText, IngestError } from '../../src/ingest/parse.ts'
import { encode } from '../../src/text/tokens.ts'
import { matches } from '../../src/ingest/search.ts'
import { rewriteQuery } from '../../src/ingest/rewrite.ts'

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures', name))

describe('chunking', () => {
  const text = Array.from({ length: 3000 }, (_, i) => `w${i}`).join(' ')

  it('cuts token windows of the configured size that overlap by the configured amount', () => {
    const chunks = [...chunkText(text, { maxTokens: 100, overlapTokens: 40 })]
    expect(chunks.length).toBeGreaterThan(10)
    for (const c of chunks.slice(0, -1)) expect(Math.abs(encode(c).length - 100)).toBeLessThanOrEqual(2)
    // Consecutive chunks share their overlap: the next one starts 60 tokens into the previous one.
    const [a, b] = chunks
    const tail = a.split(' ').slice(-10).join(' ')
    expect(b).toContain(tail)
    // Every word is in some chunk, the last one included.
    expect(chunks.at(-1)).toContain('w2999')
  })

  it('uses 800/400 by default and keeps a short text whole', () => {
    expect([...chunkText('just a few words')]).toEqual(['just a few words'])
    const chunks = [...chunkText(text)]
    expect(encode(chunks[0]).length).toBeGreaterThanOrEqual(798)
    expect(chunks.every((c) => encode(c).length <= 802)).toBe(true)
  })

  it('does not emit a trailing chunk that only repeats the overlap', () => {
    const exact = Array.from({ length: 100 }, (_, i) => `t${i}`).join(' ')
    const tokens = encode(exact).length
    const chunks = [...chunkText(exact, { maxTokens: tokens, overlapTokens: Math.floor(tokens / 2) })]
    expect(chunks).toHaveLength(1)
  })

  it('encodes exactly as the tokenizer does, special-token strings included', async () => {
    const { Tiktoken } = await import('js-tiktoken/lite')
    const { default: ranks } = await import('js-tiktoken/ranks/o200k_base')
    const reference = new Tiktoken(ranks)
    const text = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8') + ' <|endoftext|>  été 日本語  \n\n x'
    expect(encode(text)).toEqual(reference.encode(text, [], []))
    expect([...chunkText('a <|endoftext|> b')]).toEqual(['a <|endoftext|> b'])
  })

  it('splits segments of very long single lines without losing text', () => {
    const long = 'x'.repeat(20_000)
    const chunks = [...chunkText(long, { maxTokens: 4096, overlapTokens: 0 })]
    expect(chunks.join('').length).toBe(20_000)
  })
})

describe('parsing', () => {
  it('detects types from content, not only the name', async () => {
    expect(await detectKind(fixture('turbine.pdf'), 'renamed.txt')).toBe('pdf')
    expect(await detectKind(fixture('garden.docx'), 'garden.bin')).toBe('docx')
    expect(await detectKind(fixture('page.html'), 'page.txt')).toBe('html')
    expect(await detectKind(Buffer.from('{"a": [1, 2]}'), 'data')).toBe('json')
    expect(await detectKind(Buffer.from('def f():\n  return 1\n'), 'f.py')).toBe('text')
    await expect(detectKind(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0]), 'photo.md')).rejects.toMatchObject({ code: 'unsupported_file' })
    await expect(detectKind(Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), 'latin.txt')).rejects.toMatchObject({ code: 'unsupported_file' })
  })

  it('extracts text from PDF, DOCX, HTML and Markdown fixtures', async () => {
    expect(await extractText(fixture('turbine.pdf'), 'turbine.pdf')).toContain('titanium alloy')
    expect(await extractText(fixture('garden.docx'), 'garden.docx')).toContain('seventeen days')
    const html = await extractText(fixture('page.html'), 'page.html')
    expect(html).toContain('Bartholomew & is fed rye flour')
    expect(html).not.toContain('zzzscriptzzz')
    expect(html).not.toContain('color: red')
    expect(await extractText(fixture('notes.md'), 'notes.md')).toContain('paraffin oil')
  })

  it('refuses corrupt and empty files as invalid_file', async () => {
    const corrupt = await extractText(fixture('corrupt.pdf'), 'corrupt.pdf').catch((e) => e)
    expect(corrupt).toBeInstanceOf(IngestError)
    expect(corrupt.code).toBe('invalid_file')
    await expect(extractText(Buffer.from(' \n\t '), 'blank.txt')).rejects.toMatchObject({ code: 'invalid_file' })
    await expect(extractText(Buffer.from('{"broken": '), 'x.json')).rejects.toMatchObject({ code: 'invalid_file' })
  })

  it('decodes HTML entities', () => {
    expect(htmlToText('<p>a &lt;b&gt; &#x41;&#66; &nbsp;c</p>').trim()).toBe('a <b> AB c')
  })
})

describe('search helpers', () => {
  const attrs = { lang: 'en', year: 2021, draft: false }
  it('evaluates comparison and compound filters as OpenAI documents', () => {
    expect(matches({ type: 'eq', key: 'lang', value: 'en' }, attrs)).toBe(true)
    expect(matches({ type: 'ne', key: 'lang', value: 'en' }, attrs)).toBe(false)
    expect(matches({ type: 'gt', key: 'year', value: 2020 }, attrs)).toBe(true)
    expect(matches({ type: 'lte', key: 'year', value: 2020 }, attrs)).toBe(false)
    expect(matches({ type: 'gt', key: 'lang', value: 5 }, attrs)).toBe(false)
    expect(matches({ type: 'in', key: 'lang', value: ['de', 'en'] }, attrs)).toBe(true)
    expect(matches({ type: 'nin', key: 'lang', value: ['de', 'en'] }, attrs)).toBe(false)
    expect(matches({ type: 'eq', key: 'draft', value: false }, attrs)).toBe(true)
    expect(
      matches({ type: 'or', filters: [{ type: 'eq', key: 'lang', value: 'de' }, { type: 'and', filters: [{ type: 'gte', key: 'year', value: 2021 }, { type: 'eq', key: 'draft', value: false }] }] }, attrs),
    ).toBe(true)
    expect(matches({ type: 'eq', key: 'missing', value: 'x' }, attrs)).toBe(false)
  })

  it('rewrites a question into its topic words', () => {
    expect(rewriteQuery('What is the turbine blade made of?')).toBe('turbine blade made')
    expect(rewriteQuery('what is it')).toBe('what is it')
  })
})
