import { Tiktoken } from 'js-tiktoken/lite'
import o200k_base from 'js-tiktoken/ranks/o200k_base'

let encoder: Tiktoken | null = null

/** Token count with OpenAI's o200k tokenizer (an estimate for other model families). */
export function countTokens(text: string): number {
  encoder ??= new Tiktoken(o200k_base)
  return encoder.encode(text).length
}
