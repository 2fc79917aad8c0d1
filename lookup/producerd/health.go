package producerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// Defaults of HealthConfig, as HAProxy's check defaults (inter 2s, rise 2,
// fall 3).
const (
	DefaultHealthInterval = 2 * time.Second
	DefaultHealthRise     = 2
	DefaultHealthFall     = 3
)

// HealthConfig configures a Health checker. Zero fields take the defaults.
type HealthConfig struct {
	// URL is fetched with GET; any 2xx status is healthy, anything else
	// (including a timeout or refused connection) is a failure.
	URL string
	// Interval is the time between checks (default 2 s). Each check's
	// timeout is the interval, so checks never overlap.
	Interval time.Duration
	// Rise is how many consecutive successes make an unhealthy service
	// healthy (default 2).
	Rise int
	// Fall is how many consecutive failures make a healthy service
	// unhealthy (default 3).
	Fall int
	// Logger receives transitions and check errors (default: text to
	// stderr).
	Logger *slog.Logger
}

// Gate is what a Health checker drives; *producer.Client implements it.
type Gate interface {
	Suspend()
	Resume()
}

// HealthStatus is a snapshot of a Health checker.
type HealthStatus struct {
	// URL is the checked URL.
	URL string `json:"url"`
	// Healthy is the gated state: true while announcing.
	Healthy bool `json:"healthy"`
	// ConsecutiveOK and ConsecutiveFail count the current run of results.
	ConsecutiveOK   int `json:"consecutive_ok"`
	ConsecutiveFail int `json:"consecutive_fail"`
	// Checks counts every check made.
	Checks int `json:"checks"`
	// LastError is the last check's failure, empty after a success.
	LastError string `json:"last_error,omitempty"`
	// LastCheck is when the last check finished.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastChange is when Healthy last changed.
	LastChange time.Time `json:"last_change,omitzero"`
}

// Health checks a URL periodically and suspends or resumes a Gate, with
// hysteresis: a service starts unhealthy (as in HAProxy and nerve), becomes
// healthy after Rise consecutive successes and unhealthy again after Fall
// consecutive failures. Status is safe for concurrent use; Run must be
// called once.
type Health struct {
	cfg    HealthConfig
	gate   Gate
	log    *slog.Logger
	client *http.Client

	mu sync.Mutex
	st HealthStatus
}

// ValidateHealthURL reports whether s is an absolute http or https URL
// with a host.
func ValidateHealthURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err // url.Error names the operation and the URL
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want http(s)://host[:port]/path, got %q", s)
	}
	return nil
}

// NewHealth validates cfg and returns a checker for gate. It starts
// nothing; call Run.
func NewHealth(cfg HealthConfig, gate Gate) (*Health, error) {
	if err := ValidateHealthURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("health url: %w", err)
	}
	if gate == nil {
		return nil, errors.New("health checker needs a gate")
	}
	if cfg.Interval < 0 || cfg.Rise < 0 || cfg.Fall < 0 {
		return nil, errors.New("health interval, rise and fall must not be negative")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultHealthInterval
	}
	if cfg.Rise == 0 {
		cfg.Rise = DefaultHealthRise
	}
	if cfg.Fall == 0 {
		cfg.Fall = DefaultHealthFall
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return &Health{
		cfg:  cfg,
		gate: gate,
		log:  cfg.Logger.With("component", "health", "url", cfg.URL),
		client: &http.Client{
			Timeout:   cfg.Interval,
			Transport: &http.Transport{Proxy: nil, MaxIdleConns: 1, IdleConnTimeout: 2 * cfg.Interval},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is not 2xx
			},
		},
		st: HealthStatus{URL: cfg.URL},
	}, nil
}

// Status returns a snapshot.
func (h *Health) Status() HealthStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

// Run suspends the gate, then checks at once and every Interval until ctx
// ends, resuming and suspending the gate on transitions. It blocks until
// ctx ends, leaves the gate as it was, and returns nil.
func (h *Health) Run(ctx context.Context) error {
	defer h.client.CloseIdleConnections()
	h.gate.Suspend()
	tick := time.NewTicker(h.cfg.Interval)
	defer tick.Stop()
	for {
		err := h.check(ctx)
		if ctx.Err() != nil {
			return nil // a check cut short by shutdown says nothing
		}
		h.record(err)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// check performs one GET; nil means healthy.
func (h *Health) check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.URL, nil)
	if err != nil {
		return err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// record counts a result and drives the gate on a transition.
func (h *Health) record(err error) {
	h.mu.Lock()
	st := &h.st
	st.Checks++
	st.LastCheck = time.Now()
	change := 0
	if err == nil {
		st.ConsecutiveOK++
		st.ConsecutiveFail = 0
		st.LastError = ""
		if !st.Healthy && st.ConsecutiveOK >= h.cfg.Rise {
			st.Healthy, st.LastChange, change = true, st.LastCheck, +1
		}
	} else {
		st.ConsecutiveFail++
		st.ConsecutiveOK = 0
		st.LastError = err.Error()
		if st.Healthy && st.ConsecutiveFail >= h.cfg.Fall {
			st.Healthy, st.LastChange, change = false, st.LastCheck, -1
		}
	}
	h.mu.Unlock()
	switch {
	case change > 0:
		h.log.Info("service healthy, announcing")
		h.gate.Resume()
	case change < 0:
		h.log.Warn("service unhealthy, withdrawing", "err", err)
		h.gate.Suspend()
	case err != nil:
		h.log.Debug("health check failed", "err", err)
	}
}
