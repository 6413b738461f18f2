import type { AppServices } from '../../services.ts'
import { invalidRequest } from '../../protocol/errors.ts'
import { CreateMessage, CreateThread, ModifyMessage, ModifyThread } from '../../protocol/schemas.ts'
import * as threads from '../../store/repos/threads.ts'
import * as messages from '../../store/repos/messages.ts'
import { parseListQuery } from '../../store/pagination.ts'
import { z } from 'zod'
import { resolveToolResources } from '../../files/tool-resources.ts'
import { pathParam, prefixedIdParam, queryObject, readBody, type Ctx, type RouteTable } from '../http.ts'

export const threadIdParam = (c: Ctx) => prefixedIdParam(c, 'thread_id', 'thread')

export function threadRoutes(r: RouteTable, services: AppServices) {
  const { db } = services
  r.on('POST', '/v1/threads', async (c) => {
    const body = await readBody(c, CreateThread)
    const thread = await services.createThreadWithMessages(c.get('project'), body)
    return c.json(threads.threadToWire(thread))
  })
  r.on('GET', '/v1/threads/:thread_id', async (c) => c.json(threads.threadToWire(await threads.getThreadRow(db, c.get('project'), threadIdParam(c)))))
  r.on('POST', '/v1/threads/:thread_id', async (c) => {
    const id = threadIdParam(c)
    const body = await readBody(c, ModifyThread)
    if (body.tool_resources) {
      // The thread's 404 first; then the named stores and files are checked, the helper's created.
      await threads.getThreadRow(db, c.get('project'), id)
      body.tool_resources = await resolveToolResources(services, c.get('project'), body.tool_resources, 'thread')
    }
    return c.json(await threads.modifyThread(db, c.get('project'), id, body))
  })
  r.on('DELETE', '/v1/threads/:thread_id', async (c) => {
    const id = threadIdParam(c)
    await services.beforeThreadDelete(c.get('project'), id)
    return c.json(await threads.deleteThread(db, c.get('project'), id))
  })

  r.on('POST', '/v1/threads/:thread_id/messages', async (c) => {
    const project = c.get('project')
    const threadId = threadIdParam(c)
    const body = await readBody(c, CreateMessage)
    const { activeRunId } = await threads.getThreadForNewMessage(db, project, threadId)
    if (activeRunId) throw invalidRequest(`Can't add messages to ${threadId} while a run ${activeRunId} is active.`)
    const row = await messages.insertClientMessage(db, project, threadId, body)
    await services.afterMessagesAdded(project, threadId, [row])
    return c.json(messages.messageToWire(row))
  })
  r.on('GET', '/v1/threads/:thread_id/messages', async (c) => {
    const project = c.get('project')
    const threadId = threadIdParam(c)
    const q = parseListQuery(queryObject(c), { run_id: z.string().optional() })
    return c.json(await messages.listMessages(db, project, threadId, q, () => threads.getThreadRow(db, project, threadId)))
  })
  r.on('GET', '/v1/threads/:thread_id/messages/:message_id', async (c) => {
    const row = await messages.getMessageRow(db, c.get('project'), threadIdParam(c), pathParam(c, 'message_id'))
    return c.json(messages.messageToWire(row))
  })
  r.on('POST', '/v1/threads/:thread_id/messages/:message_id', async (c) => {
    const threadId = threadIdParam(c)
    const body = await readBody(c, ModifyMessage)
    return c.json(await messages.modifyMessageMetadata(db, c.get('project'), threadId, pathParam(c, 'message_id'), body.metadata))
  })
  r.on('DELETE', '/v1/threads/:thread_id/messages/:message_id', async (c) =>
    c.json(await messages.deleteMessage(db, c.get('project'), threadIdParam(c), pathParam(c, 'message_id'))),
  )
}
