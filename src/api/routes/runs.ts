import { z } from 'zod'
import type { AppServices } from '../../services.ts'
import { invalidRequest } from '../../protocol/errors.ts'
import { CreateRun, CreateThreadAndRun, ModifyRun, SubmitToolOutputs } from '../../protocol/schemas.ts'
import { getRunRow, listRuns, runToWire } from '../../store/repos/runs.ts'
import { FILE_SEARCH_CONTENT_INCLUDE, getStepRow, listSteps, stepToWire } from '../../store/repos/steps.ts'
import { getThreadRow } from '../../store/repos/threads.ts'
import { parseListQuery } from '../../store/pagination.ts'
import { POLL_AFTER_MS, pathParam, queryObject, readBody, type Ctx, type RouteTable } from '../http.ts'
import { sseStream } from '../sse.ts'
import { threadIdParam } from './threads.ts'

/** `include[]=…` (the SDK's encoding) or `include=…`; only one value exists in the spec. */
function includeParam(c: Ctx): boolean {
  const values = [...(c.req.queries('include[]') ?? []), ...(c.req.queries('include') ?? [])]
  for (const v of values) {
    if (v !== FILE_SEARCH_CONTENT_INCLUDE) {
      throw invalidRequest(`Invalid value: '${v}'. Supported values are: '${FILE_SEARCH_CONTENT_INCLUDE}'.`, 'include', 'invalid_value')
    }
  }
  return values.length > 0
}

export function runRoutes(r: RouteTable, services: AppServices) {
  const { db } = services
  const engine = () => services.engine

  r.on('POST', '/v1/threads/runs', async (c) => {
    includeParam(c)
    const body = await readBody(c, CreateThreadAndRun)
    const { thread, run } = await engine().createThreadAndRun(c.get('project'), body)
    await engine().start(run, thread)
    if (body.stream) return sseStream(c, engine().events, run.id, 0)
    return c.json(runToWire(run))
  })

  r.on('POST', '/v1/threads/:thread_id/runs', async (c) => {
    const include = includeParam(c)
    const project = c.get('project')
    const threadId = threadIdParam(c)
    const body = await readBody(c, CreateRun)
    const run = await engine().createRun(project, threadId, body, { startNow: true })
    await engine().start(run)
    if (body.stream) return sseStream(c, engine().events, run.id, 0, { includeFileSearchContent: include })
    return c.json(runToWire(run))
  })

  r.on('GET', '/v1/threads/:thread_id/runs', async (c) => {
    const threadId = threadIdParam(c)
    await getThreadRow(db, c.get('project'), threadId)
    return c.json(await listRuns(db, threadId, parseListQuery(queryObject(c))))
  })

  r.on('GET', '/v1/threads/:thread_id/runs/:run_id', async (c) => {
    const run = await getRunRow(db, c.get('project'), threadIdParam(c), pathParam(c, 'run_id'))
    c.header('openai-poll-after-ms', POLL_AFTER_MS)
    return c.json(runToWire(run))
  })

  r.on('POST', '/v1/threads/:thread_id/runs/:run_id', async (c) => {
    const project = c.get('project')
    const threadId = threadIdParam(c)
    const body = await readBody(c, ModifyRun)
    const run = await getRunRow(db, project, threadId, pathParam(c, 'run_id'))
    if (body.metadata === undefined) return c.json(runToWire(run))
    const updated = await db
      .updateTable('runs')
      .set({ metadata: JSON.stringify(body.metadata ?? {}) })
      .where('id', '=', run.id)
      .returningAll()
      .executeTakeFirstOrThrow()
    return c.json(runToWire(updated))
  })

  r.on('POST', '/v1/threads/:thread_id/runs/:run_id/cancel', async (c) => {
    const run = await engine().cancel(c.get('project'), threadIdParam(c), pathParam(c, 'run_id'))
    return c.json(runToWire(run))
  })

  r.on('POST', '/v1/threads/:thread_id/runs/:run_id/submit_tool_outputs', async (c) => {
    const project = c.get('project')
    const threadId = threadIdParam(c)
    const runId = pathParam(c, 'run_id')
    const body = await readBody(c, SubmitToolOutputs)
    if (body.stream) {
      await getRunRow(db, project, threadId, runId)
      // The stream starts at the log's head from before the submit, so the continuation's first event cannot be missed.
      const from = await engine().events.head(runId)
      await engine().submitToolOutputs(project, threadId, runId, body)
      return sseStream(c, engine().events, runId, from)
    }
    return c.json(runToWire(await engine().submitToolOutputs(project, threadId, runId, body)))
  })

  r.on('GET', '/v1/threads/:thread_id/runs/:run_id/steps', async (c) => {
    const project = c.get('project')
    const threadId = threadIdParam(c)
    const include = includeParam(c)
    const run = await getRunRow(db, project, threadId, pathParam(c, 'run_id'))
    const q = parseListQuery(queryObject(c, ['include[]', 'include']))
    return c.json(await listSteps(db, run.id, q, include))
  })

  r.on('GET', '/v1/threads/:thread_id/runs/:run_id/steps/:step_id', async (c) => {
    const project = c.get('project')
    const threadId = threadIdParam(c)
    const include = includeParam(c)
    const run = await getRunRow(db, project, threadId, pathParam(c, 'run_id'))
    return c.json(stepToWire(await getStepRow(db, project, run.id, pathParam(c, 'step_id')), { includeFileSearchContent: include }))
  })

  /** Extension: resume a run's stream after event `after` (also via `Last-Event-ID`). */
  r.on('GET', '/v1/threads/:thread_id/runs/:run_id/events', async (c) => {
    const run = await getRunRow(db, c.get('project'), threadIdParam(c), pathParam(c, 'run_id'))
    const raw = c.req.query('after') ?? c.req.header('last-event-id') ?? '0'
    const after = z.coerce.number().int().min(0).safeParse(raw)
    if (!after.success) throw invalidRequest(`Invalid 'after': expected a non-negative integer, got '${raw}'.`, 'after', 'invalid_value')
    return sseStream(c, engine().events, run.id, after.data)
  })
}
