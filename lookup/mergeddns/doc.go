// Package mergeddns serves the merged view of every lookupd over DNS:
// lookupd's DNS front end (lookup/dnsserver) answering from clientmerge
// instead of one registry. It is lookupctl dns (Serve is the Hooks.ServeDNS
// that the lookupctl binary hands to clientmerge/ctl), and any program can
// embed it with NewServer.
//
// It lives on the lookup side because clientmerge and clientmerge/ctl
// import nothing from lookup: it imports lookup/dnsserver, clientmerge, and
// clientmerge/ctl for the dns command's configuration type.
package mergeddns
