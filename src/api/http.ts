import type { Context, Hono } from 'hono'
import type { z } from 'zod'
import { ApiError, invalidRequest } from '../protocol/errors.ts'
import { describeValue, paramPath, parseWith } from '../protocol/validation.ts'

/**
 * Sent with the objects the SDK's polling helpers retrieve (runs, vector store files, file
 * batches): without it they sleep 5 s between polls unless the caller sets pollIntervalMs.
 */
export const POLL_AFTER_MS = '100'

/** `requestId`: this request's `x-request-id` (`req_` + 32 hex), set before anything else runs. */
export type HonoEnv = { Variables: { project: string; requestId: string } }
export type Ctx = Context<HonoEnv>

/** Every route registered, so an unmatched request can be told 405 (path exists) from 404. */
export class RouteTable {
  private routes: { method: string; pattern: RegExp }[] = []

  constructor(readonly app: Hono<HonoEnv>) {}

  on(method: 'GET' | 'POST' | 'DELETE', path: string, handler: (c: Ctx) => Promise<Response> | Response) {
    // Exact shape only: a trailing slash does not match the route, so it is a 404, not a 405.
    const pattern = new RegExp('^' + path.replace(/:[A-Za-z_]+/g, '[^/]+') + '$')
    this.routes.push({ method, pattern })
    this.app.on(method, path, handler)
  }

  allowedMethods(path: string): string[] {
    return this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method)
  }
}

const JSON_PARSE_ERROR =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"

/** Deeper than any real request; bounds the work of walking, validating and storing a body. */
const MAX_JSON_DEPTH = 64

type Unstorable = 'nul' | 'surrogate' | 'depth' | 'proto'

function stringProblem(s: string): Unstorable | null {
  if (s.includes('\u0000')) return 'nul'
  if (!s.isWellFormed()) return 'surrogate'
  return null
}

/**
 * Problems JSON.parse accepts but the store cannot hold: NUL characters (Postgres text and jsonb
 * reject them), unpaired surrogates like "\ud800" (jsonb rejects them), "__proto__" keys and
 * absurd nesting.
 * Returns the offending param path, or null.
 */
function findUnstorable(value: unknown, path: PropertyKey[] = [], depth = 0): { path: PropertyKey[]; problem: Unstorable } | null {
  if (typeof value === 'string') {
    const problem = stringProblem(value)
    return problem ? { path, problem } : null
  }
  if (value === null || typeof value !== 'object') return null
  if (depth >= MAX_JSON_DEPTH) return { path, problem: 'depth' }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], [...path, i], depth + 1)
      if (found) return found
    }
    return null
  }
  for (const [k, v] of Object.entries(value)) {
    // JSON.parse keeps "__proto__" as a plain key, but copying it into a new object (as validation
    // does) sets the prototype instead: the value would vanish silently, so refuse it.
    const problem = k === '__proto__' ? 'proto' : stringProblem(k)
    if (problem) return { path: [...path, k], problem }
    const found = findUnstorable(v, [...path, k], depth + 1)
    if (found) return found
  }
  return null
}

function rejectUnstorable(value: unknown): void {
  const found = findUnstorable(value)
  if (!found) return
  const param = paramPath(found.path) || null
  if (found.problem === 'nul') {
    throw invalidRequest(`Invalid '${param}': string contains a null character (\\u0000), which is not supported.`, param, 'invalid_value')
  }
  if (found.problem === 'proto') {
    throw invalidRequest(`Invalid '${param}': '__proto__' is not supported as a property name.`, param, 'invalid_value')
  }
  if (found.problem === 'surrogate') {
    throw invalidRequest(`Invalid '${param}': string contains an unpaired UTF-16 surrogate, which is not valid Unicode.`, param, 'invalid_value')
  }
  throw invalidRequest(`Invalid '${param}': JSON is nested too deeply. The maximum depth is ${MAX_JSON_DEPTH}.`, param, 'invalid_value')
}

/** Read and validate a JSON body. An empty body counts as `{}` (the SDK sends none for e.g. cancel). */
export async function readBody<S extends z.ZodType>(c: Ctx, schema: S): Promise<z.output<S>> {
  const text = await c.req.text()
  let value: unknown = {}
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text)
    } catch {
      throw invalidRequest(JSON_PARSE_ERROR)
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidRequest(`Invalid type for 'body': expected an object, but got ${describeValue(value)} instead.`, null, 'invalid_type')
  }
  rejectUnstorable(value)
  return parseWith(schema, value)
}

function rejectNul(name: string, value: string): string {
  if (value.includes('\u0000')) {
    throw invalidRequest(`Invalid '${name}': string contains a null character (\\u0000), which is not supported.`, name, 'invalid_value')
  }
  return value
}

/** A path parameter of the matched route (always present when the route matched). */
export function pathParam(c: Ctx, name: string): string {
  return rejectNul(name, c.req.param(name) ?? '')
}

/**
 * A path id that must carry OpenAI's prefix: OpenAI checks the prefix before looking the object up
 * ("Invalid 'thread_id': 'x'. Expected an ID that begins with 'thread'.").
 */
export function prefixedIdParam(c: Ctx, name: string, prefix: string, separator = ''): string {
  const id = pathParam(c, name)
  if (!id.startsWith(prefix + separator)) {
    throw invalidRequest(`Invalid '${name}': '${id}'. Expected an ID that begins with '${prefix}'.`, name, 'invalid_value')
  }
  return id
}

/** Query params as a plain object; repeated keys like `include[]` are read separately. */
export function queryObject(c: Ctx, omit: string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(c.req.query())) if (!omit.includes(k)) out[k] = rejectNul(k, v)
  return out
}

export function errorResponse(err: ApiError): Response {
  return new Response(JSON.stringify(err.toBody()), {
    status: err.status,
    headers: { 'content-type': 'application/json' },
  })
}
