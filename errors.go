// Package credits sells and spends prepaid credits. The root package holds the
// domain: types, error codes, the Store interface and the service logic. It
// imports only the standard library; adapters (sqlite, stripe, server) import
// it, never each other, and cmd/credits wires them together.
package credits

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the server package.
const (
	EINVALID      = "invalid"                // bad input: 400
	ENORATE       = "no_rate"                // no rate prices a usage's quantity: 400
	EUNAUTHORIZED = "unauthorized"           // no or wrong key: 401
	EINSUFFICIENT = "insufficient_credits"   // not enough credits: 402
	EINDEBT       = "account_in_debt"        // a refund or dispute left a debt that new credits must pay first: 402
	EMEMBERCAP    = "member_cap_exceeded"    // the spend would take a member past its cap: 402
	ENOTFOUND     = "not_found"              // unknown: 404
	ECONFLICT     = "conflict"               // already exists or wrong state: 409
	ETOOLARGE     = "too_large"              // body too large: 413
	EIDEMPOTENCY  = "idempotency_key_reused" // same key, other request: 422
	EUNAVAILABLE  = "unavailable"            // a dependency is not configured or down: 503
	EINTERNAL     = "internal"               // our own failure: 500
)

// Error is an expected failure with a code and a message that is safe to show
// to the caller. Anything that is not an *Error is internal.
type Error struct {
	Code    string
	Message string
	// Cause, when set, is the underlying error, for the operator's log only.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// ErrDiskFull is the cause of a write that failed because the database's
// disk is full (errors.Is finds it through the *Error a store answers).
var ErrDiskFull = errors.New("the database's disk is full")

// Unavailable wraps a failure to reach a dependency (the database) as an
// error that answers 503.
func Unavailable(what string, cause error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: what + " is unavailable; try again", Cause: cause}
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EINTERNAL if it carries none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the safe message of err, or "internal error".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Sentinel errors that stores return, wrapped or as is; callers test them with
// errors.Is. Stores map their own "no rows" and "unique violation" to these.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)
