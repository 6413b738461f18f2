import { fileTypeFromBuffer } from 'file-type'
import type { Message } from '../protocol/objects.ts'
import type { MessageRow } from '../store/tables.ts'
import { readFileBytes, type FileDeps } from '../store/repos/files.ts'

/** The image types OpenAI's vision models take. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp'])

/**
 * `image_file` parts name uploaded files, which the upstream cannot read: each becomes a data URL
 * (what Chat Completions takes for an image), added to `known` by file id (ids already there are
 * not read again); an image file that is gone or is
 * not an image is left out (the message keeps its part, the model just does not see it), as one
 * missing picture should not fail the run.
 */
export async function imageFileUrls(
  deps: FileDeps,
  project: string,
  messages: MessageRow[],
  known: Map<string, string | null>,
): Promise<void> {
  const wanted = new Set<string>()
  for (const m of messages) {
    if (m.role !== 'user') continue
    for (const part of m.content as Message['content']) if (part.type === 'image_file' && !known.has(part.image_file.file_id)) wanted.add(part.image_file.file_id)
  }
  await Promise.all(
    [...wanted].map(async (fileId) => {
      known.set(fileId, await dataUrl(deps, project, fileId))
    }),
  )
}

async function dataUrl(deps: FileDeps, project: string, fileId: string): Promise<string | null> {
  try {
    const { bytes } = await readFileBytes(deps, project, fileId)
    const type = await fileTypeFromBuffer(bytes)
    if (!type || !IMAGE_TYPES.has(type.mime)) return null
    return `data:${type.mime};base64,${bytes.toString('base64')}`
  } catch {
    return null
  }
}
