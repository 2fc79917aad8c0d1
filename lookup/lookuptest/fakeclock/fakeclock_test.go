package fakeclock

import (
	"slices"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	c := New()
	if !c.Now().Equal(Start) {
		t.Fatalf("new clock reads %v, want %v", c.Now(), Start)
	}
	c.Advance(90 * time.Second)
	if got := c.Now().Sub(Start); got != 90*time.Second {
		t.Fatalf("advanced by %v, want 90s", got)
	}
}

func TestClock_AfterFunc(t *testing.T) {
	c := New()
	var fired []string
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "b") })
	c.AfterFunc(time.Second, func() {
		fired = append(fired, "a")
		c.AfterFunc(0, func() { fired = append(fired, "rearmed") })
	})
	stop := c.AfterFunc(time.Second, func() { fired = append(fired, "stopped") })
	if !stop() {
		t.Fatal("stop before the instant reported false")
	}
	if stop() {
		t.Fatal("second stop reported true")
	}
	c.Advance(999 * time.Millisecond)
	if len(fired) != 0 || c.Pending() != 2 {
		t.Fatalf("before the instant: fired %v, pending %d", fired, c.Pending())
	}
	c.Advance(5 * time.Second)
	if want := []string{"a", "b"}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	c.Advance(0)
	if want := []string{"a", "b", "rearmed"}; !slices.Equal(fired, want) || c.Pending() != 0 {
		t.Fatalf("fired %v (pending %d), want %v", fired, c.Pending(), want)
	}
}
