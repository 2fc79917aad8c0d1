package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/lookupd/lookupd/lookup/auth"
	"github.com/lookupd/lookupd/lookup/internal/limit"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Options configure the API handler.
type Options struct {
	// Version is reported by /info (nsqlookupd's version, for clients that
	// parse it).
	Version string
	// Logger receives request and error logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock used to expire cached answers; it must be the one
	// the registry uses. Default time.Now.
	Now func() time.Time
	// AfterFunc calls f once d has passed on the same clock, like
	// time.AfterFunc (the default), and returns a function that cancels
	// the call. Blocked queries use it for their wait and for answers that
	// time changes.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// MaxBlockingQueries caps the blocked queries held at once; past it a
	// query with an index is answered at once. 0 disables blocking.
	MaxBlockingQueries int
	// MaxBlockingQueriesPerSource caps the blocked queries held for one
	// source address (an IPv4 address or an IPv6 /64); past it that
	// source's queries are answered at once. 0 means no cap.
	MaxBlockingQueriesPerSource int
	// WriteTimeout bounds writing the answer of a blocked query. Default
	// 30 s.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection after a blocked query. Default 120 s.
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request on such a connection,
	// from its first byte (default 10 s), and MaxHeaderBytes its request
	// line and headers (default 1 MiB); past the latter the request is
	// left to the HTTP server. Set them as the server's own.
	ReadHeaderTimeout time.Duration
	MaxHeaderBytes    int
	// Handback, if set, lets blocked queries be held outside the HTTP
	// server: the handler hijacks the connection, which costs far less
	// memory than a parked request, and gives it back through Handback
	// once answered (Listener.Handback). It must report false if it did
	// not take the connection. Without it, blocked queries wait inside the
	// handler.
	Handback func(net.Conn) bool
	// Auth, if set, turns bearer tokens on: every request but GET and HEAD
	// needs an admin token, and so does /debug/pprof; see AuthReads.
	// Refusals are 401 UNAUTHORIZED (no known token) and 403 FORBIDDEN
	// (role too small).
	Auth *auth.Store
	// Plaintext, if set, reports whether a request came in plaintext to a
	// listener that serves HTTPS only: such a request is answered 403
	// {"message": "TLS_REQUIRED", "https_port": HTTPSPort}, as nsqd answers
	// it, which nsqadmin v1.3.0 follows by asking again over https.
	Plaintext func(*http.Request) bool
	// HTTPSPort is the port named in TLS_REQUIRED answers.
	HTTPSPort int
	// AuthReads makes every GET but /ping need a read or admin token too
	// (with Auth set).
	AuthReads bool
	// Extra, if set, is called to add routes beyond nsqlookupd's (metrics,
	// stats) to the router before it is used.
	Extra func(r *httprouter.Router)
	// AccessLog logs one line per request at info: method, path, query
	// (if any), status, duration and remote address.
	AccessLog bool
	// Observe, if set, is called once per answered request (a blocked
	// query when it is answered), on the serving goroutine; it must not
	// block.
	Observe func(Request)
}

// Handler serves the nsqlookupd HTTP API over a registry. It is safe for
// concurrent use.
type Handler struct {
	db     *registry.DB
	opts   Options
	log    *slog.Logger
	router *httprouter.Router

	answers answers // current answers of the read endpoints, with their index
	hub     hub     // blocked queries

	stats counters
	// Refused creates and requests: one log line a second at most each.
	logCapped, logAuth limit.Every
}

// counters are the Handler's own event counts (see Stats).
type counters struct {
	topicsCapped, channelsCapped atomic.Uint64
	unauthorized, forbidden      atomic.Uint64
}

// Stats counts requests the handler refused.
type Stats struct {
	// TopicsCapped counts creates refused by the registry's MaxTopics.
	TopicsCapped uint64
	// ChannelsCapped counts creates refused by MaxChannelsPerTopic.
	ChannelsCapped uint64
	// Unauthorized counts requests refused with 401.
	Unauthorized uint64
	// Forbidden counts requests refused with 403.
	Forbidden uint64
}

// Stats returns the handler's counters. Safe for concurrent use.
func (h *Handler) Stats() Stats {
	return Stats{
		TopicsCapped:   h.stats.topicsCapped.Load(),
		ChannelsCapped: h.stats.channelsCapped.Load(),
		Unauthorized:   h.stats.unauthorized.Load(),
		Forbidden:      h.stats.forbidden.Load(),
	}
}

// New returns the API handler for db.
func New(db *registry.DB, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Version == "" {
		opts.Version = "1.3.0"
	}
	if opts.AfterFunc == nil {
		opts.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 120 * time.Second
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = 10 * time.Second
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	h := &Handler{db: db, opts: opts, log: opts.Logger.With("component", "http")}
	h.logCapped.Interval = time.Second
	h.logAuth.Interval = time.Second
	h.hub.init(h, opts.MaxBlockingQueries, opts.MaxBlockingQueriesPerSource)
	h.answers.init(h.hub.changed, h.hub.watched)

	r := httprouter.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = true
	r.PanicHandler = h.panicked
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, errNotFound)
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, errMethodNotAllowed)
	})

	r.GET("/ping", h.handlePing)
	// nsqlookupd reads no query on /info, /debug, /topics and /nodes, so a
	// malformed one is not an error there.
	r.GET("/info", h.apiNoQuery(h.handleInfo))
	r.GET("/debug", h.apiNoQuery(h.handleDebug))
	r.GET("/lookup", h.read(kindLookup))
	r.GET("/topics", h.read(kindTopics))
	r.GET("/channels", h.read(kindChannels))
	r.GET("/nodes", h.read(kindNodes))
	r.POST("/topic/create", h.api(h.handleCreateTopic))
	r.POST("/topic/delete", h.api(h.handleDeleteTopic))
	r.POST("/channel/create", h.api(h.handleCreateChannel))
	r.POST("/channel/delete", h.api(h.handleDeleteChannel))
	r.POST("/topic/tombstone", h.api(h.handleTombstone))

	r.HandlerFunc("GET", "/debug/pprof", pprof.Index)
	r.HandlerFunc("GET", "/debug/pprof/cmdline", pprof.Cmdline)
	r.HandlerFunc("GET", "/debug/pprof/symbol", pprof.Symbol)
	r.HandlerFunc("POST", "/debug/pprof/symbol", pprof.Symbol)
	r.HandlerFunc("GET", "/debug/pprof/profile", pprof.Profile)
	r.Handler("GET", "/debug/pprof/heap", pprof.Handler("heap"))
	r.Handler("GET", "/debug/pprof/goroutine", pprof.Handler("goroutine"))
	r.Handler("GET", "/debug/pprof/block", pprof.Handler("block"))
	r.Handler("GET", "/debug/pprof/threadcreate", pprof.Handler("threadcreate"))
	if opts.Extra != nil {
		opts.Extra(r)
	}
	h.router = r
	return h
}

// Changed tells the handler what a registry mutation changed; pass it as
// registry.Options.OnChange. It marks the blocked queries to recompute and
// returns at once.
func (h *Handler) Changed(c registry.Change) { h.hub.notify(c) }

// Start begins holding blocked queries (before it, a query with an index
// is answered at once) and starts the goroutine that recomputes watched
// answers. The returned stop answers every blocked query with the current
// answer, refuses new ones, and returns once the goroutine has exited and
// the hijacked queries are written. Call Start once, and stop once.
func (h *Handler) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	h.hub.mu.Lock()
	h.hub.running = true
	h.hub.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.hub.run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// BlockingStats returns the blocked-query counters. It is safe for
// concurrent use.
func (h *Handler) BlockingStats() BlockingStats { return h.hub.stats() }

type apiFunc func(req *http.Request, q url.Values) (any, error)

// api adapts an apiFunc: it parses the query, calls f and writes the
// result with the single responder.
func (h *Handler) api(f apiFunc) httprouter.Handle { return h.adapt(f, true) }

// apiNoQuery adapts an apiFunc that takes no parameters: the query is not
// parsed, and f gets empty values.
func (h *Handler) apiNoQuery(f apiFunc) httprouter.Handle { return h.adapt(f, false) }

func (h *Handler) adapt(f apiFunc, parse bool) httprouter.Handle {
	return func(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
		var q url.Values
		var err error
		if parse {
			q, err = url.ParseQuery(req.URL.RawQuery)
		}
		var data any
		if err != nil {
			err = errInvalidRequest
		} else {
			data, err = f(req, q)
		}
		respond(w, h.log, data, err)
	}
}

func (h *Handler) panicked(w http.ResponseWriter, req *http.Request, p any) {
	h.log.Error("panic in handler", "method", req.Method, "uri", req.URL.RequestURI(), "err", fmt.Sprint(p))
	writeError(w, errInternal)
}

// get returns the first value of a query parameter, and whether it was
// present at all (an empty value counts as present, as in nsqlookupd).
func get(q url.Values, key string) (string, bool) {
	v, ok := q[key]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func topicChannelArgs(q url.Values) (string, string, error) {
	topic, ok := get(q, "topic")
	if !ok {
		return "", "", errMissingTopic
	}
	if !wire.IsValidTopicName(topic) {
		return "", "", errInvalidTopic
	}
	channel, ok := get(q, "channel")
	if !ok {
		return "", "", errMissingChannel
	}
	if !wire.IsValidChannelName(channel) {
		return "", "", errInvalidChannel
	}
	return topic, channel, nil
}
