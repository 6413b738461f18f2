import { newId } from '../protocol/ids.ts'
import type { Annotation, Message, RunStep, ToolCall } from '../protocol/objects.ts'
import type { StreamEvent } from '../protocol/events.ts'
import { allThreadMessages, messageToWire } from '../store/repos/messages.ts'
import { getRunById, type RunSettings } from '../store/repos/runs.ts'
import { runStepRows, stepToWire } from '../store/repos/steps.ts'
import type { MessageRow, RunRow, RunStepRow } from '../store/tables.ts'
import { RunFailure, type ToolResult } from '../tools/types.ts'
import { ProviderError, ZERO_USAGE, type ChatRequest, type ChatTool, type ChatToolChoice, type Provider, type StreamPart, type Usage } from '../providers/types.ts'
import { seconds } from './clock.ts'
import { ConcurrentChangeError, LeaseLost, RunCancelled, ThreadDeleted, ServerShuttingDown, type RunEngine } from './engine.ts'
import { buildPrompt } from './prompt.ts'
import { imageFileUrls } from './images.ts'
import { countTokens } from '../text/tokens.ts'

const addUsage = (a: Usage, b: Usage): Usage => ({
  prompt_tokens: a.prompt_tokens + b.prompt_tokens,
  completion_tokens: a.completion_tokens + b.completion_tokens,
  total_tokens: a.total_tokens + b.total_tokens,
})

/** Run settings plus what the executor keeps between model calls (not on the wire). */
type StoredSettings = RunSettings & { accumulated_usage?: Usage; pending_step_usage?: Usage }

interface OpenMessage {
  step: RunStepRow
  message: MessageRow
  text: string
  /** Whether the first delta (the one carrying `annotations: []`) went out. */
  started: boolean
  /** What the model said declining (a `refusal` content part), if it did. */
  refusal: { index: number; text: string } | null
  /** The step and message rows are stored (awaited before they are updated). */
  written: Promise<unknown>
}

interface PendingCall {
  stepIndex: number
  id: string
  name: string
  arguments: string
  /** A server tool already streamed part of the call from its arguments. */
  streamed: boolean
  /** Announced in a step delta while the model wrote it (else with its result). */
  announced: boolean
}

class RunLimitReached extends Error {
  constructor(readonly reason: 'max_completion_tokens' | 'max_prompt_tokens') {
    super(reason)
  }
}

/**
 * One execution of a run: model call → parts → steps, messages and events, looping through
 * server-side tools, until the run finishes or waits for function outputs.
 */
export class RunExecution {
  private settings: StoredSettings
  private usage: Usage
  /** Never started before (not a continuation after tool outputs). */
  private freshRun: boolean
  /** Data URLs of the thread's `image_file` images, read once per run. */
  private readonly imageFiles = new Map<string, string | null>()
  /** The first model call, when started early (see `startEarly`). */
  private early: Promise<{ request: ChatRequest; provider: Provider; parts: AsyncIterable<StreamPart> }> | null = null
  /** The run was stored in_progress when it was created (see `RunEngine.createRun`). */
  private storedInProgress = false
  /** The latest message's row insert (see `openMessage`). */
  private messageWritten: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly engine: RunEngine,
    private run: RunRow,
    private readonly signal: AbortSignal,
  ) {
    this.settings = run.settings as unknown as StoredSettings
    this.usage = this.settings.accumulated_usage ?? ZERO_USAGE
    this.freshRun = run.started_at === null
  }

  private get db() {
    return this.engine.db
  }
  private now() {
    return seconds(this.engine.clock)
  }
  private emit(event: StreamEvent) {
    this.engine.publish(this.run.id, event)
  }

  /**
   * Start the first model call now, before the run is marked in_progress (or, in embedded mode,
   * before its row is even written: see `RunEngine.createRun`), so that the upstream's latency
   * overlaps with that database work. Its parts are only handled once the run is in_progress.
   */
  startEarly(history?: MessageRow[]): void {
    if (this.early) return
    this.early = this.prepareCall(history).then((call) => ({ ...call, parts: started(call.parts) }))
    this.early.catch(() => {})
  }

  /** The run as stored, for an execution started early: it was stored in_progress. */
  adopt(run: RunRow, opts: { started: true }): this {
    this.run = run
    this.storedInProgress = opts.started
    return this
  }

  async execute(): Promise<void> {
    this.startEarly()
    const inProgress = this.storedInProgress
      ? new Promise<void>((resolve) => resolve(this.engine.announceStarted(this.run, this.signal)))
      : this.engine.transition(this.run, 'in_progress').then((run) => void (this.run = run))
    inProgress.catch(() => {})
    try {
      for (let round = 0; round < 32; round++) {
        const outcome = await this.modelRound(round === 0 ? inProgress : undefined)
        if (outcome === 'continue') continue
        return
      }
      throw new Error('The run exceeded 32 consecutive tool rounds.')
    } catch (err) {
      // An error before the run was marked in_progress (e.g. a cancel won the race) is that error.
      const transitionError = await inProgress.then(() => null, (e: unknown) => e)
      await this.handleError(transitionError ?? err)
    }
  }

  private async handleError(err: unknown): Promise<void> {
    // The open message's rows must exist before open steps are closed.
    await this.messageWritten.catch(() => {})
    const reason = this.signal.aborted ? this.signal.reason : err
    if (reason instanceof ThreadDeleted) return
    if (reason instanceof LeaseLost) return // another worker owns the run now: write nothing
    if (reason instanceof ServerShuttingDown) return // recovery (start-up or lease reaper) ends it cleanly
    const current = await getRunById(this.db, this.run.id)
    if (!current) return // the thread (and the run) were deleted
    if (reason instanceof RunCancelled || current.status === 'cancelling') {
      await this.engine.finishCancel(current, this.usage)
      return
    }
    if (err instanceof ConcurrentChangeError) return
    if (reason instanceof RunLimitReached) {
      await this.engine.transition(current, 'incomplete', {
        incomplete_details: JSON.stringify({ reason: reason.reason }),
        usage: JSON.stringify(this.usage),
      })
      return
    }
    const lastError =
      reason instanceof ProviderError
        ? { code: reason.kind === 'rate_limit' ? 'rate_limit_exceeded' : 'server_error', message: reason.message }
        : reason instanceof RunFailure
          ? { code: reason.code, message: reason.message }
          : { code: 'server_error', message: `The server had an error while processing your request: ${(reason as Error)?.message ?? String(reason)}` }
    if (!(reason instanceof ProviderError) && !(reason instanceof RunFailure)) this.engine.services.log.error({ err: reason, runId: this.run.id }, 'run failed')
    await this.engine.closeOpenSteps(current, 'failed', lastError)
    await this.engine.transition(current, 'failed', { last_error: JSON.stringify(lastError), usage: JSON.stringify(this.usage) })
  }

  // ---- one model call ------------------------------------------------------------------------

  /** A model call: its request, and its parts (not yet requested unless started early). */
  private async prepareCall(history?: MessageRow[]): Promise<{ request: ChatRequest; provider: Provider; parts: AsyncIterable<StreamPart> }> {
    const request = await this.buildRequest(history)
    const { provider, model } = this.engine.providers.resolve(this.settings.model)
    request.model = model
    return { request, provider, parts: provider.stream(request, this.signal) }
  }

  /** `ready`: the first round handles parts only once the run is in_progress. */
  private async modelRound(ready?: Promise<void>): Promise<'continue' | 'done'> {
    const early = this.early
    this.early = null
    const { request, provider, parts } = await (early ?? this.prepareCall())

    let open: OpenMessage | null = null
    let toolStep: RunStepRow | null = null
    /**
     * Text the model sent after its tool calls began. Its message cannot start while the tool step
     * is open (a client sees one step at a time: the SDK refuses a step created before the open
     * one ends), so it waits for the step to end.
     */
    let trailing = ''
    const calls: PendingCall[] = []
    const byProviderIndex = new Map<number, PendingCall>()
    let finish: { reason: string; usage: Usage | null } | null = null

    await this.withRetries(provider, request, parts, async (part) => {
      if (ready) {
        await ready
        ready = undefined
      }
      if ((part.type === 'text-delta' || part.type === 'refusal-delta') && toolStep) {
        trailing += part.text
      } else if (part.type === 'text-delta') {
        open ??= await this.openMessage()
        // Text after a refusal belongs to it (one part per kind, in the order they began).
        if (open.refusal) this.emitRefusal(open, part.text)
        else this.emitText(open, part.text)
      } else if (part.type === 'refusal-delta') {
        open ??= await this.openMessage()
        this.emitRefusal(open, part.text)
      } else if (part.type === 'tool-call-start') {
        if (open) {
          await this.completeMessage(open, ZERO_USAGE, 'completed')
          open = null
        }
        toolStep ??= await this.openToolStep()
        const server = this.engine.serverTools.get(part.name)
        // A server tool that shows nothing while the model writes the call (file_search) is
        // announced with its result: announced now, a second call's announcement would come between.
        const announced = !server || server.argumentsDelta !== undefined
        const call: PendingCall = { stepIndex: calls.length, id: part.id || newId('call'), name: part.name, arguments: '', streamed: false, announced }
        calls.push(call)
        byProviderIndex.set(part.index, call)
        if (announced) this.emitStepDelta(toolStep, this.initialCallDelta(call))
      } else if (part.type === 'tool-call-delta') {
        const call = byProviderIndex.get(part.index)
        if (!call || !toolStep) return
        const before = call.arguments
        call.arguments += part.arguments
        const server = this.engine.serverTools.get(call.name)
        if (!server) {
          this.emitStepDelta(toolStep, { index: call.stepIndex, type: 'function', function: { arguments: part.arguments } })
        } else {
          const delta = server.argumentsDelta?.(before, call.arguments)
          if (delta) {
            call.streamed = true
            this.emitStepDelta(toolStep, { index: call.stepIndex, ...delta })
          }
        }
      } else {
        finish = { reason: part.reason, usage: part.usage }
      }
    })

    await ready
    const done = finish as { reason: string; usage: Usage | null } | null
    const openText = open as OpenMessage | null
    const outputText = openText ? openText.text + (openText.refusal?.text ?? '') : calls.map((c) => c.name + c.arguments).join('')
    const usage = done?.usage ?? {
      prompt_tokens: request.messages.reduce((n, m) => n + countTokens(typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '')), 0),
      completion_tokens: countTokens(outputText),
      total_tokens: 0,
    }
    if (!done?.usage) usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
    this.usage = addUsage(this.usage, usage)
    // An answer that went past the run's completion budget (an upstream that ignored `max_tokens`)
    // ends as if the limit had cut it. Tool calls still run: the next call finds no budget left.
    const overBudget = this.settings.max_completion_tokens !== null && this.usage.completion_tokens > this.settings.max_completion_tokens
    const hitLength = done?.reason === 'length' || (overBudget && !toolStep)
    // The model's output was cut by its content filter: the message ends incomplete, the run goes on.
    const filtered = done?.reason === 'content_filter'

    if (open) {
      const o = open as OpenMessage
      if (hitLength) {
        await this.completeMessage(o, usage, 'incomplete')
        if (this.settings.max_completion_tokens !== null) throw new RunLimitReached('max_completion_tokens')
      } else if (filtered) {
        await this.completeMessage(o, usage, 'incomplete', 'content_filter')
      } else {
        await this.completeMessage(o, usage, 'completed')
      }
    }

    if (toolStep) {
      const step = toolStep as RunStepRow
      // The calls as the model wrote them, none executed yet.
      const written = calls.map((c) => {
        const tool = this.engine.serverTools.get(c.name)
        return tool ? tool.initialCall(c.id, c.arguments) : { id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments, output: null } }
      })
      if (hitLength) {
        // The calls were cut off by the token limit: none is executed, and the step ends with them
        // as they came (it must not stay in progress under an incomplete run).
        await this.finishStep(step, { type: 'tool_calls', tool_calls: written }, usage)
        throw new RunLimitReached('max_completion_tokens')
      }
      const serverCalls = calls.filter((c) => this.engine.serverTools.has(c.name))
      const functionCalls = calls.filter((c) => !this.engine.serverTools.has(c.name))
      const results: ToolCall[] = []
      for (const [i, call] of calls.entries()) {
        const tool = this.engine.serverTools.get(call.name)
        if (!tool) {
          results.push(written[i]) // the client runs it: output null until submitted
          continue
        }
        let result: ToolResult
        try {
          result = await tool.execute(call.id, call.arguments, { run: this.run, project: this.run.project_id, signal: this.signal, log: this.engine.services.log })
          // Cancelled while the tool worked (e.g. code interrupted): the step is not completed
          // with a cut-short result; it ends cancelled.
          this.signal.throwIfAborted()
        } catch (err) {
          // It closes with the calls its deltas showed (those done with their results), not with
          // the empty list it was created with. (Not when another worker took the run over.)
          if (!this.signal.aborted || this.signal.reason instanceof RunCancelled) {
            const details = { type: 'tool_calls', tool_calls: [...results, ...written.slice(results.length)] }
            await this.db.updateTable('run_steps').set({ step_details: JSON.stringify(details) }).where('id', '=', step.id).where('status', '=', 'in_progress').execute()
          }
          throw err
        }
        results.push(result.call)
        const { id, ...rest } = result.call
        this.emitStepDelta(step, { index: call.stepIndex, ...(call.announced ? {} : { id }), ...(tool.resultDelta?.(result.call, call.streamed) ?? rest) }, true)
      }
      const details = { type: 'tool_calls', tool_calls: results }
      if (functionCalls.length === 0 || serverCalls.length === calls.length) {
        await this.finishStep(step, details, usage)
        if (trailing) {
          const after = await this.openMessage()
          this.emitText(after, trailing)
          await this.completeMessage(after, ZERO_USAGE, 'completed')
        }
        return 'continue'
      }
      // Text after function calls is not kept: the run now waits for the client, and the model
      // answers again once it has the outputs.
      if (trailing) this.engine.services.log.debug({ runId: this.run.id, chars: trailing.length }, 'dropped text sent after function calls')
      // Function calls: the client runs them. The step stays open until outputs arrive.
      await this.db.updateTable('run_steps').set({ step_details: JSON.stringify(details) }).where('id', '=', step.id).execute()
      const required = {
        type: 'submit_tool_outputs',
        submit_tool_outputs: {
          tool_calls: functionCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
        },
      }
      this.run = await this.engine.transition(this.run, 'requires_action', {
        required_action: JSON.stringify(required),
        // Step usage stays null while the step waits; it is set when the outputs complete it.
        settings: JSON.stringify({ ...this.settings, accumulated_usage: this.usage, pending_step_usage: usage }),
      })
      return 'done'
    }

    if (!open && !toolStep) {
      // An empty answer still yields a (empty) message, as the API always ends with one.
      const o = await this.openMessage()
      await this.completeMessage(o, usage, hitLength || filtered ? 'incomplete' : 'completed', filtered ? 'content_filter' : 'max_tokens')
      if (hitLength && this.settings.max_completion_tokens !== null) throw new RunLimitReached('max_completion_tokens')
    }
    this.run = await this.engine.transition(this.run, 'completed', { usage: JSON.stringify(this.usage) })
    return 'done'
  }

  /** Call the provider; retry failures that happened before anything was streamed. */
  private async withRetries(provider: Provider, request: ChatRequest, firstAttempt: AsyncIterable<StreamPart>, onPart: (part: StreamPart) => Promise<void> | void) {
    const { upstreamRetries, upstreamBackoffMs } = this.engine.services.config
    for (let attempt = 0; ; attempt++) {
      let streamed = false
      try {
        for await (const part of attempt === 0 ? firstAttempt : provider.stream(request, this.signal)) {
          if (part.type !== 'finish') streamed = true
          await onPart(part)
        }
        return
      } catch (err) {
        if (this.signal.aborted) throw this.signal.reason
        const retry = err instanceof ProviderError && err.retryable && !streamed && attempt < upstreamRetries
        if (!retry) throw err
        this.engine.services.log.warn({ runId: this.run.id, attempt, err: (err as Error).message }, 'upstream call failed, retrying')
        await sleep(upstreamBackoffMs * 2 ** attempt, this.signal)
      }
    }
  }

  /** `threadMessages`: the thread's messages, when the caller has read them already. */
  private async buildRequest(threadMessages?: MessageRow[]): Promise<ChatRequest> {
    // A run's first model call has no steps yet: skip that query on the way to the first token.
    const firstCall = this.freshRun
    this.freshRun = false
    const [messages, steps] = await Promise.all([threadMessages ?? allThreadMessages(this.db, this.run.thread_id), firstCall ? [] : runStepRows(this.db, this.run.id)])
    const runMessages = new Map(messages.filter((m) => m.run_id === this.run.id).map((m) => [m.id, m]))
    const history = messages.filter((m) => m.run_id !== this.run.id)
    const runSteps = steps.map((step) => {
      const d = step.step_details as { type: string; message_creation?: { message_id: string } }
      return { step, message: d.type === 'message_creation' ? runMessages.get(d.message_creation!.message_id) : undefined }
    })
    const s = this.settings
    // max_prompt_tokens bounds the whole run ("across multiple turns"): each call gets what the earlier ones left.
    const promptBudget = s.max_prompt_tokens === null ? null : s.max_prompt_tokens - this.usage.prompt_tokens
    if (promptBudget !== null && promptBudget <= 0) throw new RunLimitReached('max_prompt_tokens')
    await imageFileUrls(this.engine.services, this.run.project_id, history, this.imageFiles)
    const prompt = buildPrompt({
      instructions: s.instructions,
      additionalInstructions: s.additional_instructions,
      history,
      runSteps,
      truncation: s.truncation_strategy as never,
      maxPromptTokens: promptBudget,
      renderToolCall: (call) => this.renderToolCall(call),
      imageFiles: this.imageFiles,
    })
    if (prompt.overBudget) throw new RunLimitReached('max_prompt_tokens')
    const request: ChatRequest = { model: s.model, messages: prompt.messages }
    const tools = this.chatTools()
    if (tools.length) {
      request.tools = tools
      request.tool_choice = this.toolChoice(steps.some((step) => (step.step_details as { type: string }).type === 'tool_calls'))
      if (!s.parallel_tool_calls) request.parallel_tool_calls = false
    }
    if (s.temperature !== null && s.temperature !== undefined) request.temperature = s.temperature
    if (s.top_p !== null && s.top_p !== undefined) request.top_p = s.top_p
    if (s.max_completion_tokens !== null) {
      const remaining = s.max_completion_tokens - this.usage.completion_tokens
      if (remaining <= 0) throw new RunLimitReached('max_completion_tokens')
      request.max_tokens = remaining
    }
    const rf = s.response_format
    if (rf && typeof rf === 'object' && rf.type !== 'text') request.response_format = rf as unknown as Record<string, unknown>
    if (s.reasoning_effort) request.reasoning_effort = s.reasoning_effort
    return request
  }

  private chatTools(): ChatTool[] {
    const out: ChatTool[] = []
    for (const tool of this.settings.tools ?? []) {
      if (tool.type === 'function') {
        out.push({ type: 'function', function: { name: tool.function.name, description: tool.function.description, parameters: tool.function.parameters, strict: tool.function.strict } })
      } else {
        const server = this.engine.serverTools.get(tool.type)
        if (server) out.push(server.describe(this.run))
      }
    }
    return out
  }

  /**
   * `required` and a named tool force a tool call "before responding to the user": once the run
   * has called tools, the model is free again (forcing every call would loop until the run fails).
   */
  private toolChoice(calledTools: boolean): ChatToolChoice {
    const choice = this.settings.tool_choice
    if (!choice) return 'auto'
    if (calledTools && choice !== 'none') return 'auto'
    if (typeof choice === 'string') return choice
    if (choice.type === 'function') return { type: 'function', function: { name: choice.function!.name } }
    return { type: 'function', function: { name: choice.type } }
  }

  private renderToolCall(call: ToolCall) {
    if (call.type === 'function') {
      return { name: call.function.name, arguments: call.function.arguments, output: call.function.output ?? '' }
    }
    const tool = this.engine.serverTools.get(call.type)
    if (tool) return tool.render(call)
    return { name: call.type, arguments: '{}', output: '' }
  }

  // ---- steps and messages --------------------------------------------------------------------

  private async openMessage(): Promise<OpenMessage> {
    const now = this.now()
    const message: MessageRow = {
      id: newId('message'),
      project_id: this.run.project_id,
      thread_id: this.run.thread_id,
      seq: '',
      created_at: now,
      role: 'assistant',
      status: 'in_progress',
      content: [],
      attachments: [],
      assistant_id: this.run.assistant_id,
      run_id: this.run.id,
      incomplete_details: null,
      completed_at: null,
      incomplete_at: null,
      metadata: {},
    }
    const step = this.newStepRow('message_creation', { type: 'message_creation', message_creation: { message_id: message.id } })
    // Both rows in one statement. It sits between the first token and the client, so in embedded
    // mode the events do not wait for it: the embedded database runs queries in the order they
    // are sent, so a read prompted by these events still finds the rows. In cluster mode the
    // events travel through Postgres on other connections: the rows go first.
    const insert = this.db
      .with('m', (db) => db.insertInto('messages').values(toInsert(message)).returning('id'))
      .insertInto('run_steps')
      .values(toInsert(step))
      .execute()
    insert.catch(() => {}) // awaited before the rows are updated (`written`)
    const written: Promise<unknown> = this.engine.leases ? Promise.resolve(await insert) : insert
    this.messageWritten = written
    const stepWire = stepToWire(step)
    this.emit({ event: 'thread.run.step.created', data: stepWire })
    this.emit({ event: 'thread.run.step.in_progress', data: stepWire })
    const wire = messageToWire(message)
    this.emit({ event: 'thread.message.created', data: wire })
    this.emit({ event: 'thread.message.in_progress', data: wire })
    return { step, message, text: '', started: false, refusal: null, written }
  }

  private emitText(open: OpenMessage, text: string) {
    open.text += text
    const part = open.started
      ? { index: 0, type: 'text' as const, text: { value: text } }
      : { index: 0, type: 'text' as const, text: { value: text, annotations: [] } }
    open.started = true
    this.emit({ event: 'thread.message.delta', data: { id: open.message.id, object: 'thread.message.delta', delta: { content: [part] } } })
  }

  /** A refusal is its own content part: after the text, if any came first. */
  private emitRefusal(open: OpenMessage, text: string) {
    open.refusal ??= { index: open.started ? 1 : 0, text: '' }
    open.refusal.text += text
    const part = { index: open.refusal.index, type: 'refusal' as const, refusal: text }
    this.emit({ event: 'thread.message.delta', data: { id: open.message.id, object: 'thread.message.delta', delta: { content: [part] } } })
  }

  private async completeMessage(
    open: OpenMessage,
    usage: Usage,
    status: 'completed' | 'incomplete',
    incompleteReason: 'max_tokens' | 'content_filter' = 'max_tokens',
  ): Promise<void> {
    await open.written
    const content = open.refusal && open.refusal.index === 0 ? [] : await this.finalContent(open.text, open.step.id)
    if (open.refusal) content.splice(open.refusal.index, 0, { type: 'refusal', refusal: open.refusal.text })
    this.emitFinalParts(open, content)
    const now = this.now()
    const final = {
      status,
      completed_at: status === 'completed' ? now : null,
      incomplete_at: status === 'incomplete' ? now : null,
      incomplete_details: status === 'incomplete' ? { reason: incompleteReason } : null,
    }
    // The text can be long: it is not read back (only metadata, which a client may have modified).
    const messageUpdate = this.db
      .updateTable('messages')
      .set({ ...final, content: JSON.stringify(content), incomplete_details: JSON.stringify(final.incomplete_details) })
      .where('id', '=', open.message.id)
      .returning(['metadata', 'seq'])
      .executeTakeFirstOrThrow()
      .then((stored): MessageRow => ({ ...open.message, ...final, content, ...stored }))
    // Both writes at once (they are independent rows); their events still go out in order.
    const stepUpdate = this.completeStepRow(open.step, open.step.step_details as Record<string, unknown>, usage)
    stepUpdate.catch(() => {}) // awaited below, after the message's
    const message = await messageUpdate
    this.emit({ event: status === 'completed' ? 'thread.message.completed' : 'thread.message.incomplete', data: messageToWire(message) })
    this.emitStepCompleted(await stepUpdate)
  }

  /**
   * The message's final content: server tools may annotate the text (citations, sandbox paths)
   * and add parts (images). Annotations also go out as a last delta, so streamed clients see them.
   */
  private async finalContent(text: string, messageStepId: string): Promise<Message['content']> {
    const annotations: Annotation[] = []
    const extra: Message['content'] = []
    // Only the run's own server tools can have made calls to annotate (no step read otherwise).
    const enabled = new Set((this.settings.tools ?? []).map((t) => t.type))
    const tools = [...this.engine.serverTools.values()].filter((t) => enabled.has(t.type))
    if (tools.some((t) => t.annotate || t.extraContent)) {
      const steps = await runStepRows(this.db, this.run.id)
      const callsOf = (s: RunStepRow) => (s.step_details as { tool_calls?: ToolCall[] }).tool_calls ?? []
      const calls = steps.flatMap(callsOf)
      // Extra parts (plots) belong to the first message after the calls that made them, not to
      // every later message of the run.
      const mine = steps.findIndex((s) => s.id === messageStepId)
      const upTo = mine === -1 ? steps.length : mine
      let from = 0
      for (let i = 0; i < upTo; i++) if (steps[i].type === 'message_creation') from = i + 1
      const sinceLastMessage = steps.slice(from, upTo).flatMap(callsOf)
      const ctx = { run: this.run, project: this.run.project_id, signal: this.signal, log: this.engine.services.log }
      for (const tool of tools) {
        const own = calls.filter((c) => c.type === tool.type)
        if (own.length === 0) continue
        if (tool.annotate) {
          const result = await tool.annotate(text, own, ctx)
          text = result.text
          annotations.push(...result.annotations)
        }
        const fresh = sinceLastMessage.filter((c) => c.type === tool.type)
        if (tool.extraContent && fresh.length > 0) extra.push(...tool.extraContent(fresh))
      }
    }
    annotations.sort((a, b) => a.start_index - b.start_index)
    return [{ type: 'text', text: { value: text, annotations } }, ...extra]
  }

  /** Annotations and extra parts found at the end reach streamed clients as one more delta. */
  private emitFinalParts(open: OpenMessage, content: Message['content']) {
    const parts: Record<string, unknown>[] = []
    content.forEach((part, index) => {
      if (part.type === 'text' && part.text.annotations.length > 0) {
        parts.push({ index, type: 'text', text: { annotations: part.text.annotations.map((a, i) => ({ index: i, ...a })) } })
      } else if (index > 0 && part.type !== 'refusal') {
        // (A refusal streamed as it came.)
        parts.push({ index, ...part })
      }
    })
    if (parts.length === 0) return
    this.emit({ event: 'thread.message.delta', data: { id: open.message.id, object: 'thread.message.delta', delta: { content: parts as never } } })
  }

  private async finishStep(step: RunStepRow, details: Record<string, unknown>, usage: Usage): Promise<void> {
    this.emitStepCompleted(await this.completeStepRow(step, details, usage))
  }

  private completeStepRow(step: RunStepRow, details: Record<string, unknown>, usage: Usage): Promise<RunStepRow> {
    return this.db
      .updateTable('run_steps')
      .set({ status: 'completed', completed_at: this.now(), step_details: JSON.stringify(details), usage: JSON.stringify(usage) })
      .where('id', '=', step.id)
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  private emitStepCompleted(row: RunStepRow): void {
    // With the results' content: the SSE writer drops it unless the stream asked for it (`include[]`).
    this.emit({ event: 'thread.run.step.completed', data: stepToWire(row, { includeFileSearchContent: true }) })
  }

  /** Per tool step: the call its last delta was for, and the calls it has sent deltas for. */
  private readonly deltaCalls = new WeakMap<RunStepRow, { current: number; indexes: Set<number> }>()

  private async openToolStep(): Promise<RunStepRow> {
    const step = await this.insertStep('tool_calls', { type: 'tool_calls', tool_calls: [] })
    const wire = stepToWire(step)
    this.emit({ event: 'thread.run.step.created', data: wire })
    this.emit({ event: 'thread.run.step.in_progress', data: wire })
    return step
  }

  private newStepRow(type: RunStep['type'], details: Record<string, unknown>): RunStepRow {
    return {
      id: newId('step'),
      project_id: this.run.project_id,
      thread_id: this.run.thread_id,
      run_id: this.run.id,
      assistant_id: this.run.assistant_id,
      seq: '',
      created_at: this.now(),
      type,
      status: 'in_progress',
      step_details: details,
      last_error: null,
      usage: null,
      metadata: {},
      expired_at: null,
      cancelled_at: null,
      failed_at: null,
      completed_at: null,
    }
  }

  private async insertStep(type: RunStep['type'], details: Record<string, unknown>): Promise<RunStepRow> {
    const step = this.newStepRow(type, details)
    await this.db.insertInto('run_steps').values(toInsert(step)).execute()
    return step
  }

  private initialCallDelta(call: PendingCall) {
    const tool = this.engine.serverTools.get(call.name)
    if (tool) return { index: call.stepIndex, ...tool.initialCall(call.id) }
    return { index: call.stepIndex, id: call.id, type: 'function' as const, function: { name: call.name, arguments: '', output: null } }
  }

  /**
   * A step delta for one tool call. The SDK's AssistantStream takes a call as done when a delta for
   * another index arrives, and as created when its index comes up: a server tool's result going back
   * to a call left earlier (the first call's result after the second was announced) would announce
   * it twice. Such a result (`skipIfLeft`) is not sent; the completed step carries the call whole.
   */
  private emitStepDelta(step: RunStepRow, call: { index: number } & Record<string, unknown>, skipIfLeft = false) {
    const seen = this.deltaCalls.get(step) ?? { current: -1, indexes: new Set<number>() }
    this.deltaCalls.set(step, seen)
    if (skipIfLeft && call.index !== seen.current && seen.indexes.has(call.index)) return
    seen.current = call.index
    seen.indexes.add(call.index)
    this.emit({
      event: 'thread.run.step.delta',
      data: { id: step.id, object: 'thread.run.step.delta', delta: { step_details: { type: 'tool_calls', tool_calls: [call] as never } } },
    })
  }
}

/** A row built in memory → insert values: JSON columns serialised, the generated `seq` left out. */
function toInsert<R extends { seq: string }>(row: R): any {
  const { seq: _seq, ...rest } = row
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(rest)) out[k] = v !== null && typeof v === 'object' ? JSON.stringify(v) : v
  return out
}

/** Start iterating `source` now; the parts wait, in order, for whoever iterates the result. */
function started<T>(source: AsyncIterable<T>): AsyncIterable<T> {
  const iterator = source[Symbol.asyncIterator]()
  const first = iterator.next()
  first.catch(() => {}) // surfaced to the reader, not as an unhandled rejection meanwhile
  let pending: Promise<IteratorResult<T>> | null = first
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        const next = pending ?? iterator.next()
        pending = null
        return next
      },
      return: async (value?: unknown) => (await iterator.return?.(value)) ?? { done: true, value: undefined },
    }),
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(signal.reason)
    }, { once: true })
  })
}

