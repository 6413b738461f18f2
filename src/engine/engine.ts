import type { AppServices } from '../services.ts'
import { invalidRequest, notFound, ApiError } from '../protocol/errors.ts'
import { newId } from '../protocol/ids.ts'
import type { Run } from '../protocol/objects.ts'
import type { CreateRun, CreateThreadAndRun, SubmitToolOutputs } from '../protocol/schemas.ts'
import { DONE, type StreamEvent } from '../protocol/events.ts'
import { getAssistantRow } from '../store/repos/assistants.ts'
import { insertMessages, messageToWire, newClientMessage } from '../store/repos/messages.ts'
import { findActiveRun, getRunById, runPrerequisites, getRunRow, runToWire, unfinishedRuns, runsAwaitingAction, type RunSettings } from '../store/repos/runs.ts'
import { runStepRows, stepToWire } from '../store/repos/steps.ts'
import { threadToWire } from '../store/repos/threads.ts'
import type { MessageRow, RunRow, RunUpdate, ThreadRow } from '../store/tables.ts'
import { isForeignKeyViolation, isUniqueViolation, type Db } from '../store/db.ts'
import { ProviderRegistry } from '../providers/registry.ts'
import { ZERO_USAGE, type Usage } from '../providers/types.ts'
import type { ServerTool } from '../tools/types.ts'
import { MemoryEventLog } from './bus.ts'
import type { EventLog } from './event-log.ts'
import type { LeaseKeeper } from '../cluster/leases.ts'
import { seconds, type Clock } from './clock.ts'
import { RunExecution } from './executor.ts'
import { InProcessQueue, type RunQueue } from './queue.ts'
import { sql } from 'kysely'
import { assertTransition, isTerminal, RUN_STATUS_EVENT } from './transitions.ts'
import type { FunctionToolCall, RunStatus } from '../protocol/objects.ts'
import { checkToolResources } from '../files/tool-resources.ts'

/**
 * Run semantics, independent of HTTP: creating runs, executing them on a queue, tool outputs,
 * cancellation, expiry and recovery. HTTP handlers call it and subscribe to its event bus.
 */
export class RunEngine {
  readonly providers: ProviderRegistry
  readonly serverTools = new Map<string, ServerTool>()
  /** Embedded mode: both in memory. Cluster mode: Postgres-backed (see `useCluster`). */
  events: EventLog = new MemoryEventLog()
  queue: RunQueue
  /** Set in cluster mode: run ownership across worker processes. */
  leases: LeaseKeeper | null = null
  /** Cluster mode: tell the process executing a run to abort it. */
  private sendCancel: ((runId: string) => Promise<void>) | null = null
  /** Executions in this process, by run id: their abort controllers. */
  private readonly active = new Map<string, AbortController>()
  /** Runs created by this process and not yet executed: their rows, as inserted. */
  private readonly justCreated = new Map<string, RunRow>()
  /** Embedded mode: runs whose first model call started while they were being created. */
  private readonly early = new Map<string, EarlyStart>()
  private timers: NodeJS.Timeout[] = []

  constructor(
    readonly services: AppServices,
    readonly clock: Clock,
  ) {
    this.providers = new ProviderRegistry(services.config)
    this.queue = new InProcessQueue((runId) => this.execute(runId))
  }

  /** Switch to the shared-Postgres event log, job queue and leases (cluster mode). */
  useCluster(opts: { events: EventLog; queue: RunQueue; leases: LeaseKeeper; sendCancel: (runId: string) => Promise<void> }): void {
    this.events = opts.events
    this.queue = opts.queue
    this.leases = opts.leases
    this.sendCancel = opts.sendCancel
  }

  /** A cancel request from another process: abort the execution if it runs here. */
  abortLocal(runId: string): void {
    this.active.get(runId)?.abort(new RunCancelled())
  }

  /** Hand a queued run to the queue once its events so far are durable (they precede the worker's). */
  async enqueue(runId: string): Promise<void> {
    await this.events.flush(runId)
    if (this.leases) {
      // If the job is lost, the run becomes reapable after this grace period and is enqueued again.
      await this.db.updateTable('runs').set({ lease_owner: null, lease_expires_at: sql<Date>`now() + interval '60 seconds'` }).where('id', '=', runId).execute()
    }
    await this.queue.enqueue(runId)
  }

  get db(): Db {
    return this.services.db
  }

  registerTool(tool: ServerTool): void {
    this.serverTools.set(tool.type, tool)
  }

  publish(runId: string, event: StreamEvent): void {
    this.events.publish(runId, event)
  }

  // ---- creating runs -------------------------------------------------------------------------

  /**
   * Write a new queued run. `startNow`: the caller calls `start` right after, so in embedded mode
   * the run's execution may begin here (see below).
   */
  async createRun(project: string, threadId: string, body: CreateRun, opts: { startNow?: boolean; toolResources?: RunSettings['tool_resources'] } = {}): Promise<RunRow> {
    // Embedded mode executes the run in this process: its first model call can start before the run
    // is written, with the thread's history read by the same query, so that the upstream's latency
    // overlaps with the writes. (Not with additional messages: they are history, written below.)
    const startEarly = opts.startNow === true && !this.leases && !body.additional_messages?.length
    const { assistant, activeRunId, history } = await runPrerequisites(this.db, project, threadId, body.assistant_id, { withHistory: startEarly })
    if (activeRunId) throw activeRunError(threadId, activeRunId)
    const now = seconds(this.clock)
    const settings: RunSettings = {
      model: body.model ?? assistant.model,
      instructions: body.instructions ?? assistant.instructions ?? '',
      tools: (body.tools ?? assistant.tools) as Run['tools'],
      temperature: body.temperature !== undefined ? body.temperature : assistant.temperature,
      top_p: body.top_p !== undefined ? body.top_p : assistant.top_p,
      max_prompt_tokens: body.max_prompt_tokens ?? null,
      max_completion_tokens: body.max_completion_tokens ?? null,
      truncation_strategy: (body.truncation_strategy ?? { type: 'auto', last_messages: null }) as Run['truncation_strategy'],
      response_format: (body.response_format ?? assistant.response_format ?? 'auto') as Run['response_format'],
      tool_choice: (body.tool_choice ?? 'auto') as Run['tool_choice'],
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      reasoning_effort: body.reasoning_effort !== undefined ? body.reasoning_effort : assistant.reasoning_effort,
      additional_instructions: body.additional_instructions ?? null,
      ...(opts.toolResources ? { tool_resources: opts.toolResources } : {}),
    }
    checkToolChoice(settings.tool_choice, settings.tools)
    const extra = (body.additional_messages ?? []).map((m) => newClientMessage(project, threadId, m))
    const row: RunRow = {
      id: newId('run'),
      project_id: project,
      thread_id: threadId,
      seq: '',
      created_at: now,
      assistant_id: assistant.id,
      status: 'queued',
      settings: settings as unknown as Record<string, unknown>,
      required_action: null,
      last_error: null,
      incomplete_details: null,
      usage: null,
      metadata: body.metadata ?? {},
      started_at: null,
      expires_at: now + this.services.config.runExpirySeconds,
      cancelled_at: null,
      failed_at: null,
      completed_at: null,
      lease_owner: null,
      lease_expires_at: null,
      cancel_requested: false,
      event_seq: 0,
    }
    const early = startEarly && history ? this.startEarly(row, history) : undefined
    // Its model call is under way: such a run is stored in_progress at once (its `queued` and
    // `in_progress` events still go out in order), which spares a write on the way to the first token.
    const stored: RunRow = early ? { ...row, status: 'in_progress', started_at: now } : row
    // A transaction only when there is more than one row to write (each round trip counts on PGlite).
    const write = (work: (db: Db) => Promise<RunRow>) => (extra.length ? this.db.transaction().execute(work) : work(this.db))
    let added: MessageRow[] = []
    const run = await write(async (trx) => {
      added = await insertMessages(trx, extra)
      const { seq: _seq, cancel_requested: _c, event_seq: _e, ...columns } = stored
      return trx
        .insertInto('runs')
        .values({
          ...columns,
          settings: JSON.stringify(row.settings),
          required_action: JSON.stringify(null),
          last_error: JSON.stringify(null),
          incomplete_details: JSON.stringify(null),
          usage: JSON.stringify(null),
          metadata: JSON.stringify(row.metadata),
        })
        .returning('seq')
        .executeTakeFirstOrThrow()
        .then(({ seq }) => {
          if (early) early.started = { ...stored, seq }
          return { ...row, seq }
        })
    }).catch(async (err: unknown) => {
      early?.controller.abort(new RunCancelled())
      this.early.delete(row.id)
      // The thread was deleted between the lookup and the insert.
      if (isForeignKeyViolation(err)) throw notFound('thread', threadId)
      if (!isUniqueViolation(err)) throw err
      // Another run was created meanwhile.
      throw activeRunError(threadId, (await findActiveRun(this.db, threadId))?.id)
    })
    // Attachments on additional messages reach the thread's tool resources, as on messages.create.
    if (added.length) await this.services.afterMessagesAdded(project, threadId, added)
    return run
  }

  /** Begin executing a run about to be written: its first model call starts (see `execute`). */
  private startEarly(row: RunRow, history: MessageRow[]): EarlyStart {
    const controller = new AbortController()
    const execution = new RunExecution(this, row, controller.signal)
    execution.startEarly(history)
    const early: EarlyStart = { controller, execution, started: null }
    this.early.set(row.id, early)
    return early
  }

  /** Announce a new run on its stream and hand it to the queue. */
  async start(run: RunRow, createdThread?: ThreadRow): Promise<void> {
    if (createdThread) this.publish(run.id, { event: 'thread.created', data: threadToWire(createdThread) })
    const wire = runToWire(run)
    this.publish(run.id, { event: 'thread.run.created', data: wire })
    this.publish(run.id, { event: 'thread.run.queued', data: wire })
    // Executed in this process (embedded mode), the run needs no re-read before it starts.
    if (!this.leases) this.justCreated.set(run.id, run)
    await this.enqueue(run.id)
  }

  async createThreadAndRun(project: string, body: CreateThreadAndRun): Promise<{ thread: ThreadRow; run: RunRow }> {
    // Check the assistant and the run settings first so a bad request leaves no orphan thread behind.
    const assistant = await getAssistantRow(this.db, project, body.assistant_id)
    checkToolChoice(body.tool_choice, (body.tools ?? assistant.tools) as Run['tools'])
    await checkToolResources(this.db, project, body.tool_resources ?? undefined)
    // The thread gets `thread.tool_resources` only; the top-level ones are the assistant's for this
    // run (see tools/resources.ts), kept in the run's settings.
    const thread = await this.services.createThreadWithMessages(project, {
      messages: body.thread?.messages,
      metadata: body.thread?.metadata,
      tool_resources: body.thread?.tool_resources,
    })
    const { thread: _t, tool_resources: toolResources, ...runBody } = body
    const run = await this.createRun(project, thread.id, runBody, { startNow: true, toolResources: toolResources ?? undefined })
    return { thread, run }
  }

  // ---- execution -----------------------------------------------------------------------------

  /** Execute a queued run until it finishes or waits for tool outputs. */
  async execute(runId: string): Promise<void> {
    const early = this.early.get(runId)
    this.early.delete(runId)
    if (this.active.has(runId)) return void early?.controller.abort(new RunCancelled())
    const controller = early?.controller ?? new AbortController()
    this.active.set(runId, controller)
    let executed = false
    try {
      const cached = this.justCreated.get(runId)
      this.justCreated.delete(runId)
      if (early?.started) {
        executed = true
        return void (await early.execution.adopt(early.started, { started: true }).execute())
      }
      const run = cached ?? (await getRunById(this.db, runId))
      if (!run) return
      if (run.status === 'cancelling') return void (await this.finishCancel(run))
      if (run.status !== 'queued') return
      executed = true
      await new RunExecution(this, run, controller.signal).execute()
      this.services.log.info({ runId, worker: this.leases?.workerId }, 'run execution finished')
    } catch (err) {
      this.services.log.error({ err, runId }, 'run execution crashed')
      await this.failUnexpectedly(runId, err).catch((e) => this.services.log.error({ err: e, runId }, 'could not fail run'))
    } finally {
      // A model call started early for a run that did not execute (e.g. cancelled while queued).
      if (!executed) controller.abort(new RunCancelled())
      this.leases?.untrack(runId)
      this.active.delete(runId)
      await this.events.flush(runId)
    }
  }

  /** Move a run to a new status, persist it, and emit the matching event. */
  async transition(run: RunRow, to: RunStatus, patch: RunUpdate = {}): Promise<RunRow> {
    assertTransition(run.status as RunStatus, to)
    const now = seconds(this.clock)
    const stamps: RunUpdate = {}
    if (to === 'in_progress' && run.started_at === null) stamps.started_at = now
    if (to === 'in_progress' && this.leases) Object.assign(stamps, this.leases.claim())
    if (isTerminal(to) || to === 'requires_action') Object.assign(stamps, { lease_owner: null, lease_expires_at: null })
    if (to === 'completed') stamps.completed_at = now
    if (to === 'failed') stamps.failed_at = now
    if (to === 'cancelled') stamps.cancelled_at = now
    if (isTerminal(to) && to !== 'expired') stamps.expires_at = null
    // `usage` is null only while the run is not terminal (the spec): runs that end cancelled,
    // expired or failed report what their model calls used so far.
    if (isTerminal(to) && patch.usage === undefined && run.usage === null) stamps.usage = JSON.stringify(usageSoFar(run))
    if (to !== 'requires_action') stamps.required_action = JSON.stringify(null)
    const set = { status: to, ...stamps, ...patch }
    // Only what changed comes back (as stored), plus metadata, which a client may modify meanwhile.
    const changed = await this.db
      .updateTable('runs')
      .set(set)
      .where('id', '=', run.id)
      .where('status', '=', run.status)
      .returning([...(Object.keys(set) as (keyof RunUpdate & keyof RunRow)[]), 'metadata'])
      .executeTakeFirst()
    if (!changed) {
      const current = await getRunById(this.db, run.id)
      throw new ConcurrentChangeError(run.id, current?.status ?? 'deleted')
    }
    const updated: RunRow = { ...run, ...changed }
    if (to === 'in_progress' && this.leases) {
      // Renew only once the claim is written: renewing earlier would find no lease and give up.
      this.leases.track(run.id, () => this.active.get(run.id)?.abort(new LeaseLost()))
    }
    this.publish(run.id, { event: RUN_STATUS_EVENT[to], data: runToWire(updated) } as StreamEvent)
    if (isTerminal(to) || to === 'requires_action') this.publish(run.id, DONE)
    // The log outlives the run by the retention window, for reconnects.
    if (isTerminal(to)) this.events.retire(run.id)
    return updated
  }

  /** A run stored in_progress at creation: its `in_progress` event, unless a cancel came first. */
  announceStarted(run: RunRow, signal: AbortSignal): void {
    if (signal.aborted) throw signal.reason
    this.publish(run.id, { event: RUN_STATUS_EVENT.in_progress, data: runToWire(run) })
  }

  private async failUnexpectedly(runId: string, err: unknown): Promise<void> {
    const run = await getRunById(this.db, runId)
    if (!run || isTerminal(run.status)) return
    const message = `The server had an error while processing your request: ${(err as Error)?.message ?? String(err)}`
    await this.closeOpenSteps(run, 'failed', { code: 'server_error', message })
    if (run.status === 'cancelling') return void (await this.transition(run, 'cancelled'))
    await this.transition(run, 'failed', { last_error: JSON.stringify({ code: 'server_error', message }) })
  }

  /** Steps still in progress end with the run: failed, cancelled or expired. */
  async closeOpenSteps(run: RunRow, status: 'failed' | 'cancelled' | 'expired', error?: { code: string; message: string }): Promise<void> {
    const now = seconds(this.clock)
    // A step's `usage` is null only while it is in progress (the spec). The tool_calls step that
    // waits for outputs has its model call's usage put aside (kept only while it waits); a step
    // cut short by the run used nothing that was reported.
    const pending = (run.settings as { pending_step_usage?: Usage }).pending_step_usage
    for (const step of await runStepRows(this.db, run.id)) {
      if (step.status !== 'in_progress') continue
      const patch = {
        status,
        usage: JSON.stringify(step.type === 'tool_calls' && pending ? pending : ZERO_USAGE),
        ...(status === 'failed' ? { failed_at: now, last_error: JSON.stringify(error ?? null) } : {}),
        ...(status === 'cancelled' ? { cancelled_at: now } : {}),
        ...(status === 'expired' ? { expired_at: now } : {}),
      }
      const updated = await this.db.updateTable('run_steps').set(patch).where('id', '=', step.id).where('status', '=', 'in_progress').returningAll().executeTakeFirst()
      if (!updated) continue // someone else closed it meanwhile
      const event = `thread.run.step.${status}` as const
      this.publish(run.id, { event, data: stepToWire(updated) } as StreamEvent)
      const details = step.step_details as { type: string; message_creation?: { message_id: string } }
      if (details.type === 'message_creation' && details.message_creation) {
        await this.closeMessage(run.id, details.message_creation.message_id, status === 'failed' ? 'run_failed' : status === 'cancelled' ? 'run_cancelled' : 'run_expired')
      }
    }
  }

  private async closeMessage(runId: string, messageId: string, reason: string): Promise<void> {
    const row = await this.db
      .updateTable('messages')
      .set({ status: 'incomplete', incomplete_at: seconds(this.clock), incomplete_details: JSON.stringify({ reason }) })
      .where('id', '=', messageId)
      .where('status', '=', 'in_progress')
      .returningAll()
      .executeTakeFirst()
    if (row) this.publish(runId, { event: 'thread.message.incomplete', data: messageToWire(row) })
  }

  // ---- tool outputs, cancel, expiry ----------------------------------------------------------

  async submitToolOutputs(project: string, threadId: string, runId: string, body: SubmitToolOutputs): Promise<RunRow> {
    const run = await this.expiredIfOverdue(await getRunRow(this.db, project, threadId, runId))
    if (run.status !== 'requires_action') {
      throw invalidRequest(`Runs in status "${run.status}" do not accept tool outputs.`)
    }
    const required = (run.required_action as Run['required_action'])?.submit_tool_outputs.tool_calls ?? []
    const outputs = new Map<string, string>()
    for (const [i, o] of body.tool_outputs.entries()) {
      if (!o.tool_call_id) throw invalidRequest(`Missing required parameter: 'tool_outputs[${i}].tool_call_id'.`, `tool_outputs[${i}].tool_call_id`, 'missing_required_parameter')
      if (outputs.has(o.tool_call_id)) {
        throw invalidRequest(`Invalid 'tool_outputs[${i}].tool_call_id': more than one output for tool call '${o.tool_call_id}'.`, `tool_outputs[${i}].tool_call_id`, 'invalid_value')
      }
      outputs.set(o.tool_call_id, o.output ?? '')
    }
    // Outputs must answer exactly the waiting calls. OpenAI's wording, lists in Python's repr:
    // "Expected tool outputs for call_ids ['call_a', 'call_b'], got ['call_a']" (param and code null).
    const answersAll = required.every((c) => outputs.has(c.id)) && [...outputs.keys()].every((id) => required.some((c) => c.id === id))
    if (!answersAll) {
      const list = (ids: string[]) => `[${ids.map((id) => `'${id}'`).join(', ')}]`
      throw invalidRequest(`Expected tool outputs for call_ids ${list(required.map((c) => c.id))}, got ${list([...outputs.keys()])}`)
    }
    // The waiting tool_calls step gets the outputs and completes.
    const steps = await runStepRows(this.db, run.id)
    const step = steps.findLast((s) => s.type === 'tool_calls' && s.status === 'in_progress')
    if (step) {
      const details = step.step_details as { type: 'tool_calls'; tool_calls: FunctionToolCall[] }
      const tool_calls = details.tool_calls.map((c) =>
        c.type === 'function' && outputs.has(c.id) ? { ...c, function: { ...c.function, output: outputs.get(c.id)! } } : c,
      )
      const updated = await this.db
        .updateTable('run_steps')
        .set({
          status: 'completed',
          completed_at: seconds(this.clock),
          step_details: JSON.stringify({ ...details, tool_calls }),
          usage: JSON.stringify((run.settings as { pending_step_usage?: unknown }).pending_step_usage ?? null),
        })
        .where('id', '=', step.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      this.publish(run.id, { event: 'thread.run.step.completed', data: stepToWire(updated) })
    }
    // The usage put aside for the waiting step is spent.
    const { pending_step_usage: _spent, ...settings } = run.settings as Record<string, unknown>
    const queued = await this.transition(run, 'queued', { settings: JSON.stringify(settings) })
    await this.enqueue(run.id)
    return queued
  }

  async cancel(project: string, threadId: string, runId: string): Promise<RunRow> {
    const run = await this.expiredIfOverdue(await getRunRow(this.db, project, threadId, runId))
    if (isTerminal(run.status) || run.status === 'cancelling') {
      throw invalidRequest(`Cannot cancel run with status '${run.status}'.`)
    }
    const cancelling = await this.transition(run, 'cancelling', { cancel_requested: true })
    const execution = this.active.get(runId) ?? this.early.get(runId)?.controller
    if (execution) execution.abort(new RunCancelled())
    else if (run.status === 'in_progress' && this.sendCancel) {
      // `cancelling` must be in the log before the worker writes what follows it.
      await this.events.flush(runId)
      await this.sendCancel(runId)
    }
    else if (run.status === 'requires_action' || run.status === 'queued') {
      // Nothing executes it: finish the cancel here, but answer with `cancelling` as OpenAI does.
      setImmediate(() => void this.finishCancel(cancelling).catch((err) => this.services.log.error({ err, runId }, 'cancel failed')))
    }
    return cancelling
  }

  /** `usage`: what the execution that was stopped had used (else the run's usage as stored). */
  async finishCancel(run: RunRow, usage?: Usage): Promise<void> {
    await this.closeOpenSteps(run, 'cancelled')
    const current = (await getRunById(this.db, run.id)) ?? run
    if (current.status !== 'cancelling') return
    try {
      await this.transition(current, 'cancelled', usage ? { usage: JSON.stringify(usage) } : {})
    } catch (err) {
      if (!(err instanceof ConcurrentChangeError)) throw err
    }
  }

  /** Runs waiting for tool outputs past `expires_at` expire. */
  async expireOverdue(): Promise<void> {
    const now = seconds(this.clock)
    for (const run of await runsAwaitingAction(this.db)) {
      if (run.expires_at === null || run.expires_at > now) continue
      await this.expire(run)
    }
  }

  /** Past `expires_at` a waiting run is expired, even if the expiry sweep has not come round to it yet. */
  private async expiredIfOverdue(run: RunRow): Promise<RunRow> {
    if (run.status !== 'requires_action' || run.expires_at === null || run.expires_at > seconds(this.clock)) return run
    return (await this.expire(run)) ?? (await getRunById(this.db, run.id)) ?? run
  }

  /** Expire a run waiting for tool outputs; undefined if it changed meanwhile (outputs or a cancel won). */
  private async expire(run: RunRow): Promise<RunRow | undefined> {
    try {
      await this.closeOpenSteps(run, 'expired')
      return await this.transition(run, 'expired')
    } catch (err) {
      if (!(err instanceof ConcurrentChangeError)) throw err
      return undefined
    }
  }

  /** Background duties of a process that executes runs. */
  startBackgroundWork(intervalMs = 5_000): void {
    const every = (ms: number, job: () => Promise<unknown>, name: string) => {
      const timer = setInterval(() => void job().catch((err) => this.services.log.error({ err }, `${name} failed`)), ms)
      timer.unref()
      this.timers.push(timer)
    }
    every(intervalMs, () => this.expireOverdue(), 'expiry sweep')
    if (this.leases) every(Math.max(50, this.leases.leaseMs / 2), () => this.reapExpiredLeases(), 'lease reaper')
  }

  /**
   * Cluster mode: a run whose worker stopped renewing its lease (it died) ends cleanly as failed
   * with `server_error` (or cancelled, if a cancel was pending); a queued run whose job was lost
   * is enqueued again. Each is claimed by exactly one reaper.
   */
  async reapExpiredLeases(): Promise<void> {
    if (!this.leases) return
    for (const run of await this.leases.claimExpired()) {
      if (this.active.has(run.id)) continue
      try {
        if (run.status === 'queued') {
          await this.enqueue(run.id)
        } else if (run.status === 'cancelling') {
          await this.finishCancel(run)
        } else {
          const message = 'The run was interrupted: the worker executing it stopped responding.'
          await this.closeOpenSteps(run, 'failed', { code: 'server_error', message })
          await this.transition(run, 'failed', { last_error: JSON.stringify({ code: 'server_error', message }) })
        }
        await this.events.flush(run.id)
        this.services.log.warn({ runId: run.id, status: run.status }, 'reaped run with expired lease')
      } catch (err) {
        if (!(err instanceof ConcurrentChangeError)) throw err
      }
    }
  }

  /** Runs left unfinished by a process that stopped: queued ones run again, others end cleanly. */
  async recover(): Promise<void> {
    if (this.leases) return // cluster mode: the lease reaper does this, safely across processes
    for (const run of await unfinishedRuns(this.db)) {
      if (this.active.has(run.id)) continue
      if (run.status === 'queued') {
        await this.queue.enqueue(run.id)
      } else if (run.status === 'cancelling') {
        await this.finishCancel(run)
      } else {
        const message = 'The run was interrupted because the server restarted while it was in progress.'
        await this.closeOpenSteps(run, 'failed', { code: 'server_error', message })
        await this.transition(run, 'failed', { last_error: JSON.stringify({ code: 'server_error', message }) })
      }
      this.services.log.warn({ runId: run.id, status: run.status }, 'recovered unfinished run')
    }
  }

  /** A thread is being deleted: stop its runs without writing to it again. */
  async abortThread(threadId: string): Promise<void> {
    const runs = await this.db.selectFrom('runs').select('id').where('thread_id', '=', threadId).execute()
    for (const { id } of runs) {
      this.active.get(id)?.abort(new ThreadDeleted())
      this.events.forget(id)
    }
  }

  /** Stop taking runs, let running ones finish (bounded), then stop the rest. */
  async shutdown(timeoutMs = 10_000): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    await this.queue.drain(timeoutMs)
    for (const controller of this.active.values()) controller.abort(new ServerShuttingDown())
    await this.events.flush()
  }
}

/** A run's usage as stored between model calls (after tool outputs), else nothing yet. */
function usageSoFar(run: RunRow): Usage {
  return (run.settings as { accumulated_usage?: Usage }).accumulated_usage ?? ZERO_USAGE
}

interface EarlyStart {
  controller: AbortController
  execution: RunExecution
  /** The run as stored: already in_progress. */
  started: RunRow | null
}

/** A forced tool must be one of the run's tools (else the model would be forced to call a tool it does not have). */
function checkToolChoice(choice: RunSettings['tool_choice'] | undefined, tools: Run['tools']): void {
  if (!choice || typeof choice !== 'object') return
  if (choice.type === 'function') {
    const name = choice.function?.name
    const known = (tools ?? []).some((t) => t.type === 'function' && t.function.name === name)
    if (!known) throw invalidRequest(`Invalid 'tool_choice': no function named '${name}' among the run's tools.`, 'tool_choice', 'invalid_value')
  } else if (!(tools ?? []).some((t) => t.type === choice.type)) {
    throw invalidRequest(`Invalid 'tool_choice': no tool of type '${choice.type}' among the run's tools.`, 'tool_choice', 'invalid_value')
  }
}

function activeRunError(threadId: string, activeRunId: string | undefined): ApiError {
  return invalidRequest(`Thread ${threadId} already has an active run ${activeRunId ?? ''}.`.replace(' .', '.'))
}

export class RunCancelled extends Error {
  constructor() {
    super('The run was cancelled.')
  }
}
export class ThreadDeleted extends Error {}
export class LeaseLost extends Error {}
export class ServerShuttingDown extends Error {}
export class ConcurrentChangeError extends ApiError {
  constructor(runId: string, status: string) {
    super(400, `Run ${runId} changed concurrently (now ${status}).`)
  }
}
