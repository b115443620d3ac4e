#!/usr/bin/env python3
"""Writes docs/openapi.json and server/openapi.json (the same bytes): the
OpenAPI 3.1 description of /v1. Run it after changing a route or a shape;
server tests check that every route is described and that every response
they receive matches."""
import json, pathlib

def ref(name): return {"$ref": "#/components/schemas/" + name}
def obj(props, required=None):
    s = {"type": "object", "properties": props}
    if required: s["required"] = required
    return s
I = {"type": "integer", "format": "int64"}
S = {"type": "string"}
B = {"type": "boolean"}
T = {"type": "string", "format": "date-time"}
CAN = {"type": "string", "enum": ["purchase", "auto_recharge", "card"]}
NT = {"type": ["string", "null"], "format": "date-time"}
def arr(x): return {"type": "array", "items": x}
def page(x): return obj({"data": arr(x), "has_more": B}, ["data", "has_more"])

schemas = {
    "Error": obj({"error": obj({"code": S, "message": S, "request_id": S}, ["code", "message"])}, ["error"]),
    "Pack": obj({"id": S, "name": S, "credits": I, "unit_amount": I, "currency": S, "stripe_price_id": S,
                 "expires_after_days": I, "active": B, "created_at": T}, ["id", "name", "credits", "unit_amount", "currency", "active"]),
    "Account": obj({"id": S, "email": S, "balance": I, "available": I, "held": I, "debt": I, "trial": B, "created_at": T,
                    "low_balance_threshold": I, "balance_state": {"type": "string", "enum": ["", "ok", "low", "depleted"]}},
                   ["id", "email", "balance", "available", "held", "debt", "trial"]),
    "Entry": obj({"id": I, "account_id": S, "amount": I, "kind": S, "reference": S, "description": S, "balance_after": I, "created_at": T,
                  "usage_id": S, "feature": S, "quantities": {"type": "object", "additionalProperties": I},
                  "properties": {"type": "object", "additionalProperties": S}, "rate_card": ref("RateCardRef"), "member_id": S},
                 ["id", "account_id", "amount", "kind", "balance_after"]),
    "Purchase": obj({"id": I, "account_id": S, "pack_id": S, "quantity": I, "credits": I, "amount_paid": I, "currency": S,
                     "session_id": S, "payment_intent": S, "event_id": S, "recharge": B, "created_at": T}, ["id", "account_id", "credits", "session_id"]),
    "CheckoutSession": obj({"id": S, "account_id": S, "pack_id": S, "quantity": I, "expected_amount": I, "currency": S, "status": S,
                            "url": S, "created_at": T, "updated_at": T}, ["id", "account_id", "pack_id", "quantity", "status"]),
    "LotAmount": obj({"lot_id": I, "amount": I}, ["lot_id", "amount"]),
    "DebitResult": obj({"id": I, "account_id": S, "amount": I, "description": S, "metadata": {"type": ["object", "null"], "additionalProperties": S},
                        "member_id": S, "balance": I, "available": I, "lots": {"type": ["array", "null"], "items": ref("LotAmount")}, "created_at": T},
                       ["id", "account_id", "amount", "balance", "available"]),
    "GrantResult": obj({"id": I, "account_id": S, "lot_id": I, "amount": I, "expires_at": NT, "priority": I, "reason": S,
                        "balance": I, "available": I, "created_at": T}, ["id", "account_id", "lot_id", "amount", "balance"]),
    "Hold": obj({"id": S, "account_id": S, "amount": I, "captured": I, "status": {"type": "string", "enum": ["held", "captured", "released", "expired"]},
                 "description": S, "expires_at": T, "created_at": T, "updated_at": T}, ["id", "account_id", "amount", "captured", "status", "expires_at"]),
    "Event": obj({"id": S, "type": S, "livemode": B, "session_id": S,
                  "status": {"type": "string", "enum": ["pending", "processed", "ignored", "unmatched", "failed"]},
                  "error": S, "attempts": I, "received_at": T, "processed_at": NT}, ["id", "type", "status", "received_at"]),
    "ReconcileRun": obj({"id": S, "started_at": T, "finished_at": NT, "since": T, "fix": B,
                         "status": {"type": "string", "enum": ["running", "succeeded", "interrupted"]}, "error": S,
                         "progress": {"type": "object", "additionalProperties": obj({"last_id": S, "listed": I, "done": B}, ["listed", "done"])},
                         "counts": {"type": "object", "additionalProperties": I}, "updated_at": T},
                        ["id", "started_at", "finished_at", "since", "fix", "status", "counts"]),
    "ReconcileItem": obj({"run_id": S, "kind": {"type": "string", "enum": ["paid_not_credited", "credited_not_paid", "refund_not_taken",
                                                                         "dispute_not_taken", "amount_mismatch", "charged_twice", "stuck"]},
                          "object": S, "account_id": S, "detail": S, "command": S, "fixed": B, "event_id": S, "created_at": T},
                         ["kind", "object", "detail", "fixed"]),
    "APIKey": obj({"id": S, "name": S, "scope": {"type": "string", "enum": ["read", "spend", "admin"]}, "account_id": S, "member_id": S,
                   "created_at": T, "last_used_at": NT, "revoked_at": NT}, ["id", "scope", "created_at"]),
    "DashboardSession": obj({"url": S, "expires_at": T, "can": arr(CAN)}, ["url", "expires_at", "can"]),
    "WebhookEndpoint": obj({"id": S, "url": S, "events": arr(S), "description": S, "status": {"type": "string", "enum": ["enabled", "disabled"]},
                            "disabled_reason": S, "attempts": I, "next_attempt_at": T, "failing_since": NT, "created_at": T, "updated_at": T,
                            "previous_secret_until": NT},
                           ["id", "url", "events", "status"]),
    "WebhookEndpointWithSecret": obj({"endpoint": ref("WebhookEndpoint"), "secret": S}, ["endpoint", "secret"]),
    "SavedCard": {"type": ["object", "null"], "properties": {"payment_method_id": S, "brand": S, "last4": S}},
    "Recharge": obj({"id": S, "account_id": S, "pack_id": S, "quantity": I, "credits": I, "amount": I, "currency": S, "attempt": I,
                     "status": {"type": "string", "enum": ["pending", "processing", "action_required", "succeeded", "failed", "canceled", "limit_reached"]},
                     "payment_intent": S, "checkout_session_id": S, "action_url": S, "error": S, "next_attempt_at": T,
                     "sent_at": T, "created_at": T, "updated_at": T}, ["id", "account_id", "amount", "currency", "attempt", "status"]),
    "AutoRecharge": obj({"account_id": S, "customer_id": S, "card": ref("SavedCard"), "enabled": B, "threshold": I, "pack_id": S,
                         "quantity": I, "monthly_limit": I, "disabled_reason": S, "updated_at": T, "month_total": I, "currency": S,
                         "last_attempt": {"oneOf": [ref("Recharge"), {"type": "null"}]},
                         "last_outcome": {"oneOf": [ref("Recharge"), {"type": "null"}]}, "next_attempt_at": NT},
                        ["account_id", "card", "enabled", "threshold", "monthly_limit", "month_total", "last_attempt"]),
    "TestClock": obj({"now": T, "offset_seconds": I}, ["now", "offset_seconds"]),
    "WebhookAttempt": obj({"endpoint_id": S, "event_id": S, "at": T, "status_code": I, "latency_ms": I, "error": S},
                          ["endpoint_id", "event_id", "at", "status_code"]),
}

def err(desc): return {"description": desc, "content": {"application/json": {"schema": ref("Error")}}}
def ok(code, schema, desc="OK"):
    return {str(code): {"description": desc, "content": {"application/json": {"schema": schema}}}}
def errors(*codes):
    names = {"400": "invalid input", "401": "no, wrong or revoked API key", "402": "not enough credits, or in debt",
             "403": "the key's scope or account does not allow it", "404": "not found", "405": "wrong method",
             "409": "conflict", "413": "body too large", "422": "idempotency key reused with another request",
             "429": "too many requests", "503": "a dependency is unavailable: retry"}
    return {c: err(names[c]) for c in codes}
def body(props, required=None):
    return {"required": False, "content": {"application/json": {"schema": {**obj(props, required), "additionalProperties": False}}}}
idem = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "minLength": 1, "maxLength": 255}}
idem_req = {**idem, "required": True}
acct = {"name": "id", "in": "path", "required": True, "schema": S}
def q(name, schema=S): return {"name": name, "in": "query", "required": False, "schema": schema}
common = ("400", "401", "403", "404", "503")

# Every answer to an authenticated request says what is left of its key's rate limit
# (CREDITS_RATE_API a minute, a token bucket); over it, 429 with Retry-After.
int_header = lambda desc: {"description": desc, "schema": {"type": "integer", "minimum": 0}}
header_components = {
    "RateLimit-Limit": int_header("requests this API key may make in a minute (the bucket's size)"),
    "RateLimit-Remaining": int_header("requests left now"),
    "RateLimit-Reset": int_header("seconds until the bucket is full again"),
    "Retry-After": int_header("seconds until the next request is allowed"),
}
hdr = lambda name: {"$ref": "#/components/headers/" + name}
rate_headers = {name: hdr(name) for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")}
def limited(responses):
    for code, response in responses.items():
        if code.startswith("2") or code == "429":  # the errors after the key was found carry them too
            response["headers"] = dict(rate_headers)
    responses["429"]["headers"]["Retry-After"] = hdr("Retry-After")
    return responses

def op(summary, responses, params=None, request=None, *more):
    o = {"summary": summary, "responses": limited({**responses, **errors(*common), **errors(*more), **errors("429")})}
    if params: o["parameters"] = params
    if request: o["requestBody"] = request
    return o

paths = {
    "/v1/packs": {
        "get": op("List the packs", ok(200, {"type": "object", "properties": {"data": arr(ref("Pack"))}, "required": ["data"]}), [q("all")]),
        "post": op("Create a pack", ok(201, ref("Pack")), None, body({"id": S, "name": S, "credits": I, "unit_amount": I, "currency": S,
                   "stripe_price_id": S, "expires_after_days": I, "active": B}, ["name", "credits", "unit_amount", "currency"]), "409", "413"),
    },
    "/v1/accounts": {
        "get": op("List accounts", ok(200, page(ref("Account"))), [q("limit", I), q("starting_after")]),
        "post": op("Create an account", ok(201, ref("Account")), None, body({"id": S, "email": S}, ["id", "email"]), "409", "413"),
    },
    "/v1/accounts/{id}": {
        "get": op("Read an account", ok(200, ref("Account")), [acct]),
        "patch": op("Set an account's low-balance threshold (-1: the default, 0: off)", ok(200, ref("Account")), [acct], body({"low_balance_threshold": I}, ["low_balance_threshold"]), "413"),
    },
    "/v1/accounts/{id}/checkout_sessions": {"post": op("Create a Checkout Session (save_card: admin keys only)", ok(201, ref("CheckoutSession")), [acct, idem],
        body({"pack_id": S, "quantity": I, "save_card": B}, ["pack_id"]), "413", "422")},
    "/v1/accounts/{id}/setup_sessions": {"post": op("Open Checkout in setup mode to save a card for auto-recharge (admin keys only)",
        ok(201, obj({"id": S, "url": S}, ["id", "url"])), [acct])},
    "/v1/accounts/{id}/payment_method": {"delete": op("Remove the saved card (auto-recharge turns off)",
        {"204": {"description": "removed"}}, [acct])},
    "/v1/accounts/{id}/auto_recharge": {
        "get": op("Auto-recharge: settings, saved card, this month's total, the last attempt", ok(200, ref("AutoRecharge")), [acct]),
        "put": op("Set auto-recharge (monthly_limit in the pack's minor units, required)", ok(200, ref("AutoRecharge")), [acct],
                  body({"enabled": B, "threshold": I, "pack_id": S, "quantity": I, "monthly_limit": I}, ["monthly_limit"]), "409", "413"),
    },
    "/v1/accounts/{id}/recharges": {"get": op("The latest recharges, newest first",
        ok(200, obj({"data": arr(ref("Recharge"))}, ["data"])), [acct])},
    "/v1/accounts/{id}/entries": {"get": op("The ledger, newest first", ok(200, page(ref("Entry"))), [acct, q("limit", I), q("starting_after", I)])},
    "/v1/accounts/{id}/purchases": {"get": op("The purchases, newest first", ok(200, {"type": "object", "properties": {"data": arr(ref("Purchase"))}, "required": ["data"]}), [acct, q("limit", I)])},
    "/v1/accounts/{id}/debits": {"post": op("Spend credits", ok(201, ref("DebitResult")), [acct, idem_req],
        body({"amount": I, "description": S, "metadata": {"type": "object", "additionalProperties": S}, "member_id": S}, ["amount"]), "402", "413", "422")},
    "/v1/accounts/{id}/grants": {"post": op("Grant credits", ok(201, ref("GrantResult")), [acct, idem],
        body({"amount": I, "expires_at": T, "priority": I, "reason": S}, ["amount"]), "413", "422")},
    "/v1/accounts/{id}/adjustments": {"post": op("Correct a balance", ok(201, ref("DebitResult")), [acct, idem],
        body({"amount": I, "reason": S}, ["amount", "reason"]), "402", "413", "422")},
    "/v1/accounts/{id}/holds": {
        "post": op("Reserve credits", ok(201, ref("Hold")), [acct, idem_req], body({"amount": I, "expires_in_seconds": I, "description": S, "member_id": S}, ["amount"]), "402", "413", "422"),
        "get": op("An account's holds", ok(200, {"type": "object", "properties": {"data": arr(ref("Hold"))}, "required": ["data"]}), [acct, q("status"), q("limit", I)]),
    },
    "/v1/holds/{id}": {"get": op("Read a hold", ok(200, ref("Hold")), [acct])},
    "/v1/holds/{id}/capture": {"post": op("Capture a hold (all when amount is omitted)", ok(200, ref("Hold")), [acct], body({"amount": I}), "409", "413")},
    "/v1/holds/{id}/release": {"post": op("Release a hold", ok(200, ref("Hold")), [acct], None, "409")},
    "/v1/accounts/{id}/dashboard_sessions": {"post": op("A single-use link to the account's credits page; the page may do what the key may (spend: purchase; admin: all), or the narrower `can`",
        ok(201, ref("DashboardSession")), [acct], body({"expires_in_seconds": I, "can": arr(CAN), "member_id": S}), "413")},
    "/v1/events": {"get": op("Stripe events, newest first", ok(200, page(ref("Event"))), [q("status"), q("type"), q("limit", I), q("starting_after")])},
    "/v1/reconciliation": {"get": op("The latest comparison of the ledger with Stripe (credits reconcile) and its items, in the order found",
        ok(200, obj({"run": ref("ReconcileRun"), "items": arr(ref("ReconcileItem"))}, ["run", "items"])), [q("limit", I)])},
    "/v1/api_keys": {
        "get": op("List API keys", ok(200, {"type": "object", "properties": {"data": arr(ref("APIKey"))}, "required": ["data"]})),
        "post": op("Create an API key (the secret is shown once)", ok(201, obj({"key": ref("APIKey"), "secret": S}, ["key", "secret"])), None,
                   body({"name": S, "scope": {"type": "string", "enum": ["read", "spend", "admin"]}, "account_id": S, "member_id": S}, ["scope"]), "413"),
    },
    "/v1/api_keys/{id}": {"delete": op("Revoke an API key", ok(200, ref("APIKey")), [acct])},
    "/v1/webhook_endpoints": {
        "get": op("List the application's webhook endpoints", ok(200, {"type": "object", "properties": {"data": arr(ref("WebhookEndpoint"))}, "required": ["data"]})),
        "post": op("Add a webhook endpoint (its secret is shown once)", ok(201, ref("WebhookEndpointWithSecret")), None,
                   body({"url": S, "events": arr(S), "description": S}, ["url", "events"]), "409", "413"),
    },
    "/v1/webhook_endpoints/{id}": {
        "get": op("Read a webhook endpoint", ok(200, ref("WebhookEndpoint")), [acct]),
        "delete": op("Remove a webhook endpoint", ok(200, obj({"id": S, "deleted": B}, ["id", "deleted"])), [acct]),
    },
    "/v1/webhook_endpoints/{id}/rotate_secret": {"post": op("A new signing secret (shown once); the old one signs too for 24 hours",
        ok(200, ref("WebhookEndpointWithSecret")), [acct])},
    "/v1/webhook_endpoints/{id}/enable": {"post": op("Turn a disabled endpoint back on; deliveries resume where they stopped", ok(200, ref("WebhookEndpoint")), [acct])},
    "/v1/webhook_endpoints/{id}/disable": {"post": op("Stop deliveries to an endpoint at once, a request in flight included (its event is not marked delivered)", ok(200, ref("WebhookEndpoint")), [acct])},
    "/v1/webhook_endpoints/{id}/test": {"post": op("Send a ping to the endpoint now", ok(200, ref("WebhookAttempt")), [acct])},
    "/v1/webhook_endpoints/{id}/events/{event_id}/resend": {"post": op("Send one event to the endpoint again now (its place in the stream does not move)",
        ok(200, ref("WebhookAttempt")), [acct, {"name": "event_id", "in": "path", "required": True, "schema": S}])},
    "/v1/webhook_endpoints/{id}/deliveries": {"get": op("The latest delivery attempts", ok(200, {"type": "object", "properties": {"data": arr(ref("WebhookAttempt"))}, "required": ["data"]}), [acct, q("limit", I)])},
    "/v1/test_clock": {"get": op("Development only (404 in production): the service's clock and how far it was moved forward in all",
        ok(200, ref("TestClock")))},
    "/v1/test_clock/advance": {"post": op("Development only (404 in production): move the service's clock forward by seconds "
        "(1 to 316224000) for everything that reads time (expiries, holds, retries, sessions); workers run what came due at once",
        ok(200, ref("TestClock")), None, {**body({"seconds": I}, ["seconds"]), "required": True}, "413")},
}
# Pricing: features, rate cards and their versions, check and usage (docs/pricing.md).
UNITS = {"type": "object", "additionalProperties": {"type": "integer", "format": "int64", "minimum": 0}}
PROPS = {"type": "object", "additionalProperties": S}
ROUNDING = {"type": "string", "enum": ["up", "down", "nearest"]}
schemas.update({
    "Feature": obj({"id": S, "name": S, "unit": S, "created_at": T}, ["id", "name", "unit", "created_at"]),
    "Rate": obj({"feature": S, "quantity": S, "credits": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,6})?$"},
                 "per": {"type": "integer", "minimum": 1}, "match": PROPS}, ["feature", "credits"]),
    "RateCardRef": obj({"id": S, "version": I}, ["id", "version"]),
    "RateCardVersion": obj({"rate_card_id": S, "version": I, "rates": arr(ref("Rate")), "rounding": ROUNDING, "minimum": I,
                            "effective_at": T, "created_at": T}, ["rate_card_id", "version", "rates", "rounding", "minimum", "effective_at"]),
    "RateCard": obj({"id": S, "name": S, "created_at": T, "current": {"oneOf": [ref("RateCardVersion"), {"type": "null"}]},
                     "versions": arr(ref("RateCardVersion"))}, ["id", "name", "current", "versions"]),
    "PriceLine": obj({"quantity": S, "units": I, "rate": obj({"credits": S, "per": I, "match": PROPS}, ["credits", "per", "match"]),
                      "credits_exact": {"type": "string", "description": "the line's exact credits: a decimal, or a fraction (10/3)"}},
                     ["quantity", "units", "rate", "credits_exact"]),
    "CheckResult": obj({"allowed": B, "credits": I, "available": I, "shortfall": I, "rate_card": ref("RateCardRef"),
                        "breakdown": arr(ref("PriceLine")), "hold_id": S,
                        "reason": {"type": "string", "enum": ["insufficient_credits", "account_in_debt", "member_cap_exceeded"],
                                   "description": "why the usage is not allowed (absent when it is)"},
                        "member": ref("CheckMember")},
                       ["allowed", "credits", "available", "shortfall", "rate_card", "breakdown"]),
    "CheckMember": obj({"member_id": S, "remaining": {"type": ["integer", "null"], "format": "int64",
                        "description": "what the member may still spend this period, after the check's hold (null: no cap)"}},
                       ["member_id", "remaining"]),
    "UsageResult": obj({"id": S, "account_id": S, "feature": S, "quantities": UNITS, "properties": PROPS, "credits": I, "balance": I,
                        "available": I, "rate_card": ref("RateCardRef"), "breakdown": arr(ref("PriceLine")), "lots": arr(ref("LotAmount")),
                        "hold_id": S, "member_id": S, "description": S, "metadata": {"type": ["object", "null"], "additionalProperties": S},
                        "created_at": T},
                       ["id", "credits", "balance", "available", "rate_card", "breakdown", "lots"]),
    "UsageTotal": obj({"feature": S, "day": {"type": "string", "format": "date"}, "credits": I, "units": UNITS, "usages": I},
                      ["credits", "units", "usages"]),
})
version_body = {"rates": arr(ref("Rate")), "rounding": ROUNDING, "minimum": I, "effective_at": T}
usage_body = {"feature": S, "quantity": I, "quantities": UNITS, "properties": PROPS, "description": S, "member_id": S}
card = {"name": "id", "in": "path", "required": True, "schema": S}
paths.update({
    "/v1/features": {
        "get": op("List the features", ok(200, obj({"data": arr(ref("Feature"))}, ["data"]))),
        "post": op("Add a feature to meter", ok(201, ref("Feature")), None, body({"id": S, "name": S, "unit": S}), "409", "413"),
    },
    "/v1/rate_cards": {"post": op("Create a rate card with its version 1", ok(201, ref("RateCardVersion")), None,
        body({"id": S, "name": S, **version_body}), "409", "413")},
    "/v1/rate_cards/{id}": {"get": op("A rate card: the version in effect now and every version", ok(200, ref("RateCard")), [card])},
    "/v1/rate_cards/{id}/versions": {"post": op("Add the next version; it takes effect at effective_at (now when omitted)",
        ok(201, ref("RateCardVersion")), [card], body(version_body), "409", "413")},
    "/v1/rate_cards/{id}/versions/{n}": {"get": op("One version of a rate card", ok(200, ref("RateCardVersion")),
        [card, {"name": "n", "in": "path", "required": True, "schema": S}])},
    "/v1/accounts/{id}/rate_card": {"put": op("Price the account by a rate card of its own (others: the card `default`)",
        ok(200, obj({"account_id": S, "rate_card_id": S}, ["account_id", "rate_card_id"])), [acct], body({"rate_card_id": S}), "413")},
    "/v1/accounts/{id}/check": {"post": op("Price a usage and say whether the account can pay; with reserve, hold the price",
        ok(200, ref("CheckResult")), [acct, idem], body({**usage_body, "reserve": B, "expires_in_seconds": I}), "402", "413", "422")},
    "/v1/accounts/{id}/usage": {
        "post": op("Price a usage by the account's rate card now and take its credits (from hold_id when given)",
                   ok(201, ref("UsageResult")), [acct, idem_req], body({**usage_body, "metadata": PROPS, "hold_id": S}), "402", "409", "413", "422"),
        "get": op("Totals of credits and units of usages in [from, to) (the last 30 days by default)",
                  ok(200, obj({"data": arr(ref("UsageTotal"))}, ["data"])),
                  [acct, q("from", T), q("to", T), q("group_by", {"type": "string", "enum": ["feature", "day", "feature,day"]})]),
    },
})
# Teams (docs/teams.md): members spending under caps, and transfers.
NI = {"type": ["integer", "null"], "format": "int64"}
CAP = {"oneOf": [obj({"credits": I, "period": {"type": "string", "enum": ["day", "week", "month", "total"]}}, ["credits", "period"]), {"type": "null"}]}
schemas.update({
    "Member": obj({"account_id": S, "member_id": S, "name": S, "email": S, "cap": CAP, "spent": I, "held": I, "remaining": NI,
                   "period_start": NT, "period_end": NT, "created_at": T, "updated_at": T},
                  ["account_id", "member_id", "cap", "spent", "held", "remaining", "period_start", "period_end"]),
    "TransferPart": obj({"from_lot": I, "to_lot": I, "credits": I, "expires_at": NT, "origin_lot": I}, ["from_lot", "to_lot", "credits", "expires_at"]),
    "Transfer": obj({"id": S, "from": S, "to": S, "credits": I, "description": S, "include_granted": B, "parts": arr(ref("TransferPart")),
                     "created_at": T}, ["id", "from", "to", "credits", "parts"]),
})
member_path = {"name": "member_id", "in": "path", "required": True, "schema": S}
paths.update({
    "/v1/accounts/{id}/members": {"get": op("An account's members, with their spending in the current period",
        ok(200, obj({"data": arr(ref("Member"))}, ["data"])), [acct])},
    "/v1/accounts/{id}/members/{member_id}": {
        "put": op("Create or change a member (absent fields stay; cap null: no cap)", ok(200, ref("Member")), [acct, member_path],
                  body({"name": S, "email": S, "cap": CAP}), "413"),
        "get": op("Read a member, with its spending in the current period", ok(200, ref("Member")), [acct, member_path]),
        "delete": op("Remove a member: later spends naming it answer 404", {"204": {"description": "removed"}}, [acct, member_path]),
    },
    "/v1/transfers": {"post": op("Move credits to another account, lot by lot, keeping expiry, priority and origin (402: not enough movable credits; nothing moved)",
        ok(201, ref("Transfer")), [idem_req], body({"from": S, "to": S, "credits": I, "description": S, "include_granted": B}, ["from", "to", "credits"]), "402", "413", "422")},
    "/v1/transfers/{id}": {"get": op("Read a transfer", ok(200, ref("Transfer")), [acct])},
    "/v1/accounts/{id}/transfers": {"get": op("The transfers from or to an account, newest first",
        ok(200, obj({"data": arr(ref("Transfer"))}, ["data"])), [acct, q("limit", I)])},
})

# What each operation's summary leaves out: limits, defaults, the answers
# that need a word (docs/api.md shows them under the route).
descriptions = {
    "putMember": "`cap` is `{credits, period}` (period `day`, `week` from Monday, `month`, or `total`; UTC) or `null` for none. "
                 "A removed member comes back with its history. See [teams.md](teams.md).",
    "createTransfer": "Only purchased credits move unless `include_granted`; each part keeps its lot's expiry, priority and origin. "
                      "The same `Idempotency-Key` again answers the first answer. Keys bound to one account cannot transfer.",
    "listPacks": "Active packs only, unless `all=true`.",
    "createPack": "`id` is optional (`pack_…` when omitted). `stripe_price_id` (optional) is a `price_…` id, unique; "
                  "`expires_after_days` (optional) is 1–3650: the credits of a purchase expire then; `active` defaults to true.",
    "listAccounts": "Ordered by id; `starting_after` is the last id of the previous page.",
    "createAccount": "`id` is your application's id for the customer: 1–128 of `A-Za-z0-9_.:@+-`. 409 when the id exists, "
                     "or when the email differs from another account's only by Unicode case or compatibility forms.",
    "updateAccount": "The account's own threshold for `balance_state` `low` and the `balance.low` webhook.",
    "listEntries": "Newest first; `starting_after` is the last entry id of the previous page. An entry's kind is one of "
                   "`purchase`, `debit`, `capture`, `grant`, `expiry`, `refund`, `dispute`, `adjustment`.",
    "createCheckoutSession": "Send the customer to `url`. `quantity` is 1–100 (default 1). `save_card` is for admin keys only "
                             "(403 otherwise): the payment also saves its card for auto-recharge. With an `Idempotency-Key`, "
                             "the same key again answers the same session (`Idempotent-Replayed: true`); the key with another request, 422.",
    "createSetupSession": "Admin keys only. Checkout in setup mode: saves a card for auto-recharge without buying.",
    "deletePaymentMethod": "The saved card is detached and forgotten and auto-recharge turns off; 404 when there is none.",
    "setAutoRecharge": "`quantity` defaults to 1; `monthly_limit` is required, in the pack's minor units. Answers the settings as "
                       "`GET` shows them; 409 when turning it on without a saved card. See [auto-recharge.md](auto-recharge.md).",
    "listRecharges": "See [auto-recharge.md](auto-recharge.md).",
    "createDebit": "`metadata` has at most 20 keys. `lots` says which lots the credits came from. 402 when short: nothing was taken.",
    "createGrant": "`expires_at` (optional) is in the future; `priority` is 0–1000000, lower is spent first.",
    "createAdjustment": "`amount` is signed and not zero; `reason` is required. 402 when a negative one is short.",
    "createHold": "`expires_in_seconds` is 1–2592000 (default 600): then it expires and holds nothing. 402 when short.",
    "listHolds": "`status` is one of `held`, `captured`, `released`, `expired`.",
    "captureHold": "`amount` is 1 to the amount held; all of it when omitted (an empty body or `{}` included). The same capture "
                   "again answers the same; 409 naming the state of a released or expired hold, whatever the body.",
    "releaseHold": "Releasing again answers the same; 409 on a captured or expired hold.",
    "createDashboardSession": "A signed link the customer opens once. `expires_in_seconds` is 60–604800 (default 900); "
                              "`can` defaults to what the key may (spend: `purchase`; admin: all three); 403 when it asks for more.",
    "listFeatures": "By id. Admin keys add features; any key reads them.",
    "createRateCard": "A rate is `{feature, quantity, credits, per, match}`: `credits` (a decimal with at most 6 places) for every `per` "
                      "units (default 1) of the quantity (default `quantity`), when the usage's properties contain `match`. The most "
                      "specific matching rate wins; two equally specific ones are refused (400). `rounding` is `up` (default), `down` or "
                      "`nearest` (halves up); `minimum` credits per usage. 404 naming an unknown feature; 409 when the id exists.",
    "createRateCardVersion": "Versions never change: a new one takes effect at `effective_at` (now when omitted; not in the past, at "
                             "most 366 days ahead, not before the latest version's).",
    "getRateCard": "`current` is the version in effect now (null before the first takes effect); `versions` lists every version. "
                   "A key bound to an account reads only the card that prices it (another card is 404).",
    "setAccountRateCard": "The account is priced by this card from now on; accounts without one by the card `default`.",
    "checkUsage": "Changes nothing unless `reserve` is true: then a hold of `credits` is made in the same transaction and its `hold_id` "
                  "returned (402 when not allowed). `quantity` n is `quantities: {\"quantity\": n}`. 400 `no_rate` names the quantities "
                  "without a rate; 404 an unknown feature. With `member_id` (or a key bound to a member), `member` says what the "
                  "member may still spend and a price beyond it is `allowed: false` with `reason: member_cap_exceeded`; a reserve "
                  "holds as the member (402 `member_cap_exceeded` past its cap).",
    "createUsage": "Priced by the version of the account's rate card in effect now, in the transaction that takes the credits. With "
                   "`hold_id`, the price is captured from the hold and the rest released; above the hold, the difference is taken from "
                   "available credits, or 402 with nothing changed. The same key answers the first answer, even after the card changed. "
                   "Entries of usages carry `usage_id`, `feature`, `quantities`, `properties` and `rate_card`. With `member_id` (or a "
                   "key bound to a member) the credits count toward the member's cap (402 `member_cap_exceeded`, nothing taken); a "
                   "usage from a hold spends as the hold's member (400 naming another).",
    "listUsageTotals": "`from` and `to` are RFC 3339 (default: the last 30 days; at most 366 days and 100,000 usages).",
    "listEvents": "Newest first, each with its status and reason; filter by `status` (`pending`, `processed`, `ignored`, `unmatched`, "
                  "`failed`) and `type` (e.g. `charge.refunded`). The payloads of ignored events are dropped after "
                  "`CREDITS_IGNORED_EVENT_RETENTION_DAYS` (30).",
    "getReconciliation": "Admin keys only. `limit` is at most 1000. The latest run of `credits reconcile` or of the worker's daily run; "
                         "404 before the first run. See [reconcile.md](reconcile.md).",
    "listApiKeys": "Admin keys only: id, name, scope, account, created, last used, revoked.",
    "createApiKey": "Admin keys only. `scope` is `read`, `spend` or `admin`; `account_id` (optional) binds the key to one account. "
                    "The `ck_…` secret is shown only here.",
    "revokeApiKey": "Admin keys only. Revoked at once on every replica.",
    "listWebhookEndpoints": "Admin keys only. See [webhooks.md](webhooks.md).",
    "createWebhookEndpoint": "Admin keys only. `events` lists the event types to send (see [webhooks.md](webhooks.md)), or `[\"*\"]` for all; the `whsec_…` "
                             "secret is shown only here. In production an endpoint on a private address is refused unless "
                             "`CREDITS_WEBHOOK_ALLOW_PRIVATE` is true.",
    "resendWebhookEvent": "The event again, now, with the same id, recorded as an attempt; 400 if the endpoint does not subscribe to its type.",
    "rotateWebhookEndpointSecret": "For 24 hours deliveries carry a `v1` signature with each secret, so a receiver can be updated at leisure.",
    "getTestClock": "Admin keys only; development only (404 in production, as an unknown route). See [testing.md](testing.md).",
    "advanceTestClock": "Admin keys only; development only. It never goes back: anything but 1 to 316224000 seconds is 400.",
}
tags = [
    {"name": "Catalog", "description": "The packs of credits on sale."},
    {"name": "Accounts", "description": "Your application's customers and their ledgers."},
    {"name": "Buying", "description": "Checkout, saved cards, auto-recharge and the customer's credits page."},
    {"name": "Spending", "description": "Debits, grants, adjustments and holds."},
    {"name": "Pricing", "description": "Features, versioned rate cards, and usage priced in credits ([pricing.md](pricing.md))."},
    {"name": "Stripe events", "description": "The Stripe events received and what became of them."},
    {"name": "Webhook endpoints", "description": "Where credits sends your application signed events ([webhooks.md](webhooks.md))."},
    {"name": "Operations", "description": "API keys and the reconciliation with Stripe."},
    {"name": "Teams", "description": "Members spending from one account under caps, and transfers between accounts ([teams.md](teams.md))."},
    {"name": "Test clock", "description": "Development only: move the service's clock forward."},
]

# operationId and tag of every operation, by method and path: the names
# generated clients give their methods, and the sections of docs/api.md. Kept here, not derived from the paths' order, so
# that a new route never renames an old method; the script fails on a route
# without a name here, or a name without a route.
operation_ids = {
    ("get", "/v1/accounts/{id}/members"): ("listMembers", "Teams"),
    ("put", "/v1/accounts/{id}/members/{member_id}"): ("putMember", "Teams"),
    ("get", "/v1/accounts/{id}/members/{member_id}"): ("getMember", "Teams"),
    ("delete", "/v1/accounts/{id}/members/{member_id}"): ("deleteMember", "Teams"),
    ("post", "/v1/transfers"): ("createTransfer", "Teams"),
    ("get", "/v1/transfers/{id}"): ("getTransfer", "Teams"),
    ("get", "/v1/accounts/{id}/transfers"): ("listTransfers", "Teams"),
    ("get", "/v1/packs"): ("listPacks", "Catalog"),
    ("post", "/v1/packs"): ("createPack", "Catalog"),
    ("get", "/v1/accounts"): ("listAccounts", "Accounts"),
    ("post", "/v1/accounts"): ("createAccount", "Accounts"),
    ("get", "/v1/accounts/{id}"): ("getAccount", "Accounts"),
    ("patch", "/v1/accounts/{id}"): ("updateAccount", "Accounts"),
    ("post", "/v1/accounts/{id}/checkout_sessions"): ("createCheckoutSession", "Buying"),
    ("post", "/v1/accounts/{id}/setup_sessions"): ("createSetupSession", "Buying"),
    ("delete", "/v1/accounts/{id}/payment_method"): ("deletePaymentMethod", "Buying"),
    ("get", "/v1/accounts/{id}/auto_recharge"): ("getAutoRecharge", "Buying"),
    ("put", "/v1/accounts/{id}/auto_recharge"): ("setAutoRecharge", "Buying"),
    ("get", "/v1/accounts/{id}/recharges"): ("listRecharges", "Buying"),
    ("get", "/v1/accounts/{id}/entries"): ("listEntries", "Accounts"),
    ("get", "/v1/accounts/{id}/purchases"): ("listPurchases", "Buying"),
    ("post", "/v1/accounts/{id}/debits"): ("createDebit", "Spending"),
    ("post", "/v1/accounts/{id}/grants"): ("createGrant", "Spending"),
    ("post", "/v1/accounts/{id}/adjustments"): ("createAdjustment", "Spending"),
    ("post", "/v1/accounts/{id}/holds"): ("createHold", "Spending"),
    ("get", "/v1/accounts/{id}/holds"): ("listHolds", "Spending"),
    ("get", "/v1/holds/{id}"): ("getHold", "Spending"),
    ("post", "/v1/holds/{id}/capture"): ("captureHold", "Spending"),
    ("post", "/v1/holds/{id}/release"): ("releaseHold", "Spending"),
    ("post", "/v1/accounts/{id}/dashboard_sessions"): ("createDashboardSession", "Buying"),
    ("get", "/v1/features"): ("listFeatures", "Pricing"),
    ("post", "/v1/features"): ("createFeature", "Pricing"),
    ("post", "/v1/rate_cards"): ("createRateCard", "Pricing"),
    ("get", "/v1/rate_cards/{id}"): ("getRateCard", "Pricing"),
    ("post", "/v1/rate_cards/{id}/versions"): ("createRateCardVersion", "Pricing"),
    ("get", "/v1/rate_cards/{id}/versions/{n}"): ("getRateCardVersion", "Pricing"),
    ("put", "/v1/accounts/{id}/rate_card"): ("setAccountRateCard", "Pricing"),
    ("post", "/v1/accounts/{id}/check"): ("checkUsage", "Pricing"),
    ("post", "/v1/accounts/{id}/usage"): ("createUsage", "Pricing"),
    ("get", "/v1/accounts/{id}/usage"): ("listUsageTotals", "Pricing"),
    ("get", "/v1/events"): ("listEvents", "Stripe events"),
    ("get", "/v1/reconciliation"): ("getReconciliation", "Operations"),
    ("get", "/v1/api_keys"): ("listApiKeys", "Operations"),
    ("post", "/v1/api_keys"): ("createApiKey", "Operations"),
    ("delete", "/v1/api_keys/{id}"): ("revokeApiKey", "Operations"),
    ("get", "/v1/webhook_endpoints"): ("listWebhookEndpoints", "Webhook endpoints"),
    ("post", "/v1/webhook_endpoints"): ("createWebhookEndpoint", "Webhook endpoints"),
    ("get", "/v1/webhook_endpoints/{id}"): ("getWebhookEndpoint", "Webhook endpoints"),
    ("delete", "/v1/webhook_endpoints/{id}"): ("deleteWebhookEndpoint", "Webhook endpoints"),
    ("post", "/v1/webhook_endpoints/{id}/rotate_secret"): ("rotateWebhookEndpointSecret", "Webhook endpoints"),
    ("post", "/v1/webhook_endpoints/{id}/enable"): ("enableWebhookEndpoint", "Webhook endpoints"),
    ("post", "/v1/webhook_endpoints/{id}/disable"): ("disableWebhookEndpoint", "Webhook endpoints"),
    ("post", "/v1/webhook_endpoints/{id}/test"): ("testWebhookEndpoint", "Webhook endpoints"),
    ("post", "/v1/webhook_endpoints/{id}/events/{event_id}/resend"): ("resendWebhookEvent", "Webhook endpoints"),
    ("get", "/v1/webhook_endpoints/{id}/deliveries"): ("listWebhookDeliveries", "Webhook endpoints"),
    ("get", "/v1/test_clock"): ("getTestClock", "Test clock"),
    ("post", "/v1/test_clock/advance"): ("advanceTestClock", "Test clock"),
}
named = {(method, path) for path, item in paths.items() for method in item}
if named != set(operation_ids):
    raise SystemExit("docs/openapi.py: operation_ids and paths differ: no name for %s; no route for %s"
                     % (sorted(named - set(operation_ids)), sorted(set(operation_ids) - named)))
for (method, path), (name, tag) in operation_ids.items():
    paths[path][method]["operationId"] = name
    paths[path][method]["tags"] = [tag]
    if name in descriptions:
        paths[path][method]["description"] = descriptions.pop(name)
if descriptions:
    raise SystemExit("docs/openapi.py: descriptions of no operation: %s" % sorted(descriptions))
for item in paths.values():
    for o in item.values():
        o["responses"].update(errors("405"))  # answered before the key is known: no rate-limit headers

doc = {
    "openapi": "3.1.0",
    "info": {"title": "credits", "version": "1", "description": "Sell and spend prepaid credits. Every call takes Authorization: Bearer <key>."},
    "components": {"schemas": schemas, "headers": header_components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "tags": tags,
    "servers": [{"url": "http://127.0.0.1:8080", "description": "credits serve in development (CREDITS_ADDR)"}],
    "security": [{"bearer": []}],
    "paths": paths,
}
text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
root = pathlib.Path(__file__).resolve().parent.parent
for path in (root / "docs" / "openapi.json", root / "server" / "openapi.json"):
    path.write_text(text)
print("wrote docs/openapi.json and server/openapi.json; what is made from them: go run ./internal/apidoc && "
      "go generate ./client/... && (cd clients/typescript && npm run generate)")
