package registry_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/lookupd/lookupd/lookup/registry"
)

// Past MaxTopics and MaxChannelsPerTopic, CreateTopic and CreateChannel
// refuse what is new, change nothing (not even a version), and leave
// producers' registrations alone; Register is never refused by the caps.
func TestDB_CreateCaps(t *testing.T) {
	changes := 0
	db := registry.New(registry.Options{MaxTopics: 2, MaxChannelsPerTopic: 2, OnChange: func(registry.Change) { changes++ }})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	created := func(added bool, err error) {
		t.Helper()
		if err != nil || !added {
			t.Fatalf("create: added %v, err %v; want a new entry", added, err)
		}
	}
	existed := func(added bool, err error) {
		t.Helper()
		if err != nil || added {
			t.Fatalf("create: added %v, err %v; want nothing new and no error", added, err)
		}
	}
	refused := func(added bool, err, want error) {
		t.Helper()
		if added || !errors.Is(err, want) {
			t.Fatalf("create: added %v, err %v; want %v", added, err, want)
		}
	}
	must(db.Identify("p1", infoFor("p1")))
	_, err := db.Register("p1", "orders", "c1")
	must(err)
	created(db.CreateTopic("made"))

	v, changesBefore := db.Version(), changes
	a, err := db.CreateTopic("third")
	refused(a, err, registry.ErrTooManyTopics)
	a, err = db.CreateChannel("third", "c")
	refused(a, err, registry.ErrTooManyTopics)
	existed(db.CreateTopic("made"))   // not new: allowed at the cap
	existed(db.CreateTopic("orders")) // registered by a producer: not new
	created(db.CreateChannel("made", "a"))
	created(db.CreateChannel("made", "b"))
	a, err = db.CreateChannel("made", "c")
	refused(a, err, registry.ErrTooManyChannels)
	existed(db.CreateChannel("made", "a")) // not new
	created(db.CreateChannel("orders", "c2"))
	a, err = db.CreateChannel("orders", "c3")
	refused(a, err, registry.ErrTooManyChannels)
	if topics, _ := db.Topics(); !slices.Equal(topics, []string{"made", "orders"}) {
		t.Fatalf("topics %v", topics)
	}
	if chans, _ := db.Channels("made"); !slices.Equal(chans, []string{"a", "b"}) {
		t.Fatalf("channels of made %v", chans)
	}
	if v == db.Version() && changes == changesBefore {
		t.Fatal("the allowed creates changed nothing")
	}

	// A refusal alone changes nothing.
	v, changesBefore = db.Version(), changes
	a, err = db.CreateTopic("fourth")
	refused(a, err, registry.ErrTooManyTopics)
	a, err = db.CreateChannel("made", "z")
	refused(a, err, registry.ErrTooManyChannels)
	if db.Version() != v || changes != changesBefore {
		t.Fatal("a refused create changed the registry")
	}

	// Producers are never refused by the caps.
	_, err = db.Register("p1", "payments", "c1")
	must(err)
	_, err = db.Register("p1", "orders", "c9")
	must(err)
	if res, ok := db.Lookup("payments"); !ok || len(res.Producers) != 1 {
		t.Fatalf("lookup payments: %+v %v", res, ok)
	}

	// Deleting makes room again.
	db.DeleteTopic("made")
	db.DeleteTopic("payments")
	created(db.CreateTopic("third"))
}
