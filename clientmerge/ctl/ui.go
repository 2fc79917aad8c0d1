package ctl

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

//go:embed web/index.html
var webFS embed.FS

// Server is the web view: one embedded page, a JSON API and a
// Server-Sent Events stream fed by a polling loop over the Cluster.
// New binds; Run serves.
type Server struct {
	cl   *Cluster
	opts *Options
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	page []byte

	mu       sync.Mutex
	lookupds []byte // latest "lookupds" event data
	cluster  []byte // latest "cluster" event data
	feed     []feedEntry
	feedJSON []byte // feed, marshalled once per change for every stream
	seq      int    // feed entries ever added
	feedVer  int    // bumped on every change of feed
	subs     map[chan struct{}]struct{}
	stopping bool
}

// feedEntry is one change in the web view's feed. A join's Took is filled
// in when it reaches every lookupd.
type feedEntry struct {
	Seq      int       `json:"seq"`
	At       time.Time `json:"at"`
	Kind     EventKind `json:"kind"`
	Topic    string    `json:"topic,omitempty"`
	Producer string    `json:"producer,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Lookupd  string    `json:"lookupd,omitempty"`
	Err      string    `json:"error,omitempty"`
	// By marks the answering lookupds that list the producer (Set.And).
	By string `json:"by,omitempty"`
	// Reached is set on a join once the producer is on every answering
	// lookupd; TookMS is then how long that took (0: within one poll).
	Reached bool    `json:"reached"`
	TookMS  float64 `json:"took_ms"`
}

// NewServer binds opts.HTTPAddress and returns the web view's server. It
// fails if the address cannot be bound.
func NewServer(cl *Cluster, opts *Options, log *slog.Logger) (*Server, error) {
	page, err := webFS.ReadFile("web/index.html")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.HTTPAddress)
	if err != nil {
		return nil, err // already "listen tcp ADDR: …"
	}
	s := &Server{cl: cl, opts: opts, log: log, ln: ln, page: page, subs: map[chan struct{}]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handlePage)
	mux.HandleFunc("GET /api/events", s.handleEvents)
	mux.HandleFunc("GET /api/topic", s.handleTopic)
	mux.HandleFunc("POST /api/action/{action}", s.handleAction)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run polls the lookupds every opts.Interval and serves until ctx ends,
// then closes every event stream, shuts the HTTP server down and returns
// after every goroutine it started has exited. It returns nil when ctx
// ended, or the error that stopped the server.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() {
		err := s.srv.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		serveErr <- err
		cancel()
	})
	wg.Go(func() { s.poll(ctx) })
	<-ctx.Done()
	s.mu.Lock()
	s.stopping = true
	for ch := range s.subs {
		close(ch)
		delete(s.subs, ch)
	}
	s.mu.Unlock()
	shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	err := s.srv.Shutdown(shutCtx)
	wg.Wait()
	if e := <-serveErr; e != nil {
		return e
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// poll is the single loop that owns the Tracker: Live calls back on
// every change and every health round.
func (s *Server) poll(ctx context.Context) {
	tr := NewTracker()
	pending := map[trackKey]int{} // joins waiting to reach every lookupd: key -> feed seq
	s.cl.Live(ctx, "", s.opts.Interval, func(sv *Survey, hs []Health, changed bool) {
		s.setLookupds(hs)
		if changed {
			s.setCluster(sv)
			s.addEvents(tr.Update(sv), pending)
		}
	})
}

// lookupdUI is a lookupd in the "lookupds" event.
type lookupdUI struct {
	Address   string  `json:"address"`
	Up        bool    `json:"up"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
	Version   string  `json:"version,omitempty"`
	Stats     *Stats  `json:"stats,omitempty"`
}

func (s *Server) setLookupds(hs []Health) {
	out := struct {
		At       time.Time   `json:"at"`
		Actions  bool        `json:"actions"`
		Interval float64     `json:"interval_ms"`
		Lookupds []lookupdUI `json:"lookupds"`
	}{At: time.Now(), Actions: s.opts.EnableActions, Interval: ms(s.opts.Interval)}
	for _, h := range hs {
		l := lookupdUI{Address: h.Addr, Up: h.Err == nil, Error: errText(h.Err), LatencyMS: ms(h.Latency), Version: h.Version, Stats: h.Stats}
		out.Lookupds = append(out.Lookupds, l)
	}
	b, _ := json.Marshal(out)
	s.mu.Lock()
	s.lookupds = b
	s.mu.Unlock()
	s.notify()
}

// clusterUI is the "cluster" event: compact, for 10,000s of topics.
// Sets are strings of '0' and '1', one per lookupd.
type clusterUI struct {
	// Known marks the lookupds whose answers are current; the others are
	// down, or up without an answer yet.
	Known     string       `json:"known"`
	Topics    [][2]string  `json:"topics"` // name, set
	Producers []producerUI `json:"producers"`
}

type producerUI struct {
	Address  string      `json:"address"`
	Hostname string      `json:"hostname"`
	Version  string      `json:"version"`
	HTTPPort int         `json:"http_port"`
	By       string      `json:"by"`
	Topics   [][3]string `json:"topics"` // name, set, tombstoned set
}

func (s *Server) setCluster(sv *Survey) {
	c := clusterUI{Known: sv.Up().String(), Topics: make([][2]string, len(sv.Topics)), Producers: make([]producerUI, len(sv.Producers))}
	for i, t := range sv.Topics {
		c.Topics[i] = [2]string{t.Name, t.By.String()}
	}
	for i, p := range sv.Producers {
		pu := producerUI{Address: p.Addr, Hostname: p.Hostname, Version: p.Version, HTTPPort: p.HTTPPort, By: p.By.String(), Topics: make([][3]string, len(p.Topics))}
		for j, t := range p.Topics {
			pu.Topics[j] = [3]string{t.Name, t.By.String(), t.Tombstoned.String()}
		}
		c.Producers[i] = pu
	}
	b, _ := json.Marshal(c)
	s.mu.Lock()
	changed := !bytes.Equal(b, s.cluster)
	s.cluster = b
	s.mu.Unlock()
	if changed {
		s.notify()
	}
}

func (s *Server) addEvents(evs []Event, pending map[trackKey]int) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	first := s.seq - len(s.feed) // seq of s.feed[0]
	for _, ev := range evs {
		k := trackKey{topic: ev.Topic, producer: ev.Producer}
		if ev.Kind == EventReached {
			if seq, ok := pending[k]; ok {
				delete(pending, k)
				if i := seq - first; i >= 0 && i < len(s.feed) {
					e := &s.feed[i]
					e.Reached, e.TookMS, e.By = true, ms(ev.Took), ev.By.And(ev.Up).String()
				}
			}
			continue
		}
		e := feedEntry{Seq: s.seq, At: ev.At, Kind: ev.Kind, Topic: ev.Topic, Producer: ev.Producer, Hostname: ev.Hostname,
			Lookupd: ev.Lookupd, Err: ev.Err, By: ev.By.And(ev.Up).String(), TookMS: ms(ev.Took)}
		switch ev.Kind {
		case EventJoined:
			if ev.Complete {
				e.Reached = true
			} else {
				pending[k] = s.seq
			}
		case EventLeft:
			delete(pending, k)
			e.Reached = true
		}
		s.feed = append(s.feed, e)
		s.seq++
	}
	if over := len(s.feed) - s.opts.FeedSize; over > 0 {
		s.feed = append(s.feed[:0:0], s.feed[over:]...)
	}
	// Joins that scrolled out of the feed are no longer tracked.
	for k, seq := range pending {
		if seq < s.seq-len(s.feed) {
			delete(pending, k)
		}
	}
	if s.feedJSON, _ = json.Marshal(s.feed); s.feed == nil {
		s.feedJSON = []byte("[]")
	}
	s.feedVer++
	s.mu.Unlock()
	s.notify()
}

// notify wakes every event stream.
func (s *Server) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	// Everything is in the page: nothing may load from elsewhere.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:")
	w.Write(s.page)
}

// handleEvents streams Server-Sent Events: "lookupds" after every poll,
// "cluster" when topics or producers changed, "feed" when the change feed
// changed. A new stream gets all three at once.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	var lastL, lastC []byte
	lastFeed := -1
	for {
		s.mu.Lock()
		l, c, fv := s.lookupds, s.cluster, s.feedVer
		var feed []byte
		if fv != lastFeed {
			feed = s.feedJSON
			if feed == nil {
				feed = []byte("[]") // no change yet
			}
		}
		s.mu.Unlock()
		var buf bytes.Buffer
		if l != nil && !bytes.Equal(l, lastL) {
			writeEvent(&buf, "lookupds", l)
		}
		if c != nil && !bytes.Equal(c, lastC) {
			writeEvent(&buf, "cluster", c)
		}
		if feed != nil {
			writeEvent(&buf, "feed", feed)
		}
		if buf.Len() > 0 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			fl.Flush()
		}
		lastL, lastC, lastFeed = l, c, fv
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// writeEvent appends one SSE event; data is JSON, which has no newlines.
func writeEvent(buf *bytes.Buffer, name string, data []byte) {
	buf.WriteString("event: ")
	buf.WriteString(name)
	buf.WriteString("\ndata: ")
	buf.Write(data)
	buf.WriteString("\n\n")
}

// handleTopic answers GET /api/topic?name=T: the topic's producers and
// channels as each lookupd lists them, fetched now.
func (s *Server) handleTopic(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "MISSING_ARG_NAME"})
		return
	}
	sv, chans := s.cl.TopicSurvey(r.Context(), name)
	out := struct {
		Topic     string      `json:"topic"`
		Channels  [][2]string `json:"channels"`
		Producers [][2]string `json:"producers"` // address, set
		Lookupds  []lookupdUI `json:"lookupds"`
	}{Topic: name, Channels: make([][2]string, len(chans)), Producers: make([][2]string, len(sv.Producers))}
	for i, c := range chans {
		out.Channels[i] = [2]string{c.Name, c.By.String()}
	}
	for i, p := range sv.Producers {
		out.Producers[i] = [2]string{p.Addr, p.By.String()}
	}
	for _, l := range sv.Lookupds {
		out.Lookupds = append(out.Lookupds, lookupdUI{Address: l.Addr, Up: l.Up(), Error: errText(l.Err), LatencyMS: ms(l.Latency)})
	}
	writeJSON(w, http.StatusOK, out)
}

// actionHeader must be present on every action request. A page from
// another origin cannot send it without a CORS preflight, which this
// server never grants, so the actions cannot be triggered cross-site.
const actionHeader = "X-Lookupctl-Action"

// handleAction runs POST /api/action/{tombstone,delete-topic,
// delete-channel} against every lookupd, when actions are enabled.
func (s *Server) handleAction(w http.ResponseWriter, r *http.Request) {
	if !s.opts.EnableActions {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "ACTIONS_DISABLED"})
		return
	}
	if r.Header.Get(actionHeader) != "1" {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "MISSING_ACTION_HEADER"})
		return
	}
	q := r.URL.Query()
	topic, channel, node := q.Get("topic"), q.Get("channel"), q.Get("node")
	var path string
	switch action := r.PathValue("action"); {
	case topic == "":
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "MISSING_ARG_TOPIC"})
		return
	case action == "tombstone" && node != "":
		path = "/topic/tombstone?topic=" + url.QueryEscape(topic) + "&node=" + url.QueryEscape(node)
	case action == "delete-topic":
		path = "/topic/delete?topic=" + url.QueryEscape(topic)
	case action == "delete-channel" && channel != "":
		path = "/channel/delete?topic=" + url.QueryEscape(topic) + "&channel=" + url.QueryEscape(channel)
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "INVALID_ACTION"})
		return
	}
	addrs, errs := s.cl.post(r.Context(), path)
	type result struct {
		Address string `json:"address"`
		OK      bool   `json:"ok"`
		Error   string `json:"error,omitempty"`
	}
	out := struct {
		Results []result `json:"results"`
	}{}
	status := http.StatusOK
	for i, err := range errs {
		out.Results = append(out.Results, result{Address: addrs[i], OK: err == nil, Error: errText(err)})
		if err != nil {
			status = http.StatusBadGateway
		}
	}
	s.log.Info("action", "path", path, "remote_addr", r.RemoteAddr, "failed", len(errs)-okCount(errs))
	writeJSON(w, status, out)
}

func okCount(errs []error) int {
	n := 0
	for _, e := range errs {
		if e == nil {
			n++
		}
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"INTERNAL_ERROR"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// URL returns the page's address, "http://host:port/".
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/" }

func cmdUI(e *cmdEnv) int {
	log := slog.New(slog.NewTextHandler(e.errw, nil)).With("component", "ui")
	s, err := NewServer(e.cl, e.opts, log)
	if err != nil {
		e.err = err
		return ExitFailed
	}
	e.printf("lookupctl ui: serving %s for %s; Ctrl-C to stop\n", s.URL(), count(len(e.cl.Refresh(e.ctx)), "lookupd"))
	if err := s.Run(e.ctx); err != nil {
		e.err = err
		return ExitFailed
	}
	return ExitOK
}
