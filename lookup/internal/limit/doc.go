// Package limit holds the small pieces that lookupd's front doors share to
// bound what one client can take: the source key of a remote address
// (Source), a count of holders per source with a cap (PerSource), and a
// log limiter (Every) so that a flood of refusals costs one log line per
// interval rather than one per refusal.
//
// It imports nothing from this project.
package limit
