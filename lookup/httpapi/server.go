package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"
	"time"

	"github.com/julienschmidt/httprouter"

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
	// Extra, if set, is called to add routes beyond nsqlookupd's (metrics,
	// stats) to the router before it is used.
	Extra func(r *httprouter.Router)
}

// Handler serves the nsqlookupd HTTP API over a registry. It is safe for
// concurrent use.
type Handler struct {
	db     *registry.DB
	opts   Options
	log    *slog.Logger
	router *httprouter.Router

	lookups  cache // by topic
	channels cache // by topic
	topics   cache // single entry ""
	nodes    cache // single entry ""
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
	h := &Handler{db: db, opts: opts, log: opts.Logger.With("component", "http")}
	h.lookups.init()
	h.channels.init()
	h.topics.init()
	h.nodes.init()

	r := httprouter.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = true
	r.PanicHandler = h.panicked
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.logRequest(req, errNotFound.Status)
		writeError(w, errNotFound)
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.logRequest(req, errMethodNotAllowed.Status)
		writeError(w, errMethodNotAllowed)
	})

	r.GET("/ping", h.handlePing)
	// nsqlookupd reads no query on /info, /debug, /topics and /nodes, so a
	// malformed one is not an error there.
	r.GET("/info", h.apiNoQuery(h.handleInfo))
	r.GET("/debug", h.apiNoQuery(h.handleDebug))
	r.GET("/lookup", h.api(h.handleLookup))
	r.GET("/topics", h.apiNoQuery(h.handleTopics))
	r.GET("/channels", h.api(h.handleChannels))
	r.GET("/nodes", h.apiNoQuery(h.handleNodes))
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

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h.router.ServeHTTP(w, req)
}

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
		if h.log.Enabled(req.Context(), slog.LevelDebug) {
			status := http.StatusOK
			var ae *Error
			if errors.As(err, &ae) {
				status = ae.Status
			} else if err != nil {
				status = http.StatusInternalServerError
			}
			h.logRequest(req, status)
		}
	}
}

func (h *Handler) logRequest(req *http.Request, status int) {
	h.log.Debug("request", "method", req.Method, "uri", req.URL.RequestURI(), "status", status, "remote_addr", req.RemoteAddr)
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
