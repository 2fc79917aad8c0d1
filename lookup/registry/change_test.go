package registry_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/lookupd/lookupd/lookup/lookuptest/fakeclock"
	"github.com/lookupd/lookupd/lookup/registry"
)

// TestDB_OnChange checks that every mutation reports the topics whose
// answers it may have changed and whether the topic list changed, and
// that mutations changing nothing report nothing.
func TestDB_OnChange(t *testing.T) {
	clk := fakeclock.New()
	var mu sync.Mutex
	var got []registry.Change
	db := registry.New(registry.Options{
		InactiveTimeout:   testInactive,
		TombstoneLifetime: testTombstone,
		Now:               clk.Now,
		OnChange: func(c registry.Change) {
			mu.Lock()
			got = append(got, c)
			mu.Unlock()
		},
	})
	step := func(name string, f func(), want ...registry.Change) {
		t.Helper()
		mu.Lock()
		got = nil
		mu.Unlock()
		f()
		mu.Lock()
		defer mu.Unlock()
		for i := range got {
			slices.Sort(got[i].Topics)
			got[i].Topics = slices.Compact(got[i].Topics)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: reported %+v, want %+v", name, got, want)
		}
		for i := range want {
			if !slices.Equal(got[i].Topics, want[i].Topics) || got[i].TopicList != want[i].TopicList {
				t.Fatalf("%s: reported %+v, want %+v", name, got, want)
			}
		}
	}
	topics := func(list bool, names ...string) registry.Change {
		return registry.Change{Topics: names, TopicList: list}
	}
	must := func(_ bool, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}

	step("identify", func() { db.Identify("p", infoFor("p")) }, topics(false))
	step("register a channel", func() { must(db.Register("p", "a", "c")) }, topics(true, "a"))
	step("register it again", func() { must(db.Register("p", "a", "c")) })
	step("register b", func() { must(db.Register("p", "b", "")) }, topics(true, "b"))
	step("touch while active", func() { db.Touch("p") })
	step("unregister a channel", func() { must(db.Unregister("p", "a", "c")) }, topics(false, "a"))
	step("unregister what is not held", func() { must(db.Unregister("p", "x", "")) })
	step("tombstone", func() { db.Tombstone("b", nodeOf("p")) }, topics(false, "b"))
	step("tombstone another node", func() { db.Tombstone("b", "elsewhere:1") })
	step("create a topic", func() { db.CreateTopic("d") }, topics(true, "d"))
	step("create it again", func() { db.CreateTopic("d") })
	step("create a channel", func() { db.CreateChannel("d", "x") }, topics(false, "d"))
	step("delete a channel", func() { db.DeleteChannel("d", "x") }, topics(false, "d"))
	step("delete a missing channel", func() { db.DeleteChannel("d", "x") })
	step("delete a topic", func() { db.DeleteTopic("d") }, topics(true, "d"))
	clk.Advance(testInactive + 1)
	step("touch after inactivity", func() { db.Touch("p") }, topics(false, "a", "b"))
	step("remove the producer", func() { db.RemoveProducer("p") }, topics(false, "a", "b"))
	step("remove it again", func() { db.RemoveProducer("p") })

	step("ephemeral topic left by its last producer", func() {
		db.Identify("q", infoFor("q"))
		must(db.Register("q", "e#ephemeral", ""))
	}, topics(false), topics(true, "e#ephemeral"))
	step("disconnect", func() { db.RemoveProducer("q") }, topics(true, "e#ephemeral"))
}
