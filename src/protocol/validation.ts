import type { z } from 'zod'
import { ApiError, invalidRequest } from './errors.ts'

/** `['messages', 0, 'content']` → `messages[0].content`, as OpenAI names params. */
export function paramPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out ? `.${String(part)}` : String(part)
  }
  return out
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  switch (typeof value) {
    case 'string':
      return 'a string'
    case 'number':
      return Number.isInteger(value) ? 'an integer' : 'a decimal'
    case 'boolean':
      return 'a boolean'
    case 'object':
      return 'an object'
    default:
      return typeof value
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  record: 'an object',
  null: 'null',
}

/** Turn the first zod issue into the error OpenAI would send for the same mistake. */
export function zodToApiError(error: z.ZodError, prefix: readonly PropertyKey[] = []): ApiError {
  const issue = pickIssue(error.issues)
  const path = [...prefix, ...issue.path]
  const param = paramPath(path) || null
  const name = param ?? 'body'
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => paramPath([...path, k]))
      return invalidRequest(`Unrecognized request argument supplied: ${keys.join(', ')}`, null, 'unknown_parameter')
    }
    case 'invalid_type': {
      if (issue.input === undefined) {
        return invalidRequest(`Missing required parameter: '${name}'.`, param, 'missing_required_parameter')
      }
      const expected = EXPECTED[issue.expected] ?? issue.expected
      return invalidRequest(
        `Invalid type for '${name}': expected ${expected}, but got ${describe(issue.input)} instead.`,
        param,
        'invalid_type',
      )
    }
    case 'too_big': {
      const max = Number(issue.maximum)
      if (issue.origin === 'string') {
        return invalidRequest(
          `Invalid '${name}': string too long. Expected a string with maximum length ${max}, but got a string with length ${String(issue.input ?? '').length} instead.`,
          param,
          'string_above_max_length',
        )
      }
      if (issue.origin === 'array') {
        return invalidRequest(
          `Invalid '${name}': array too long. Expected an array with maximum length ${max}, but got an array with length ${(issue.input as unknown[] | undefined)?.length ?? '?'} instead.`,
          param,
          'array_above_max_length',
        )
      }
      return invalidRequest(
        `Invalid '${name}': number above maximum value. Expected a value <= ${max}, but got ${String(issue.input)} instead.`,
        param,
        'decimal_above_max_value',
      )
    }
    case 'too_small': {
      const min = Number(issue.minimum)
      if (issue.origin === 'string') {
        return invalidRequest(
          `Invalid '${name}': string too short. Expected a string with minimum length ${min}, but got an empty string instead.`,
          param,
          'string_below_min_length',
        )
      }
      if (issue.origin === 'array') {
        return invalidRequest(
          `Invalid '${name}': empty array. Expected an array with minimum length ${min}, but got an empty array instead.`,
          param,
          'empty_array',
        )
      }
      return invalidRequest(
        `Invalid '${name}': number below minimum value. Expected a value >= ${min}, but got ${String(issue.input)} instead.`,
        param,
        'decimal_below_min_value',
      )
    }
    case 'invalid_value': {
      const supported = issue.values.map((v) => `'${String(v)}'`).join(', ')
      return invalidRequest(
        `Invalid value: '${String(issue.input)}'. Supported values are: ${supported}.`,
        param,
        'invalid_value',
      )
    }
    case 'invalid_union':
      return invalidRequest(`Invalid value for '${name}'.`, param, 'invalid_value')
    case 'invalid_format':
      return invalidRequest(`Invalid '${name}': expected a valid ${issue.format}.`, param, 'invalid_value')
    default:
      return invalidRequest(issue.message.includes("'") ? issue.message : `Invalid '${name}': ${issue.message}`, param, 'invalid_value')
  }
}

/** Unknown keys first (OpenAI reports them before anything else), then the first issue. */
function pickIssue(issues: z.core.$ZodIssue[]): z.core.$ZodIssue {
  return issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]
}

export function parseWith<S extends z.ZodType>(schema: S, input: unknown, prefix: readonly PropertyKey[] = []): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true })
  if (!result.success) throw zodToApiError(result.error, prefix)
  return result.data
}
