package server

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies says which peers are proxies whose forwarding header tells the
// client's address. With none, every request's client is its TCP peer.
type Proxies struct {
	// Trusted are the networks of the proxies (CREDITS_TRUSTED_PROXIES).
	Trusted []netip.Prefix
	// Header is the one header they write: "X-Forwarded-For" (the default)
	// or "Forwarded" (RFC 7239). Only that one is read: a client can send the
	// other, and the proxy would pass it on untouched.
	Header string
}

// Forwarding headers a proxy may write.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

// maxForwardedHops bounds the entries read from a forwarding header.
const maxForwardedHops = 32

func (p Proxies) trusts(addr netip.Addr) bool {
	for _, prefix := range p.Trusted {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// clientOf is the address a request came from: its TCP peer, unless the
// peer is a trusted proxy; then the rightmost entry of the forwarding header
// that is not a trusted proxy (entries left of it were written by whoever
// sent the request, and prove nothing). An entry that is not an address (a
// proxy's "unknown") leaves the peer as the client.
func (p Proxies) clientOf(r *http.Request) string {
	peer := peerAddress(r)
	addr, err := netip.ParseAddr(peer)
	if err != nil || !p.trusts(addr.Unmap()) {
		return peer
	}
	hops := p.hops(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok || len(hops)-i > maxForwardedHops {
			return peer
		}
		if !p.trusts(hop) || i == 0 {
			return hop.String() // the first untrusted, or the leftmost when every hop is a proxy
		}
	}
	return peer // the proxy forwarded nothing
}

// hops lists the addresses of the proxy's header, leftmost first; every
// header line of that name counts, in order.
func (p Proxies) hops(header http.Header) []string {
	var hops []string
	if !strings.EqualFold(p.Header, HeaderForwarded) {
		for _, line := range header.Values(HeaderXForwardedFor) {
			for entry := range strings.SplitSeq(line, ",") {
				hops = append(hops, strings.TrimSpace(entry))
			}
		}
		return hops
	}
	for _, line := range header.Values(HeaderForwarded) {
		for element := range strings.SplitSeq(line, ",") {
			hop := "" // an element without for= is a hop that did not say
			for pair := range strings.SplitSeq(element, ";") {
				name, value, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(name, "for") {
					hop = strings.Trim(strings.TrimSpace(value), `"`)
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// parseHop reads "192.0.2.1", "192.0.2.1:4711", "2001:db8::1" or
// "[2001:db8::1]:4711".
func parseHop(hop string) (netip.Addr, bool) {
	if addr, err := netip.ParseAddr(strings.Trim(hop, "[]")); err == nil {
		return addr.Unmap().WithZone(""), true
	}
	if addrPort, err := netip.ParseAddrPort(hop); err == nil {
		return addrPort.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// peerAddress is the TCP peer's address, without its port.
func peerAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return addr.Unmap().String()
	}
	return host
}

type clientAddressKey struct{}

// withClientAddress finds each request's client address once, before any
// handler, for the rate limits.
func (s *Server) withClientAddress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), clientAddressKey{}, s.Proxies.clientOf(r))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// clientAddress is the address a request came from (see Proxies.clientOf);
// the TCP peer when no middleware found it.
func clientAddress(r *http.Request) string {
	if addr, ok := r.Context().Value(clientAddressKey{}).(string); ok {
		return addr
	}
	return peerAddress(r)
}

// clientNetwork is what the per-address limits key on: the client's IPv4
// address, or the /64 of its IPv6 address (one host or site is routinely
// given a whole /64: each of its addresses is not a new client).
func clientNetwork(r *http.Request) string {
	addr := clientAddress(r)
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() {
		return addr
	}
	prefix, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return prefix.String()
}
