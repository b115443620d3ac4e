package outbound

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// sharedAddressSpace is 100.64.0.0/10 (RFC 6598), carrier-grade NAT: not
// the public internet, and not covered by netip's IsPrivate.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// Refused reports why addr must not receive webhooks when private networks
// are not allowed: loopback, private, link-local, multicast, unspecified and
// shared (CGNAT) addresses, IPv4-mapped ones included. It is empty for a
// public address.
func Refused(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return "not an address"
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsPrivate(), sharedAddressSpace.Contains(addr):
		return "a private address"
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return "a link-local address"
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return "a multicast address"
	case addr.IsUnspecified():
		return "an unspecified address"
	}
	return ""
}

// CheckURL refuses a URL whose host is, or resolves to, an address that
// Refused names. The sender checks again at each connection, after DNS,
// since a name can point elsewhere later.
func CheckURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("url has no host")
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		if why := Refused(addr); why != "" {
			return fmt.Errorf("%s is %s; endpoints must be on the public internet (CREDITS_WEBHOOK_ALLOW_PRIVATE=true allows them)", host, why)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("%s does not resolve: %v", host, err)
	}
	for _, addr := range addrs {
		if why := Refused(addr); why != "" {
			return fmt.Errorf("%s resolves to %s, %s; endpoints must be on the public internet (CREDITS_WEBHOOK_ALLOW_PRIVATE=true allows them)", host, addr.Unmap(), why)
		}
	}
	return nil
}

// refuseDial is a net.Dialer Control function: it runs with the address
// DNS chose, just before the connection is made, so a name that resolves to
// a private address at delivery is refused even if it did not at creation.
func refuseDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refused to connect to %s: %v", address, err)
	}
	if why := Refused(ap.Addr()); why != "" {
		return fmt.Errorf("refused to connect to %s: %s (CREDITS_WEBHOOK_ALLOW_PRIVATE=true allows it)", ap.Addr().Unmap(), why)
	}
	return nil
}
