package registry

// chanSet is the set of channel names one producer holds under one topic. A
// producer usually has a handful, so it starts as a slice and becomes a map
// only when it grows, which keeps both memory and the worst case small.
type chanSet struct {
	small []string
	big   map[string]struct{}
}

const chanSetSmall = 16

func (s *chanSet) has(name string) bool {
	if s.big != nil {
		_, ok := s.big[name]
		return ok
	}
	for _, c := range s.small {
		if c == name {
			return true
		}
	}
	return false
}

func (s *chanSet) add(name string) {
	if s.big != nil {
		s.big[name] = struct{}{}
		return
	}
	if len(s.small) < chanSetSmall {
		s.small = append(s.small, name)
		return
	}
	s.big = make(map[string]struct{}, 2*chanSetSmall)
	for _, c := range s.small {
		s.big[c] = struct{}{}
	}
	s.big[name] = struct{}{}
	s.small = nil
}

func (s *chanSet) remove(name string) {
	if s.big != nil {
		delete(s.big, name)
		return
	}
	for i, c := range s.small {
		if c == name {
			last := len(s.small) - 1
			s.small[i] = s.small[last]
			s.small[last] = ""
			s.small = s.small[:last]
			return
		}
	}
}

func (s *chanSet) len() int {
	if s.big != nil {
		return len(s.big)
	}
	return len(s.small)
}

// list returns a copy of the names, safe to iterate while removing.
func (s *chanSet) list() []string {
	if s.big != nil {
		out := make([]string, 0, len(s.big))
		for c := range s.big {
			out = append(out, c)
		}
		return out
	}
	return append([]string(nil), s.small...)
}
