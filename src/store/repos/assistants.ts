import { notFound } from '../../protocol/errors.ts'
import type { Assistant } from '../../protocol/objects.ts'
import type { CreateAssistant, ModifyAssistant } from '../../protocol/schemas.ts'
import { newId, nowSeconds } from '../../protocol/ids.ts'
import { wireToolResources } from '../../protocol/tool-resources.ts'
import type { Db } from '../db.ts'
import { listPage, type ListQuery } from '../pagination.ts'
import type { AssistantRow } from '../tables.ts'

export function assistantToWire(row: AssistantRow): Assistant {
  return {
    id: row.id,
    object: 'assistant',
    created_at: row.created_at,
    name: row.name,
    description: row.description,
    model: row.model,
    instructions: row.instructions,
    tools: row.tools as Assistant['tools'],
    tool_resources: wireToolResources(row.tool_resources, row.tools as Assistant['tools']),
    metadata: row.metadata,
    top_p: row.top_p ?? 1,
    temperature: row.temperature ?? 1,
    response_format: row.response_format as Assistant['response_format'],
    reasoning_effort: row.reasoning_effort as Assistant['reasoning_effort'],
  }
}

const json = (v: unknown) => JSON.stringify(v)

export async function createAssistant(db: Db, project: string, input: CreateAssistant): Promise<Assistant> {
  const row = await db
    .insertInto('assistants')
    .values({
      id: newId('assistant'),
      project_id: project,
      created_at: nowSeconds(),
      model: input.model,
      name: input.name ?? null,
      description: input.description ?? null,
      instructions: input.instructions ?? null,
      tools: json(input.tools ?? []),
      tool_resources: json(input.tool_resources ?? {}),
      metadata: json(input.metadata ?? {}),
      temperature: input.temperature ?? null,
      top_p: input.top_p ?? null,
      response_format: json(input.response_format ?? 'auto'),
      reasoning_effort: input.reasoning_effort ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
  return assistantToWire(row)
}

export async function getAssistantRow(db: Db, project: string, id: string): Promise<AssistantRow> {
  const row = await db
    .selectFrom('assistants')
    .selectAll()
    .where('id', '=', id)
    .where('project_id', '=', project)
    .executeTakeFirst()
  if (!row) throw notFound('assistant', id)
  return row
}

export async function getAssistant(db: Db, project: string, id: string): Promise<Assistant> {
  return assistantToWire(await getAssistantRow(db, project, id))
}

export async function modifyAssistant(db: Db, project: string, id: string, input: ModifyAssistant): Promise<Assistant> {
  const patch: Record<string, unknown> = {}
  for (const key of ['model', 'name', 'description', 'instructions', 'temperature', 'top_p', 'reasoning_effort'] as const) {
    if (input[key] !== undefined) patch[key] = input[key]
  }
  if (input.tools !== undefined) patch.tools = json(input.tools)
  if (input.tool_resources !== undefined) patch.tool_resources = json(input.tool_resources ?? {})
  if (input.metadata !== undefined) patch.metadata = json(input.metadata ?? {})
  if (input.response_format !== undefined) patch.response_format = json(input.response_format ?? 'auto')
  if (Object.keys(patch).length === 0) return getAssistant(db, project, id)
  const row = await db
    .updateTable('assistants')
    .set(patch)
    .where('id', '=', id)
    .where('project_id', '=', project)
    .returningAll()
    .executeTakeFirst()
  if (!row) throw notFound('assistant', id)
  return assistantToWire(row)
}

export async function deleteAssistant(db: Db, project: string, id: string) {
  const res = await db.deleteFrom('assistants').where('id', '=', id).where('project_id', '=', project).executeTakeFirst()
  if (!res.numDeletedRows) throw notFound('assistant', id)
  return { id, object: 'assistant.deleted' as const, deleted: true as const }
}

export function listAssistants(db: Db, project: string, q: ListQuery) {
  return listPage(db, 'assistants', { project_id: project }, q, assistantToWire)
}
