import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import type { Config } from '../config.ts'

/**
 * Uploaded bytes on disk: `<dataDir>/files/<key>`. Writes go to a temporary name first and are
 * renamed into place, so a crash never leaves a half-written file under a real key.
 */
export class FileStorage {
  private ready: Promise<void> | null = null

  constructor(readonly root: string) {}

  private ensureRoot(): Promise<void> {
    return (this.ready ??= mkdir(join(this.root, 'tmp'), { recursive: true }).then(() => undefined))
  }

  pathOf(key: string): string {
    return join(this.root, key)
  }

  /** A fresh temporary path for a streamed upload (commit or discard it afterwards). */
  async tempPath(): Promise<string> {
    await this.ensureRoot()
    return join(this.root, 'tmp', `${Date.now()}-${randomBytes(6).toString('hex')}`)
  }

  async commit(tempPath: string, key: string): Promise<void> {
    await rename(tempPath, this.pathOf(key))
  }

  async discard(path: string): Promise<void> {
    await rm(path, { force: true })
  }

  async writeStream(key: string, source: Readable): Promise<number> {
    const temp = await this.tempPath()
    try {
      await pipeline(source, createWriteStream(temp))
      await this.commit(temp, key)
    } catch (err) {
      await this.discard(temp)
      throw err
    }
    return (await stat(this.pathOf(key))).size
  }

  async writeBuffer(key: string, bytes: Buffer): Promise<void> {
    const { Readable } = await import('node:stream')
    await this.writeStream(key, Readable.from([bytes]))
  }

  read(key: string): Promise<Buffer> {
    return readFile(this.pathOf(key))
  }

  remove(key: string): Promise<void> {
    return rm(this.pathOf(key), { force: true })
  }
}

const byConfig = new WeakMap<Config, Promise<FileStorage>>()

/** The storage for this server: under the data dir, or a private temp dir when there is none (tests). */
export function fileStorage(config: Config): Promise<FileStorage> {
  let storage = byConfig.get(config)
  if (!storage) {
    storage = config.dataDir
      ? Promise.resolve(new FileStorage(join(config.dataDir, 'files')))
      : mkdtemp(join(tmpdir(), 'threadline-files-')).then((dir) => new FileStorage(dir))
    byConfig.set(config, storage)
  }
  return storage
}
