/** Typed errors of the hub: each carries a contract error code and the HTTP status it maps to. */
export const HTTP_ERROR_STATUS = {
  invalid_job: 400,
  invalid_code: 400,
  invalid_json: 400,
  invalid_request: 400,
  hash_mismatch: 400,
  unauthorized: 401,
  forbidden: 403,
  origin_not_allowed: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;
export type HubErrorCode = keyof typeof HTTP_ERROR_STATUS;

export class HubError extends Error {
  override readonly name = 'HubError';
  constructor(
    readonly code: HubErrorCode,
    message: string,
    /** For 429 and 503: seconds after which the same request may succeed (`Retry-After`). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  get status(): number {
    return HTTP_ERROR_STATUS[this.code];
  }
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
