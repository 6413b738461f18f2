import type { AppServices } from '../../services.ts'
import { CreateAssistant, ModifyAssistant } from '../../protocol/schemas.ts'
import * as repo from '../../store/repos/assistants.ts'
import { parseListQuery } from '../../store/pagination.ts'
import { pathParam, queryObject, readBody, type RouteTable } from '../http.ts'

export function assistantRoutes(r: RouteTable, { db }: AppServices) {
  r.on('POST', '/v1/assistants', async (c) => c.json(await repo.createAssistant(db, c.get('project'), await readBody(c, CreateAssistant))))
  r.on('GET', '/v1/assistants', async (c) => c.json(await repo.listAssistants(db, c.get('project'), parseListQuery(queryObject(c)))))
  r.on('GET', '/v1/assistants/:assistant_id', async (c) => c.json(await repo.getAssistant(db, c.get('project'), pathParam(c, 'assistant_id'))))
  r.on('POST', '/v1/assistants/:assistant_id', async (c) =>
    c.json(await repo.modifyAssistant(db, c.get('project'), pathParam(c, 'assistant_id'), await readBody(c, ModifyAssistant))),
  )
  r.on('DELETE', '/v1/assistants/:assistant_id', async (c) => c.json(await repo.deleteAssistant(db, c.get('project'), pathParam(c, 'assistant_id'))))
}
