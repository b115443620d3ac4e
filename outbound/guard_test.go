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

// TestRefusedSpecialPurpose: each special-purpose block that is not globally
// reachable (IANA's IPv4 and IPv6 registries), its first and last address and
// one inside, is refused with its name; the addresses just outside it are not.
func TestRefusedSpecialPurpose(t *testing.T) {
	for _, tt := range []struct {
		block   string
		inside  []string
		want    string
		outside []string
	}{
		{"0.0.0.0/8", []string{"0.0.0.1", "0.255.255.255"}, "this network", []string{"1.0.0.1"}},
		{"100.64.0.0/10", []string{"100.64.0.0", "100.127.255.255"}, "shared address space", []string{"100.63.255.255", "100.128.0.0"}},
		{"192.0.0.0/24", []string{"192.0.0.0", "192.0.0.8", "192.0.0.170", "192.0.0.255"}, "IETF protocol assignment", []string{"192.0.1.0"}},
		{"192.0.2.0/24", []string{"192.0.2.0", "192.0.2.255"}, "documentation", []string{"192.0.3.0"}},
		{"192.88.99.0/24", []string{"192.88.99.1"}, "6to4 relay", []string{"192.88.100.1"}},
		{"198.18.0.0/15", []string{"198.18.0.0", "198.19.255.255"}, "benchmarking", []string{"198.17.255.255", "198.20.0.0"}},
		{"198.51.100.0/24", []string{"198.51.100.7"}, "documentation", []string{"198.51.101.0"}},
		{"203.0.113.0/24", []string{"203.0.113.7"}, "documentation", []string{"203.0.114.0"}},
		{"240.0.0.0/4", []string{"240.0.0.0", "255.255.255.254"}, "reserved", []string{"223.255.255.255"}},
		{"255.255.255.255/32", []string{"255.255.255.255"}, "broadcast", nil},
		{"224.0.0.0/4", []string{"224.0.1.1", "239.255.255.255"}, "multicast", nil},
		{"::ffff:0:0/96", []string{"::ffff:93.184.216.34", "::ffff:8.8.8.8"}, "IPv4-mapped", nil},
		{"::/96", []string{"::10.0.0.1", "::93.184.216.34", "::0.0.0.2"}, "IPv4-compatible", nil},
		{"64:ff9b::/96", []string{"64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::5db8:d822"}, "NAT64", nil},
		{"64:ff9b:1::/48", []string{"64:ff9b:1::1", "64:ff9b:1:ffff::1"}, "NAT64", nil},
		{"100::/64", []string{"100::1"}, "discard-only", nil},
		{"100:0:0:1::/64", []string{"100:0:0:1::1"}, "dummy", nil},
		{"2001::/32", []string{"2001::1", "2001:0:ffff::1"}, "Teredo", nil},
		{"2001:2::/48", []string{"2001:2::1"}, "benchmarking", nil},
		{"2001:10::/28", []string{"2001:10::1"}, "ORCHID", nil},
		{"2001:20::/28", []string{"2001:20::1", "2001:2f::1"}, "ORCHIDv2", nil},
		{"2001::/23", []string{"2001:1::1", "2001:1ff::1"}, "IETF protocol assignment", []string{"2001:200::1", "2001:4860:4860::8888"}},
		{"2001:db8::/32", []string{"2001:db8::1", "2001:db8:ffff::1"}, "documentation", []string{"2001:db9::1"}},
		{"2002::/16", []string{"2002:a00:1::1", "2002:5db8:d822::1"}, "6to4", []string{"2003::1"}},
		{"3fff::/20", []string{"3fff::1", "3fff:fff::1"}, "documentation", []string{"3fff:1000::1"}},
		{"5f00::/16", []string{"5f00::1"}, "segment routing", nil},
		{"fec0::/10", []string{"fec0::1", "feff::1"}, "site-local", nil},
		{"fc00::/7", []string{"fc00::1", "fdff::1"}, "private", nil},
		{"fe80::/10", []string{"fe80::1", "fe80::1%eth0", "febf::1"}, "link-local", nil},
		{"ff00::/8", []string{"ff0e::1", "ff05::2"}, "multicast", nil},
		{"outside 2000::/3", []string{"4000::1", "1::1", "e000::1"}, "outside global unicast", []string{"2a00:1450:4001::1", "3ffe::1"}},
	} {
		t.Run(tt.block, func(t *testing.T) {
			for _, a := range tt.inside {
				if got := Refused(netip.MustParseAddr(a)); !strings.Contains(got, tt.want) {
					t.Errorf("Refused(%s) = %q, want %q", a, got, tt.want)
				}
			}
			for _, a := range tt.outside {
				if got := Refused(netip.MustParseAddr(a)); got != "" {
					t.Errorf("Refused(%s) = %q, want a public address", a, got)
				}
			}
		})
	}
}

// TestPublicOnlySenderRefusesSpecialPurpose: the dial-time check names the
// block, whatever the URL says, and nothing is sent.
func TestPublicOnlySenderRefusesSpecialPurpose(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"http://[64:ff9b::7f00:1]:9/hook", "http://[::127.0.0.1]:9/hook", "http://[2002:7f00:1::1]:9/", "http://198.18.0.1:9/", "http://240.0.0.1:9/", "http://[fec0::1]:9/"} {
		status, err := New(true).Send(ctx, u, []byte(`{}`), []string{"whsec_test"})
		if err == nil || !strings.Contains(err.Error(), "refused to connect") || status != 0 {
			t.Errorf("public-only send to %s = %d, %v; want refused at the dial", u, status, err)
		}
		if err := CheckURL(ctx, u); err == nil {
			t.Errorf("CheckURL(%s) accepted it", u)
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
