import { constants } from 'node:fs'
import { lstat, open, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { safeFileName, type SandboxFile } from './backend.ts'

/**
 * The server's side of a session's /mnt/data directory. The sandboxed code controls what is in
 * it, so nothing here follows a symlink (it could point anywhere on the host) or blocks on a FIFO:
 * every open is O_NOFOLLOW | O_NONBLOCK and must land on a regular file.
 */
const READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK
const WRITE = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK

export async function writeDataFile(dir: string, name: string, bytes: Buffer): Promise<void> {
  const path = join(dir, safeFileName(name))
  const handle = await open(path, WRITE, 0o644).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ELOOP' && err.code !== 'ENXIO') throw err
    // The code left a symlink or a FIFO under that name: replace it with the real file.
    await unlink(path)
    return open(path, WRITE, 0o644)
  })
  try {
    if (!(await handle.stat()).isFile()) throw new Error(`/mnt/data/${name} is not a regular file`)
    await handle.writeFile(bytes)
  } finally {
    await handle.close()
  }
}

/** The bytes of a regular file, or null (missing, not a regular file, or over `maxBytes`). */
export async function readDataFile(dir: string, name: string, maxBytes: number): Promise<Buffer | null> {
  let handle
  try {
    handle = await open(join(dir, safeFileName(name)), READ)
  } catch {
    return null
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile() || stat.size > maxBytes) return null
    return await handle.readFile()
  } finally {
    await handle.close()
  }
}

export async function listDataFiles(dir: string): Promise<SandboxFile[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  const files: SandboxFile[] = []
  for (const entry of entries) {
    if (!entry.isFile()) continue // symlinks, directories, FIFOs are the code's own business
    const stat = await lstat(join(dir, entry.name)).catch(() => null)
    if (stat?.isFile()) files.push({ name: entry.name, size: stat.size, mtimeMs: stat.mtimeMs })
  }
  return files
}
