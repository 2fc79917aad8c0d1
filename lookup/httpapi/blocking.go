package httpapi

import (
	"math/rand/v2"
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
	return func(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
		status, err := h.serveRead(w, req, kd)
		if err != nil {
			respondError(w, h.log, err)
		}
		if status == statusClientGone {
			markStatus(w, status)
		}
	}
}

// readArgs reads a read endpoint's query: the key of the answer asked
// for and the blocking-query parameters.
func readArgs(kd kind, rawQuery string) (key, blockArgs, error) {
	q, err := url.ParseQuery(rawQuery)
	k := key{kind: kd}
	if kd == kindLookup || kd == kindChannels {
		if err != nil {
			return k, blockArgs{}, errInvalidRequest
		}
		topic, ok := get(q, "topic")
		if !ok {
			return k, blockArgs{}, errMissingTopic
		}
		k.topic = topic
	}
	// nsqlookupd reads no query on /topics and /nodes, so a malformed one
	// is not an error there; what did parse still counts.
	args, err := parseBlocking(q)
	return k, args, err
}

// serveRead serves one read and returns the status it wrote (0 if the
// answer is left to a hijacked connection, which reports it) or the
// error to write.
func (h *Handler) serveRead(w http.ResponseWriter, req *http.Request, kd kind) (int, error) {
	k, args, err := readArgs(kd, req.URL.RawQuery)
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
				hc := newHijacked(conn, brw.Reader, req, src, startOf(w))
				h.hub.wg.Go(func() { h.serveHijacked(hc, k, args.index, wait) })
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
