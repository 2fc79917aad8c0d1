package httpapi

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Request describes one answered HTTP request, for Options.Observe.
type Request struct {
	Method string
	// Route is the matched route's path ("/lookup"), or "unmatched" for a
	// path no route serves exactly (404s, and redirects to a route's
	// canonical path), so that it can label metrics without letting
	// clients create label values.
	Route    string
	Status   int
	Duration time.Duration
}

// routeUnmatched labels requests for paths no route serves.
const routeUnmatched = "unmatched"

// statusClientGone is the status recorded for a blocked query whose client
// left before the answer (nginx's convention); nothing is written.
const statusClientGone = 499

// accessWriter records what the access log and metrics need of a
// response. It passes hijacking, flushing and http.ResponseController
// through to the writer it wraps.
type accessWriter struct {
	http.ResponseWriter
	start    time.Time
	status   int
	hijacked bool
}

func (a *accessWriter) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (a *accessWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// Flush implements http.Flusher.
func (a *accessWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack implements http.Hijacker; a hijacked request is reported by
// whoever answers it (see finishHijacked).
func (a *accessWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := a.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	conn, brw, err := hj.Hijack()
	if err == nil {
		a.hijacked = true
	}
	return conn, brw, err
}

// startOf returns when the request w answers started.
func startOf(w http.ResponseWriter) time.Time {
	if a, ok := w.(*accessWriter); ok {
		return a.start
	}
	return time.Now()
}

// markStatus records a status for a request that wrote none (a client
// that left while its query was blocked).
func markStatus(w http.ResponseWriter, status int) {
	if a, ok := w.(*accessWriter); ok && a.status == 0 {
		a.status = status
	}
}

// ServeHTTP implements http.Handler: it routes the request, then logs and
// observes it, unless it was hijacked (answered later, elsewhere).
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	a := &accessWriter{ResponseWriter: w, start: time.Now()}
	if h.opts.Plaintext != nil && h.opts.Plaintext(req) {
		writeTLSRequired(a, h.opts.HTTPSPort)
	} else if ae := h.authorize(req); ae != nil {
		writeAuthError(a, ae)
	} else {
		h.router.ServeHTTP(a, req)
	}
	if a.hijacked {
		return
	}
	status := a.status
	if status == 0 {
		status = http.StatusOK // net/http's implicit answer
	}
	route := req.URL.Path
	// A 405 means the path is a route (for other methods).
	if hd, _, _ := h.router.Lookup(req.Method, route); hd == nil && status != http.StatusMethodNotAllowed {
		route = routeUnmatched
	}
	h.finished(req.Method, req.URL.Path, route, req.URL.RawQuery, status, a.start, req.RemoteAddr)
}

// finished reports one answered request: Options.Observe, and the access
// log line at info when Options.AccessLog is set. Every served request
// passes here exactly once.
func (h *Handler) finished(method, path, route, query string, status int, start time.Time, remote string) {
	d := time.Since(start)
	if h.opts.Observe != nil {
		h.opts.Observe(Request{Method: method, Route: route, Status: status, Duration: d})
	}
	if !h.opts.AccessLog || !h.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("method", method), slog.String("path", path))
	if query != "" {
		attrs = append(attrs, slog.String("query", query))
	}
	attrs = append(attrs, slog.Int("status", status), slog.Duration("duration", d.Round(time.Microsecond)), slog.String("remote_addr", remote))
	h.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}
