package producerd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lookupd/lookupd/clientmerge/credentials"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Daemon is one producerd: a producer.Client announcing the configured
// registrations to every lookupd, an optional health checker gating them,
// and an optional admin HTTP API. New binds, Run serves, Reload applies a
// new configuration while Run serves. Its methods are safe for concurrent
// use.
type Daemon struct {
	log    *slog.Logger
	level  *slog.LevelVar // nil when Options.Logger was given
	client *producer.Client
	health *Health      // nil without HealthURL
	admin  *http.Server // nil without HTTPAddress
	ln     net.Listener // the admin API's; nil without HTTPAddress

	shutdownTimeout time.Duration
	runOnce         sync.Once

	mu   sync.Mutex // serialises Reload; guards opts
	opts Options    // the running configuration
}

// New validates opts, prepares the client with the configured
// registrations and binds the admin API's listener (so AdminAddr is known
// at once). It starts nothing: call Run, or Close to release the listener.
// opts is copied.
func New(opts *Options) (*Daemon, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid options: %w", err)
	}
	d := &Daemon{opts: *opts, shutdownTimeout: opts.ShutdownTimeout}
	d.opts.LookupdTCPAddresses = slices.Clone(opts.LookupdTCPAddresses)
	d.opts.Register = slices.Clone(opts.Register)
	d.log = opts.Logger
	if d.log == nil {
		d.level = new(slog.LevelVar)
		d.level.Set(opts.LogLevel.Level())
		d.log = slog.New(config.NewTextHandler(config.PrefixWriter(os.Stderr, opts.LogPrefix), d.level))
	}
	regs, err := ParseRegistrations(opts.Register)
	if err != nil {
		return nil, err
	}
	var token string
	if opts.AuthTokenFile != "" {
		if token, err = credentials.ReadTokenFile(opts.AuthTokenFile); err != nil {
			return nil, err
		}
	}
	var tlsConfig *tls.Config
	if opts.TLS {
		if tlsConfig, err = opts.tlsFiles().Config(); err != nil {
			return nil, err
		}
	}
	d.client, err = producer.New(producer.Config{
		LookupdTCPAddresses: opts.LookupdTCPAddresses,
		LookupdDNSRefresh:   opts.LookupdDNSRefresh,
		Resolver:            opts.Resolver,
		Identity: wire.ProducerInfo{
			BroadcastAddress: opts.BroadcastAddress,
			Hostname:         opts.Hostname,
			TCPPort:          opts.BroadcastTCPPort,
			HTTPPort:         opts.BroadcastHTTPPort,
			Version:          config.Version, // sent in IDENTIFY
		},
		AuthToken:         token,
		TLSConfig:         tlsConfig,
		HeartbeatInterval: opts.HeartbeatInterval,
		ResyncInterval:    opts.ResyncInterval,
		StartSuspended:    opts.HealthURL != "",
		Logger:            d.log,
	})
	if err != nil {
		return nil, err
	}
	if err := Apply(d.client, nil, regs); err != nil {
		return nil, err
	}
	if opts.HealthURL != "" {
		d.health, err = NewHealth(HealthConfig{
			URL:      opts.HealthURL,
			Interval: opts.HealthInterval,
			Rise:     opts.HealthRise,
			Fall:     opts.HealthFall,
			Logger:   d.log,
		}, d.client)
		if err != nil {
			return nil, err
		}
	}
	if opts.HTTPAddress != "" {
		if d.ln, err = net.Listen("tcp", opts.HTTPAddress); err != nil {
			return nil, fmt.Errorf("admin api: %w", err) // err names the address
		}
		d.admin = &http.Server{
			Handler:           NewAdmin(d.client, d.health, d.log),
			ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       60 * time.Second,
		}
	}
	return d, nil
}

// Logger returns the logger the daemon logs to.
func (d *Daemon) Logger() *slog.Logger { return d.log }

// AdminAddr returns the admin API's bound address, or nil if it is
// disabled.
func (d *Daemon) AdminAddr() net.Addr {
	if d.ln == nil {
		return nil
	}
	return d.ln.Addr()
}

// Close releases the listener of a Daemon that will never Run. After Run
// it does nothing.
func (d *Daemon) Close() {
	d.runOnce.Do(func() {
		if d.ln != nil {
			d.ln.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), d.shutdownTimeout)
		defer cancel()
		_ = d.client.Close(ctx) // never started: nothing to withdraw
	})
}

// Run connects to every lookupd and announces, serves the admin API and
// runs the health checker until ctx ends or the admin API fails. Then it
// stops the health checker and the admin API and withdraws every
// registration from every lookupd within ShutdownTimeout, and returns
// after every goroutine it started has exited: nil on a clean shutdown.
// Run may be called once.
func (d *Daemon) Run(ctx context.Context) error {
	ran := false
	d.runOnce.Do(func() { ran = true })
	if !ran {
		return errors.New("producerd: Run called twice or after Close")
	}
	if err := d.client.Start(); err != nil {
		return err
	}
	d.mu.Lock()
	o := d.opts
	d.mu.Unlock()
	d.log.Info("producerd started", "version", config.Version, "lookupds", strings.Join(o.LookupdTCPAddresses, ","),
		"registrations", len(d.client.State()), "health_url", o.HealthURL)

	var wg sync.WaitGroup
	healthCtx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	if d.health != nil {
		wg.Go(func() { _ = d.health.Run(healthCtx) })
	}
	serveErr := make(chan error, 1)
	if d.admin != nil {
		d.log.Info("admin api listening", "addr", d.ln.Addr().String())
		wg.Go(func() {
			if err := d.admin.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("admin api: %w", err)
			}
		})
	}

	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("stopping, withdrawing registrations")
	case runErr = <-serveErr:
	}
	stopHealth() // so that it cannot resume the client while it withdraws
	shutdownCtx, cancel := context.WithTimeout(context.Background(), d.shutdownTimeout)
	defer cancel()
	if d.admin != nil {
		if err := d.admin.Shutdown(shutdownCtx); err != nil {
			d.log.Warn("admin api shutdown", "err", err)
		}
	}
	if err := d.client.Close(shutdownCtx); err != nil {
		d.log.Warn("withdrawing registrations did not finish", "err", err)
	}
	wg.Wait()
	d.log.Info("producerd stopped")
	return runErr
}

// Reload applies next, a freshly loaded configuration, to the running
// daemon: registrations added to Register are registered, removed ones
// unregistered (see Diff), and the log level changes at once. Other
// options that differ are logged as needing a restart. If next is invalid
// Reload changes nothing and returns the error; if some registrations
// could not be applied it returns their joined errors after applying the
// rest. It may be called before, during or after Run.
func (d *Daemon) Reload(next *Options) error {
	if err := next.Validate(); err != nil {
		return fmt.Errorf("invalid options: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := planReload(&d.opts, next)
	if err != nil {
		return err
	}
	if d.level == nil && next.LogLevel != d.opts.LogLevel {
		p.restartOnly = append(p.restartOnly, "log-level") // an injected Logger has its own level
	}
	for _, name := range p.restartOnly {
		d.log.Warn("option changed; restart to apply it", "option", name)
	}
	applyErr := Apply(d.client, p.unregister, p.register)
	if d.level != nil {
		d.level.Set(next.LogLevel.Level())
	}
	d.opts.Register = slices.Clone(next.Register)
	d.opts.LogLevel = next.LogLevel
	d.log.Info("config reloaded", "registered", len(p.register), "unregistered", len(p.unregister))
	if applyErr != nil {
		return fmt.Errorf("reload applied partly: %w", applyErr)
	}
	return nil
}

// reloadPlan is what a reload changes.
type reloadPlan struct {
	unregister, register []producer.Registration
	// restartOnly names the flags whose new value needs a restart.
	restartOnly []string
}

// planReload compares the running options with freshly loaded ones.
func planReload(cur, next *Options) (reloadPlan, error) {
	oldRegs, err := ParseRegistrations(cur.Register)
	if err != nil {
		return reloadPlan{}, err
	}
	newRegs, err := ParseRegistrations(next.Register)
	if err != nil {
		return reloadPlan{}, err
	}
	var p reloadPlan
	p.unregister, p.register = Diff(oldRegs, newRegs)
	changed, err := config.Changed(cur, next)
	if err != nil {
		return reloadPlan{}, err
	}
	for _, name := range changed {
		if name != "register" && name != "log-level" {
			p.restartOnly = append(p.restartOnly, name)
		}
	}
	return p, nil
}
