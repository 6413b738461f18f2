import type { RunSettings } from '../store/repos/runs.ts'
import type { Db } from '../store/db.ts'
import type { RunRow } from '../store/tables.ts'
import type { StoredToolResources } from '../protocol/tool-resources.ts'

/**
 * The tool_resources a run's tools use, assistant level first, then the thread's.
 *
 * createAndRun's top-level `tool_resources` are the assistant's resources for that run (the spec:
 * "the vector store attached to this assistant", at most one, next to the thread's own): each tool
 * type it names replaces the assistant's resources of that type, as `tools` replaces the
 * assistant's tools. They are the run's, frozen in its settings; neither the assistant nor the
 * thread is changed.
 */
export async function runToolResources(db: Db, run: RunRow): Promise<StoredToolResources[]> {
  const [assistant, thread] = await Promise.all([
    db.selectFrom('assistants').select('tool_resources').where('id', '=', run.assistant_id).executeTakeFirst(),
    db.selectFrom('threads').select('tool_resources').where('id', '=', run.thread_id).executeTakeFirst(),
  ])
  const override = (run.settings as unknown as RunSettings).tool_resources ?? {}
  const assistantLevel = { ...((assistant?.tool_resources ?? {}) as StoredToolResources), ...override }
  return [assistantLevel, (thread?.tool_resources ?? {}) as StoredToolResources]
}
