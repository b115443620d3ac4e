/** A failure the service answered: its HTTP status and the code, message and request id of its body. */
export class CreditsError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string;

  constructor(status: number, code: string, message: string, requestId = "") {
    super(`credits: ${status} ${code}: ${message}${requestId ? ` (request ${requestId})` : ""}`);
    this.name = "CreditsError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/** The error codes of the API (docs/api.md, Errors). */
export const ErrorCode = {
  invalid: "invalid",
  unauthorized: "unauthorized",
  insufficientCredits: "insufficient_credits",
  accountInDebt: "account_in_debt",
  memberCapExceeded: "member_cap_exceeded",
  noRate: "no_rate",
  forbidden: "forbidden",
  notFound: "not_found",
  methodNotAllowed: "method_not_allowed",
  conflict: "conflict",
  tooLarge: "too_large",
  idempotencyKeyReused: "idempotency_key_reused",
  rateLimited: "rate_limited",
  internal: "internal",
  unavailable: "unavailable",
} as const;

/** What a bare status (a proxy's page, say) most likely means. */
function codeOfStatus(status: number): string {
  if (status === 429) return ErrorCode.rateLimited;
  if (status === 502 || status === 503 || status === 504) return ErrorCode.unavailable;
  if (status === 404) return ErrorCode.notFound;
  return status >= 500 ? ErrorCode.internal : "";
}

/** The CreditsError of a failed answer, from its parsed body when it is the service's error body. */
export function errorOf(response: Response, body: unknown): CreditsError {
  const e = (body as { error?: { code?: unknown; message?: unknown; request_id?: unknown } } | undefined)?.error;
  if (e && typeof e.code === "string" && e.code !== "") {
    return new CreditsError(response.status, e.code, String(e.message ?? ""), typeof e.request_id === "string" ? e.request_id : "");
  }
  return new CreditsError(response.status, codeOfStatus(response.status), response.statusText);
}
