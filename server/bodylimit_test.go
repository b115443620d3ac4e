package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credits/credits/server"
)

// A client that declares a body over the limit and waits for 100 Continue is
// answered 413 at once, never asked for the body (25 times, as the attack
// pass tried), on the webhook and on /v1 with a good key.
func TestDeclaredBodyTooLargeExpectContinue(t *testing.T) {
	h := newHarness(t)
	ts := httptest.NewServer(h.handler)
	defer ts.Close()
	requests := []struct{ path, auth string }{
		{"/stripe/webhook", ""},
		{"/v1/accounts", "Authorization: Bearer " + apiKey + "\r\n"},
	}
	for i := range 25 {
		rq := requests[i%len(requests)]
		conn, err := net.DialTimeout("tcp", ts.Listener.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: credits\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
			rq.path, rq.auth, 8<<20)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("try %d, %s: %v (want a 413, not a reset)", i, rq.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), `"too_large"`) {
			t.Fatalf("try %d, %s: %d %s, want 413 too_large before the body", i, rq.path, resp.StatusCode, body)
		}
	}
}

// countingReader counts what the client sent of a body.
type countingReader struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// Go's own client gets the 413, with and without Expect: 100-continue; with
// it, the body is not sent.
func TestDeclaredBodyTooLargeGoClient(t *testing.T) {
	h := newHarness(t)
	ts := httptest.NewServer(h.handler)
	defer ts.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	for _, expect := range []bool{true, false} {
		body := &countingReader{r: bytes.NewReader(make([]byte, 4*server.MaxWebhookBodyBytes))}
		req, err := http.NewRequest("POST", ts.URL+"/stripe/webhook", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 4 * server.MaxWebhookBodyBytes
		if expect {
			req.Header.Set("Expect", "100-continue")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("expect %v: %v, want a 413", expect, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("expect %v: status %d, want 413", expect, resp.StatusCode)
		}
		if expect && body.read.Load() != 0 {
			t.Errorf("expect 100-continue: the client was asked for the body and sent %d bytes", body.read.Load())
		}
	}
}
