package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"path"
	"strings"
)

// Role is what a token may do. A token carries exactly one role.
type Role string

// The roles. Admin includes Read; Register is separate from both, so a
// producer's token cannot change or read the registry over HTTP, and an
// operator's token cannot announce producers.
const (
	// RoleRead may read the HTTP API (needed only with --auth-reads).
	RoleRead Role = "read"
	// RoleAdmin may read and change the registry over HTTP (every POST).
	RoleAdmin Role = "admin"
	// RoleRegister may REGISTER producers over TCP, limited to its topics.
	RoleRegister Role = "register"
)

// MinTokenLength is the shortest token accepted in a file. A token is a
// password sent on every request; a short one can be guessed.
const MinTokenLength = 16

// Grant is what an accepted token allows. The zero Grant allows nothing.
// It is a value: copies are independent and safe to share.
type Grant struct {
	// Role is the token's role; empty in the zero Grant.
	Role Role
	// Index is the token's position in the file, for logs ("tokens[Index]").
	Index int
	// topics are the globs of a register token; empty means every topic.
	topics []string
}

// CanRead reports whether the grant may read the HTTP API.
func (g Grant) CanRead() bool { return g.Role == RoleRead || g.Role == RoleAdmin }

// CanAdmin reports whether the grant may change the registry over HTTP.
func (g Grant) CanAdmin() bool { return g.Role == RoleAdmin }

// CanRegister reports whether the grant may REGISTER topic over TCP: the
// role is register and topic matches one of its globs, or it has none.
// Globs use path.Match syntax (*, ?, [a-z]) against the whole name,
// "#ephemeral" suffix included.
func (g Grant) CanRegister(topic string) bool {
	if g.Role != RoleRegister {
		return false
	}
	if len(g.topics) == 0 {
		return true
	}
	for _, p := range g.topics {
		if ok, _ := path.Match(p, topic); ok { // patterns were checked on load
			return true
		}
	}
	return false
}

// Label names the grant in logs: "tokens[2] (register)". It never
// includes the token.
func (g Grant) Label() string {
	if g.Role == "" {
		return "none"
	}
	return fmt.Sprintf("tokens[%d] (%s)", g.Index, g.Role)
}

// entry is one parsed token.
type entry struct {
	digest [sha256.Size]byte
	grant  Grant
}

// Table is one parsed token file. It is immutable and safe for concurrent
// use.
type Table struct {
	entries []entry
}

// Len returns the number of tokens.
func (t *Table) Len() int { return len(t.entries) }

// Authenticate returns the grant of token, or false if no entry has it.
// It compares the token's SHA-256 digest with every entry's, without
// stopping at a match, in constant time per entry.
func (t *Table) Authenticate(token string) (Grant, bool) {
	if t == nil || token == "" {
		return Grant{}, false
	}
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		eq := subtle.ConstantTimeCompare(d[:], t.entries[i].digest[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return Grant{}, false
	}
	return t.entries[found].grant, true
}

// BearerToken returns the token of an "Authorization: Bearer TOKEN"
// header (the scheme is case-insensitive, RFC 7235), or false if there is
// none or it has another scheme.
func BearerToken(h http.Header) (string, bool) { return Bearer(h.Get("Authorization")) }

// Bearer is BearerToken for the value of an Authorization header, for
// code that has read the header itself.
func Bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
