import o200k_base from 'js-tiktoken/ranks/o200k_base'
import { describe, expect, it } from 'vitest'
import { prePieces } from '../../src/text/pretokenize.ts'
import { encode } from '../../src/text/tokens.ts'
import { Tiktoken } from 'js-tiktoken/lite'

const PATTERN = new RegExp(o200k_base.pat_str, 'gu')
const STICKY = new RegExp(o200k_base.pat_str, 'uy')
const regexPieces = (text: string) => text.match(PATTERN) ?? []
const asciiPieces = (text: string) => prePieces(text, STICKY)

/** Seeded random ASCII text, weighted towards what makes the pattern's rules meet. */
function randomAscii(seed: number, length: number): string {
  let s = seed
  const rand = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
  const atoms = [
    'a', 'e', 'Z', 'Q', 'the', 'The', 'THE', 'camelCase', 'ALLcaps', '0', '7', '123', '45678', ' ', ' ', '  ', '\t', '\n', '\r\n', '\n\n', ' \n ',
    "'", "'s", "'S", "'t", "'re", "'RE", "'Ve", "'m", "'ll", "'LL", "'d", "'x", "don't", "O'Reilly", '/', '//', '\n/', '.', ',', '!?', '(', ')', '-', '_',
    '\v', '\f', '\x00', '\x1f', '\x7f', '#', '@', '...', '\r', ' /', ' .', '."', '\t.',
  ]
  let out = ''
  while (out.length < length) out += atoms[Math.floor(rand() * atoms.length)]
  return out
}

describe('ASCII pre-tokenization', () => {
  it('cuts exactly the pieces of the o200k pattern', () => {
    const texts = [
      '',
      'Hello, world! This is   a test.\n\nNew paragraph:\tindented; numbers 1234567 and 3.14.',
      "I'm sure they'RE right, aren't we? O'Reilly's books. WE'LL SEE.",
      'path/to/file.txt\n/usr/bin\r\n// comment\n  x  ',
      '   leading and trailing   ',
      'end with newline\n',
      'a\n',
      ' ',
      '\n',
      '\t\t',
      '!!!\n\n///',
    ]
    for (let seed = 1; seed <= 1500; seed++) texts.push(randomAscii(seed, 20 + (seed % 7) * 40))
    // Any ASCII character at all, uniformly.
    for (let seed = 1; seed <= 300; seed++) {
      let s = seed
      texts.push(String.fromCharCode(...Array.from({ length: 200 }, () => (s = (s * 1103515245 + 12345) & 0x7fffffff) % 128)))
    }
    for (const text of texts) {
      expect(asciiPieces(text), JSON.stringify(text)).toEqual(regexPieces(text))
    }
  })

  it('cuts mostly-ASCII text as the pattern does, matching the pattern itself near other characters', () => {
    const others = ['é', 'ß', '日本', '😀', '\u00a0', '\u3000', '“', '”', '’', '—', '\u0301', '٣', 'Ω', '\u2028']
    for (let seed = 1; seed <= 600; seed++) {
      let s = seed
      const rand = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
      const parts = randomAscii(seed, 300).split('')
      for (let k = 0; k < 1 + (seed % 9); k++) parts.splice(Math.floor(rand() * parts.length), 0, others[Math.floor(rand() * others.length)])
      const text = parts.join('')
      expect(prePieces(text, STICKY), JSON.stringify(text)).toEqual(regexPieces(text))
    }
  })

  it('gives the tokens js-tiktoken gives, for ASCII text and for other text', () => {
    const reference = new Tiktoken(o200k_base)
    for (const text of [randomAscii(7, 3000), `${randomAscii(8, 1000)} café “quoted” 日本 ${randomAscii(9, 1000)}`]) {
      expect(encode(text)).toEqual(reference.encode(text, [], []))
    }
  })
})
