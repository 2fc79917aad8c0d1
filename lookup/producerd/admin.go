package producerd

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/lookupd/lookupd/lookup/producer"
)

// State is the body of GET /state and of successful POSTs.
type State struct {
	Identity      IdentityJSON             `json:"identity"`
	Suspended     bool                     `json:"suspended"`
	Registrations []producer.Registration  `json:"registrations"`
	Lookupds      []producer.LookupdStatus `json:"lookupds"`
	Health        *HealthStatus            `json:"health,omitempty"`
}

// IdentityJSON is what the producer announces, with nsqlookupd's JSON
// names.
type IdentityJSON struct {
	BroadcastAddress string `json:"broadcast_address"`
	Hostname         string `json:"hostname"`
	TCPPort          int    `json:"tcp_port"`
	HTTPPort         int    `json:"http_port"`
	Version          string `json:"version"`
}

// adminError is an API error: a status and a message code.
type adminError struct {
	status int
	code   string
}

// Admin serves producerd's admin API. Create it with NewAdmin; it is safe
// for concurrent use.
type Admin struct {
	client *producer.Client
	health *Health
	log    *slog.Logger
	router *httprouter.Router
}

// NewAdmin returns the admin API for client; health may be nil (no health
// checking). Routes (JSON unless noted; errors are {"message": CODE}):
//
//	GET  /ping                          text "OK"
//	GET  /state                         State
//	POST /register?topic=&channel=      registers, replies State
//	POST /unregister?topic=&channel=    unregisters (the whole topic when
//	                                    channel is empty), replies State
//
// Codes: 400 MISSING_ARG_TOPIC, INVALID_ARG_TOPIC, INVALID_ARG_CHANNEL;
// 404 NOT_FOUND; 405 METHOD_NOT_ALLOWED; 503 SHUTTING_DOWN after the client
// closed.
func NewAdmin(client *producer.Client, health *Health, logger *slog.Logger) *Admin {
	if logger == nil {
		logger = slog.Default()
	}
	a := &Admin{client: client, health: health, log: logger.With("component", "admin")}
	r := httprouter.New()
	r.HandleMethodNotAllowed = true
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a.writeError(w, adminError{status: http.StatusNotFound, code: "NOT_FOUND"})
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a.writeError(w, adminError{status: http.StatusMethodNotAllowed, code: "METHOD_NOT_ALLOWED"})
	})
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		a.log.Error("handler panic", "path", req.URL.Path, "err", v)
		a.writeError(w, adminError{status: http.StatusInternalServerError, code: "INTERNAL_ERROR"})
	}
	r.GET("/ping", a.handlePing)
	r.GET("/state", a.handleState)
	r.POST("/register", a.handleRegister)
	r.POST("/unregister", a.handleUnregister)
	a.router = r
	return a
}

// ServeHTTP implements http.Handler.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// State returns the current State.
func (a *Admin) State() State {
	id := a.client.Identity()
	st := State{
		Identity: IdentityJSON{
			BroadcastAddress: id.BroadcastAddress,
			Hostname:         id.Hostname,
			TCPPort:          id.TCPPort,
			HTTPPort:         id.HTTPPort,
			Version:          id.Version,
		},
		Suspended:     a.client.Suspended(),
		Registrations: a.client.State(),
		Lookupds:      a.client.Status(),
	}
	if a.health != nil {
		hs := a.health.Status()
		st.Health = &hs
	}
	return st
}

func (a *Admin) handlePing(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("OK"))
}

func (a *Admin) handleState(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	a.writeJSON(w, http.StatusOK, a.State())
}

func (a *Admin) handleRegister(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	a.change(w, r, "register", a.client.Register)
}

func (a *Admin) handleUnregister(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	a.change(w, r, "unregister", a.client.Unregister)
}

func (a *Admin) change(w http.ResponseWriter, r *http.Request, what string, do func(topic, channel string) error) {
	q := r.URL.Query()
	topic, channel := q.Get("topic"), q.Get("channel")
	if topic == "" {
		a.writeError(w, adminError{status: http.StatusBadRequest, code: "MISSING_ARG_TOPIC"})
		return
	}
	err := do(topic, channel)
	switch {
	case err == nil:
		a.log.Info("admin "+what, "topic", topic, "channel", channel)
		a.writeJSON(w, http.StatusOK, a.State())
	case errors.Is(err, producer.ErrBadTopic):
		a.writeError(w, adminError{status: http.StatusBadRequest, code: "INVALID_ARG_TOPIC"})
	case errors.Is(err, producer.ErrBadChannel):
		a.writeError(w, adminError{status: http.StatusBadRequest, code: "INVALID_ARG_CHANNEL"})
	case errors.Is(err, producer.ErrClosed):
		a.writeError(w, adminError{status: http.StatusServiceUnavailable, code: "SHUTTING_DOWN"})
	default:
		a.log.Error("admin "+what+" failed", "topic", topic, "channel", channel, "err", err)
		a.writeError(w, adminError{status: http.StatusInternalServerError, code: "INTERNAL_ERROR"})
	}
}

func (a *Admin) writeError(w http.ResponseWriter, e adminError) {
	a.writeJSON(w, e.status, map[string]string{"message": e.code})
}

func (a *Admin) writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		a.log.Error("encode response", "err", err)
		status, body = http.StatusInternalServerError, []byte(`{"message":"INTERNAL_ERROR"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
