import { randomBytes } from "node:crypto";

/** How the client retries. */
export interface RetryOptions {
  /** How many times a failed request is tried again (default 3; 0 turns retries off). */
  retries?: number;
  /** The first pause, doubled at each retry (default 250 ms). */
  backoffMs?: number;
  /** The longest pause, Retry-After included (default 20 s). */
  maxBackoffMs?: number;
}

/** Marks, between a method and the retrying fetch, a POST that is safe to repeat without a key; never sent. */
export const repeatableHeader = "X-Credits-Client-Repeatable";

/** A random Idempotency-Key (the methods make one when the caller gives none). */
export function newIdempotencyKey(): string {
  return "key_" + randomBytes(16).toString("hex");
}

function retryAfterMs(response: Response): number {
  const seconds = Number(response.headers.get("Retry-After"));
  return Number.isInteger(seconds) && seconds >= 0 ? seconds * 1000 : 0;
}

function refused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  return cause?.code === "ECONNREFUSED";
}

function sleep(ms: number, signal: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/**
 * A fetch that tries again after network errors, 429 and 5xx when the request is safe to repeat: not a
 * POST, or a POST with an Idempotency-Key (sent again unchanged, so the service answers the first result
 * instead of acting twice). A POST without a key is tried again only after a 429 or a refused connection.
 */
export function retryingFetch(options: RetryOptions = {}, inner: typeof fetch = globalThis.fetch): typeof fetch {
  const retries = Math.max(options.retries ?? 3, 0);
  const first = options.backoffMs ?? 250;
  const longest = options.maxBackoffMs ?? 20_000;
  return async (input, init) => {
    const request = new Request(input, init);
    const safe = request.method !== "POST" || request.headers.has("Idempotency-Key") || request.headers.has(repeatableHeader);
    const body = request.body === null ? null : await request.arrayBuffer();
    const headers = new Headers(request.headers);
    headers.delete(repeatableHeader);
    for (let attempt = 0; ; attempt++) {
      const again = attempt < retries;
      let wait = 0;
      try {
        const response = await inner(new Request(request.url, { method: request.method, headers, body, signal: request.signal }));
        const retryable = response.status === 429 || (response.status >= 500 && safe);
        if (!retryable || !again) return response;
        wait = retryAfterMs(response);
        await response.body?.cancel();
      } catch (err) {
        if (!again || !(safe || refused(err)) || request.signal.aborted) throw err;
      }
      if (wait === 0) {
        const base = first * 2 ** Math.min(attempt, 16);
        wait = base / 2 + Math.random() * (base / 2);
      }
      await sleep(Math.min(wait, longest), request.signal);
    }
  };
}
