package producer

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func set(entries ...string) regSet {
	s := make(regSet)
	for _, e := range entries {
		t, ch, _ := strings.Cut(e, "/")
		s.add(t, ch)
	}
	return s
}

func opsText(ops []op) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.String()
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name    string
		sent    regSet
		desired regSet
		full    bool
		want    []string
	}{
		{name: "nothing", sent: set(), desired: set(), want: []string{}},
		{name: "first topic", sent: set(), desired: set("t"), want: []string{"REGISTER t"}},
		{name: "topic with channels sends only channels", sent: set(), desired: set("t/a", "t/b", "t"),
			want: []string{"REGISTER t a", "REGISTER t b"}},
		{name: "no change", sent: set("t/a", "u"), desired: set("t/a", "u"), want: []string{}},
		{name: "full resend", sent: set("t/a", "u"), desired: set("t/a", "u"), full: true,
			want: []string{"REGISTER t a", "REGISTER u"}},
		{name: "topic removed with one command", sent: set("t/a", "t/b"), desired: set(),
			want: []string{"UNREGISTER t"}},
		{name: "channel removed keeps topic", sent: set("t/a", "t/b"), desired: set("t/b"),
			want: []string{"UNREGISTER t a"}},
		{name: "last channel removed leaves topic registered", sent: set("t/a"), desired: set("t"),
			want: []string{"UNREGISTER t a"}},
		{name: "topic gains a channel", sent: set("t"), desired: set("t/a"), want: []string{"REGISTER t a"}},
		{name: "suspend withdraws every topic", sent: set("t/a", "u", "v/x"), desired: set(), full: true,
			want: []string{"UNREGISTER t", "UNREGISTER u", "UNREGISTER v"}},
		{name: "mixed, unregisters first", sent: set("a", "b/x"), desired: set("b/y", "c"),
			want: []string{"UNREGISTER a", "UNREGISTER b x", "REGISTER b y", "REGISTER c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := opsText(plan(tc.sent, tc.desired, tc.full))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("plan = %q, want %q", got, tc.want)
			}
			// Applying the plan to sent must yield desired, as a lookupd would.
			after := tc.sent.clone()
			for _, o := range plan(tc.sent, tc.desired, tc.full) {
				after.apply(o)
			}
			if !slices.Equal(after.list(), tc.desired.list()) {
				t.Fatalf("after plan: %v, want %v", after.list(), tc.desired.list())
			}
		})
	}
}

func TestRegSet(t *testing.T) {
	s := make(regSet)
	if !s.add("t", "a") || s.add("t", "a") || s.add("t", "") {
		t.Fatal("add reported wrong changes")
	}
	if !s.add("u", "") || s.size() != 2 {
		t.Fatalf("size = %d, want 2", s.size())
	}
	if s.remove("t", "zz") || !s.remove("t", "a") {
		t.Fatal("remove reported wrong changes")
	}
	want := []Registration{{Topic: "t"}, {Topic: "u"}}
	if got := s.list(); !slices.Equal(got, want) {
		t.Fatalf("list = %v, want %v", got, want)
	}
	if !s.remove("u", "") || s.remove("u", "") {
		t.Fatal("topic remove reported wrong changes")
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for n := range 12 {
		want := min(lo<<n, hi)
		for range 50 {
			d := backoff(lo, hi, n)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", n, d, want/2, want)
			}
		}
	}
	// A huge attempt count must not overflow.
	if d := backoff(lo, hi, 1000); d < hi/2 || d > hi {
		t.Fatalf("backoff(1000) = %s", d)
	}
}
