package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lookupd/lookupd/lookup/auth"
)

// need is the role a request needs.
type need int

const (
	needNothing need = iota
	needRead
	needAdmin
)

// needs returns what a request needs when tokens are on (Options.Auth): every
// method but GET and HEAD changes something or could (the POST endpoints)
// and needs admin; so does profiling, which costs CPU and shows the
// command line; other reads need read only with Options.AuthReads. /ping
// stays open for health checks.
func (h *Handler) needs(method, path string) need {
	if method != http.MethodGet && method != http.MethodHead {
		return needAdmin
	}
	switch p := path; {
	case p == "/ping":
		return needNothing
	case strings.HasPrefix(p, "/debug/pprof"):
		return needAdmin
	case h.opts.AuthReads:
		return needRead
	}
	return needNothing
}

// authorize returns nil if req may proceed (always, without Options.Auth),
// or the error to answer: 401 UNAUTHORIZED without a known bearer token,
// 403 FORBIDDEN with a token whose role is too small. It counts and logs
// refusals.
func (h *Handler) authorize(req *http.Request) *Error {
	ae, reason, label := h.decide(req.Method, req.URL.Path, req.Header.Get("Authorization"))
	switch ae {
	case nil:
		return nil
	case errUnauthorized:
		h.stats.unauthorized.Add(1)
	default:
		h.stats.forbidden.Add(1)
	}
	h.logRefused(req, reason, label)
	return ae
}

// decide is authorize without its side effects, for a request's method,
// path and Authorization header: the refusal, why, and the label of the
// token used.
func (h *Handler) decide(method, path, authorization string) (*Error, string, string) {
	if h.opts.Auth == nil {
		return nil, "", ""
	}
	n := h.needs(method, path)
	if n == needNothing {
		return nil, "", ""
	}
	tok, ok := auth.Bearer(authorization)
	var g auth.Grant
	if ok {
		g, ok = h.opts.Auth.Authenticate(tok)
	}
	if !ok {
		return errUnauthorized, "no known bearer token", ""
	}
	if n == needAdmin && !g.CanAdmin() || n == needRead && !g.CanRead() {
		return errForbidden, "role too small", g.Label()
	}
	return nil, "", ""
}

// logRefused logs a refused request at most once a second. token names
// the token's entry, never the token.
func (h *Handler) logRefused(req *http.Request, reason, token string) {
	if ok, n := h.logAuth.Allow(time.Now()); ok {
		h.log.Warn("request refused", "reason", reason, "token", token, "method", req.Method,
			"path", req.URL.Path, "remote_addr", req.RemoteAddr, "suppressed", n)
	}
}

// writeAuthError writes a refusal; a 401 names the scheme to use (RFC
// 6750).
func writeAuthError(w http.ResponseWriter, ae *Error) {
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lookupd"`)
	}
	writeError(w, ae)
}

// writeTLSRequired answers a plaintext request to an HTTPS-only listener
// with nsqd's 403: the body's https_port is where to ask again, which
// nsqadmin v1.3.0 does. The connection is closed after it.
func writeTLSRequired(w http.ResponseWriter, port int) {
	h := w.Header()
	h["Content-Type"] = contentJSONValues
	h[headerNSQ] = headerNSQValues
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, `{"message": "TLS_REQUIRED", "https_port": %d}`, port)
}
