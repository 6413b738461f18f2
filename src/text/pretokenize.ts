/**
 * The o200k pre-tokenization pattern, hand-run over ASCII. The tokenizer's own pattern (a Unicode
 * regex of seven alternatives, see js-tiktoken's `pat_str`) is what `encode` spent most of its
 * time in; over characters up to U+007F its classes shrink to a few ranges and its backtracking to
 * a few rules, below. A piece whose rules would look at any other character is matched by the
 * regex itself, at that position (the pattern matches every character and looks no further back
 * than its start, so pieces can be found one at a time). Gives exactly the regex's pieces (tests
 * compare them on generated text).
 */

const UPPER = 1
const LOWER = 2
const DIGIT = 4
/** Whitespace: [ \t\n\v\f\r]. */
const SPACE = 8
/** \r or \n. */
const NEWLINE = 16
/** Anything else (punctuation, symbols, control characters): neither \s nor a letter nor a digit. */
const OTHER = 32

const CLASS = new Uint8Array(128)
/** Characters past this many after a piece's end are never looked at by its rules. */
const LOOKAHEAD = 3
for (let c = 0; c < 128; c++) {
  if (c >= 65 && c <= 90) CLASS[c] = UPPER
  else if (c >= 97 && c <= 122) CLASS[c] = LOWER
  else if (c >= 48 && c <= 57) CLASS[c] = DIGIT
  else if (c === 10 || c === 13) CLASS[c] = SPACE | NEWLINE
  else if (c === 32 || c === 9 || c === 11 || c === 12) CLASS[c] = SPACE
  else CLASS[c] = OTHER
}
const LETTER = UPPER | LOWER

const APOSTROPHE = 39
const SLASH = 47

/** Length of a contraction ('s 't 're 've 'm 'll 'd, any case) at `i`, or 0. */
function contraction(text: string, i: number): number {
  if (text.charCodeAt(i) !== APOSTROPHE) return 0
  const a = text.charCodeAt(i + 1) | 32 // lower-cased (NaN | 32 = 32 past the end)
  if (a === 115 || a === 116 || a === 109 || a === 100) return 2 // s t m d
  const b = text.charCodeAt(i + 2) | 32
  if ((a === 114 && b === 101) || (a === 118 && b === 101) || (a === 108 && b === 108)) return 3 // re ve ll
  return 0
}

const classAt = (text: string, i: number) => (i < text.length ? CLASS[text.charCodeAt(i)] : 0)

/** The end of the piece starting at `i` (text all ASCII). */
function pieceEnd(text: string, i: number): number {
  const n = text.length
  const c = classAt(text, i)
  // 1–2: an optional non-letter, non-digit, non-newline prefix, then letters (upper then lower), then a contraction.
  const start = c & (OTHER | SPACE) && !(c & NEWLINE) ? i + 1 : i
  if (classAt(text, start) & LETTER) {
    let j = start
    while (classAt(text, j) & UPPER) j++
    while (classAt(text, j) & LOWER) j++
    return j + contraction(text, j)
  }
  // 3: one to three digits.
  if (c & DIGIT) {
    let j = i + 1
    while (j < i + 3 && classAt(text, j) & DIGIT) j++
    return j
  }
  // 4: an optional space, symbols, then newlines and slashes.
  const symbols = text.charCodeAt(i) === 32 && classAt(text, i + 1) & OTHER ? i + 1 : i
  if (classAt(text, symbols) & OTHER) {
    let j = symbols + 1
    while (classAt(text, j) & OTHER) j++
    while (j < n && (classAt(text, j) & NEWLINE || text.charCodeAt(j) === SLASH)) j++
    return j
  }
  // 5–7: whitespace. Up to its last newline if it has one; else all of it at the end of the text,
  // all but its last character before a non-space (that one goes with what follows), or one character.
  let end = i
  let lastNewline = -1
  while (classAt(text, end) & SPACE) {
    if (classAt(text, end) & NEWLINE) lastNewline = end
    end++
  }
  if (lastNewline >= 0) return lastNewline + 1
  if (end === n) return end
  return end - i > 1 ? end - 1 : end
}

const NON_ASCII = /[^\x00-\x7f]/g

/**
 * The pieces `pattern` (the o200k pattern, with the sticky flag) cuts `text` into, in order: by
 * the rules above wherever they see only ASCII, by `pattern` elsewhere.
 */
export function prePieces(text: string, pattern: RegExp): string[] {
  const out: string[] = []
  let nonAscii = -1 // the next character past U+007F at or after `i` (text.length if none)
  for (let i = 0; i < text.length; ) {
    if (nonAscii < i) {
      NON_ASCII.lastIndex = i
      nonAscii = NON_ASCII.exec(text)?.index ?? text.length
    }
    let end = nonAscii > i ? pieceEnd(text, i) : i
    if (end === i || end + LOOKAHEAD > nonAscii) {
      if (nonAscii < text.length) {
        pattern.lastIndex = i
        end = i + pattern.exec(text)![0].length
      }
    }
    out.push(text.slice(i, end))
    i = end
  }
  return out
}
