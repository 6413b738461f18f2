import type { Config } from './config.ts'
import type { Logger } from './log.ts'
import type { Db, OpenedDatabase } from './store/db.ts'
import type { CreateThread } from './protocol/schemas.ts'
import type { MessageRow, ThreadRow } from './store/tables.ts'
import { insertThread } from './store/repos/threads.ts'
import { insertMessages, newClientMessage } from './store/repos/messages.ts'
import type { RunEngine } from './engine/engine.ts'
import { attachMessageFiles, resolveToolResources } from './files/tool-resources.ts'
import { InProcessJobs, type JobQueue } from './engine/jobs.ts'

/** What the HTTP layer and the engine share: config, logger, database, engine. */
export class AppServices {
  engine!: RunEngine
  /** Background jobs (ingestion …): in-process, or on the cluster queue with DATABASE_URL. */
  jobs: JobQueue

  constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly database: OpenedDatabase,
  ) {
    this.jobs = new InProcessJobs(log)
  }

  get db(): Db {
    return this.database.db
  }

  /** Insert a thread and its initial messages atomically. */
  async createThreadWithMessages(project: string, input: CreateThread): Promise<ThreadRow> {
    input = { ...input, tool_resources: await resolveToolResources(this, project, input.tool_resources, 'thread') }
    const { thread, messages } = await this.db.transaction().execute(async (trx) => {
      const thread = await insertThread(trx, project, input)
      const messages = await insertMessages(
        trx,
        (input.messages ?? []).map((m) => newClientMessage(project, thread.id, m)),
      )
      return { thread, messages }
    })
    const resources = await this.afterMessagesAdded(project, thread.id, messages)
    return resources ? { ...thread, tool_resources: resources } : thread
  }

  /**
   * Hook for tools that react to new messages (attachments → tool resources). Returns the
   * thread's tool_resources when they changed.
   */
  async afterMessagesAdded(project: string, threadId: string, messages: MessageRow[]): Promise<Record<string, unknown> | null> {
    return attachMessageFiles(this, project, threadId, messages)
  }

  /** Stop anything still running on a thread before it is deleted. */
  async beforeThreadDelete(_project: string, threadId: string): Promise<void> {
    await this.engine?.abortThread(threadId)
  }
}
