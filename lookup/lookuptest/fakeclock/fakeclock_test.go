package fakeclock

import (
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
