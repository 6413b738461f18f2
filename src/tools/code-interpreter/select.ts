import type { Config } from '../../config.ts'
import type { Logger } from '../../log.ts'
import { DEFAULT_LIMITS, type SandboxBackend, type SandboxLimits } from './backend.ts'
import { BwrapBackend } from './bwrap.ts'
import { PyodideBackend } from './pyodide.ts'

export const ENABLE_HINT =
  'To enable it, install the sandbox on the server (Debian/Ubuntu: apt-get install -y --no-install-recommends bubblewrap python3-numpy python3-pandas python3-matplotlib) ' +
  'and restart, or set THREADLINE_CODE_SANDBOX=pyodide to accept the weaker Pyodide sandbox (standard library only).'

export type BackendChoice = { backend: SandboxBackend } | { unavailable: string }

// Probes start a real sandbox: once per process is enough (several servers share the answer in tests).
const probes = new Map<string, Promise<string | null>>()
const probeOnce = (name: string, probe: () => Promise<string | null>) => {
  let p = probes.get(name)
  if (!p) probes.set(name, (p = probe()))
  return p
}

export function limitsFrom(config: Config): SandboxLimits {
  return { ...DEFAULT_LIMITS, timeoutMs: config.codeTimeoutMs, memoryBytes: config.codeMemoryMb * 1024 * 1024 }
}

/**
 * bubblewrap when it works here; Pyodide only when configured explicitly or, in 'auto', when the
 * server is in open loopback mode (one local user, who runs code as themselves anyway).
 */
export async function chooseBackend(config: Config, openLoopback: boolean, log: Logger): Promise<BackendChoice> {
  const mode = config.codeSandbox
  const limits = limitsFrom(config)
  if (mode === 'none') return { unavailable: 'code_interpreter is disabled on this server (THREADLINE_CODE_SANDBOX=none); set THREADLINE_CODE_SANDBOX=auto to enable it.' }
  if (mode === 'bwrap' || mode === 'auto') {
    const why = await probeOnce('bwrap', () => BwrapBackend.probe())
    if (why === null) return { backend: await BwrapBackend.create(limits) }
    log.warn({ reason: why }, 'code_interpreter: the bubblewrap sandbox does not work here')
    if (mode === 'bwrap') return { unavailable: `The bubblewrap sandbox does not work on this server: ${why}. ${ENABLE_HINT}` }
    if (!openLoopback) return { unavailable: `code_interpreter has no safe sandbox on this server (${why}). ${ENABLE_HINT}` }
  }
  const why = await probeOnce('pyodide', () => PyodideBackend.probe(limits))
  if (why === null) {
    log.warn('code_interpreter: using the Pyodide sandbox (standard library only, weaker isolation than bubblewrap)')
    return { backend: new PyodideBackend(limits) }
  }
  return { unavailable: `The Pyodide sandbox does not work on this server: ${why}. ${ENABLE_HINT}` }
}
