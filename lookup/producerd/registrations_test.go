package producerd_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/producerd"
	"github.com/lookupd/lookupd/lookup/wire"
)

func regs(specs ...string) []producer.Registration {
	out, err := producerd.ParseRegistrations(specs)
	if err != nil {
		panic(err)
	}
	return out
}

func TestParseRegistration(t *testing.T) {
	tests := []struct {
		in      string
		want    producer.Registration
		wantErr error
	}{
		{in: "t", want: producer.Registration{Topic: "t"}},
		{in: "t/c", want: producer.Registration{Topic: "t", Channel: "c"}},
		{in: "t#ephemeral/c#ephemeral", want: producer.Registration{Topic: "t#ephemeral", Channel: "c#ephemeral"}},
		{in: "", wantErr: producer.ErrBadTopic},
		{in: "/c", wantErr: producer.ErrBadTopic},
		{in: "t/", wantErr: producer.ErrBadChannel},
		{in: "t/c/d", wantErr: producer.ErrBadChannel},
		{in: "t c", wantErr: producer.ErrBadTopic},
		{in: "t/c d", wantErr: producer.ErrBadChannel},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := producerd.ParseRegistration(tc.in)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("ParseRegistration(%q) = %v, %v; want %v, %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
	if _, err := producerd.ParseRegistrations([]string{"ok", "bad topic", "ok/bad chan"}); !errors.Is(err, producer.ErrBadTopic) || !errors.Is(err, producer.ErrBadChannel) {
		t.Fatalf("ParseRegistrations did not report both errors: %v", err)
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name           string
		old, new       []producer.Registration
		wantUnregister []producer.Registration
		wantRegister   []producer.Registration
		// runtime registrations made outside the config, and the client
		// state expected after applying the diff on top of them.
		runtime   []producer.Registration
		wantState []producer.Registration
	}{
		{name: "unchanged", old: regs("a", "b/x"), new: regs("b/x", "a"),
			wantState: regs("a", "b/x")},
		{name: "added", old: regs("a"), new: regs("a", "b/x", "c"),
			wantRegister: regs("b/x", "c"), wantState: regs("a", "b/x", "c")},
		{name: "topic removed", old: regs("a", "b/x", "b/y"), new: regs("a"),
			wantUnregister: regs("b"), wantState: regs("a")},
		{name: "channel removed, topic kept", old: regs("b/x", "b/y"), new: regs("b/y"),
			wantUnregister: regs("b/x"), wantState: regs("b/y")},
		{name: "channel replaced by bare topic", old: regs("b/x"), new: regs("b"),
			wantUnregister: regs("b/x"), wantRegister: regs("b"), wantState: regs("b")},
		{name: "bare topic gains channel", old: regs("b"), new: regs("b/x"),
			wantRegister: regs("b/x"), wantState: regs("b/x")},
		{name: "runtime channel of a kept topic stays", old: regs("b/x"), new: regs("b/y"),
			runtime: regs("b/z"), wantUnregister: regs("b/x"), wantRegister: regs("b/y"), wantState: regs("b/y", "b/z")},
		{name: "runtime channel of a dropped topic goes", old: regs("b/x"), new: regs("c"),
			runtime: regs("b/z", "d"), wantUnregister: regs("b"), wantRegister: regs("c"), wantState: regs("c", "d")},
		{name: "everything removed", old: regs("a", "b/x"), new: nil,
			wantUnregister: regs("a", "b"), wantState: []producer.Registration{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			unreg, reg := producerd.Diff(tc.old, tc.new)
			if !slices.Equal(unreg, tc.wantUnregister) || !slices.Equal(reg, tc.wantRegister) {
				t.Fatalf("Diff = unregister %v, register %v; want %v, %v", unreg, reg, tc.wantUnregister, tc.wantRegister)
			}
			c, err := producer.New(producer.Config{Identity: wire.ProducerInfo{TCPPort: 1, HTTPPort: 2}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			if err := producerd.Apply(c, nil, append(slices.Clone(tc.old), tc.runtime...)); err != nil {
				t.Fatal(err)
			}
			if err := producerd.Apply(c, unreg, reg); err != nil {
				t.Fatal(err)
			}
			if got := c.State(); !slices.Equal(got, tc.wantState) {
				t.Fatalf("state after apply = %v, want %v", got, tc.wantState)
			}
		})
	}
}

func TestApply_ReportsErrors(t *testing.T) {
	c, err := producer.New(producer.Config{Identity: wire.ProducerInfo{TCPPort: 1, HTTPPort: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	err = producerd.Apply(c, regs("a"), regs("b"))
	if !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("Apply on closed client = %v", err)
	}
}
