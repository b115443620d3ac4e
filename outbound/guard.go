package outbound

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// specialPurpose are the blocks of IANA's IPv4 and IPv6 Special-Purpose
// Address Registries (RFC 6890 and its updates) that are not globally
// reachable, with a few that are listed as reachable but lead somewhere
// else than the address says: NAT64 (64:ff9b::/96 reaches the IPv4 address
// inside it, private ones too), 6to4, Teredo and ORCHID. Loopback, private,
// link-local, multicast and unspecified addresses are refused before these
// by netip's own tests; any IPv6 address outside global unicast (2000::/3)
// is refused after them.
var specialPurpose = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" (0.0.0.0/8)`},
	{netip.MustParsePrefix("100.64.0.0/10"), "a private address: shared address space (100.64.0.0/10)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment (192.0.0.0/24)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address (192.0.2.0/24)"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay anycast address (192.88.99.0/24, deprecated)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address (198.18.0.0/15)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address (198.51.100.0/24)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address (203.0.113.0/24)"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the limited broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address (240.0.0.0/4)"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "an IPv4-mapped address (::ffff:0:0/96)"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address (::/96, deprecated)"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address (64:ff9b::/96)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address (64:ff9b:1::/48)"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address (100::/64)"},
	{netip.MustParsePrefix("100:0:0:1::/64"), "a dummy address (100:0:0:1::/64)"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo address (2001::/32)"},
	{netip.MustParsePrefix("2001:2::/48"), "a benchmarking address (2001:2::/48)"},
	{netip.MustParsePrefix("2001:10::/28"), "an ORCHID address (2001:10::/28, deprecated)"},
	{netip.MustParsePrefix("2001:20::/28"), "an ORCHIDv2 address (2001:20::/28)"},
	{netip.MustParsePrefix("2001::/23"), "an IETF protocol assignment (2001::/23)"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address (2001:db8::/32)"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address (2002::/16)"},
	{netip.MustParsePrefix("3fff::/20"), "a documentation address (3fff::/20)"},
	{netip.MustParsePrefix("5f00::/16"), "a segment routing address (5f00::/16)"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address (fec0::/10, deprecated)"},
}

// globalUnicast6 is the only IPv6 block handed out for the public internet.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// Refused reports why addr must not receive webhooks when private networks
// are not allowed: loopback, private, link-local, multicast and unspecified
// addresses (an IPv4-mapped address says what its IPv4 address is), every
// special-purpose block that is not globally reachable, and IPv6 outside
// global unicast. It is empty for a public address.
func Refused(addr netip.Addr) string {
	addr = addr.WithZone("") // a zoned address matches no prefix
	if why := refusedByKind(addr.Unmap()); why != "" {
		return why
	}
	for _, special := range specialPurpose {
		if special.prefix.Contains(addr) {
			return special.why
		}
	}
	if addr.Is6() && !globalUnicast6.Contains(addr) {
		return "an IPv6 address outside global unicast (2000::/3)"
	}
	return ""
}

// refusedByKind names the kinds netip knows.
func refusedByKind(addr netip.Addr) string {
	switch {
	case !addr.IsValid():
		return "not an address"
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsPrivate():
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
