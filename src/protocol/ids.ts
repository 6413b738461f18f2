import { randomBytes } from 'node:crypto'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** OpenAI's id prefixes. Files use a hyphen, everything else an underscore. */
export const ID_PREFIX = {
  assistant: 'asst_',
  thread: 'thread_',
  message: 'msg_',
  run: 'run_',
  step: 'step_',
  call: 'call_',
  file: 'file-',
  vectorStore: 'vs_',
  fileBatch: 'vsfb_',
} as const

export type IdKind = keyof typeof ID_PREFIX

function randomToken(length: number): string {
  const bytes = randomBytes(length)
  let out = ''
  // 62 symbols: the modulo bias is negligible for identifiers.
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i] % ALPHABET.length]
  return out
}

export function newId(kind: IdKind): string {
  return ID_PREFIX[kind] + randomToken(24)
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}
