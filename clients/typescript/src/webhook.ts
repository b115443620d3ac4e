import { createHmac, timingSafeEqual } from "node:crypto";

// Verification of the webhooks credits sends, exactly as package creditswebhook does it:
//   Credits-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// with one v1 per secret while a secret is being rotated.

/** The signature header's name. */
export const signatureHeader = "Credits-Signature";
/** How far a signature's time may be from now, in seconds. */
export const defaultToleranceSeconds = 5 * 60;
/** The shortest secret accepted, in bytes, after an optional "whsec_" prefix. */
export const minSecretBytes = 16;
const maxHeaderLength = 4096;

/** Why a webhook did not verify. */
export type WebhookFailure = "no_signature" | "stale" | "mismatch" | "secret";

export class WebhookVerificationError extends Error {
  readonly reason: WebhookFailure;
  constructor(reason: WebhookFailure, message: string) {
    super(`creditswebhook: ${message}`);
    this.name = "WebhookVerificationError";
    this.reason = reason;
  }
}

function mac(secret: string, t: string, payload: Buffer): Buffer {
  return createHmac("sha256", secret).update(t).update(".").update(payload).digest();
}

/** The header value for payload, made at a time (seconds) with each secret. */
export function signWebhook(payload: string | Buffer, atSeconds: number, ...secrets: string[]): string {
  const t = String(Math.trunc(atSeconds));
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  return ["t=" + t, ...secrets.map((s) => "v1=" + mac(s, t, body).toString("hex"))].join(",");
}

function checkSecrets(secrets: string[]): void {
  if (secrets.length === 0) throw new WebhookVerificationError("secret", "no usable secret: none given");
  secrets.forEach((secret, i) => {
    const bare = secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret;
    if (Buffer.byteLength(bare) < minSecretBytes) {
      throw new WebhookVerificationError("secret", `no usable secret: secret ${i + 1} of ${secrets.length} is empty or shorter than ${minSecretBytes} bytes`);
    }
  });
}

/**
 * Checks that header (the Credits-Signature header's value) signs payload (the raw body, as received) with
 * one of secrets, at a time within the tolerance of now; throws a WebhookVerificationError otherwise.
 */
export function verifyWebhook(
  payload: string | Buffer,
  header: string | null | undefined,
  secrets: string[],
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): void {
  checkSecrets(secrets);
  const value = header ?? "";
  if (value.length > maxHeaderLength) throw new WebhookVerificationError("no_signature", "the header is too long");
  let t = "";
  const signatures: Buffer[] = [];
  for (const part of value.split(",")) {
    const trimmed = part.trim();
    const eq = trimmed.indexOf("=");
    if (eq < 0) continue;
    const key = trimmed.slice(0, eq);
    const v = trimmed.slice(eq + 1);
    if (key === "t") t = v;
    else if (key === "v1" && /^[0-9a-fA-F]{64}$/.test(v)) signatures.push(Buffer.from(v, "hex"));
  }
  if (!/^[+-]?\d{1,19}$/.test(t) || signatures.length === 0) {
    throw new WebhookVerificationError("no_signature", "no Credits-Signature header, or one without t and v1");
  }
  const at = Number(t);
  const now = options.nowSeconds ?? Date.now() / 1000;
  const tolerance = options.toleranceSeconds ?? defaultToleranceSeconds;
  if (at < now - tolerance || at > now + tolerance) {
    throw new WebhookVerificationError("stale", "the signature's time is outside the tolerance");
  }
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  for (const secret of secrets) {
    const want = mac(secret, t, body);
    if (signatures.some((sig) => timingSafeEqual(sig, want))) return;
  }
  throw new WebhookVerificationError("mismatch", "no signature matches the payload and the secrets");
}
