import { sql } from 'kysely'
import { z } from 'zod'
import { invalidRequest } from '../protocol/errors.ts'
import type { ListPage } from '../protocol/objects.ts'
import { parseWith } from '../protocol/validation.ts'
import type { Db } from './db.ts'
import type { Database } from './tables.ts'

export const ListQuery = z.strictObject({
  // Query values are strings: only digit strings become numbers, so `limit=abc` and `limit=1.5` are type errors.
  limit: z
    .preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v), z.number().int().min(1).max(100))
    .default(20),
  order: z.enum(['asc', 'desc']).default('desc'),
  after: z.string().min(1).optional(),
  before: z.string().min(1).optional(),
})
export type ListQuery = z.infer<typeof ListQuery>

/** Parse list query params; `extra` declares the endpoint's own filters (e.g. `run_id`). */
export function parseListQuery<E extends z.ZodRawShape>(
  query: Record<string, string>,
  extra?: E,
): ListQuery & z.infer<z.ZodObject<E>> {
  const schema = extra ? ListQuery.extend(extra) : ListQuery
  return parseWith(schema, query) as ListQuery & z.infer<z.ZodObject<E>>
}

type PagedTable = 'assistants' | 'threads' | 'messages' | 'runs' | 'run_steps' | 'files' | 'vector_stores' | 'vector_store_files'

/** What narrows a list besides its parent: a filter (`status`, `purpose`, …), and a check for an empty page. */
export interface ListOptions {
  /** Column values the listed objects must have. The cursors need not: an object that stopped matching still marks a place. */
  filters?: Record<string, string>
  /** Runs when the page is empty, before cursors are checked: e.g. "does the parent thread exist?" */
  whenEmpty?: () => Promise<unknown>
}

/**
 * Cursor pagination exactly as OpenAI's: order by creation (a monotonic `seq`, so ties in
 * `created_at` and later inserts never reorder a page), `after`/`before` are object ids of the
 * list's parent (`scope`), whatever its filters: paging through files `in_progress` goes on
 * after the last one seen has completed.
 */
export async function listPage<Row extends { id: string }, Out extends { id: string }>(
  db: Db,
  table: PagedTable,
  scope: Record<string, string>,
  q: ListQuery,
  toWire: (row: Row) => Out,
  { filters = {}, whenEmpty }: ListOptions = {},
): Promise<ListPage<Out>> {
  const where = <Q extends { where: (...args: any[]) => Q }>(qb: Q, columns: Record<string, string>): Q => {
    for (const [col, val] of Object.entries(columns)) qb = qb.where(sql.ref(col), '=', val)
    return qb
  }
  // The cursor's position, as a sub-select: one round trip on the hot path.
  const cursorSeq = (id: string) => where(db.selectFrom(table).select('seq').where('id', '=', id), scope)
  let qb = where(where(db.selectFrom(table).selectAll(), scope), filters)
  const desc = q.order === 'desc'
  if (q.after) qb = qb.where('seq', desc ? '<' : '>', cursorSeq(q.after))
  if (q.before) qb = qb.where('seq', desc ? '>' : '<', cursorSeq(q.before))
  // With only `before`, read backwards from the cursor so the page is the one right next to it.
  const backwards = q.before !== undefined && q.after === undefined
  const dir = desc !== backwards ? 'desc' : 'asc'
  const rows = (await qb.orderBy('seq', dir).limit(q.limit + 1).execute()) as unknown as Row[]
  // An unknown cursor compares with NULL and matches nothing; only then is it worth a look.
  if (rows.length === 0) {
    await whenEmpty?.()
    for (const param of ['after', 'before'] as const) {
      const id = q[param]
      if (id && !(await cursorSeq(id).executeTakeFirst())) {
        throw invalidRequest(`Invalid '${param}': no object with id '${id}' in this list.`, param, 'invalid_value')
      }
    }
  }
  const has_more = rows.length > q.limit
  const page = rows.slice(0, q.limit)
  if (backwards) page.reverse()
  const data = page.map(toWire)
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more,
  }
}

export type { Database }
