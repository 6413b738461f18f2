import type { AppServices } from '../../services.ts'
import { CreateAssistant, ModifyAssistant } from '../../protocol/schemas.ts'
import * as repo from '../../store/repos/assistants.ts'
import { parseListQuery } from '../../store/pagination.ts'
import { resolveToolResources } from '../../files/tool-resources.ts'
import { pathParam, queryObject, readBody, type RouteTable } from '../http.ts'

export function assistantRoutes(r: RouteTable, services: AppServices) {
  const { db } = services
  r.on('POST', '/v1/assistants', async (c) => {
    const body = await readBody(c, CreateAssistant)
    // `tool_resources.file_search.vector_stores` creates stores: after validation, before the insert.
    body.tool_resources = await resolveToolResources(services, c.get('project'), body.tool_resources, 'assistant')
    return c.json(await repo.createAssistant(db, c.get('project'), body))
  })
  r.on('GET', '/v1/assistants', async (c) => c.json(await repo.listAssistants(db, c.get('project'), parseListQuery(queryObject(c)))))
  r.on('GET', '/v1/assistants/:assistant_id', async (c) => c.json(await repo.getAssistant(db, c.get('project'), pathParam(c, 'assistant_id'))))
  r.on('POST', '/v1/assistants/:assistant_id', async (c) => {
    const id = pathParam(c, 'assistant_id')
    const body = await readBody(c, ModifyAssistant)
    if (body.tool_resources) {
      // The assistant's 404 first; then the named stores and files are checked, the helper's created.
      await repo.getAssistantRow(db, c.get('project'), id)
      body.tool_resources = await resolveToolResources(services, c.get('project'), body.tool_resources, 'assistant')
    }
    return c.json(await repo.modifyAssistant(db, c.get('project'), id, body))
  })
  r.on('DELETE', '/v1/assistants/:assistant_id', async (c) => c.json(await repo.deleteAssistant(db, c.get('project'), pathParam(c, 'assistant_id'))))
}
