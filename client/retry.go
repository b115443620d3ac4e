package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// repeatableHeader marks, between a method and the retrier, a POST that is
// safe to repeat without an Idempotency-Key; it is never sent.
const repeatableHeader = "X-Credits-Client-Repeatable"

// retrier sends a request with the API key, and again after a failure that
// a retry may mend, when repeating the request is safe.
type retrier struct {
	http           *http.Client
	key            string
	retries        int
	first, longest time.Duration
}

// Do implements the generated client's HttpRequestDoer.
func (r *retrier) Do(req *http.Request) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	safe := req.Method != http.MethodPost || req.Header.Get("Idempotency-Key") != "" || req.Header.Get(repeatableHeader) != ""
	for attempt := 0; ; attempt++ {
		try := req.Clone(req.Context())
		try.Header.Del(repeatableHeader)
		try.Header.Set("Authorization", "Bearer "+r.key)
		if body != nil {
			try.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := r.http.Do(try)
		wait, again := r.retryable(resp, err, safe)
		if !again || attempt >= r.retries {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := pause(req.Context(), r.pause(attempt, wait)); err != nil {
			return nil, err
		}
	}
}

func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

// retryable says whether a try's outcome may be mended by another try, and
// how long the server asked to wait.
func (r *retrier) retryable(resp *http.Response, err error, safe bool) (time.Duration, bool) {
	switch {
	case err != nil:
		// A refused connection reached no server: nothing was done.
		return 0, safe || errors.Is(err, syscall.ECONNREFUSED)
	case resp.StatusCode == http.StatusTooManyRequests:
		return retryAfter(resp), true
	case resp.StatusCode >= 500:
		return retryAfter(resp), safe
	}
	return 0, false
}

func retryAfter(resp *http.Response) time.Duration {
	seconds, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || seconds < 0 {
		return 0
	}
	return time.Duration(seconds) * time.Second
}

// pause is the wait before retry attempt+1: what the server asked, or
// first·2^attempt with jitter, never over longest.
func (r *retrier) pause(attempt int, asked time.Duration) time.Duration {
	wait := asked
	if wait == 0 && r.first > 0 {
		wait = r.first << min(attempt, 16)
		wait = wait/2 + mrand.N(wait/2+1)
	}
	return min(wait, r.longest)
}

func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NewIdempotencyKey returns a random key (the methods make one when the
// caller gives none; keep it to repeat a request after the client gave up).
func NewIdempotencyKey() string {
	return "key_" + rand.Text()
}
