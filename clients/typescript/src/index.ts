import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";
import { CreditsError, errorOf } from "./errors.js";
import { newIdempotencyKey, repeatableHeader, retryingFetch, type RetryOptions } from "./retry.js";

export { CreditsError, ErrorCode, errorOf } from "./errors.js";
export { newIdempotencyKey, retryingFetch, type RetryOptions } from "./retry.js";
export * from "./webhook.js";
export type { components, operations, paths } from "./schema.js";

type Schemas = components["schemas"];
export type Account = Schemas["Account"];
export type Pack = Schemas["Pack"];
export type Entry = Schemas["Entry"];
export type CheckoutSession = Schemas["CheckoutSession"];
export type DebitResult = Schemas["DebitResult"];
export type GrantResult = Schemas["GrantResult"];
export type Hold = Schemas["Hold"];
export type CheckResult = Schemas["CheckResult"];
export type UsageResult = Schemas["UsageResult"];
export type Event = Schemas["Event"];
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
export type WebhookAttempt = Schemas["WebhookAttempt"];
export type WebhookEndpointWithSecret = Schemas["WebhookEndpointWithSecret"];

type Body<P extends keyof paths, M extends "post"> = paths[P][M] extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;

export interface ClientOptions extends RetryOptions {
  /** The fetch to send with (default: the global one). */
  fetch?: typeof fetch;
}

/** What an answer of openapi-fetch holds. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

function unwrap<T>({ data, error, response }: Answer<T>): T {
  if (!response.ok) throw errorOf(response, error);
  return data as T;
}

const pageSize = 100;

/**
 * The credits API for applications: `api` is the client of every operation (openapi-fetch, typed from
 * docs/openapi.json), the methods cover what an application does most, and both retry what is safe to
 * repeat (see retryingFetch). Failures throw CreditsError.
 */
export class CreditsClient {
  readonly api: Client<paths>;

  constructor(baseUrl: string, apiKey: string, options: ClientOptions = {}) {
    this.api = createClient<paths>({
      baseUrl: baseUrl.replace(/\/$/, ""),
      headers: { Authorization: `Bearer ${apiKey}` },
      fetch: retryingFetch(options, options.fetch),
    });
  }

  async createAccount(body: Body<"/v1/accounts", "post">): Promise<Account> {
    return unwrap(await this.api.POST("/v1/accounts", { body }));
  }

  async account(id: string): Promise<Account> {
    return unwrap(await this.api.GET("/v1/accounts/{id}", { params: { path: { id } } }));
  }

  async packs(): Promise<Pack[]> {
    return unwrap(await this.api.GET("/v1/packs", {})).data;
  }

  async createCheckoutSession(accountId: string, body: Body<"/v1/accounts/{id}/checkout_sessions", "post">, idempotencyKey = newIdempotencyKey()): Promise<CheckoutSession> {
    const params = { path: { id: accountId }, header: { "Idempotency-Key": idempotencyKey } };
    return unwrap(await this.api.POST("/v1/accounts/{id}/checkout_sessions", { params, body }));
  }

  /** Spends credits; the same idempotencyKey again answers the first result. CreditsError code insufficient_credits when short. */
  async debit(accountId: string, body: Body<"/v1/accounts/{id}/debits", "post">, idempotencyKey = newIdempotencyKey()): Promise<DebitResult> {
    const params = { path: { id: accountId }, header: { "Idempotency-Key": idempotencyKey } };
    return unwrap(await this.api.POST("/v1/accounts/{id}/debits", { params, body }));
  }

  async grant(accountId: string, body: Body<"/v1/accounts/{id}/grants", "post">, idempotencyKey = newIdempotencyKey()): Promise<GrantResult> {
    const params = { path: { id: accountId }, header: { "Idempotency-Key": idempotencyKey } };
    return unwrap(await this.api.POST("/v1/accounts/{id}/grants", { params, body }));
  }

  async createHold(accountId: string, body: Body<"/v1/accounts/{id}/holds", "post">, idempotencyKey = newIdempotencyKey()): Promise<Hold> {
    const params = { path: { id: accountId }, header: { "Idempotency-Key": idempotencyKey } };
    return unwrap(await this.api.POST("/v1/accounts/{id}/holds", { params, body }));
  }

  /**
   * Prices a usage by the account's rate card and says whether it is allowed (`reason` when not; `member.remaining`
   * when it names a member). With `reserve: true` it holds the price (a key is made when none is given, so that a
   * retry answers the same hold); CreditsError insufficient_credits or member_cap_exceeded when not allowed.
   */
  async check(accountId: string, body: Body<"/v1/accounts/{id}/check", "post">, idempotencyKey?: string): Promise<CheckResult> {
    const key = idempotencyKey ?? (body.reserve ? newIdempotencyKey() : undefined);
    const params = { path: { id: accountId }, header: key === undefined ? {} : { "Idempotency-Key": key } };
    return unwrap(await this.api.POST("/v1/accounts/{id}/check", { params, body }));
  }

  /**
   * Prices a usage now and takes its credits (from `hold_id` when given); the same idempotencyKey again answers the
   * first result. CreditsError insufficient_credits or member_cap_exceeded (nothing taken), no_rate, not_found.
   */
  async usage(accountId: string, body: Body<"/v1/accounts/{id}/usage", "post">, idempotencyKey = newIdempotencyKey()): Promise<UsageResult> {
    const params = { path: { id: accountId }, header: { "Idempotency-Key": idempotencyKey } };
    return unwrap(await this.api.POST("/v1/accounts/{id}/usage", { params, body }));
  }

  /** Spends amount of a hold's credits (all when omitted); capturing again answers the same. */
  async captureHold(holdId: string, amount?: number): Promise<Hold> {
    const body = amount === undefined ? {} : { amount };
    return unwrap(await this.api.POST("/v1/holds/{id}/capture", { params: { path: { id: holdId } }, body, headers: { [repeatableHeader]: "1" } }));
  }

  async releaseHold(holdId: string): Promise<Hold> {
    return unwrap(await this.api.POST("/v1/holds/{id}/release", { params: { path: { id: holdId } }, headers: { [repeatableHeader]: "1" } }));
  }

  /** Adds a webhook endpoint (admin keys only); its secret is in this answer only. */
  async createWebhookEndpoint(body: Body<"/v1/webhook_endpoints", "post">): Promise<WebhookEndpointWithSecret> {
    return unwrap(await this.api.POST("/v1/webhook_endpoints", { body }));
  }

  async testWebhookEndpoint(id: string): Promise<WebhookAttempt> {
    return unwrap(await this.api.POST("/v1/webhook_endpoints/{id}/test", { params: { path: { id } } }));
  }

  /** Every account, in order of id, page by page. */
  async *accounts(): AsyncGenerator<Account> {
    for (let after: string | undefined; ;) {
      const page = unwrap(await this.api.GET("/v1/accounts", { params: { query: { limit: pageSize, starting_after: after } } }));
      yield* page.data;
      if (!page.has_more || page.data.length === 0) return;
      after = page.data[page.data.length - 1]!.id;
    }
  }

  /** An account's ledger, newest first, page by page. */
  async *entries(accountId: string): AsyncGenerator<Entry> {
    for (let after: number | undefined; ;) {
      const query = { limit: pageSize, starting_after: after };
      const page = unwrap(await this.api.GET("/v1/accounts/{id}/entries", { params: { path: { id: accountId }, query } }));
      yield* page.data;
      if (!page.has_more || page.data.length === 0) return;
      after = page.data[page.data.length - 1]!.id;
    }
  }
}
