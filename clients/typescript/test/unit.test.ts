import assert from "node:assert/strict";
import { test } from "node:test";
import { CreditsClient, CreditsError, signWebhook, verifyWebhook, WebhookVerificationError } from "../src/index.js";

const secret = "whsec_0123456789abcdef0123456789abcdef";

test("a webhook signed with the secret verifies; a changed, old or unsigned one does not", () => {
  const payload = JSON.stringify({ type: "ping" });
  const now = 1_700_000_000;
  const header = signWebhook(payload, now, "whsec_old_0123456789abcdef", secret);
  verifyWebhook(payload, header, [secret], { nowSeconds: now });
  const reason = (f: () => void) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof WebhookVerificationError);
      return e.reason;
    }
    return "verified";
  };
  assert.equal(reason(() => verifyWebhook(payload + " ", header, [secret], { nowSeconds: now })), "mismatch");
  assert.equal(reason(() => verifyWebhook(payload, header, [secret], { nowSeconds: now + 301 })), "stale");
  assert.equal(reason(() => verifyWebhook(payload, "t=1700000000", [secret], { nowSeconds: now })), "no_signature");
  assert.equal(reason(() => verifyWebhook(payload, null, [secret], { nowSeconds: now })), "no_signature");
  assert.equal(reason(() => verifyWebhook(payload, header, ["whsec_short"], { nowSeconds: now })), "secret");
  assert.equal(reason(() => verifyWebhook(payload, header, [], { nowSeconds: now })), "secret");
});

// A fake service: each call takes the next answer and records the request.
function fakeFetch(answers: Array<[number, unknown]>) {
  const seen: Request[] = [];
  const f: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    seen.push(request);
    const [status, body] = answers[Math.min(seen.length - 1, answers.length - 1)]!;
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  };
  return { f, seen };
}

test("a debit is retried with the same Idempotency-Key; failures throw CreditsError", async () => {
  const unavailable = { error: { code: "unavailable", message: "retry" } };
  const debited = { id: 7, account_id: "u1", amount: 5, balance: 95, available: 95 };
  const { f, seen } = fakeFetch([[503, unavailable], [500, unavailable], [201, debited]]);
  const c = new CreditsClient("http://credits.test", "ck_test", { fetch: f, backoffMs: 1 });
  const d = await c.debit("u1", { amount: 5, description: "image" });
  assert.equal(d.balance, 95);
  assert.equal(seen.length, 3);
  const keys = new Set(seen.map((r) => r.headers.get("Idempotency-Key")));
  assert.equal(keys.size, 1);
  assert.ok([...keys][0]);
  assert.equal(seen[0]!.headers.get("Authorization"), "Bearer ck_test");

  const short = fakeFetch([[402, { error: { code: "insufficient_credits", message: "short", request_id: "req_1" } }]]);
  const c2 = new CreditsClient("http://credits.test", "ck_test", { fetch: short.f, backoffMs: 1 });
  await assert.rejects(c2.debit("u1", { amount: 5 }, "order-1"), (e) => e instanceof CreditsError && e.status === 402 && e.code === "insufficient_credits" && e.requestId === "req_1");
  assert.equal(short.seen.length, 1);
  assert.equal(short.seen[0]!.headers.get("Idempotency-Key"), "order-1");
});

test("a POST without a key is not repeated after a 500; a capture is", async () => {
  const internal = fakeFetch([[500, { error: { code: "internal", message: "oops" } }]]);
  const c = new CreditsClient("http://credits.test", "ck_test", { fetch: internal.f, backoffMs: 1 });
  await assert.rejects(c.createAccount({ id: "u1", email: "a@example.com" }), (e) => e instanceof CreditsError && e.code === "internal");
  assert.equal(internal.seen.length, 1);
  await assert.rejects(c.captureHold("h1"), (e) => e instanceof CreditsError && e.status === 500);
  assert.equal(internal.seen.length, 1 + 4);
  assert.equal(internal.seen[1]!.headers.get("X-Credits-Client-Repeatable"), null);
});
