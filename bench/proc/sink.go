package proc

import (
	"bytes"
	"os"
	"strings"
	"sync"
)

// How much of a child's output a sink keeps in memory.
const (
	sinkHeadLines = 200      // the first lines, searched by WaitLine
	sinkTailLines = 100      // the last lines, for Tail
	sinkAlarms    = 10       // alarm lines, for Alarms
	sinkMaxLine   = 64 << 10 // a longer line is cut here
)

// sink takes a child's output: it appends it to an optional file and keeps
// the first lines, the last lines and alarm lines. exec calls Write from
// one goroutine; the readers run on others, so mu guards the rest.
type sink struct {
	f *os.File // nil: memory only

	mu      sync.Mutex
	partial []byte
	head    []string
	ring    []string
	ringPos int
	alarms  []string
	notify  chan struct{} // closed and replaced on every new line
}

func newSink(f *os.File) *sink {
	return &sink{f: f, notify: make(chan struct{})}
}

// Write implements io.Writer. A failed write to the file is not the
// child's problem: the output stays in memory.
func (s *sink) Write(b []byte) (int, error) {
	if s.f != nil {
		_, _ = s.f.Write(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, b...)
	added := false
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.addLine(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
		added = true
	}
	if len(s.partial) > sinkMaxLine {
		s.addLine(string(s.partial))
		s.partial = s.partial[:0]
		added = true
	}
	if added {
		close(s.notify)
		s.notify = make(chan struct{})
	}
	return len(b), nil
}

func (s *sink) addLine(l string) {
	if len(s.head) < sinkHeadLines {
		s.head = append(s.head, l)
	}
	if len(s.ring) < sinkTailLines {
		s.ring = append(s.ring, l)
	} else {
		s.ring[s.ringPos] = l
		s.ringPos = (s.ringPos + 1) % sinkTailLines
	}
	if len(s.alarms) < sinkAlarms && (strings.Contains(l, "panic:") || strings.Contains(l, "fatal error:") || strings.Contains(l, "DATA RACE")) {
		s.alarms = append(s.alarms, l)
	}
}

// find returns the first head line containing substr ("" if none) and the
// channel closed on the next new line.
func (s *sink) find(substr string) (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.head {
		if strings.Contains(l, substr) {
			return l, s.notify
		}
	}
	return "", s.notify
}

func (s *sink) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := append(append([]string(nil), s.ring[s.ringPos:]...), s.ring[:s.ringPos]...)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *sink) alarmLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.alarms...)
}
