package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Error is a failure the service answered: its HTTP status and the code,
// message and request id of its body. errors.Is matches it with the sentinel
// of its code (ErrInsufficientCredits, ErrNotFound, …).
type Error struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("credits: %d %s: %s", e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	sentinel, ok := sentinels[e.Code]
	return ok && sentinel == target
}

// Sentinels, one per error code of the API (docs/api.md, Errors).
var (
	ErrInvalid             = errors.New("credits: invalid")
	ErrUnauthorized        = errors.New("credits: unauthorized")
	ErrInsufficientCredits = errors.New("credits: insufficient credits")
	ErrAccountInDebt       = errors.New("credits: account in debt")
	ErrMemberCapExceeded   = errors.New("credits: member cap exceeded")
	ErrNoRate              = errors.New("credits: no rate prices the usage")
	ErrForbidden           = errors.New("credits: forbidden")
	ErrNotFound            = errors.New("credits: not found")
	ErrMethodNotAllowed    = errors.New("credits: method not allowed")
	ErrConflict            = errors.New("credits: conflict")
	ErrTooLarge            = errors.New("credits: too large")
	ErrIdempotency         = errors.New("credits: idempotency key reused with another request")
	ErrRateLimited         = errors.New("credits: rate limited")
	ErrInternal            = errors.New("credits: internal")
	ErrUnavailable         = errors.New("credits: unavailable")
)

var sentinels = map[string]error{
	"invalid":                ErrInvalid,
	"unauthorized":           ErrUnauthorized,
	"insufficient_credits":   ErrInsufficientCredits,
	"account_in_debt":        ErrAccountInDebt,
	"member_cap_exceeded":    ErrMemberCapExceeded,
	"no_rate":                ErrNoRate,
	"forbidden":              ErrForbidden,
	"not_found":              ErrNotFound,
	"method_not_allowed":     ErrMethodNotAllowed,
	"conflict":               ErrConflict,
	"too_large":              ErrTooLarge,
	"idempotency_key_reused": ErrIdempotency,
	"rate_limited":           ErrRateLimited,
	"internal":               ErrInternal,
	"unavailable":            ErrUnavailable,
}

// maxAnswer bounds the answer body a client reads.
const maxAnswer = 8 << 20

// ErrorOf reads resp's body and returns its *Error when resp is a failure
// (a status of 400 or more), nil otherwise. It closes the body either way.
func ErrorOf(resp *http.Response) error {
	defer resp.Body.Close()
	if resp.StatusCode < 400 {
		return nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return errorFrom(resp.StatusCode, raw)
}

func errorFrom(status int, raw []byte) *Error {
	var body struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Code == "" {
		// Not the service's error body (a proxy's page, say): the status alone.
		return &Error{Status: status, Code: codeOfStatus(status), Message: http.StatusText(status)}
	}
	return &Error{Status: status, Code: body.Error.Code, Message: body.Error.Message, RequestID: body.Error.RequestID}
}

// codeOfStatus is the code a bare status most likely means, so that
// errors.Is(err, ErrUnavailable) holds for a proxy's 503 too.
func codeOfStatus(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return "unavailable"
	case http.StatusNotFound:
		return "not_found"
	}
	if status >= 500 {
		return "internal"
	}
	return ""
}

// decode reads a successful answer into T, or the failure as an *Error.
func decode[T any](resp *http.Response, err error) (T, error) {
	var out T
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return out, fmt.Errorf("credits: read the answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		return out, errorFrom(resp.StatusCode, raw)
	}
	if resp.StatusCode == http.StatusNoContent {
		return out, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("credits: read the %d answer: %w", resp.StatusCode, err)
	}
	return out, nil
}
