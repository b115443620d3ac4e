package outbound

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRefused(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want string
	}{
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"fd00::1", "private"},
		{"100.64.0.1", "private"},
		{"::ffff:10.0.0.1", "private"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"224.0.0.1", "link-local"},
		{"239.1.2.3", "multicast"},
		{"ff02::1", "link-local"},
		{"ff05::1", "multicast"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"93.184.216.34", ""},
		{"2606:2800:220:1:248:1893:25c8:1946", ""},
		{"100.128.0.1", ""},
	} {
		got := Refused(netip.MustParseAddr(tt.addr))
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("Refused(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{
		"http://127.0.0.1:8080/hook",
		"https://[::1]/hook",
		"http://169.254.169.254/latest/meta-data/",
		"https://10.0.0.5/hook",
		"http://[::ffff:192.168.0.1]/",
		"http://localhost:9000/", // a name that resolves to loopback
		"http://0.0.0.0/",
	} {
		if err := CheckURL(ctx, u); err == nil || !strings.Contains(err.Error(), "CREDITS_WEBHOOK_ALLOW_PRIVATE") {
			t.Errorf("CheckURL(%s) = %v, want a refusal naming the setting", u, err)
		}
	}
	if err := CheckURL(ctx, "https://93.184.216.34/hook"); err != nil {
		t.Errorf("a public address was refused: %v", err)
	}
}

// TestPublicOnlySenderRefusesAtConnection: the check is made on the
// address being dialled, so nothing reaches a loopback receiver, whatever
// the URL said at creation; without it the same receiver gets the post.
func TestPublicOnlySenderRefusesAtConnection(t *testing.T) {
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer receiver.Close()
	ctx := context.Background()
	for _, u := range []string{receiver.URL + "/hook", strings.Replace(receiver.URL, "127.0.0.1", "localhost", 1) + "/hook"} {
		status, err := New(true).Send(ctx, u, []byte(`{}`), []string{"whsec_test"})
		if err == nil || !strings.Contains(err.Error(), "loopback") || status != 0 {
			t.Errorf("public-only send to %s = %d, %v; want refused", u, status, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the receiver got %d requests from a public-only sender", n)
	}
	if status, err := New(false).Send(ctx, receiver.URL+"/hook", []byte(`{}`), []string{"whsec_test"}); err != nil || status != 200 || hits.Load() != 1 {
		t.Fatalf("send allowing private networks = %d, %v (hits %d)", status, err, hits.Load())
	}
}
