package httpapi

import (
	"bufio"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/lookupd/lookupd/lookup/internal/limit"
)

// Blocking-query limits, as in Consul.
const (
	// DefaultWait is how long a blocking query waits when wait is absent
	// or zero.
	DefaultWait = 60 * time.Second
	// MaxWait caps wait.
	MaxWait = 10 * time.Minute
)

// HeaderIndex carries the index of an answer.
const HeaderIndex = "X-Lookupd-Index"

// aLongTimeAgo is a deadline in the past: setting it interrupts a
// blocked Read or Accept at once.
var aLongTimeAgo = time.Unix(1, 0)

// blockArgs are a read's blocking-query parameters.
type blockArgs struct {
	index uint64        // 0: answer at once
	wait  time.Duration // before jitter
}

// parseBlocking reads index and wait. Empty values count as absent, as in
// Consul; a zero wait means the default.
func parseBlocking(q url.Values) (blockArgs, error) {
	b := blockArgs{wait: DefaultWait}
	if v, _ := get(q, "index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return b, errInvalidIndex
		}
		b.index = n
	}
	if v, _ := get(q, "wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return b, errInvalidWait
		}
		if d > 0 {
			b.wait = min(d, MaxWait)
		}
	}
	return b, nil
}

// jittered adds a random extra of up to wait/16, so that waiters that
// started together do not all come back together.
func jittered(wait time.Duration) time.Duration {
	return wait + time.Duration(rand.Int64N(int64(wait/16)+1))
}

// read returns the handler of a read endpoint: it answers at once, with
// the answer's index in X-Lookupd-Index, unless the request names the
// current index, in which case it waits for the next one.
func (h *Handler) read(kd kind) httprouter.Handle {
	withTopic := kd == kindLookup || kd == kindChannels
	return func(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
		status, err := h.serveRead(w, req, kd, withTopic)
		if err != nil {
			respondError(w, h.log, err)
		}
		if status == statusClientGone {
			markStatus(w, status)
		}
	}
}

// serveRead serves one read and returns the status it wrote (0 if the
// answer is left to a hijacked waiter, which logs it) or the error to
// write.
func (h *Handler) serveRead(w http.ResponseWriter, req *http.Request, kd kind, withTopic bool) (int, error) {
	q, err := url.ParseQuery(req.URL.RawQuery)
	k := key{kind: kd}
	if withTopic {
		if err != nil {
			return 0, errInvalidRequest
		}
		topic, ok := get(q, "topic")
		if !ok {
			return 0, errMissingTopic
		}
		k.topic = topic
	}
	// nsqlookupd reads no query on /topics and /nodes, so a malformed one
	// is not an error there; what did parse still counts.
	args, err := parseBlocking(q)
	if err != nil {
		return 0, err
	}
	a, err := h.answer(k)
	if err != nil {
		return 0, err
	}
	src := limit.SourceString(req.RemoteAddr)
	if args.index == 0 || a.index != args.index || !h.hub.reserve(src) {
		writeAnswer(w, a)
		return a.status, nil
	}
	wait := jittered(args.wait)
	if h.opts.Handback != nil {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, brw, err := hj.Hijack(); err == nil {
				hc := newHijacked(conn, brw.Reader, req, startOf(w))
				h.hub.wg.Go(func() { h.waitHijacked(hc, k, src, args.index, wait) })
				return 0, nil
			}
		}
	}
	return h.waitInHandler(w, req, k, src, args.index, wait)
}

// await joins k's waiters and, unless k's index has moved from index
// already, calls park, which must return once wt.wake is called (true) or
// the client has gone (false). It returns the answer to send, or nil if
// the client has gone.
func (h *Handler) await(wt *waiter, index uint64, wait time.Duration, park func() bool) (*answer, error) {
	h.hub.join(wt)
	defer h.hub.leave(wt)
	// The index may have moved between the caller's look and join, when
	// no one would have woken this waiter: look again.
	a, err := h.answer(wt.key)
	if err != nil || a.index != index {
		return a, err
	}
	h.hub.arm(wt.key, a.validUntil)
	stop := h.opts.AfterFunc(wait, wt.wake)
	ok := park()
	stop()
	if !ok {
		return nil, nil
	}
	return h.answer(wt.key)
}

// waitInHandler waits inside the handler: for response writers that
// cannot be hijacked (HTTP/2, tests). It extends the connection's
// deadlines past the wait, since the server's own read and write timeouts
// are shorter than a long wait.
func (h *Handler) waitInHandler(w http.ResponseWriter, req *http.Request, k key, src netip.Prefix, index uint64, wait time.Duration) (int, error) {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(wait + h.opts.WriteTimeout)
	// Without extending the read deadline, the server's ReadTimeout would
	// end the background read of an HTTP/1 connection and cancel the
	// request's context mid-wait.
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline)
	woken := make(chan struct{}, 1)
	wt := &waiter{key: k, source: src, wake: func() {
		select {
		case woken <- struct{}{}:
		default:
		}
	}}
	a, err := h.await(wt, index, wait, func() bool {
		select {
		case <-woken:
			return true
		case <-req.Context().Done():
			return false
		}
	})
	if err != nil {
		return 0, err
	}
	if a == nil {
		return statusClientGone, nil // nothing to write
	}
	writeAnswer(w, a)
	return a.status, nil
}

// hijacked is a connection taken from the HTTP server for one blocked
// query. Parked, it costs one goroutine blocked in a one-byte Read (which
// notices the client leaving) and no buffers; the server's own connection
// state costs several kilobytes more.
type hijacked struct {
	conn      net.Conn
	prefix    []byte // bytes read from the client past the request
	keepAlive bool
	proto     string // of the status line
	// For the access log and metrics.
	method, path, query, remote string
	start                       time.Time
}

func newHijacked(conn net.Conn, r *bufio.Reader, req *http.Request, start time.Time) *hijacked {
	hc := &hijacked{
		conn:      conn,
		keepAlive: req.ProtoAtLeast(1, 1) && !req.Close,
		proto:     "HTTP/1.1",
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
		// A pipelined request: keep its bytes for the server.
		b, _ := r.Peek(n)
		hc.prefix = append([]byte(nil), b...)
	}
	if pc, ok := conn.(*prefixConn); ok {
		// Handed back before: unwrap, so that wrappers do not pile up,
		// keeping what the server has not read yet.
		hc.conn = pc.Conn
		hc.prefix = append(hc.prefix, pc.prefix...)
	}
	return hc
}

func (h *Handler) waitHijacked(hc *hijacked, k key, src netip.Prefix, index uint64, wait time.Duration) {
	// Clear the server's deadlines before anyone may wake this waiter by
	// setting one in the past.
	_ = hc.conn.SetDeadline(time.Time{})
	wt := &waiter{key: k, source: src, wake: func() { _ = hc.conn.SetReadDeadline(aLongTimeAgo) }}
	a, err := h.await(wt, index, wait, func() bool {
		if len(hc.prefix) > 0 {
			return true // the client sent its next request: answer now
		}
		var one [1]byte
		n, err := hc.conn.Read(one[:])
		if n > 0 {
			hc.prefix = append(hc.prefix, one[0])
			return true
		}
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	})
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
	_ = hc.conn.SetReadDeadline(time.Time{})
	h.finishHijacked(hc, a)
}

// finishHijacked writes the answer, then waits for the client's next
// request (up to IdleTimeout) and hands the connection back to the server
// with it, or closes the connection. Handing back only a connection with
// a request to read keeps the server from holding it idle in its "new"
// state, which its Shutdown would wait on.
func (h *Handler) finishHijacked(hc *hijacked, a *answer) {
	keep := hc.keepAlive && h.hub.isRunning()
	_ = hc.conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	_, err := hc.conn.Write(appendResponse(nil, hc.proto, a, keep))
	h.logHijacked(hc, a.status)
	if err != nil || !keep {
		hc.conn.Close()
		return
	}
	_ = hc.conn.SetWriteDeadline(time.Time{})
	if len(hc.prefix) == 0 {
		_ = hc.conn.SetReadDeadline(time.Now().Add(h.opts.IdleTimeout))
		if !h.hub.idle(hc.conn, true) {
			hc.conn.Close()
			return
		}
		var one [1]byte
		n, _ := hc.conn.Read(one[:])
		h.hub.idle(hc.conn, false)
		if n == 0 { // idle timeout, client gone or shutdown
			hc.conn.Close()
			return
		}
		hc.prefix = append(hc.prefix, one[0])
		_ = hc.conn.SetReadDeadline(time.Time{})
	}
	if !h.opts.Handback(&prefixConn{Conn: hc.conn, prefix: hc.prefix}) {
		hc.conn.Close()
	}
}

func (h *Handler) logHijacked(hc *hijacked, status int) {
	h.finished(hc.method, hc.path, hc.path, hc.query, status, hc.start, hc.remote) // a read route
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

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
