import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { CreditsClient, CreditsError, ErrorCode, newIdempotencyKey, verifyWebhook } from "../src/index.js";

// Run by cmd/credits's TestTypeScriptClientContract against a real `credits serve` in the offline demo,
// which passes its address and key; skipped when run alone.
const baseUrl = process.env.CREDITS_URL;
const apiKey = process.env.CREDITS_API_KEY;

// An application's webhook endpoint: it verifies every delivery and keeps the verified bodies.
async function receiver(secret: () => string) {
  const verified: string[] = [];
  const failures: unknown[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      try {
        verifyWebhook(body, req.headers["credits-signature"] as string | undefined, [secret()]);
        verified.push(body.toString());
        res.writeHead(200).end();
      } catch (e) {
        failures.push(e);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/credits`;
  return { url, verified, failures, close: () => server.close() };
}

async function until(what: string, ok: () => boolean) {
  for (const deadline = Date.now() + 10_000; !ok(); ) {
    if (Date.now() > deadline) assert.fail(`not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("the TypeScript client against credits serve", { skip: !baseUrl || !apiKey }, async () => {
  const c = new CreditsClient(baseUrl!, apiKey!);
  let secret = "";
  const hooks = await receiver(() => secret);
  try {
    const created = await c.createWebhookEndpoint({ url: hooks.url, events: ["*"] });
    secret = created.secret;
    const attempt = await c.testWebhookEndpoint(created.endpoint.id);
    assert.equal(attempt.status_code, 200);
    await until("a verified ping", () => hooks.verified.some((b) => b.includes('"ping"')));

    await c.createAccount({ id: "contract-ts", email: "ts@example.com" });
    const session = await c.createCheckoutSession("contract-ts", { pack_id: "starter" });
    const paid = await fetch(session.url!, { method: "POST", body: new URLSearchParams({ card: "4242 4242 4242 4242" }), redirect: "manual" });
    assert.equal(paid.status, 303);
    assert.equal((await c.account("contract-ts")).balance, 100);
    await until("a verified event of the purchase", () => hooks.verified.some((b) => b.includes('"contract-ts"')));

    const key = newIdempotencyKey();
    const d = await c.debit("contract-ts", { amount: 30, description: "image" }, key);
    assert.equal(d.balance, 70);
    assert.equal((await c.debit("contract-ts", { amount: 30, description: "image" }, key)).id, d.id);
    await assert.rejects(c.debit("contract-ts", { amount: 1000 }), (e) => e instanceof CreditsError && e.code === "insufficient_credits" && e.status === 402);

    const hold = await c.createHold("contract-ts", { amount: 20, description: "render" });
    assert.equal(hold.status, "held");
    const captured = await c.captureHold(hold.id, 15);
    assert.equal(captured.status, "captured");
    assert.equal(captured.captured, 15);
    assert.equal((await c.account("contract-ts")).balance, 55);

    const kinds: string[] = [];
    for await (const entry of c.entries("contract-ts")) kinds.push(entry.kind);
    assert.deepEqual(kinds.sort(), ["capture", "debit", "purchase"]);

    // A usage priced by a rate card, as a member under a cap.
    assert.equal((await c.api.POST("/v1/features", { body: { id: "image", name: "Images", unit: "image" } })).response.status, 201);
    assert.equal((await c.api.POST("/v1/rate_cards", { body: { id: "default", name: "Default", rates: [{ feature: "image", credits: "3" }] } })).response.status, 201);
    const member = await c.api.PUT("/v1/accounts/{id}/members/{member_id}", { params: { path: { id: "contract-ts", member_id: "ann" } }, body: { cap: { credits: 10, period: "day" } } });
    assert.equal(member.response.status, 200);
    const check = await c.check("contract-ts", { feature: "image", quantity: 2, member_id: "ann" });
    assert.equal(check.allowed, true);
    assert.deepEqual(check.member, { member_id: "ann", remaining: 10 });
    const used = await c.usage("contract-ts", { feature: "image", quantity: 2, member_id: "ann" });
    assert.equal(used.credits, 6);
    assert.equal(used.balance, 49);
    assert.equal((await c.check("contract-ts", { feature: "image", quantity: 2, member_id: "ann" })).reason, "member_cap_exceeded");
    await assert.rejects(c.usage("contract-ts", { feature: "image", quantity: 2, member_id: "ann" }), (e) => e instanceof CreditsError && e.code === ErrorCode.memberCapExceeded && e.status === 402);
    assert.deepEqual(hooks.failures, []);
  } finally {
    hooks.close();
  }
});
