package clientmerge

import "testing"

func TestSnapshotStore_Bounded(t *testing.T) {
	s := newSnapshotStore(3)
	for _, k := range []string{"a", "b", "c"} {
		s.put(k, k)
	}
	if _, _, ok := s.get("a"); !ok { // a becomes most recently used
		t.Fatal("a missing")
	}
	s.put("d", "d") // evicts b, the least recently used
	if s.len() != 3 {
		t.Fatalf("len %d, want 3", s.len())
	}
	if _, _, ok := s.get("b"); ok {
		t.Error("b should have been evicted")
	}
	for _, k := range []string{"a", "c", "d"} {
		if v, _, ok := s.get(k); !ok || v != k {
			t.Errorf("get %s = %v %v", k, v, ok)
		}
	}
	s.put("c", "c2") // replacing keeps the size
	if v, _, _ := s.get("c"); v != "c2" || s.len() != 3 {
		t.Errorf("replace: %v, len %d", v, s.len())
	}
	if _, err := New([]string{"127.0.0.1:1"}, WithMaxSnapshots(0)); err == nil {
		t.Error("WithMaxSnapshots(0) accepted")
	}
}
