package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// A blocked query's connection is hijacked from the HTTP server. While it
// waits it costs one goroutine parked in a one-byte Read (which notices
// the client leaving; a read deadline in the past wakes it) and no
// buffers; a request parked in the server would hold its connection's
// read and write buffers and a second goroutine.
//
// Once answered, the connection stays with that goroutine for the
// client's next requests, as long as each is a plain GET of a read
// endpoint (the requests a watching client sends, one after the other):
// they are served here, blocking again when they name the current index,
// without the server's per-connection setup. Anything else (another path
// or method, a body, HTTP/1.0, an unusual header, an error to report) is
// handed back to the server with the bytes read so far (Listener), so the
// server answers it exactly as it answers any request.

// hijacked is a connection taken from the HTTP server.
type hijacked struct {
	conn      net.Conn
	buf       []byte // bytes read from the client past the current request
	keepAlive bool
	proto     string       // of the status line
	src       netip.Prefix // what blocked queries on it are reserved under
	// Of the current request, for the access log and metrics.
	method, path, query, remote string
	start                       time.Time
}

func newHijacked(conn net.Conn, r *bufio.Reader, req *http.Request, src netip.Prefix, start time.Time) *hijacked {
	hc := &hijacked{
		conn:      conn,
		keepAlive: req.ProtoAtLeast(1, 1) && !req.Close,
		proto:     "HTTP/1.1",
		src:       src,
		method:    req.Method,
		path:      req.URL.Path,
		query:     req.URL.RawQuery,
		remote:    req.RemoteAddr,
		start:     start,
	}
	if !req.ProtoAtLeast(1, 1) {
		hc.proto = "HTTP/1.0"
	}
	if n := r.Buffered(); n > 0 {
		// A pipelined request: keep its bytes.
		b, _ := r.Peek(n)
		hc.buf = append([]byte(nil), b...)
	}
	if pc, ok := conn.(*prefixConn); ok {
		// Handed back before: unwrap, so that wrappers do not pile up,
		// keeping what the server has not read yet.
		hc.conn = pc.Conn
		hc.buf = append(hc.buf, pc.prefix...)
	}
	return hc
}

// serveHijacked answers the blocked query the server handed over (k at
// index, reserved under hc.src), then serves the connection's next
// requests while the fast path takes them. It owns and finally closes or
// hands back the connection.
func (h *Handler) serveHijacked(hc *hijacked, k key, index uint64, wait time.Duration) {
	// Clear the server's deadlines before anyone may wake this waiter by
	// setting one in the past.
	_ = hc.conn.SetDeadline(time.Time{})
	var a *answer
	blocking := true // the first query is reserved by serveRead
	for {
		var err error
		if blocking {
			a, err = h.awaitHijacked(hc, k, index, wait)
		}
		if err != nil {
			h.log.Error("blocking query failed", "err", err)
			h.logHijacked(hc, http.StatusInternalServerError)
			hc.conn.Close()
			return
		}
		if a == nil {
			h.logHijacked(hc, statusClientGone)
			hc.conn.Close()
			return
		}
		if !h.writeHijacked(hc, a) {
			return
		}
		var args blockArgs
		var ok bool
		if k, args, ok = h.readNext(hc); !ok {
			return
		}
		if a, err = h.answer(k); err != nil {
			h.log.Error("answer failed", "err", err)
			h.logHijacked(hc, http.StatusInternalServerError)
			hc.conn.Close()
			return
		}
		blocking = args.index != 0 && a.index == args.index && h.hub.reserve(hc.src)
		index, wait = args.index, jittered(args.wait)
	}
}

// awaitHijacked waits for k's index to move from index, parked in a
// one-byte Read. It returns nil if the client has gone.
func (h *Handler) awaitHijacked(hc *hijacked, k key, index uint64, wait time.Duration) (*answer, error) {
	wt := &waiter{key: k, source: hc.src, wake: func() { _ = hc.conn.SetReadDeadline(aLongTimeAgo) }}
	a, err := h.await(wt, index, wait, func() bool {
		if len(hc.buf) > 0 {
			return true // the client sent its next request: answer now
		}
		var one [1]byte
		n, err := hc.conn.Read(one[:])
		if n > 0 {
			hc.buf = append(hc.buf, one[0])
			return true
		}
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	})
	_ = hc.conn.SetReadDeadline(time.Time{})
	return a, err
}

// writeHijacked writes the answer and reports whether the connection
// stays open for another request; if not, it has closed it.
func (h *Handler) writeHijacked(hc *hijacked, a *answer) bool {
	keep := hc.keepAlive && h.hub.isRunning()
	_ = hc.conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	_, err := hc.conn.Write(appendResponse(nil, hc.proto, a, keep))
	h.logHijacked(hc, a.status)
	if err != nil || !keep {
		hc.conn.Close()
		return false
	}
	_ = hc.conn.SetWriteDeadline(time.Time{})
	return true
}

// readNext waits (up to IdleTimeout, then ReadHeaderTimeout once it has
// begun) for the client's next request. It returns the request if the
// fast path takes it; otherwise it has handed the connection back to the
// server with the bytes read, or closed it (idle timeout, client gone,
// shutdown), and reports false.
func (h *Handler) readNext(hc *hijacked) (key, blockArgs, bool) {
	buf := hc.buf
	hc.buf = nil
	if cap(buf) < 512 {
		buf = append(make([]byte, 0, 512), buf...)
	}
	if !h.hub.idle(hc.conn, true) {
		hc.conn.Close()
		return key{}, blockArgs{}, false
	}
	defer h.hub.idle(hc.conn, false)
	deadline := time.Now().Add(h.opts.IdleTimeout)
	if len(buf) > 0 {
		deadline = time.Now().Add(h.opts.ReadHeaderTimeout)
	}
	_ = hc.conn.SetReadDeadline(deadline)
	for {
		head, complete := requestHead(buf)
		switch {
		case complete:
			req, ok := parseFast(head)
			if !ok || !h.permitsFast(req) {
				h.handback(hc, buf)
				return key{}, blockArgs{}, false
			}
			k, args, err := readArgs(req.kind, req.rawQuery)
			if err != nil {
				h.handback(hc, buf) // the server writes the error
				return key{}, blockArgs{}, false
			}
			if rest := buf[len(head):]; len(rest) > 0 {
				hc.buf = append([]byte(nil), rest...)
			}
			hc.method, hc.path, hc.query, hc.keepAlive = http.MethodGet, req.path, req.rawQuery, !req.close
			hc.start = time.Now()
			_ = hc.conn.SetReadDeadline(time.Time{})
			return k, args, true
		case head == nil || len(buf) >= h.opts.MaxHeaderBytes:
			// Not a request the fast path takes, or too long for it.
			h.handback(hc, buf)
			return key{}, blockArgs{}, false
		}
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
		}
		n, err := hc.conn.Read(buf[len(buf):min(cap(buf), h.opts.MaxHeaderBytes)])
		if n > 0 && len(buf) == 0 {
			hc.start = time.Now()
			_ = hc.conn.SetReadDeadline(time.Now().Add(h.opts.ReadHeaderTimeout))
		}
		buf = buf[:len(buf)+n]
		if err != nil {
			// Idle timeout, client gone, a request too slow, or shutdown.
			hc.conn.Close()
			return key{}, blockArgs{}, false
		}
	}
}

// handback returns the connection to the HTTP server with the bytes read
// from it, or closes it once the server no longer takes it.
func (h *Handler) handback(hc *hijacked, read []byte) {
	_ = hc.conn.SetDeadline(time.Time{})
	if !h.hub.isRunning() || !h.opts.Handback(&prefixConn{Conn: hc.conn, prefix: read}) {
		hc.conn.Close()
	}
}

func (h *Handler) logHijacked(hc *hijacked, status int) {
	h.finished(hc.method, hc.path, hc.path, hc.query, status, hc.start, hc.remote) // a read route
}

// permitsFast reports whether a request the fast path would serve needs
// no token, or carries one that may read. Refusals are left to the HTTP
// server, which answers, counts and logs them.
func (h *Handler) permitsFast(r fastReq) bool {
	if h.opts.Auth == nil || !h.opts.AuthReads {
		return true
	}
	if r.authorization == "" {
		return false
	}
	ae, _, _ := h.decide(http.MethodGet, r.path, r.authorization)
	return ae == nil
}

// requestHead returns the request line and headers at the start of buf,
// up to and including the blank line, and whether they are complete. It
// returns nil (and false) when buf already shows a request the fast path
// does not take: a line ended by a bare LF.
func requestHead(buf []byte) ([]byte, bool) {
	for i := 0; i < len(buf); i++ {
		if buf[i] != '\n' {
			continue
		}
		if i == 0 || buf[i-1] != '\r' {
			return nil, false
		}
		if i >= 3 && buf[i-2] == '\n' && buf[i-3] == '\r' {
			return buf[:i+1], true
		}
	}
	return buf, false
}

// fastReq is a request the fast path serves.
type fastReq struct {
	kind          kind
	path          string
	rawQuery      string
	close         bool   // Connection: close
	authorization string // the Authorization header, if any
}

var readPaths = map[string]kind{"/lookup": kindLookup, "/channels": kindChannels, "/topics": kindTopics, "/nodes": kindNodes}

// parseFast reads a complete request head (CRLF line ends, ending in a
// blank line) and reports whether it is one the fast path serves: an
// HTTP/1.1 GET of /lookup, /channels, /topics or /nodes with one Host
// header, no body, no Expect, Upgrade or Transfer-Encoding, and no folded
// or malformed header line. Everything else is for the HTTP server.
func parseFast(head []byte) (fastReq, bool) {
	var r fastReq
	reqLine, headers, hasHeaders := bytes.Cut(head[:len(head)-4], []byte("\r\n"))
	method, rest, ok1 := bytes.Cut(reqLine, []byte(" "))
	target, proto, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || string(method) != http.MethodGet || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return r, false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return r, false
		}
	}
	path, query, _ := bytes.Cut(target, []byte("?"))
	kd, ok := readPaths[string(path)]
	if !ok {
		return r, false
	}
	r.kind, r.path, r.rawQuery = kd, string(path), string(query)
	hosts := 0
	if !hasHeaders {
		return r, false // no Host
	}
	for line := range bytes.SplitSeq(headers, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || !isToken(name) {
			return r, false // also a folded line, which starts with a space
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			hosts++
		case bytes.EqualFold(name, []byte("Authorization")):
			if r.authorization != "" {
				return r, false
			}
			r.authorization = string(value)
		case bytes.EqualFold(name, []byte("Content-Length")):
			if string(value) != "0" {
				return r, false
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")), bytes.EqualFold(name, []byte("Expect")),
			bytes.EqualFold(name, []byte("Upgrade")):
			return r, false
		case bytes.EqualFold(name, []byte("Connection")):
			for opt := range bytes.SplitSeq(value, []byte(",")) {
				switch opt = bytes.Trim(opt, " \t"); {
				case bytes.EqualFold(opt, []byte("close")):
					r.close = true
				case bytes.EqualFold(opt, []byte("keep-alive")), len(opt) == 0:
				default:
					return r, false
				}
			}
		}
	}
	return r, hosts == 1
}

// isToken reports whether b is an HTTP token (a header name).
func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// appendResponse appends a whole HTTP/1 response carrying a, with the
// headers writeAnswer sets and net/http adds.
func appendResponse(b []byte, proto string, a *answer, keepAlive bool) []byte {
	b = append(b, proto...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(a.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(a.status)...)
	b = append(b, "\r\n"...)
	if !keepAlive {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(a.body)), 10)
	b = append(b, "\r\nContent-Type: "+contentJSON+"\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"+HeaderIndex+": "...)
	b = strconv.AppendUint(b, a.index, 10)
	b = append(b, "\r\n"+headerNSQ+": "+headerNSQValue+"\r\n\r\n"...)
	return append(b, a.body...)
}

// prefixConn is a connection whose first reads return bytes already read
// from it.
type prefixConn struct {
	net.Conn
	prefix []byte
}

// Unwrap returns the connection under c, for code that looks for what a
// connection is (lookup's TLS check).
func (c *prefixConn) Unwrap() net.Conn { return c.Conn }

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
