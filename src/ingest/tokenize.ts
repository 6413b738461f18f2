import { Tiktoken } from 'js-tiktoken/lite'
import o200k_base from 'js-tiktoken/ranks/o200k_base'

let encoder: Tiktoken | null = null

/** The o200k tokenizer (as src/engine/tokens.ts), shared by chunking. */
function tokenizer(): Tiktoken {
  return (encoder ??= new Tiktoken(o200k_base))
}

export function encode(text: string): number[] {
  return tokenizer().encode(text)
}

export function decode(tokens: number[]): string {
  return tokenizer().decode(tokens)
}
