import type { ChatTool } from '../providers/types.ts'
import type { Annotation, ToolCall } from '../protocol/objects.ts'
import type { AppServices } from '../services.ts'
import { searchChunks } from '../ingest/search.ts'
import type { RunSettings } from '../store/repos/runs.ts'
import type { RunRow } from '../store/tables.ts'
import { runToolResources } from './resources.ts'
import { RunFailure, type ServerTool, type ToolContext, type ToolResult } from './types.ts'

type FileSearchCall = Extract<ToolCall, { type: 'file_search' }>

/** OpenAI's default: 20 results (5 for gpt-3.5-turbo models, per the spec). */
const DEFAULT_MAX_RESULTS = 20
const GPT35_MAX_RESULTS = 5
/** The one ranker there is: both `auto` and `default_2024_08_21` name it. */
const RESOLVED_RANKER = 'default_2024_08_21' as const
const INGESTION_WAIT_MS = 60_000
/** `【3:0†report.pdf】`: search number, result number, file name. */
const MARKER = /【(\d+):(\d+)†([^】]*)】/g

interface FileSearchOptions {
  max_num_results?: number
  ranking_options?: { ranker?: 'auto' | 'default_2024_08_21'; score_threshold?: number }
}

/**
 * The `file_search` tool: the model gets a `file_search(query)` function; each call searches the
 * vector stores of the run's assistant and thread, and the answer's citation markers become
 * `file_citation` annotations.
 */
export class FileSearchTool implements ServerTool {
  readonly type = 'file_search' as const
  /**
   * Search number and query of recent calls, for replaying them into later prompts: the wire
   * call has no place for them. Unknown after a restart (then 0 and an empty query; citations
   * still resolve by file name).
   */
  private readonly recent = new Map<string, { n: number; query: string }>()
  /** Per run, the calls executed here whose step is not stored yet (parallel calls of one step). */
  private readonly executedByRun = new Map<string, string[]>()

  constructor(private readonly services: AppServices) {}

  describe(_run: RunRow): ChatTool {
    return {
      type: 'function',
      function: {
        name: 'file_search',
        description:
          "Search the user's uploaded files for passages relevant to a query. Each result starts with a citation marker like 【0:1†file.pdf】; " +
          'when you use a result, cite it by copying its marker into your answer right after the statement it supports.',
        parameters: {
          type: 'object',
          properties: { query: { type: 'string', description: 'What to look for, as a self-contained search query.' } },
          required: ['query'],
          additionalProperties: false,
        },
      },
    }
  }

  initialCall(id: string): ToolCall {
    return { id, type: 'file_search', file_search: {} }
  }

  async execute(id: string, argumentsJson: string, ctx: ToolContext): Promise<ToolResult> {
    const options = this.options(ctx.run)
    // OpenAI reports the ranker `auto` stands for (`auto` is the default), never `auto` itself.
    const rankingOptions = { ranker: RESOLVED_RANKER, score_threshold: options.ranking_options?.score_threshold ?? 0 }
    const query = parseQuery(argumentsJson)
    const storeIds = await this.vectorStoreIds(ctx)
    await this.awaitIngestion(storeIds, ctx.signal)
    const hits = query
      ? await searchChunks(this.services, storeIds, [query], {
          maxResults: options.max_num_results ?? defaultMaxResults(ctx.run),
          scoreThreshold: rankingOptions.score_threshold,
        })
      : []
    const searchNumber = await this.searchNumber(ctx.run.id, id)
    this.recent.set(id, { n: searchNumber, query })
    if (this.recent.size > 10_000) this.recent.delete(this.recent.keys().next().value!)
    const call: FileSearchCall = {
      id,
      type: 'file_search',
      file_search: {
        ranking_options: rankingOptions,
        results: hits.map((h) => ({ file_id: h.file_id, file_name: h.filename, score: h.score, content: [{ type: 'text', text: h.text }] })),
      },
    }
    return { call, modelOutput: renderResults(searchNumber, query, hits.map((h) => ({ name: h.filename, text: h.text }))) }
  }

  /**
   * The streamed result: results without their chunk text, even for a stream with `include[]`
   * (its completed step event carries the text).
   */
  resultDelta(call: ToolCall): Record<string, unknown> {
    if (call.type !== 'file_search') return { type: call.type }
    const results = (call.file_search.results ?? []).map(({ content: _content, ...rest }) => rest)
    return { type: 'file_search', file_search: { ...call.file_search, results } }
  }

  render(call: ToolCall): { name: string; arguments: string; output: string } {
    const results = call.type === 'file_search' ? (call.file_search.results ?? []) : []
    const known = this.recent.get(call.id)
    return {
      name: 'file_search',
      arguments: JSON.stringify({ query: known?.query ?? '' }),
      output: renderResults(known?.n ?? 0, known?.query ?? null, results.map((r) => ({ name: r.file_name, text: (r.content ?? []).map((c) => c.text ?? '').join('\n') }))),
    }
  }

  /** `file_citation` annotations for the markers in the final text (the text is kept as written). */
  async annotate(text: string, calls: ToolCall[]): Promise<{ text: string; annotations: Annotation[] }> {
    const searches = calls.filter((c): c is FileSearchCall => c.type === 'file_search')
    const annotations: Annotation[] = []
    for (const m of text.matchAll(MARKER)) {
      const [marker, n, i, name] = m
      const fileId = resolveCitation(searches, Number(n), Number(i), name)
      if (!fileId) continue
      const start = m.index
      annotations.push({ type: 'file_citation', text: marker, file_citation: { file_id: fileId }, start_index: start, end_index: start + marker.length })
    }
    return { text, annotations }
  }

  private options(run: RunRow): FileSearchOptions {
    const tools = (run.settings as unknown as RunSettings).tools ?? []
    const tool = tools.find((t) => t.type === 'file_search') as { file_search?: FileSearchOptions } | undefined
    return tool?.file_search ?? {}
  }

  /**
   * The stores of the run's assistant (or the run's own, from createAndRun) and thread
   * (`tool_resources.file_search.vector_store_ids`).
   */
  private async vectorStoreIds(ctx: ToolContext): Promise<string[]> {
    const { db } = this.services
    const ids = new Set<string>()
    for (const resources of await runToolResources(db, ctx.run)) {
      for (const id of resources.file_search?.vector_store_ids ?? []) ids.add(id)
    }
    if (ids.size === 0) return []
    // Only the run's project's stores. An expired one fails the run, as OpenAI's do ("runs on that
    // thread will fail"): answering without its files would look like a search that found nothing.
    const now = Math.floor(Date.now() / 1000)
    const rows = await db
      .selectFrom('vector_stores')
      .select(['id', 'expires_at'])
      .where('id', 'in', [...ids])
      .where('project_id', '=', ctx.project)
      .execute()
    const expired = rows.find((r) => r.expires_at !== null && r.expires_at <= now)
    if (expired) {
      throw new RunFailure('invalid_prompt', `Vector store ${expired.id} has expired. Create a new vector store with the same files and attach it instead.`)
    }
    return rows.map((r) => r.id)
  }

  /**
   * Files attached just before the run may still be ingesting: wait for them (up to a minute,
   * as OpenAI does for thread stores), then search whatever is indexed.
   */
  private async awaitIngestion(storeIds: string[], signal: AbortSignal): Promise<void> {
    if (storeIds.length === 0) return
    const deadline = Date.now() + INGESTION_WAIT_MS
    while (Date.now() < deadline && !signal.aborted) {
      const pending = await this.services.db
        .selectFrom('vector_store_files')
        .select('id')
        .where('vector_store_id', 'in', storeIds)
        .where('status', '=', 'in_progress')
        .limit(1)
        .executeTakeFirst()
      if (!pending) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /**
   * The number of this search within the run (markers `【n:i†…】` use it, and `annotate` reads
   * them as the index among the run's file_search calls): the stored calls, plus the calls of
   * the step being executed, which is written only once all its calls are done.
   */
  private async searchNumber(runId: string, callId: string): Promise<number> {
    const steps = await this.services.db.selectFrom('run_steps').select('step_details').where('run_id', '=', runId).where('type', '=', 'tool_calls').execute()
    const stored = steps.flatMap((s) => ((s.step_details as { tool_calls?: ToolCall[] }).tool_calls ?? []).filter((c) => c.type === 'file_search'))
    const storedIds = new Set(stored.map((c) => c.id))
    const pending = (this.executedByRun.get(runId) ?? []).filter((id) => !storedIds.has(id) && id !== callId)
    this.executedByRun.delete(runId) // re-inserted last: the map stays in least-recently-used order
    this.executedByRun.set(runId, [...pending, callId])
    if (this.executedByRun.size > 1_000) this.executedByRun.delete(this.executedByRun.keys().next().value!)
    return stored.length + pending.length
  }
}

function defaultMaxResults(run: RunRow): number {
  const model = (run.settings as unknown as RunSettings).model ?? ''
  return model.startsWith('gpt-3.5-turbo') ? GPT35_MAX_RESULTS : DEFAULT_MAX_RESULTS
}

function parseQuery(argumentsJson: string): string {
  try {
    const args = JSON.parse(argumentsJson) as { query?: unknown; queries?: unknown }
    if (typeof args.query === 'string') return args.query.trim()
    if (Array.isArray(args.queries)) return args.queries.filter((q) => typeof q === 'string').join(' ').trim()
    return ''
  } catch {
    // Some models send the bare query instead of JSON.
    return argumentsJson.trim()
  }
}

function renderResults(searchNumber: number, query: string | null, results: { name: string; text: string }[]): string {
  if (results.length === 0) return query === '' ? 'No query was given: call file_search with {"query": "…"}.' : 'No results found in the attached files.'
  return results.map((r, i) => `【${searchNumber}:${i}†${r.name}】\n${r.text}`).join('\n\n')
}

/**
 * The file a marker cites: result `i` of search `n` when its name matches; otherwise (models
 * renumber) the first result of any search whose file name matches.
 */
function resolveCitation(searches: FileSearchCall[], n: number, i: number, name: string): string | null {
  const direct = searches[n]?.file_search.results?.[i]
  if (direct && (direct.file_name === name || !name)) return direct.file_id
  for (const s of searches) for (const r of s.file_search.results ?? []) if (r.file_name === name) return r.file_id
  return direct?.file_id ?? null
}
