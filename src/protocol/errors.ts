import type { ContentfulStatusCode } from 'hono/utils/http-status'

/** The body OpenAI returns for every error: `{"error": {message, type, param, code}}`. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly type: string = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message)
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, message, 'invalid_request_error', param, code)

/** The noun used in "No <noun> found with id '…'." */
export type ObjectNoun =
  | 'assistant'
  | 'thread'
  | 'message'
  | 'run'
  | 'run step'
  | 'file'
  | 'vector store'
  | 'vector store file'
  | 'file batch'

export const notFound = (noun: ObjectNoun, id: string) =>
  new ApiError(404, `No ${noun} found with id '${id}'.`, 'invalid_request_error', null, null)

/** The Files API's own 404 wording (observed from api.openai.com): param `id`. */
export const noSuchFile = (id: string) => new ApiError(404, `No such File object: ${id}`, 'invalid_request_error', 'id', null)

/** A file that is not (or no longer) in the vector store, worded as OpenAI's. */
export const vectorStoreFileNotFound = (fileId: string, storeId: string) =>
  new ApiError(404, `No file found with id '${fileId}' in vector store '${storeId}'.`, 'invalid_request_error', null, null)

export const serverError = (message = 'The server had an error while processing your request. Sorry about that!') =>
  new ApiError(500, message, 'server_error', null, null)
