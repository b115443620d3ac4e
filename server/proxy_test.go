package server

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	xff := Proxies{Trusted: trusted, Header: HeaderXForwardedFor}
	forwarded := Proxies{Trusted: trusted, Header: HeaderForwarded}
	for _, tt := range []struct {
		name    string
		proxies Proxies
		peer    string
		headers map[string][]string
		want    string
	}{
		{"no proxies: the peer", Proxies{}, "203.0.113.9:5000", map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, "203.0.113.9"},
		{"an untrusted peer's header is ignored", xff, "203.0.113.9:5000", map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, "203.0.113.9"},
		{"through the proxy", xff, "10.0.0.2:5000", map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, "198.51.100.7"},
		{"a spoofed leftmost entry", xff, "10.0.0.2:5000", map[string][]string{"X-Forwarded-For": {"1.2.3.4, 198.51.100.7"}}, "198.51.100.7"},
		{"two proxies", xff, "10.0.0.2:5000", map[string][]string{"X-Forwarded-For": {"1.2.3.4, 198.51.100.7, 10.9.9.9"}}, "198.51.100.7"},
		{"header lines in order", xff, "10.0.0.2:5000", map[string][]string{"X-Forwarded-For": {"1.2.3.4", "198.51.100.7"}}, "198.51.100.7"},
		{"an entry with a port", xff, "10.0.0.2:5000", map[string][]string{"X-Forwarded-For": {"198.51.100.7:4711"}}, "198.51.100.7"},
		{"IPv6 behind an IPv6 proxy", xff, "[fd00::1]:5000", map[string][]string{"X-Forwarded-For": {"2001:db8::7"}}, "2001:db8::7"},
		{"every hop a proxy: the leftmost", xff, "10.0.0.2:5000", map[string][]string{"X-Forwarded-For": {"10.1.1.1, 10.2.2.2"}}, "10.1.1.1"},
		{"garbage from the proxy: the peer", xff, "10.0.0.2:5000", map[string][]string{"X-Forwarded-For": {"unknown"}}, "10.0.0.2"},
		{"no header from the proxy: the peer", xff, "10.0.0.2:5000", nil, "10.0.0.2"},
		{"Forwarded is not read when the proxy writes X-Forwarded-For", xff, "10.0.0.2:5000", map[string][]string{"Forwarded": {"for=1.2.3.4"}, "X-Forwarded-For": {"198.51.100.7"}}, "198.51.100.7"},
		{"Forwarded", forwarded, "10.0.0.2:5000", map[string][]string{"Forwarded": {`for=1.2.3.4;proto=https, for="198.51.100.7:4711";by=10.0.0.2`}}, "198.51.100.7"},
		{"Forwarded IPv6", forwarded, "10.0.0.2:5000", map[string][]string{"Forwarded": {`For="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17"},
		{"X-Forwarded-For is not read when the proxy writes Forwarded", forwarded, "10.0.0.2:5000", map[string][]string{"Forwarded": {"for=198.51.100.7"}, "X-Forwarded-For": {"1.2.3.4"}}, "198.51.100.7"},
		{"Forwarded unknown: the peer", forwarded, "10.0.0.2:5000", map[string][]string{"Forwarded": {"for=unknown"}}, "10.0.0.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for name, values := range tt.headers {
				for _, v := range values {
					r.Header.Add(name, v)
				}
			}
			if got := tt.proxies.clientOf(r); got != tt.want {
				t.Errorf("client = %q, want %q", got, tt.want)
			}
		})
	}
}
