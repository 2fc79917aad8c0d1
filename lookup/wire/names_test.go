package wire_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/lookupd/lookupd/lookup/wire"
)

// nsqNameRule is nsqlookupd v1.3.0's name rule, transcribed: 1 to 64 bytes
// matching this expression. The tests use it as an independent reference.
var nsqNameRule = regexp.MustCompile(`^[.a-zA-Z0-9_-]+(#ephemeral)?$`)

func nsqValidName(name string) bool {
	return len(name) >= 1 && len(name) <= 64 && nsqNameRule.MatchString(name)
}

func TestIsValidName(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  bool
	}{
		{name: "empty", input: "", want: false},
		{name: "one letter", input: "a", want: true},
		{name: "all allowed characters", input: "azAZ09._-", want: true},
		{name: "only dots", input: "..", want: true},
		{name: "only dash", input: "-", want: true},
		{name: "64 bytes", input: strings.Repeat("a", 64), want: true},
		{name: "65 bytes", input: strings.Repeat("a", 65), want: false},
		{name: "ephemeral", input: "a#ephemeral", want: true},
		{name: "ephemeral alone", input: "#ephemeral", want: false},
		{name: "ephemeral 64 bytes", input: strings.Repeat("a", 54) + "#ephemeral", want: true},
		{name: "ephemeral 65 bytes", input: strings.Repeat("a", 55) + "#ephemeral", want: false},
		{name: "ephemeral twice", input: "a#ephemeral#ephemeral", want: false},
		{name: "ephemeral upper case", input: "a#EPHEMERAL", want: false},
		{name: "ephemeral with tail", input: "a#ephemeralx", want: false},
		{name: "ephemeral prefix only", input: "a#ephemera", want: false},
		{name: "hash alone", input: "#", want: false},
		{name: "hash inside", input: "a#b", want: false},
		{name: "space", input: "a b", want: false},
		{name: "bang", input: "x!", want: false},
		{name: "slash", input: "a/b", want: false},
		{name: "colon", input: "a:b", want: false},
		{name: "star", input: "*", want: false},
		{name: "newline", input: "a\n", want: false},
		{name: "carriage return", input: "a\r", want: false},
		{name: "nul", input: "a\x00", want: false},
		{name: "non ascii", input: "caf\u00e9", want: false},
		{name: "invalid utf8", input: "a\xff", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wire.IsValidTopicName(tc.input); got != tc.want {
				t.Errorf("IsValidTopicName(%q) = %v, want %v", tc.input, got, tc.want)
			}
			if got := wire.IsValidChannelName(tc.input); got != tc.want {
				t.Errorf("IsValidChannelName(%q) = %v, want %v", tc.input, got, tc.want)
			}
			if ref := nsqValidName(tc.input); ref != tc.want {
				t.Errorf("table disagrees with nsqlookupd's rule for %q: rule says %v", tc.input, ref)
			}
		})
	}
}

// TestIsValidName_Exhaustive compares every name of up to two bytes, and
// every one- or two-byte prefix of "#ephemeral", with nsqlookupd's rule.
func TestIsValidName_Exhaustive(t *testing.T) {
	check := func(s string) {
		if got, want := wire.IsValidTopicName(s), nsqValidName(s); got != want {
			t.Fatalf("IsValidTopicName(%q) = %v, nsqlookupd says %v", s, got, want)
		}
	}
	check("")
	for a := range 256 {
		check(string([]byte{byte(a)}))
		check(string([]byte{byte(a)}) + wire.EphemeralSuffix)
		for b := range 256 {
			check(string([]byte{byte(a), byte(b)}))
		}
	}
	for n := range 66 {
		check(strings.Repeat("z", n))
		check(strings.Repeat("z", n) + wire.EphemeralSuffix)
	}
}

func TestIsEphemeral(t *testing.T) {
	tests := []struct {
		input string
		want  bool
	}{
		{input: "a#ephemeral", want: true},
		{input: "#ephemeral", want: true},
		{input: "a", want: false},
		{input: "a#ephemeralx", want: false},
		{input: "", want: false},
	}
	for _, tc := range tests {
		if got := wire.IsEphemeral(tc.input); got != tc.want {
			t.Errorf("IsEphemeral(%q) = %v, want %v", tc.input, got, tc.want)
		}
	}
}
