package auth

import (
	"log/slog"
	"sync/atomic"
)

// Store is the token table of a running daemon, loaded from a file and
// replaced on Reload. It is safe for concurrent use: Authenticate reads
// the current table without locking while Reload swaps it. A nil *Store
// refuses every token.
type Store struct {
	path string
	log  *slog.Logger
	cur  atomic.Pointer[Table]
}

// Open loads the token file at path. It fails if the file cannot be read
// or is invalid; a file readable by group or others loads with a warning
// in log.
func Open(path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Store{path: path, log: log.With("component", "auth")}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// NewStatic returns a Store over t that Reload leaves unchanged; for
// embedding and tests.
func NewStatic(t *Table) *Store {
	s := &Store{log: slog.Default()}
	s.cur.Store(t)
	return s
}

// Path returns the file the Store loads, "" for a static one.
func (s *Store) Path() string { return s.path }

// Reload reads the file again and, if it is valid, makes it the current
// table; otherwise the current table stays and the error says why (it
// never contains a token). Callers log the error. Concurrent Reloads are
// safe; the last to finish wins.
func (s *Store) Reload() error {
	if s.path == "" {
		return nil
	}
	t, warn, err := LoadFile(s.path)
	if err != nil {
		return err
	}
	if warn != "" {
		s.log.Warn("auth file readable by others", "path", s.path, "problem", warn)
	}
	s.cur.Store(t)
	s.log.Info("auth file loaded", "path", s.path, "tokens", t.Len())
	return nil
}

// Authenticate returns the grant of token in the current table (see
// Table.Authenticate).
func (s *Store) Authenticate(token string) (Grant, bool) {
	if s == nil {
		return Grant{}, false
	}
	return s.cur.Load().Authenticate(token)
}

// Len returns the number of tokens in the current table.
func (s *Store) Len() int {
	if s == nil {
		return 0
	}
	return s.cur.Load().Len()
}
