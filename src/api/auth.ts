import { createHash, randomBytes } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { ApiError } from '../protocol/errors.ts'
import type { Db } from '../store/db.ts'
import { nowSeconds } from '../protocol/ids.ts'
import type { ApiKeyConfig } from '../config.ts'
import type { HonoEnv } from './http.ts'

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex')

/** Create a key for a project and store its hash; the key itself is shown once. */
export async function createApiKey(db: Db, project: string, name: string | null = null): Promise<string> {
  const key = 'sk-tl-' + randomBytes(24).toString('base64url')
  await db
    .insertInto('api_keys')
    .values({ key_hash: hashKey(key), project_id: project, name, created_at: nowSeconds() })
    .execute()
  return key
}

export async function countStoredKeys(db: Db): Promise<number> {
  const row = await db.selectFrom('api_keys').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

const OPEN_RECHECK_MS = 1_000

const MISSING_KEY =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."

function mask(key: string): string {
  return key.length <= 8 ? '****' : `${key.slice(0, 3)}****${key.slice(-4)}`
}

/**
 * Resolves the caller's project from `Authorization: Bearer <key>`. Keys come from config (plain)
 * or the database (hashed). In open mode every request belongs to the `default` project.
 */
export function authMiddleware(opts: { db: Db; configKeys: ApiKeyConfig[]; open: boolean }): MiddlewareHandler<HonoEnv> {
  const byKey = new Map(opts.configKeys.map((k) => [k.key, k.project]))
  const cache = new Map<string, string>()
  // Open mode ends once a key is created in the database (e.g. by `keys create` against a shared
  // Postgres while this process runs): checked at most once a second.
  let open = opts.open
  let checkedAt = Date.now()
  const stillOpen = async () => {
    if (!open || Date.now() - checkedAt < OPEN_RECHECK_MS) return open
    checkedAt = Date.now()
    open = (await countStoredKeys(opts.db)) === 0
    return open
  }
  return async (c, next) => {
    if (await stillOpen()) {
      c.set('project', 'default')
      return next()
    }
    const header = c.req.header('authorization') ?? ''
    const match = /^Bearer\s+(.+)$/i.exec(header.trim())
    if (!match) throw new ApiError(401, MISSING_KEY, 'invalid_request_error', null, null)
    const key = match[1].trim()
    let project = byKey.get(key) ?? cache.get(key)
    if (!project) {
      const row = await opts.db.selectFrom('api_keys').select('project_id').where('key_hash', '=', hashKey(key)).executeTakeFirst()
      if (row) {
        project = row.project_id
        cache.set(key, project)
      }
    }
    if (!project) {
      throw new ApiError(401, `Incorrect API key provided: ${mask(key)}.`, 'invalid_request_error', null, 'invalid_api_key')
    }
    c.set('project', project)
    return next()
  }
}
