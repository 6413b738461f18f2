import type { Config } from '../../config.ts'
import type { Annotation, ToolCall } from '../../protocol/objects.ts'
import type { ChatTool } from '../../providers/types.ts'
import type { Db } from '../../store/db.ts'
import { createFileFromBuffer, readFileBytes } from '../../store/repos/files.ts'
import type { RunRow } from '../../store/tables.ts'
import { runToolResources } from '../resources.ts'
import type { ServerTool, ToolContext, ToolResult } from '../types.ts'
import { safeFileName, type CellResult, type SandboxFile } from './backend.ts'
import { codeDelta, partialCode } from './partial-code.ts'
import type { SessionEntry, SessionManager } from './sessions.ts'

type CodeCall = Extract<ToolCall, { type: 'code_interpreter' }>
type CodeOutput = CodeCall['code_interpreter']['outputs'][number]

export interface CodeInterpreterDeps {
  db: Db
  config: Config
}

/** Output files written per execution at most (the rest are mentioned, not uploaded). */
const MAX_OUTPUT_FILES = 20
const SANDBOX_LINK = /sandbox:\/mnt\/data\/([^\s)\]'"<>`]+)/g

/**
 * The code_interpreter tool: the model's Python runs in the thread's sandbox session. Text output
 * becomes `logs`, figures `image` outputs (PNG files), files written to /mnt/data become
 * `assistants_output` files that `sandbox:/mnt/data/…` links in the answer point to.
 */
export class CodeInterpreterTool implements ServerTool {
  readonly type = 'code_interpreter' as const
  /** Per thread: name in /mnt/data → the file id it was last uploaded as (bounded, oldest dropped). */
  private readonly outputs = new Map<string, Map<string, string>>()
  /** What the model is told per call id, beyond the recorded outputs (file notes); bounded. */
  private readonly modelOutputs = new Map<string, string>()

  constructor(
    private readonly deps: CodeInterpreterDeps,
    /** The sandbox (started on first call), or why there is none (then every call answers with that reason). */
    private readonly sandbox: () => Promise<{ sessions: SessionManager } | { unavailable: string }>,
  ) {}

  /** Which backend answers, once known (the description then says what Python has). */
  private backendName: string | null = null

  describe(_run: RunRow): ChatTool {
    // Start the backend probe while the model thinks, so the first call does not wait for it.
    void this.sandbox().then((s) => {
      if ('sessions' in s) this.backendName = s.sessions.backend.name
    })
    const libraries =
      this.backendName === 'pyodide'
        ? 'Only the Python standard library is available (no numpy, pandas or matplotlib). '
        : 'numpy, pandas and matplotlib are available; matplotlib figures are shown to the user as images. '
    return {
      type: 'function',
      function: {
        name: 'code_interpreter',
        description:
          'Run Python 3 code in a stateful sandbox (like a Jupyter notebook: variables, imports and files persist between calls on this thread). ' +
          'The value of the last expression is shown, as are stdout and stderr. ' +
          libraries +
          "Files the user uploaded are in /mnt/data (list them with os.listdir('/mnt/data')). Save files for the user to /mnt/data and link them as sandbox:/mnt/data/<name>. " +
          'There is no internet access. Each execution has a time limit.',
        parameters: {
          type: 'object',
          properties: { code: { type: 'string', description: 'The Python code to execute.' } },
          required: ['code'],
          additionalProperties: false,
        },
      },
    }
  }

  initialCall(id: string, argumentsSoFar = ''): ToolCall {
    return { id, type: 'code_interpreter', code_interpreter: { input: partialCode(argumentsSoFar), outputs: [] } }
  }

  /** The `input` the model added while streaming its arguments (for step deltas), or null. */
  argumentsDelta(before: string, after: string): { type: 'code_interpreter'; code_interpreter: { input: string } } | null {
    const added = codeDelta(before, after)
    return added ? { type: 'code_interpreter', code_interpreter: { input: added } } : null
  }

  /**
   * The step delta that announces a finished call. Output entries carry `index` (the SDK merges
   * array deltas by it, and the stream schema requires it). No `id` (announced in the first delta),
   * and no `input` when it was already streamed through `argumentsDelta`: clients concatenate strings.
   */
  resultDelta(call: ToolCall, inputStreamed: boolean): Record<string, unknown> {
    if (call.type !== 'code_interpreter') return call as unknown as Record<string, unknown>
    const outputs = call.code_interpreter.outputs.map((o, index) => ({ index, ...o }))
    const codeInterpreter = inputStreamed ? { outputs } : { input: call.code_interpreter.input, outputs }
    return { type: 'code_interpreter', code_interpreter: codeInterpreter }
  }

  async execute(id: string, argumentsJson: string, ctx: ToolContext): Promise<ToolResult> {
    const code = parseCode(argumentsJson)
    const call = (outputs: CodeOutput[], modelOutput: string): ToolResult => ({
      call: { id, type: 'code_interpreter', code_interpreter: { input: code ?? argumentsJson, outputs } },
      modelOutput,
    })
    const logs = (text: string) => call([{ type: 'logs', logs: text }], text)
    if (code === null) return logs('Error: the arguments must be a JSON object with a "code" string, e.g. {"code": "print(1 + 1)"}.')
    if (!toolEnabled(ctx.run)) return logs('Error: code_interpreter is not enabled for this run.')
    const sandbox = await this.sandbox()
    if ('unavailable' in sandbox) return logs(`Error: ${sandbox.unavailable}`)

    let outcome
    try {
      outcome = await sandbox.sessions.use(ctx.run.thread_id, (entry) => this.runCell(entry, code, ctx))
    } catch (err) {
      if (ctx.signal.aborted) throw ctx.signal.reason
      // The sandbox itself failed (could not start, files not stored): the model hears it, the run goes on.
      ctx.log.error({ err, runId: ctx.run.id }, 'code_interpreter: execution failed')
      return logs(`Error: the code could not be executed: ${(err as Error).message}`)
    }
    const outputs: CodeOutput[] = []
    if (outcome.logs) outputs.push({ type: 'logs', logs: outcome.logs })
    for (const fileId of outcome.images) outputs.push({ type: 'image', image: { file_id: fileId } })
    // The model wrote this code before it knew the file names: tell it what it can read now.
    const notes = [
      ...(outcome.placed.length ? [`[files available: ${outcome.placed.map((n) => `/mnt/data/${n}`).join(', ')}]`] : []),
      ...outcome.images.map((fileId) => `[image ${fileId} shown to the user]`),
      ...outcome.written.map((name) => `[file written: sandbox:/mnt/data/${name}]`),
    ]
    const modelOutput = [outcome.logs || (notes.length ? '' : '(no output)'), ...notes].filter(Boolean).join('\n')
    if (this.modelOutputs.size >= 10_000) this.modelOutputs.delete(this.modelOutputs.keys().next().value!)
    this.modelOutputs.set(memoKey(id, code), modelOutput)
    return call(outputs, modelOutput)
  }

  private async runCell(entry: SessionEntry, code: string, ctx: ToolContext) {
    const notices: string[] = []
    if (entry.restarted) {
      notices.push('Note: this is a new sandbox session; variables and files from earlier executions on this thread are gone.')
      entry.restarted = false
    }
    const placed = await this.placeInputFiles(entry, ctx)
    const session = entry.session
    const before = await session.listFiles()
    ctx.signal.throwIfAborted() // the run was cancelled while the session started: run nothing
    const result = await session.exec(code, ctx.signal)
    const after = result.stopped === 'killed' || result.stopped === 'died' ? [] : await session.listFiles()

    const images: string[] = []
    for (const [n, png] of result.images.entries()) {
      const file = await createFileFromBuffer(this.deps, ctx.project, { filename: `${ctx.run.id}-${n}.png`, purpose: 'assistants_output', bytes: png })
      images.push(file.id)
    }
    const written = await this.uploadWrittenFiles(entry, before, after, ctx)
    const logs = [...notices, result.output, stopNotice(result, this.deps.config)].filter(Boolean).join('\n').replace(/\n{2,}(?=\S)/g, '\n')
    return { logs: logs.trimEnd() ? logs : '', images, written, placed }
  }

  /**
   * The assistant's and thread's code_interpreter files and the thread's attachments, into
   * /mnt/data. Returns the names newly placed.
   */
  private async placeInputFiles(entry: SessionEntry, ctx: ToolContext): Promise<string[]> {
    const ids = await inputFileIds(this.deps.db, ctx.run)
    const placed: string[] = []
    const taken = new Set(entry.placed.values())
    for (const fileId of ids) {
      if (entry.placed.has(fileId)) continue
      let file
      try {
        file = await readFileBytes(this.deps, ctx.project, fileId)
      } catch {
        ctx.log.warn({ fileId, thread: ctx.run.thread_id }, 'code_interpreter: an input file is gone, skipped')
        continue
      }
      let name = safeFileName(file.filename)
      if (taken.has(name)) name = `${fileId}-${name}` // two files with one name: both stay reachable
      await entry.session.putFile(name, file.bytes)
      entry.placed.set(fileId, name)
      taken.add(name)
      placed.push(name)
    }
    return placed
  }

  private async uploadWrittenFiles(entry: SessionEntry, before: SandboxFile[], after: SandboxFile[], ctx: ToolContext): Promise<string[]> {
    const old = new Map(before.map((f) => [f.name, f]))
    const changed = after.filter((f) => {
      const prev = old.get(f.name)
      return !prev || prev.size !== f.size || prev.mtimeMs !== f.mtimeMs
    })
    const written: string[] = []
    for (const f of changed.slice(0, MAX_OUTPUT_FILES)) {
      if (f.size > this.deps.config.maxFileBytes) continue
      const fileId = await this.uploadFromSession(entry, f.name, ctx)
      if (fileId) written.push(f.name)
    }
    return written
  }

  private async uploadFromSession(entry: SessionEntry, name: string, ctx: Pick<ToolContext, 'project' | 'run'>): Promise<string | null> {
    const bytes = await entry.session.getFile(name)
    if (!bytes) return null
    const file = await createFileFromBuffer(this.deps, ctx.project, { filename: name, purpose: 'assistants_output', bytes })
    this.rememberOutput(ctx.run.thread_id, name, file.id)
    return file.id
  }

  private rememberOutput(threadId: string, name: string, fileId: string) {
    let files = this.outputs.get(threadId)
    if (!files) {
      if (this.outputs.size >= 10_000) this.outputs.delete(this.outputs.keys().next().value!)
      this.outputs.set(threadId, (files = new Map()))
    }
    files.set(name, fileId)
  }

  render(call: ToolCall): { name: string; arguments: string; output: string } {
    if (call.type !== 'code_interpreter') return { name: call.type, arguments: '{}', output: '' }
    const remembered = this.modelOutputs.get(memoKey(call.id, call.code_interpreter.input))
    const output = remembered ?? call.code_interpreter.outputs
      .map((o) => (o.type === 'logs' ? o.logs : `[image ${o.image.file_id} shown to the user]`))
      .join('\n')
    return { name: 'code_interpreter', arguments: JSON.stringify({ code: call.code_interpreter.input }), output: output || '(no output)' }
  }

  /** `file_path` annotations for `sandbox:/mnt/data/<name>` links to files the code wrote. */
  async annotate(text: string, _calls: ToolCall[], ctx: ToolContext): Promise<{ text: string; annotations: Annotation[] }> {
    const annotations: Annotation[] = []
    for (const match of text.matchAll(SANDBOX_LINK)) {
      const link = match[0].replace(/[.,;:!?]+$/, '')
      const name = decodeName(link.slice('sandbox:/mnt/data/'.length))
      const fileId = this.outputs.get(ctx.run.thread_id)?.get(name) ?? (await this.uploadLinkedFile(name, ctx))
      if (!fileId) continue
      annotations.push({ type: 'file_path', text: link, start_index: match.index, end_index: match.index + link.length, file_path: { file_id: fileId } })
    }
    return { text, annotations }
  }

  /** A linked file the code wrote but that was not uploaded yet (e.g. over the per-execution cap). */
  private async uploadLinkedFile(name: string, ctx: ToolContext): Promise<string | null> {
    const sandbox = await this.sandbox()
    if ('unavailable' in sandbox || !sandbox.sessions.has(ctx.run.thread_id)) return null
    return sandbox.sessions.use(ctx.run.thread_id, (entry) => this.uploadFromSession(entry, name, ctx)).catch(() => null)
  }

  /** Figures become image parts of the answer, as in OpenAI's messages. */
  extraContent(calls: ToolCall[]): Array<{ type: 'image_file'; image_file: { file_id: string } }> {
    return calls.flatMap((c) =>
      c.type === 'code_interpreter'
        ? c.code_interpreter.outputs.flatMap((o) => (o.type === 'image' ? [{ type: 'image_file' as const, image_file: { file_id: o.image.file_id } }] : []))
        : [],
    )
  }
}

/** `{"code": "..."}`; models sometimes send the bare code instead, which is accepted too. */
function parseCode(argumentsJson: string): string | null {
  try {
    const parsed = JSON.parse(argumentsJson) as unknown
    if (parsed && typeof parsed === 'object' && typeof (parsed as { code?: unknown }).code === 'string') return (parsed as { code: string }).code
    return null
  } catch {
    return argumentsJson.trim() ? argumentsJson : null
  }
}

/** Some providers reuse call ids across turns: the code disambiguates. */
const memoKey = (callId: string, code: string) => `${callId}\u0000${code}`

function toolEnabled(run: RunRow): boolean {
  const tools = (run.settings as { tools?: Array<{ type: string }> }).tools ?? []
  return tools.some((t) => t.type === 'code_interpreter')
}

function decodeName(raw: string): string {
  try {
    return safeFileName(decodeURIComponent(raw))
  } catch {
    return safeFileName(raw)
  }
}

function stopNotice(result: CellResult, config: Config): string {
  const seconds = Math.round(config.codeTimeoutMs / 100) / 10
  switch (result.stopped) {
    case 'timeout':
      return `Execution interrupted: the time limit of ${seconds} s was reached (KeyboardInterrupt). The session, its variables and files are kept.`
    case 'killed':
      return `Execution stopped: the time limit of ${seconds} s was reached and the code did not stop when interrupted, so the sandbox was restarted. Variables, imports and files from earlier executions are gone.`
    case 'died':
      return `Execution failed: the Python process ended unexpectedly (most likely it exceeded the memory limit of ${config.codeMemoryMb} MB), so the sandbox was restarted. Variables, imports and files from earlier executions are gone.`
    default:
      return ''
  }
}

/**
 * File ids for /mnt/data: the assistant's (or the run's own, from createAndRun) and the thread's
 * tool resources, and code_interpreter attachments.
 */
async function inputFileIds(db: Db, run: RunRow): Promise<string[]> {
  const [resources, messages] = await Promise.all([
    runToolResources(db, run),
    db.selectFrom('messages').select('attachments').where('thread_id', '=', run.thread_id).execute(),
  ])
  const ids: string[] = []
  for (const r of resources) ids.push(...(r.code_interpreter?.file_ids ?? []))
  for (const m of messages) {
    for (const a of (m.attachments ?? []) as Array<{ file_id?: string; tools?: Array<{ type: string }> }>) {
      if (a.file_id && (a.tools ?? []).some((t) => t.type === 'code_interpreter')) ids.push(a.file_id)
    }
  }
  return [...new Set(ids)]
}
