package netscale

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/producer"
)

// RoleEnv names the environment variable that makes a process one of the
// run's hosts instead of the orchestrator: the orchestrator re-executes its
// own binary inside each namespace with RoleEnv set to the Kind.
const RoleEnv = "NETSCALE_ROLE"

// ReadyLine is what a role prints once it serves.
const ReadyLine = "netscale role ready"

// RoleMain runs the role named by RoleEnv, if any, with args (without the
// program name) and returns true and the exit code; it returns false at
// once when RoleEnv is unset. A role runs until SIGTERM, SIGINT or the end
// of its standard input (the orchestrator's bench/proc sends both).
func RoleMain(args []string) (bool, int) {
	kind := os.Getenv(RoleEnv)
	if kind == "" {
		return false, 0
	}
	// Signals stay caught until the process exits: bench/proc stops a
	// role with SIGTERM and the end of its stdin at once, and a SIGTERM
	// arriving after default handling came back would kill a role that
	// is exiting cleanly.
	ctx, cancel := proc.UntilStdinEnds(proc.SignalContext(), os.Stdin)
	defer cancel()
	var err error
	switch Kind(kind) {
	case KindLookupd:
		err = runLookupd(ctx, args)
	case KindProducer:
		err = runControlled(ctx, args, newProducerHost)
	case KindConsumer:
		err = runControlled(ctx, args, newConsumerHost)
	default:
		err = fmt.Errorf("unknown %s %q", RoleEnv, kind)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "netscale %s: %v\n", kind, err)
		return true, 1
	}
	return true, 0
}

// runLookupd is apps/lookupd's main: the same options, loader and server.
func runLookupd(ctx context.Context, args []string) error {
	opts := lookup.NewOptions()
	cmd := config.Command{Name: "lookupd", Version: config.Version}
	if err := cmd.Load(opts, args, os.Stderr); err != nil {
		return err
	}
	opts.Logger = opts.NewLogger()
	srv, err := lookup.New(opts)
	if err != nil {
		return err
	}
	fmt.Println(ReadyLine)
	return srv.Run(ctx)
}

// RoleConfig is what a producer or consumer host is told on its command
// line (-role-config, JSON).
type RoleConfig struct {
	Topology Topology `json:"topology"`
	Host     int      `json:"host"`
	// Producer hosts.
	Heartbeat time.Duration `json:"heartbeat"`
	Resync    time.Duration `json:"resync"`
	IOTimeout time.Duration `json:"io_timeout"`
	// Consumer hosts.
	Timeout time.Duration `json:"timeout"`
}

// controlled is a role served over its control socket.
type controlled interface {
	routes(mux *http.ServeMux)
	close()
}

// runControlled serves a role's control API over HTTP on the unix socket
// named by -control until ctx ends. A path socket works across network
// namespaces, so the orchestrator reaches every host without a network
// address of its own.
func runControlled(ctx context.Context, args []string, newRole func(RoleConfig) (controlled, error)) error {
	fs := flag.NewFlagSet("netscale role", flag.ContinueOnError)
	sock := fs.String("control", "", "unix socket to serve the control API on")
	cfgJSON := fs.String("role-config", "", "RoleConfig as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg RoleConfig
	if err := json.Unmarshal([]byte(*cfgJSON), &cfg); err != nil {
		return fmt.Errorf("-role-config: %w", err)
	}
	role, err := newRole(cfg)
	if err != nil {
		return err
	}
	defer role.close()
	ln, err := net.Listen("unix", *sock)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	role.routes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	fmt.Println(ReadyLine)
	err = srv.Serve(ln)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// handle adapts a JSON-in, JSON-out function to an HTTP handler.
func handle[In, Out any](fn func(context.Context, In) (Out, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in In
		if r.ContentLength != 0 {
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		out, err := fn(r.Context(), in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}

// --- producer host ---

// producerHost runs the producers of one host, one lookup/producer Client
// each, connected to every lookupd.
type producerHost struct {
	cfg RoleConfig
	log *slog.Logger

	mu      sync.Mutex
	clients map[int]*producer.Client
}

func newProducerHost(cfg RoleConfig) (controlled, error) {
	return &producerHost{
		cfg:     cfg,
		log:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		clients: map[int]*producer.Client{},
	}, nil
}

// IDs is a request naming producers.
type IDs struct {
	IDs      []int `json:"ids"`
	Register bool  `json:"register,omitempty"` // start: register at once
	Rate     int   `json:"rate,omitempty"`     // start: producers per second (0: all at once)
}

// Times maps producer ids to when the request acted on them (Unix ns).
type Times struct {
	At map[int]int64 `json:"at"`
}

// ProducerStatus sums the state of a host's producers' connections.
type ProducerStatus struct {
	Clients       int `json:"clients"`
	Links         int `json:"links"`
	Connected     int `json:"connected"`
	Registrations int `json:"registrations"` // acknowledged by lookupds, summed over links
	// Errors counts the links' last errors by text (a link keeps its last
	// error after it recovers), to tell why links are not connected.
	Errors map[string]int `json:"errors,omitempty"`
}

func (h *producerHost) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /start", handle(h.start))
	mux.HandleFunc("POST /register", handle(h.register))
	mux.HandleFunc("POST /stop", handle(h.stop))
	mux.HandleFunc("GET /status", handle(h.status))
}

func (h *producerHost) registerAll(c *producer.Client, p int) error {
	for _, topic := range h.cfg.Topology.TopicsOf(p) {
		if err := c.Register(topic, ""); err != nil {
			return err
		}
		for j := range h.cfg.Topology.Channels {
			if err := c.Register(topic, ChannelName(j)); err != nil {
				return err
			}
		}
	}
	return nil
}

// start makes and starts a client for each id, at most Rate per second.
func (h *producerHost) start(ctx context.Context, req IDs) (Times, error) {
	out := Times{At: make(map[int]int64, len(req.IDs))}
	var tick *time.Ticker
	if req.Rate > 0 {
		tick = time.NewTicker(time.Second / time.Duration(req.Rate))
		defer tick.Stop()
	}
	for _, p := range req.IDs {
		if tick != nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return out, ctx.Err()
			}
		}
		c, err := producer.New(producer.Config{
			LookupdTCPAddresses: h.cfg.Topology.LookupdTCPAddrs(),
			Identity:            h.cfg.Topology.Identity(p),
			HeartbeatInterval:   h.cfg.Heartbeat,
			ResyncInterval:      h.cfg.Resync,
			DialTimeout:         h.cfg.IOTimeout,
			ReadTimeout:         h.cfg.IOTimeout,
			WriteTimeout:        h.cfg.IOTimeout,
			Logger:              h.log,
		})
		if err != nil {
			return out, err
		}
		if req.Register {
			if err := h.registerAll(c, p); err != nil {
				return out, err
			}
		}
		h.mu.Lock()
		if h.clients[p] != nil {
			h.mu.Unlock()
			return out, fmt.Errorf("producer %d already started", p)
		}
		h.clients[p] = c
		h.mu.Unlock()
		out.At[p] = time.Now().UnixNano()
		if err := c.Start(); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (h *producerHost) register(_ context.Context, req IDs) (Times, error) {
	out := Times{At: make(map[int]int64, len(req.IDs))}
	for _, p := range req.IDs {
		h.mu.Lock()
		c := h.clients[p]
		h.mu.Unlock()
		if c == nil {
			return out, fmt.Errorf("producer %d not started", p)
		}
		out.At[p] = time.Now().UnixNano()
		if err := h.registerAll(c, p); err != nil {
			return out, err
		}
	}
	return out, nil
}

// stop closes the clients of ids (each unregisters and disconnects), 64 at
// a time.
func (h *producerHost) stop(ctx context.Context, req IDs) (Times, error) {
	h.mu.Lock()
	var cs []*producer.Client
	var ids []int
	for _, p := range req.IDs {
		if c := h.clients[p]; c != nil {
			cs = append(cs, c)
			ids = append(ids, p)
			delete(h.clients, p)
		}
	}
	h.mu.Unlock()
	at := closeAll(ctx, cs, 64, 10*time.Second)
	out := Times{At: make(map[int]int64, len(ids))}
	for i, p := range ids {
		out.At[p] = at[i]
	}
	return out, nil
}

// closeAll closes cs, n at a time, each with timeout, and returns when
// each Close began (Unix ns).
func closeAll(ctx context.Context, cs []*producer.Client, n int, timeout time.Duration) []int64 {
	at := make([]int64, len(cs))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, c := range cs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			at[i] = time.Now().UnixNano()
			_ = c.Close(cctx) // a deadline only means a lookupd did not hear the UNREGISTER
		})
	}
	wg.Wait()
	return at
}

func (h *producerHost) status(context.Context, struct{}) (ProducerStatus, error) {
	h.mu.Lock()
	cs := make([]*producer.Client, 0, len(h.clients))
	for _, c := range h.clients {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	st := ProducerStatus{Clients: len(cs), Errors: map[string]int{}}
	for _, c := range cs {
		for _, l := range c.Status() {
			st.Links++
			if l.Connected {
				st.Connected++
				st.Registrations += l.Registrations
			} else if l.LastError != "" {
				st.Errors[trimAddrs(l.LastError)]++
			}
		}
	}
	return st, nil
}

func (h *producerHost) close() {
	h.mu.Lock()
	cs := make([]*producer.Client, 0, len(h.clients))
	for _, c := range h.clients {
		cs = append(cs, c)
	}
	h.clients = map[int]*producer.Client{}
	h.mu.Unlock()
	// At exit there is no need to be polite: an ended context makes each
	// Close drop its connections at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	closeAll(ctx, cs, 1024, 0)
}

// --- consumer host ---

// consumerHost watches topics through clientmerge and records when each
// producer enters and leaves its merged view; it also times merged
// lookups and reads the lookupds' /stats.
type consumerHost struct {
	cfg  RoleConfig
	http *http.Client

	mu      sync.Mutex
	events  []Event
	present map[string]int // producer -> number of watched topics listing it
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Event is a producer entering ("join") or leaving ("leave") a consumer's
// merged view of the watched topics, at T (Unix ns).
type Event struct {
	T        int64  `json:"t"`
	Producer string `json:"producer"`
	Kind     string `json:"kind"`
}

// WatchRequest starts watchers.
type WatchRequest struct {
	Topics   []string      `json:"topics"`
	Interval time.Duration `json:"interval"`
}

// LatencyRequest asks for Calls sequential merged lookups of Topic over
// the first Lookupds lookupds.
type LatencyRequest struct {
	Topic    string `json:"topic"`
	Lookupds int    `json:"lookupds"`
	Calls    int    `json:"calls"`
}

// LatencyResult holds each call's latency (ns), the failed calls and the
// producers of the last answer.
type LatencyResult struct {
	Latencies []int64 `json:"latencies"`
	Errors    int     `json:"errors"`
	Producers int     `json:"producers"`
}

// LookupdCounts is each lookupd's /stats producers and registrations, in
// lookupd order; -1 where a lookupd did not answer.
type LookupdCounts struct {
	Producers     []int `json:"producers"`
	Registrations []int `json:"registrations"`
}

func newConsumerHost(cfg RoleConfig) (controlled, error) {
	return &consumerHost{
		cfg:     cfg,
		http:    &http.Client{Timeout: cfg.Timeout},
		present: map[string]int{},
	}, nil
}

func (h *consumerHost) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /watch", handle(h.watch))
	mux.HandleFunc("POST /unwatch", handle(h.unwatch))
	mux.HandleFunc("GET /events", handle(h.eventList))
	mux.HandleFunc("POST /latency", handle(h.latency))
	mux.HandleFunc("GET /counts", handle(h.counts))
}

func (h *consumerHost) watch(_ context.Context, req WatchRequest) (struct{}, error) {
	c, err := clientmerge.New(h.cfg.Topology.LookupdHTTPAddrs(), clientmerge.WithTimeout(h.cfg.Timeout))
	if err != nil {
		return struct{}{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel != nil {
		return struct{}{}, errors.New("already watching")
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	for _, topic := range req.Topics {
		var last []string
		h.wg.Go(func() {
			_ = clientmerge.Watch(ctx, c, clientmerge.LookupQuery(topic), req.Interval, func(res *clientmerge.LookupResult) {
				now := time.Now().UnixNano()
				cur := make([]string, len(res.Producers))
				for i, p := range res.Producers {
					cur[i] = p.TCPAddr()
				}
				slices.Sort(cur)
				h.update(now, last, cur)
				last = cur
			})
		})
	}
	return struct{}{}, nil
}

// update applies one topic's change from old to cur (both sorted).
func (h *consumerHost) update(now int64, old, cur []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range cur {
		if _, ok := slices.BinarySearch(old, p); !ok {
			if h.present[p]++; h.present[p] == 1 {
				h.events = append(h.events, Event{T: now, Producer: p, Kind: "join"})
			}
		}
	}
	for _, p := range old {
		if _, ok := slices.BinarySearch(cur, p); !ok {
			if h.present[p]--; h.present[p] == 0 {
				delete(h.present, p)
				h.events = append(h.events, Event{T: now, Producer: p, Kind: "leave"})
			}
		}
	}
}

func (h *consumerHost) unwatch(context.Context, struct{}) (struct{}, error) {
	h.mu.Lock()
	cancel := h.cancel
	h.cancel = nil
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		h.wg.Wait()
	}
	h.mu.Lock()
	h.present = map[string]int{}
	h.mu.Unlock()
	return struct{}{}, nil
}

func (h *consumerHost) eventList(context.Context, struct{}) ([]Event, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events), nil
}

func (h *consumerHost) latency(ctx context.Context, req LatencyRequest) (LatencyResult, error) {
	addrs := h.cfg.Topology.LookupdHTTPAddrs()
	if req.Lookupds < 1 || req.Lookupds > len(addrs) || req.Calls < 1 {
		return LatencyResult{}, fmt.Errorf("lookupds %d (of %d), calls %d", req.Lookupds, len(addrs), req.Calls)
	}
	c, err := clientmerge.New(addrs[:req.Lookupds], clientmerge.WithTimeout(h.cfg.Timeout))
	if err != nil {
		return LatencyResult{}, err
	}
	defer c.CloseIdleConnections()
	out := LatencyResult{Latencies: make([]int64, 0, req.Calls)}
	for range req.Calls {
		start := time.Now()
		res, err := c.Lookup(ctx, req.Topic)
		out.Latencies = append(out.Latencies, int64(time.Since(start)))
		if err != nil {
			out.Errors++
			continue
		}
		out.Producers = len(res.Producers)
	}
	return out, nil
}

func (h *consumerHost) counts(ctx context.Context, _ struct{}) (LookupdCounts, error) {
	addrs := h.cfg.Topology.LookupdHTTPAddrs()
	out := LookupdCounts{Producers: make([]int, len(addrs)), Registrations: make([]int, len(addrs))}
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			out.Producers[i], out.Registrations[i] = -1, -1
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+"/stats", nil)
			if err != nil {
				return
			}
			resp, err := h.http.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var st struct {
				Producers     int `json:"producers"`
				Registrations int `json:"registrations"`
			}
			if resp.StatusCode == http.StatusOK && json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st) == nil {
				out.Producers[i], out.Registrations[i] = st.Producers, st.Registrations
			}
		})
	}
	wg.Wait()
	return out, nil
}

func (h *consumerHost) close() { _, _ = h.unwatch(context.Background(), struct{}{}) }

// roleArgs returns the command line of a producer or consumer host.
func roleArgs(sock string, cfg RoleConfig) ([]string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return []string{"-control=" + sock, "-role-config=" + string(b)}, nil
}

// trimAddrs replaces the addresses and ports in an error text by "ADDR",
// so that the same error on different connections counts once.
func trimAddrs(s string) string {
	f := strings.Fields(s)
	for i, w := range f {
		if strings.Count(w, ".") == 3 && strings.Contains(w, ":") {
			f[i] = "ADDR"
		}
	}
	return strings.Join(f, " ")
}

// trimErr shortens an HTTP error body for messages.
func trimErr(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
