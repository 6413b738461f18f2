import type { RunStatus } from '../protocol/objects.ts'

/**
 * OpenAI's run state machine as data. Every status change goes through `transition`, so an
 * illegal move (e.g. completed → in_progress) is a bug that throws instead of corrupting a run.
 */
export const RUN_TRANSITIONS: Record<RunStatus, readonly RunStatus[]> = {
  queued: ['in_progress', 'cancelling', 'cancelled', 'failed', 'expired'],
  in_progress: ['requires_action', 'completed', 'incomplete', 'failed', 'cancelling', 'expired'],
  requires_action: ['queued', 'cancelling', 'expired', 'failed'],
  cancelling: ['cancelled', 'failed', 'completed'],
  completed: [],
  incomplete: [],
  failed: [],
  cancelled: [],
  expired: [],
}

export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['completed', 'incomplete', 'failed', 'cancelled', 'expired']

export function isTerminal(status: string): boolean {
  return (TERMINAL_RUN_STATUSES as readonly string[]).includes(status)
}

export function canTransition(from: RunStatus, to: RunStatus): boolean {
  return RUN_TRANSITIONS[from].includes(to)
}

export class IllegalTransitionError extends Error {
  constructor(from: string, to: string) {
    super(`Illegal run transition ${from} → ${to}`)
  }
}

export function assertTransition(from: RunStatus, to: RunStatus): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to)
}

/** The stream event that announces a run entering a status. */
export const RUN_STATUS_EVENT = {
  queued: 'thread.run.queued',
  in_progress: 'thread.run.in_progress',
  requires_action: 'thread.run.requires_action',
  cancelling: 'thread.run.cancelling',
  completed: 'thread.run.completed',
  incomplete: 'thread.run.incomplete',
  failed: 'thread.run.failed',
  cancelled: 'thread.run.cancelled',
  expired: 'thread.run.expired',
} as const satisfies Record<RunStatus, string>
