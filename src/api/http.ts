import type { Context, Hono } from 'hono'
import type { z } from 'zod'
import { ApiError, invalidRequest } from '../protocol/errors.ts'
import { parseWith } from '../protocol/validation.ts'

export type HonoEnv = { Variables: { project: string } }
export type Ctx = Context<HonoEnv>

/** Every route registered, so an unmatched request can be told 405 (path exists) from 404. */
export class RouteTable {
  private routes: { method: string; pattern: RegExp }[] = []

  constructor(readonly app: Hono<HonoEnv>) {}

  on(method: 'GET' | 'POST' | 'DELETE', path: string, handler: (c: Ctx) => Promise<Response> | Response) {
    const pattern = new RegExp('^' + path.replace(/:[A-Za-z_]+/g, '[^/]+') + '/?$')
    this.routes.push({ method, pattern })
    this.app.on(method, path, handler)
  }

  allowedMethods(path: string): string[] {
    return this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method)
  }
}

const JSON_PARSE_ERROR =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"

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
    throw invalidRequest('Invalid type for body: expected an object.', null, 'invalid_type')
  }
  return parseWith(schema, value)
}

/** A path parameter of the matched route (always present when the route matched). */
export function pathParam(c: Ctx, name: string): string {
  return c.req.param(name) ?? ''
}

/** Query params as a plain object; repeated keys like `include[]` are read separately. */
export function queryObject(c: Ctx, omit: string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(c.req.query())) if (!omit.includes(k)) out[k] = v
  return out
}

export function errorResponse(err: ApiError): Response {
  return new Response(JSON.stringify(err.toBody()), {
    status: err.status,
    headers: { 'content-type': 'application/json' },
  })
}
