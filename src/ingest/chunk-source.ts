/**
 * What a chunk's full-text vector is built from (see lexemes.ts): its steps, when the chunk's text
 * is exactly its steps joined with only ASCII whitespace trimmed off and cannot hold a markup tag
 * (then the halves overlapping chunks share are analysed once), else its text. Decided where the
 * chunk is cut (the chunking thread), so the text itself need not travel as a string.
 */
export type LexemeSource = string | { steps: readonly string[] }

/** Text that may hold a markup tag, which the parser reads as one token across spaces. */
export const mayHoldTag = (text: string) => text.includes('<')

const isAsciiSpace = (c: number) => c === 32 || (c >= 9 && c <= 13)

/**
 * Whether the chunk's text is its steps joined with only ASCII whitespace trimmed off: then its
 * pieces are the steps' (`trim()` also drops other Unicode spaces, which a piece would keep).
 */
function trimmedOnlyAsciiSpace(text: string, steps: readonly string[]): boolean {
  let joined = 0
  for (const step of steps) joined += step.length
  let lead = 0
  for (const step of steps) {
    let i = 0
    while (i < step.length && isAsciiSpace(step.charCodeAt(i))) i++
    lead += i
    if (i < step.length) break
  }
  let trail = 0
  for (let k = steps.length - 1; k >= 0; k--) {
    const step = steps[k]
    let i = step.length
    while (i > 0 && isAsciiSpace(step.charCodeAt(i - 1))) i--
    trail += step.length - i
    if (i > 0) break
  }
  return text.length > 0 && lead + trail === joined - text.length
}

export function lexemeSource(chunk: { text: string; steps: readonly string[] | null }): LexemeSource {
  const { text, steps } = chunk
  return steps && !mayHoldTag(text) && trimmedOnlyAsciiSpace(text, steps) ? { steps } : text
}
