package dnsserver

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/lookupd/lookupd/lookup/wire"
)

// Reserved labels under the zone (see the package documentation).
const (
	labelTCP       = "_tcp"
	labelEphemeral = "ephemeral"
	labelIP        = "ip"
)

// nameKind says what a name inside the zone stands for.
type nameKind int

const (
	nameNone nameKind = iota // nothing: NXDOMAIN
	nameApex                 // the zone itself
	nameSRV                  // _<topic>._tcp
	nameHost                 // <topic>
	nameAddr                 // <address>.ip
)

// name is a parsed query name.
type name struct {
	kind  nameKind
	topic string     // nameSRV, nameHost
	addr  netip.Addr // nameAddr
}

// inZone reports whether qname (a fully qualified name in presentation
// format) is zone or below it; zone is lower case and fully qualified. On
// success rel is the part of qname before the zone, without the dot that
// separates them ("" for the apex).
func inZone(qname, zone string) (rel string, ok bool) {
	if zone == "." {
		if !strings.HasSuffix(qname, ".") {
			return "", false
		}
		return qname[:len(qname)-1], true
	}
	if len(qname) < len(zone) || !strings.EqualFold(qname[len(qname)-len(zone):], zone) {
		return "", false
	}
	if len(qname) == len(zone) {
		return "", true
	}
	rel = qname[:len(qname)-len(zone)]
	// The zone must start at a label boundary, and that boundary must not
	// be an escaped dot.
	if !strings.HasSuffix(rel, ".") || strings.HasSuffix(rel, `\.`) {
		return "", false
	}
	return rel[:len(rel)-1], true
}

// cutSuffixFold removes suffix from s, ignoring ASCII case.
func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) < len(suffix) || !strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s, false
	}
	return s[:len(s)-len(suffix)], true
}

// parseName maps the part of a query name before the zone to what it
// stands for. Anything that is not a valid topic, or a canonical address
// label, is nameNone.
func parseName(rel string) name {
	if rel == "" {
		return name{kind: nameApex}
	}
	if base, ok := cutSuffixFold(rel, "."+labelTCP+"."+labelEphemeral); ok {
		return srvName(base, wire.EphemeralSuffix)
	}
	if base, ok := cutSuffixFold(rel, "."+labelTCP); ok {
		return srvName(base, "")
	}
	if label, ok := cutSuffixFold(rel, "."+labelIP); ok {
		if a, ok := parseAddrLabel(label); ok {
			return name{kind: nameAddr, addr: a}
		}
		return name{}
	}
	if base, ok := cutSuffixFold(rel, "."+labelEphemeral); ok {
		return topicName(nameHost, base, wire.EphemeralSuffix)
	}
	return topicName(nameHost, rel, "")
}

func srvName(base, suffix string) name {
	topic, ok := strings.CutPrefix(base, "_")
	if !ok {
		return name{}
	}
	return topicName(nameSRV, topic, suffix)
}

func topicName(kind nameKind, base, suffix string) name {
	if strings.Contains(base, "#") {
		return name{} // only the ephemeral sub-domain stands for '#'
	}
	topic := base + suffix
	if !wire.IsValidTopicName(topic) || !validLabels(base) {
		return name{}
	}
	return name{kind: kind, topic: topic}
}

// validLabels rejects empty labels: a topic like "a..b" or ".a" cannot be
// written as a DNS name, and a query for one means something else.
func validLabels(s string) bool {
	return s != "" && !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".") && !strings.Contains(s, "..")
}

// SRVName returns the name whose SRV records list topic's producers under
// zone (a fully qualified name), and false if the topic has none.
func SRVName(topic, zone string) (string, bool) { return topicOwner(nameSRV, topic, zone) }

// HostName returns the name whose A/AAAA records list the addresses of
// topic's producers under zone (a fully qualified name), and false if the
// topic has none.
func HostName(topic, zone string) (string, bool) { return topicOwner(nameHost, topic, zone) }

// topicOwner writes the name of kind for topic and checks that it parses
// back to the same topic, which fails for the topics without such a name.
func topicOwner(kind nameKind, topic, zone string) (string, bool) {
	zone = canonicalZone(zone)
	base, eph := strings.CutSuffix(topic, wire.EphemeralSuffix)
	n := base + "."
	if kind == nameSRV {
		n = "_" + n + labelTCP + "."
	}
	if eph {
		n += labelEphemeral + "."
	}
	n = joinZone(n, zone)
	if parseBack(n, zone) != (name{kind: kind, topic: topic}) {
		return "", false
	}
	return n, true
}

// canonicalZone lower-cases zone and makes it fully qualified.
func canonicalZone(zone string) string { return dns.CanonicalName(zone) }

// isDomainName reports whether n is a valid name in presentation format.
func isDomainName(n string) bool {
	_, ok := dns.IsDomainName(n)
	return ok
}

func joinZone(prefix, zone string) string {
	if zone == "." {
		return prefix
	}
	return prefix + zone
}

// parseBack parses a name built by this package, checking that it is a
// valid domain name with labels of at most 63 bytes.
func parseBack(n, zone string) name {
	if !isDomainName(n) {
		return name{}
	}
	rel, ok := inZone(n, zone)
	if !ok {
		return name{}
	}
	return parseName(rel)
}

// addrLabel writes a as one DNS label: IPv4 with dashes for dots, IPv6 in
// full with dashes for colons. It returns false for an address with a zone.
func addrLabel(a netip.Addr) (string, bool) {
	a = a.Unmap()
	switch {
	case a.Zone() != "":
		return "", false
	case a.Is4():
		return strings.ReplaceAll(a.String(), ".", "-"), true
	case a.Is6():
		return strings.ReplaceAll(a.StringExpanded(), ":", "-"), true
	}
	return "", false
}

// parseAddrLabel is the inverse of addrLabel. Only the canonical form is
// accepted, so each address has one name.
func parseAddrLabel(label string) (netip.Addr, bool) {
	var s string
	switch strings.Count(label, "-") {
	case 3:
		s = strings.ReplaceAll(label, "-", ".")
	case 7:
		s = strings.ReplaceAll(label, "-", ":")
	default:
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	if back, ok := addrLabel(a); !ok || back != strings.ToLower(label) || a.Is4In6() {
		return netip.Addr{}, false
	}
	return a, true
}

// AddrName returns the name under zone whose A or AAAA record is a, the
// SRV target this server gives a producer whose broadcast address is a,
// and false for an address with a zone.
func AddrName(a netip.Addr, zone string) (string, bool) {
	zone = canonicalZone(zone)
	label, ok := addrLabel(a)
	if !ok {
		return "", false
	}
	return joinZone(label+"."+labelIP+".", zone), true
}
