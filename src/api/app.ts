import { randomBytes } from 'node:crypto'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { ApiError, serverError } from '../protocol/errors.ts'
import type { AppServices } from '../services.ts'
import { authMiddleware } from './auth.ts'
import { errorResponse, RouteTable, type HonoEnv } from './http.ts'
import { assistantRoutes } from './routes/assistants.ts'
import { threadRoutes } from './routes/threads.ts'
import { runRoutes } from './routes/runs.ts'
import { fileRoutes } from './routes/files.ts'
import { vectorStoreRoutes } from './routes/vector-stores.ts'

export function createApp(services: AppServices, opts: { open: boolean }) {
  const app = new Hono<HonoEnv>()
  const routes = new RouteTable(app)
  const { log, config, db } = services

  // OpenAI answers every request with `x-request-id: req_<32 hex>`; the SDK exposes it as
  // `_request_id` on results and `requestID` on errors. Set after the handler (and onError /
  // notFound) so every response carries it; SSE streams write their own headers (see sse.ts).
  app.use('*', async (c, next) => {
    const requestId = `req_${randomBytes(16).toString('hex')}`
    c.set('requestId', requestId)
    await next()
    // Not on the shared "already sent" marker response: those headers went out already.
    if (!c.res.headers.has('x-hono-already-sent')) c.res.headers.set('x-request-id', requestId)
  })

  app.get('/health', async (c) => {
    await db.selectFrom('threads').select('id').limit(1).execute()
    return c.json({ status: 'ok', database: services.database.kind })
  })

  const jsonBodyLimit = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: () => {
      throw new ApiError(413, `Request body too large. The maximum size is ${config.maxBodyBytes} bytes.`, 'invalid_request_error', null, 'request_too_large')
    },
  })
  // File uploads stream to disk and enforce their own limit (config.maxFileBytes).
  app.use('/v1/*', (c, next) => (c.req.method === 'POST' && c.req.path === '/v1/files' ? next() : jsonBodyLimit(c, next)))
  app.use('/v1/*', async (c, next) => {
    // Assistants v1 is gone at OpenAI too; say so the same way.
    const beta = c.req.header('openai-beta')
    if (beta && /assistants=v1\b/.test(beta)) {
      throw new ApiError(400, "The v1 Assistants API has been deprecated. Please try again by setting the header 'OpenAI-Beta: assistants=v2'.", 'invalid_request_error', null, 'invalid_beta')
    }
    return next()
  })
  app.use('/v1/*', authMiddleware({ db, configKeys: config.apiKeys, open: opts.open }))

  assistantRoutes(routes, services)
  // Before the thread routes: `POST /v1/threads/runs` must not match `POST /v1/threads/:thread_id`.
  runRoutes(routes, services)
  threadRoutes(routes, services)
  fileRoutes(routes, services)
  vectorStoreRoutes(routes, services)

  app.notFound((c) => {
    const allowed = routes.allowedMethods(c.req.path)
    if (allowed.length > 0) {
      const res = errorResponse(
        new ApiError(405, `Method ${c.req.method} is not allowed for ${c.req.path}. Allowed: ${allowed.join(', ')}.`, 'invalid_request_error', null, 'method_not_allowed'),
      )
      res.headers.set('allow', allowed.join(', '))
      return res
    }
    return errorResponse(new ApiError(404, `Invalid URL (${c.req.method} ${c.req.path})`, 'invalid_request_error', null, null))
  })

  app.onError((err, c) => {
    if (err instanceof ApiError) return errorResponse(err)
    log.error({ err, requestId: c.get('requestId'), method: c.req.method, path: c.req.path }, 'unhandled error')
    return errorResponse(serverError())
  })

  return { app, routes }
}
