import { Tiktoken } from 'js-tiktoken/lite'
import o200k_base from 'js-tiktoken/ranks/o200k_base'
import { describe, expect, it } from 'vitest'
import { decode, encode } from '../../src/text/tokens.ts'

/** js-tiktoken's own encoder, the reference our faster one must agree with token for token. */
const reference = new Tiktoken(o200k_base)

const SAMPLES = [
  'The quick brown fox jumps over the lazy dog.',
  '  leading spaces, trailing  \n\n\tand tabs\r\n',
  'Numbers 1234567 and 3.14159, dates 2026-11-30, ids asst_abc123XYZ.',
  "Contractions: don't, I'M, we've, they'LL; CamelCaseWords and snake_case_words.",
  'Ünïcödé: naïve café, Straße, Ελληνικά, русский текст, 日本語のテキスト, 中文字符, 한국어.',
  'Emoji 👩‍👩‍👧‍👦 🎉🎉 and flags 🇫🇷🇯🇵, symbols ∑∫√∞ ≠ ≤ ≥, arrows → ← ↔.',
  'Code: function f(x) { return x ** 2 + 1; } // comment\n<div class="a">text</div>',
  'Special-token text is plain text here: <|endoftext|> <|endofprompt|>.',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'QmFzZTY0IGVuY29kZWQgc3RyaW5nIHRoYXQgZ29lcyBvbiBhbmQgb24gYW5kIG9u+/==',
  'pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism',
]

/** Random words from mixed scripts (seeded), so rare merges are exercised too. */
function randomText(seed: number, words: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789éüßøçñ日本語字符ŁąęΣπ😀🙂—…’“”.,;:!?()[]{}<>/\\|@#$%^&*_+=-'
  const chars = [...alphabet]
  let s = seed
  const rand = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
  const out: string[] = []
  for (let i = 0; i < words; i++) {
    const len = 1 + Math.floor(rand() * 12)
    out.push(Array.from({ length: len }, () => chars[Math.floor(rand() * chars.length)]).join(''))
  }
  return out.join(rand() < 0.5 ? ' ' : '\n')
}

describe('o200k byte-pair encoding', () => {
  it('gives exactly the tokens js-tiktoken gives', () => {
    for (const text of [...SAMPLES, ...Array.from({ length: 20 }, (_, i) => randomText(i + 1, 200))]) {
      expect(encode(text), text.slice(0, 40)).toEqual(reference.encode(text, [], []))
    }
  })

  it('decodes tokens back to the text, and a cut character to U+FFFD as js-tiktoken does', () => {
    for (const text of SAMPLES) {
      const tokens = encode(text)
      expect(decode(tokens)).toBe(text)
      for (let cut = 1; cut < tokens.length; cut += 3) {
        expect(decode(tokens.slice(0, cut))).toBe(reference.decode(tokens.slice(0, cut)))
        expect(decode(tokens.slice(cut))).toBe(reference.decode(tokens.slice(cut)))
      }
    }
  })
})
