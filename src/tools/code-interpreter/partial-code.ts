/**
 * The `code` the model has written so far, decoded from the unfinished JSON arguments it is
 * streaming (`{"code": "import pandas as pd\n...`), so `input` can reach clients as it is written.
 * An escape sequence cut in half waits for the next fragment.
 */
export function partialCode(argumentsSoFar: string): string {
  const start = /"code"\s*:\s*"/.exec(argumentsSoFar)
  if (!start) return ''
  let out = ''
  const s = argumentsSoFar
  for (let i = start.index + start[0].length; i < s.length; i++) {
    const c = s[i]!
    if (c === '"') return out
    if (c !== '\\') {
      out += c
      continue
    }
    const next = s[i + 1]
    if (next === undefined) return out
    if (next === 'u') {
      const hex = s.slice(i + 2, i + 6)
      if (hex.length < 4) return out
      const code = parseInt(hex, 16)
      // A high surrogate waits for its low half so no lone half is ever emitted.
      if (code >= 0xd800 && code <= 0xdbff) {
        const low = s.slice(i + 6, i + 12)
        if (low.length < 6) return out
        out += String.fromCharCode(code, parseInt(low.slice(2), 16))
        i += 11
        continue
      }
      out += String.fromCharCode(code)
      i += 5
      continue
    }
    out += ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '/': '/', '\\': '\\', '"': '"' } as Record<string, string>)[next] ?? next
    i += 1
  }
  return out
}

/** The code added between two states of the streamed arguments ('' when nothing new is decodable). */
export function codeDelta(before: string, after: string): string {
  const a = partialCode(before)
  const b = partialCode(after)
  return b.startsWith(a) ? b.slice(a.length) : ''
}
