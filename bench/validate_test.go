package bench

import (
	"testing"
	"time"
)

// TestValidate_SlicedLoads checks the bounds the DNS and security
// benchmarks share, and the one each adds, on both configs.
func TestValidate_SlicedLoads(t *testing.T) {
	tests := []struct {
		name             string
		dns              func(*DNSConfig)
		sec              func(*SecurityConfig)
		wantDNS, wantSec string // "" for valid
	}{
		{name: "defaults", dns: func(*DNSConfig) {}, sec: func(*SecurityConfig) {}},
		{name: "no producers", dns: func(c *DNSConfig) { c.Producers = 0 }, sec: func(c *SecurityConfig) { c.Producers = 0 },
			wantDNS: "producers, topics and share must be positive", wantSec: "producers, topics and share must be positive"},
		{name: "no share", dns: func(c *DNSConfig) { c.Share = 0 }, sec: func(c *SecurityConfig) { c.Share = 0 },
			wantDNS: "producers, topics and share must be positive", wantSec: "producers, topics and share must be positive"},
		{name: "too many producers", dns: func(c *DNSConfig) { c.Producers = 10001 }, sec: func(c *SecurityConfig) { c.Producers = 10001 },
			wantDNS: "at most 10,000 producers", wantSec: "at most 10,000 producers"},
		{name: "too many clients", dns: func(c *DNSConfig) { c.Clients = 1025 }, sec: func(c *SecurityConfig) { c.Clients = 1025 },
			wantDNS: "clients must be in 1..1024", wantSec: "clients must be in 1..1024"},
		{name: "long duration", dns: func(c *DNSConfig) { c.Duration = 11 * time.Minute }, sec: func(c *SecurityConfig) { c.Duration = 11 * time.Minute },
			wantDNS: "duration must be in (0, 10m]", wantSec: "duration must be in (0, 10m]"},
		{name: "no slices", dns: func(c *DNSConfig) { c.Slices = 0 }, sec: func(c *SecurityConfig) { c.Slices = 0 },
			wantDNS: "slices must be in 1..100", wantSec: "slices must be in 1..100"},
		{name: "own bounds", dns: func(c *DNSConfig) { c.Lookupds = 17 }, sec: func(c *SecurityConfig) { c.MinRatio = 1.5 },
			wantDNS: "lookupds must be in 1..16", wantSec: "min ratio must be in 0..1"},
		{name: "own bound checked first", dns: func(c *DNSConfig) { c.Lookupds, c.Slices = 0, 0 }, sec: func(c *SecurityConfig) { c.MinRatio, c.Slices = -1, 0 },
			wantDNS: "lookupds must be in 1..16", wantSec: "slices must be in 1..100"},
	}
	check := func(t *testing.T, kind string, err error, want string) {
		t.Helper()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v, want valid", kind, err)
		case want != "" && (err == nil || err.Error() != want):
			t.Errorf("%s: %v, want %q", kind, err, want)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DefaultDNSConfig()
			tt.dns(&d)
			check(t, "dns", d.Validate(), tt.wantDNS)
			s := DefaultSecurityConfig()
			tt.sec(&s)
			check(t, "security", s.Validate(), tt.wantSec)
		})
	}
}
