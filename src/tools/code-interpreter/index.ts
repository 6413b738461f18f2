import type { RunEngine } from '../../engine/engine.ts'
import type { AppServices } from '../../services.ts'
import { chooseBackend } from './select.ts'
import { SessionManager } from './sessions.ts'
import { CodeInterpreterTool } from './tool.ts'

export { CodeInterpreterTool } from './tool.ts'

/**
 * Register the code_interpreter tool. The backend is probed on first use (a probe starts a real
 * sandbox, ~0.5 s of CPU, which servers that never run code should not pay), then kept.
 */
export function registerCodeInterpreter(services: AppServices, engine: RunEngine, opts: { openLoopback: boolean }): { close(): Promise<void> } {
  const log = services.log
  let sandbox: Promise<{ sessions: SessionManager } | { unavailable: string }> | null = null
  const getSandbox = () =>
    (sandbox ??= chooseBackend(services.config, opts.openLoopback, log).then(
      (choice) => {
        if ('unavailable' in choice) {
          log.warn({ reason: choice.unavailable }, 'code_interpreter unavailable')
          return choice
        }
        log.info({ backend: choice.backend.name }, 'code_interpreter sandbox ready')
        const { codeIdleSeconds, codeMaxSessions } = services.config
        return { sessions: new SessionManager(choice.backend, { idleMs: codeIdleSeconds * 1000, maxSessions: codeMaxSessions }, log) }
      },
      (err: Error) => ({ unavailable: `The code sandbox failed to start: ${err.message}` }),
    ))
  engine.registerTool(new CodeInterpreterTool(services, getSandbox))

  // A deleted thread's session (and its files) goes with it.
  const previous = services.beforeThreadDelete.bind(services)
  services.beforeThreadDelete = async (project, threadId) => {
    await previous(project, threadId)
    const s = await sandbox
    if (s && 'sessions' in s) await s.sessions.close(threadId)
  }

  return {
    async close() {
      const s = await sandbox
      if (s && 'sessions' in s) await s.sessions.closeAll()
    },
  }
}
