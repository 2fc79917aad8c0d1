package ctl

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// survey builds a Survey of three lookupds (A, B, C) at second sec: down
// names the lookupds not answering, listed maps "topic producer" (or just
// "producer") to the lookupds listing it, e.g. "AB".
func survey(sec int, down string, listed map[string]string) *Survey {
	return surveyOf(sec, "ABC", down, listed)
}

// surveyOf is survey over the lookupds names, one letter each.
func surveyOf(sec int, names, down string, listed map[string]string) *Survey {
	states := make([]LookupdState, len(names))
	views := make([]lookupdView, len(names))
	for i := range states {
		states[i].Addr = names[i : i+1]
		if strings.Contains(down, names[i:i+1]) {
			states[i].Err = errors.New("refused")
		}
	}
	for key, on := range listed {
		topic, prod, ok := strings.Cut(key, " ")
		if !ok {
			prod, topic = topic, ""
		}
		var port int
		fmt.Sscanf(prod, "p%d", &port)
		for i := range views {
			if !strings.Contains(on, names[i:i+1]) {
				continue
			}
			n := nodeOf(port)
			if topic != "" {
				n.Topics, n.Tombstones = []string{topic}, []bool{false}
			}
			views[i].nodes = append(views[i].nodes, n)
		}
	}
	return buildSurvey(time.Unix(int64(sec), 0), states, views)
}

func TestTracker(t *testing.T) {
	type step struct {
		s    *Survey
		want []string // "kind topic producer/lookupd took", took in seconds
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{name: "baseline is silent", steps: []step{
			{s: survey(0, "", map[string]string{"orders p1": "ABC"})},
			{s: survey(1, "", map[string]string{"orders p1": "ABC"})},
		}},
		{name: "join everywhere at once", steps: []step{
			{s: survey(0, "", nil)},
			{s: survey(1, "", map[string]string{"orders p1": "ABC"}), want: []string{"joined - 127.0.0.1:1 0", "joined orders 127.0.0.1:1 0"}},
		}},
		{name: "join then reach", steps: []step{
			{s: survey(0, "", nil)},
			{s: survey(1, "", map[string]string{"orders p1": "A"}), want: []string{"joined - 127.0.0.1:1 0", "joined orders 127.0.0.1:1 0"}},
			{s: survey(2, "", map[string]string{"orders p1": "AB"})},
			{s: survey(4, "", map[string]string{"orders p1": "ABC"}), want: []string{"reached - 127.0.0.1:1 3", "reached orders 127.0.0.1:1 3"}},
		}},
		{name: "leave from one lookupd after another", steps: []step{
			{s: survey(0, "", map[string]string{"orders p1": "ABC"})},
			{s: survey(1, "", map[string]string{"orders p1": "BC"})},
			{s: survey(3, "", nil), want: []string{"left - 127.0.0.1:1 2", "left orders 127.0.0.1:1 2"}},
		}},
		{name: "a lookupd going down is not a leave", steps: []step{
			{s: survey(0, "", map[string]string{"orders p1": "C"})},
			{s: survey(1, "C", nil), want: []string{"down - C 0"}},
			{s: survey(5, "", map[string]string{"orders p1": "C"}), want: []string{"back - C 4"}},
			{s: survey(6, "", nil), want: []string{"left - 127.0.0.1:1 0", "left orders 127.0.0.1:1 0"}},
		}},
		{name: "down from the start", steps: []step{
			{s: survey(0, "B", nil), want: []string{"down - B 0"}},
		}},
		{name: "a lookupd answering for the first time is taken in silently", steps: []step{
			{s: survey(0, "C", map[string]string{"orders p1": "A"}), want: []string{"down - C 0"}},
			{s: survey(1, "", map[string]string{"orders p1": "AC", "orders p2": "C"}), want: []string{"back - C 1"}},
			{s: survey(2, "", map[string]string{"orders p1": "AC"}), want: []string{"left - 127.0.0.1:2 0", "left orders 127.0.0.1:2 0"}},
		}},
		{name: "reached counts only answering lookupds", steps: []step{
			{s: survey(0, "C", nil), want: []string{"down - C 0"}},
			{s: survey(1, "C", map[string]string{"p1": "A"}), want: []string{"joined - 127.0.0.1:1 0"}},
			{s: survey(2, "C", map[string]string{"p1": "AB"}), want: []string{"reached - 127.0.0.1:1 1"}},
		}},
		{name: "lookupds added and removed", steps: []step{
			{s: surveyOf(0, "AB", "", map[string]string{"orders p1": "AB"})},
			{s: surveyOf(1, "ABC", "", map[string]string{"orders p1": "ABC", "orders p2": "C"}), want: []string{"added - C 0"}},
			{s: surveyOf(2, "BC", "", map[string]string{"orders p1": "BC", "orders p2": "C"}), want: []string{"removed - A 0"}},
			{s: surveyOf(3, "BC", "", map[string]string{"orders p1": "B", "orders p2": "C"})},
			{s: surveyOf(4, "C", "", map[string]string{"orders p2": "C"}), want: []string{"removed - B 0", "left - 127.0.0.1:1 1", "left orders 127.0.0.1:1 1"}},
		}},
		{name: "a lookupd added while down", steps: []step{
			{s: surveyOf(0, "AB", "", nil)},
			{s: surveyOf(1, "ABC", "C", nil), want: []string{"added - C 0", "down - C 0"}},
			{s: surveyOf(2, "ABC", "", map[string]string{"p3": "C"}), want: []string{"back - C 1"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			for i, st := range tc.steps {
				var got []string
				for _, ev := range tr.Update(st.s) {
					topic, who := ev.Topic, ev.Producer
					if topic == "" {
						topic = "-"
					}
					if who == "" {
						who = ev.Lookupd
					}
					got = append(got, fmt.Sprintf("%s %s %s %d", ev.Kind, topic, who, int(ev.Took.Seconds())))
				}
				if strings.Join(got, "; ") != strings.Join(st.want, "; ") {
					t.Errorf("step %d: got %q, want %q", i, got, st.want)
				}
			}
		})
	}
}
