/**
 * zod issues → the error bodies OpenAI sends for the same mistakes. The wording, `param` and `code`
 * follow responses observed from api.openai.com, e.g.
 *   "Invalid type for 'temperature': expected a decimal, but got a string instead." (invalid_type)
 *   "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 instead."
 *   "Invalid value: 'x'. Supported values are: 'asc' and 'desc'." (invalid_value)
 *   "Unrecognized request argument supplied: foo" (top level: param and code null)
 */
import type { z } from 'zod'
import { ApiError, invalidRequest } from './errors.ts'

type Issue = z.core.$ZodIssue
type Schema = z.core.$ZodType

/** `['messages', 0, 'content']` → `messages[0].content`, as OpenAI names params. */
export function paramPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out ? `.${String(part)}` : String(part)
  }
  return out
}

/** How OpenAI names the type of a value it received. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  switch (typeof value) {
    case 'string':
      return 'a string'
    case 'number':
      return Number.isInteger(value) ? 'an integer' : 'a decimal number'
    case 'boolean':
      return 'a boolean'
    case 'object':
      return 'an object'
    default:
      return typeof value
  }
}

/** `['a','b','c']` → `'a', 'b', and 'c'`; two values → `'a' and 'b'`. */
export function quotedList(values: readonly unknown[], conjunction = 'and'): string {
  const q = values.map((v) => `'${String(v)}'`)
  if (q.length <= 1) return q.join('')
  if (q.length === 2) return `${q[0]} ${conjunction} ${q[1]}`
  return `${q.slice(0, -1).join(', ')}, ${conjunction} ${q.at(-1)}`
}

function def(schema: Schema): Record<string, any> {
  return (schema as any)._zod.def
}

function unwrap(schema: Schema): Schema {
  let s = schema
  for (;;) {
    const d = def(s)
    if (d.type === 'optional' || d.type === 'nullable' || d.type === 'default' || d.type === 'prefault') s = d.innerType
    else if (d.type === 'pipe') s = d.in
    else return s
  }
}

const isIntSchema = (schema: Schema) =>
  (def(unwrap(schema)).checks ?? []).some((c: any) => String(c._zod.def.format ?? '').includes('int'))

/** "a string", "an array of objects", "one of 'asc' or 'desc'" … for the schema a value should match. */
export function describeSchema(schema: Schema, inUnion = false): string {
  const d = def(unwrap(schema))
  switch (d.type) {
    case 'string':
      return 'a string'
    case 'number':
      return isIntSchema(schema) ? 'an integer' : 'a decimal'
    case 'boolean':
      return 'a boolean'
    case 'object':
    case 'record':
      return inUnion ? 'object' : 'an object'
    case 'array': {
      const element = def(unwrap(d.element)).type
      const of = element === 'object' || element === 'record' || element === 'union' ? 'objects' : element === 'string' ? 'strings' : 'values'
      return inUnion ? `array of ${of}` : `an array of ${of}`
    }
    case 'enum':
      // Inside a union the union says "one of" once: "one of 'none', 'auto', or 'required' or object".
      return inUnion ? quotedList(Object.values(d.entries), 'or') : `one of ${quotedList(Object.values(d.entries), 'or')}`
    case 'literal':
      return d.values.length === 1 ? `'${String(d.values[0])}'` : `one of ${quotedList(d.values, 'or')}`
    case 'union': {
      const options = (d.options as Schema[]).map((o) => describeSchema(o, true))
      const unique = [...new Set(options)]
      return unique.length === 1 ? (def(unwrap(d.options[0])).type === 'object' ? 'an object' : unique[0]) : `one of ${unique.join(' or ')}`
    }
    default:
      return String(d.type)
  }
}

/**
 * Runs while zod finalizes an issue, when the schema that raised it is still at hand: record what
 * the OpenAI wording needs (integer vs decimal, the expected type).
 */
function annotate(iss: any): undefined {
  const schema: Schema | undefined = iss.schema ?? iss.inst
  if (!schema || !(schema as any)._zod) return undefined
  if ((iss.code === 'too_small' || iss.code === 'too_big') && iss.origin === 'number') iss.integer = isIntSchema(schema)
  if (iss.code === 'invalid_type' || iss.code === 'invalid_union' || iss.code === 'invalid_value') {
    try {
      iss.expectedText = describeSchema(schema)
    } catch {
      // describing is best effort; the plain zod expectation is used instead
    }
  }
  return undefined
}

/** Custom issues raised by our schemas carry the OpenAI error to use in `params`. */
export interface CustomIssueParams {
  kind: 'too_many_properties' | 'property_name_too_long'
  max: number
  actual: number
  key?: string
}

/** Turn the zod issues into the error OpenAI would send for the same mistake. */
export function zodToApiError(error: z.ZodError, prefix: readonly PropertyKey[] = []): ApiError {
  const issue = pickIssue(error.issues) as Issue & Record<string, any>
  const path = [...prefix, ...issue.path]
  const param = paramPath(path) || null
  const name = param ?? 'body'
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k: string) => paramPath([...path, k]))
      if (path.length > 0) return invalidRequest(`Unknown parameter: '${keys[0]}'.`, keys[0], 'unknown_parameter')
      const noun = keys.length === 1 ? 'argument' : 'arguments'
      return invalidRequest(`Unrecognized request ${noun} supplied: ${keys.join(', ')}`, null, null)
    }
    case 'invalid_type': {
      if (issue.input === undefined) return missing(name, param)
      const expected = issue.expectedText ?? issue.expected
      return invalidType(name, param, expected, issue.input)
    }
    case 'too_big': {
      const max = Number(issue.maximum)
      if (issue.origin === 'string') {
        const length = String(issue.input ?? '').length
        return invalidRequest(
          `Invalid '${name}': string too long. Expected a string with maximum length ${max}, but got a string with length ${length} instead.`,
          param,
          'string_above_max_length',
        )
      }
      if (issue.origin === 'array') {
        const length = (issue.input as unknown[] | undefined)?.length ?? 0
        return invalidRequest(
          `Invalid '${name}': array too long. Expected an array with maximum length ${max}, but got an array with length ${length} instead.`,
          param,
          'array_above_max_length',
        )
      }
      const kind = issue.integer ? 'integer' : 'decimal'
      return invalidRequest(
        `Invalid '${name}': ${kind} above maximum value. Expected a value <= ${max}, but got ${String(issue.input)} instead.`,
        param,
        `${kind}_above_max_value`,
      )
    }
    case 'too_small': {
      const min = Number(issue.minimum)
      if (issue.origin === 'string') {
        const length = String(issue.input ?? '').length
        if (length === 0) {
          return invalidRequest(
            `Invalid '${name}': empty string. Expected a string with minimum length ${min}, but got an empty string instead.`,
            param,
            'empty_string',
          )
        }
        return invalidRequest(
          `Invalid '${name}': string too short. Expected a string with minimum length ${min}, but got a string with length ${length} instead.`,
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
      const kind = issue.integer ? 'integer' : 'decimal'
      return invalidRequest(
        `Invalid '${name}': ${kind} below minimum value. Expected a value >= ${min}, but got ${String(issue.input)} instead.`,
        param,
        `${kind}_below_min_value`,
      )
    }
    case 'invalid_value': {
      if (typeof issue.input !== 'string' && issue.input !== undefined) {
        return invalidType(name, param, issue.expectedText ?? `one of ${quotedList(issue.values, 'or')}`, issue.input)
      }
      if (issue.input === undefined) return missing(name, param)
      return invalidRequest(`Invalid value: '${String(issue.input)}'. Supported values are: ${quotedList(issue.values)}.`, param, 'invalid_value')
    }
    case 'invalid_union': {
      if (issue.discriminator) {
        // zod's path already ends at the discriminator; `input` is the whole object.
        const value = (issue.input as Record<string, unknown> | undefined)?.[issue.discriminator]
        if (value === undefined) return missing(name, param)
        if (typeof value !== 'string') return invalidType(name, param, `one of ${quotedList(issue.options, 'or')}`, value)
        return invalidRequest(`Invalid value: '${value}'. Supported values are: ${quotedList(issue.options)}.`, param, 'invalid_value')
      }
      if (issue.input === undefined) return missing(name, param)
      // A string where the union accepts some fixed strings (e.g. tool_choice 'none' | 'auto' | 'required'):
      // an unsupported value, as OpenAI reports it, rather than a wrong type.
      const stringChoices = (issue.errors ?? [])
        .flat()
        .find((i: any) => i.path.length === 0 && i.code === 'invalid_value' && i.values?.every((v: unknown) => typeof v === 'string'))
      if (typeof issue.input === 'string' && stringChoices) {
        return invalidRequest(`Invalid value: '${issue.input}'. Supported values are: ${quotedList((stringChoices as any).values)}.`, param, 'invalid_value')
      }
      // A value of none of the accepted types: say which types are accepted.
      const branches: Issue[][] = issue.errors ?? []
      const typeMismatch = branches.every((b) => b.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')))
      if (typeMismatch && issue.input !== undefined) return invalidType(name, param, issue.expectedText ?? 'a valid value', issue.input)
      // The type matched a branch but its content did not: report that branch's first problem.
      const inner = branches.find((b) => !b.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')))
      if (inner?.length) return zodToApiError({ issues: inner } as z.ZodError, path)
      return invalidRequest(`Invalid value for '${name}'.`, param, 'invalid_value')
    }
    case 'invalid_format':
      if (issue.format === 'regex') {
        // OpenAI: "Invalid 'messages[1].name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
        const pattern = String(issue.pattern ?? '').replace(/^\/(.*)\/[a-z]*$/, '$1')
        return invalidRequest(
          `Invalid '${name}': string does not match pattern. Expected a string that matches the pattern '${pattern}'.`,
          param,
          'invalid_value',
        )
      }
      return invalidRequest(`Invalid '${name}': expected a valid ${issue.format === 'url' ? 'URL' : issue.format}.`, param, 'invalid_value')
    case 'custom': {
      const p = issue.params as CustomIssueParams | undefined
      if (p?.kind === 'too_many_properties') {
        return invalidRequest(
          `Invalid '${name}': too many properties. Expected an object with at most ${p.max} properties, but got an object with ${p.actual} properties instead.`,
          param,
          'object_above_max_properties',
        )
      }
      if (p?.kind === 'property_name_too_long') {
        const owner = paramPath(path.slice(0, -1))
        return invalidRequest(
          `Invalid property name in '${owner}': '${p.key}' is too long. Expected a string with maximum length ${p.max}, but got a string with length ${p.actual} instead.`,
          param,
          'property_name_above_max_length',
        )
      }
      return invalidRequest(`Invalid '${name}': ${issue.message}`, param, 'invalid_value')
    }
    default:
      return invalidRequest(`Invalid '${name}': ${issue.message}`, param, 'invalid_value')
  }
}

function missing(name: string, param: string | null): ApiError {
  return invalidRequest(`Missing required parameter: '${name}'.`, param, 'missing_required_parameter')
}

function invalidType(name: string, param: string | null, expected: string, input: unknown): ApiError {
  return invalidRequest(`Invalid type for '${name}': expected ${expected}, but got ${describeValue(input)} instead.`, param, 'invalid_type')
}

/**
 * The issue OpenAI reports first: a missing required top-level parameter, then unknown arguments,
 * then the first problem in field order.
 */
function pickIssue(issues: readonly Issue[]): Issue {
  const missingTopLevel = issues.find((i) => i.code === 'invalid_type' && i.path.length === 1 && (i as any).input === undefined)
  return missingTopLevel ?? issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]
}

export function parseWith<S extends z.ZodType>(schema: S, input: unknown, prefix: readonly PropertyKey[] = []): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true, error: annotate })
  if (!result.success) throw zodToApiError(result.error, prefix)
  return result.data
}
