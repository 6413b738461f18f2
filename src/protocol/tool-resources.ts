/** Stored `tool_resources` (after the `vector_stores` helper has become `vector_store_ids`). */
export interface StoredToolResources {
  code_interpreter?: { file_ids?: string[] }
  file_search?: { vector_store_ids?: string[] }
}

/**
 * `tool_resources` as OpenAI shows them on assistants and threads. Each resource lists its ids,
 * empty when none were given (`file_ids` defaults to [] in the spec), and an assistant shows an
 * entry for every resource-backed tool it has: `tools: [{type: "code_interpreter"}]` without
 * resources reads back `{code_interpreter: {file_ids: []}}` (as the API answers, and the spec's
 * modify example for `file_search`). Applied when an object is written out: the stored resources
 * stay as given.
 */
export function wireToolResources(stored: unknown, tools: readonly { type: string }[] = []): StoredToolResources {
  const resources = (stored ?? {}) as StoredToolResources
  const types = new Set(tools.map((t) => t.type))
  const out: StoredToolResources = {}
  if (resources.code_interpreter || types.has('code_interpreter')) {
    out.code_interpreter = { ...resources.code_interpreter, file_ids: resources.code_interpreter?.file_ids ?? [] }
  }
  if (resources.file_search || types.has('file_search')) {
    out.file_search = { ...resources.file_search, vector_store_ids: resources.file_search?.vector_store_ids ?? [] }
  }
  return out
}
