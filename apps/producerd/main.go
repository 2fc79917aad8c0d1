package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/producerd"
	"github.com/lookupd/lookupd/lookup/wire"
)

// version is producerd's version, also sent to lookupds in IDENTIFY.
const version = "0.1.0"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := loadOptions(args, stderr)
	if err != nil {
		return command.ExitCode(err, stdout, stderr)
	}

	level := new(slog.LevelVar)
	level.Set(opts.LogLevel.Level())
	handler := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	logger := slog.New(handler)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	d := &daemon{
		args:    args,
		opts:    opts,
		level:   level,
		handler: handler,
		log:     logger,
	}
	if err := d.serve(ctx, stop, hup); err != nil {
		logger.Error("producerd failed", "err", err)
		return 1
	}
	return 0
}

// daemon is one running producerd.
type daemon struct {
	args    []string
	opts    *Options
	level   *slog.LevelVar
	handler slog.Handler
	log     *slog.Logger
}

// serve runs until ctx ends (a signal) or the admin listener fails,
// reloading the config file on every value from hup. On the way out it
// calls stop, which restores the default signal handling, then it
// stops the health checker and the admin API, then withdraws every
// registration from every lookupd within ShutdownTimeout.
func (d *daemon) serve(ctx context.Context, stop context.CancelFunc, hup <-chan os.Signal) error {
	o := d.opts
	regs, err := producerd.ParseRegistrations(o.Register)
	if err != nil {
		return err
	}
	client, err := producer.New(producer.Config{
		LookupdTCPAddresses: o.LookupdTCPAddresses,
		Identity: wire.ProducerInfo{
			BroadcastAddress: o.BroadcastAddress,
			Hostname:         o.Hostname,
			TCPPort:          o.BroadcastTCPPort,
			HTTPPort:         o.BroadcastHTTPPort,
			Version:          version,
		},
		HeartbeatInterval: o.HeartbeatInterval,
		ResyncInterval:    o.ResyncInterval,
		StartSuspended:    o.HealthURL != "",
		Logger:            d.log,
	})
	if err != nil {
		return err
	}
	if err := producerd.Apply(client, nil, regs); err != nil {
		return err
	}
	var health *producerd.Health
	if o.HealthURL != "" {
		health, err = producerd.NewHealth(producerd.HealthConfig{
			URL:      o.HealthURL,
			Interval: o.HealthInterval,
			Rise:     o.HealthRise,
			Fall:     o.HealthFall,
			Logger:   d.log,
		}, client)
		if err != nil {
			return err
		}
	}
	var ln net.Listener
	if o.HTTPAddress != "" {
		ln, err = net.Listen("tcp", o.HTTPAddress)
		if err != nil {
			return fmt.Errorf("listen http %s: %w", o.HTTPAddress, err)
		}
	}

	if err := client.Start(); err != nil {
		return err
	}
	d.log.Info("producerd started", "version", version, "lookupds", strings.Join(o.LookupdTCPAddresses, ","),
		"registrations", len(regs), "health_url", o.HealthURL)

	var wg sync.WaitGroup
	healthCtx, stopHealth := context.WithCancel(context.Background())
	defer stopHealth()
	if health != nil {
		wg.Go(func() { _ = health.Run(healthCtx) })
	}
	var srv *http.Server
	serveErr := make(chan error, 1)
	if ln != nil {
		srv = &http.Server{
			Handler:           producerd.NewAdmin(client, health, d.log),
			ErrorLog:          slog.NewLogLogger(d.handler, slog.LevelWarn),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       60 * time.Second,
		}
		d.log.Info("admin api listening", "addr", ln.Addr().String())
		wg.Go(func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("admin api: %w", err)
			}
		})
	}

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			d.log.Info("signal received, withdrawing registrations")
			break loop
		case runErr = <-serveErr:
			break loop
		case <-hup:
			d.reload(client)
		}
	}

	stop() // a second signal now terminates at once
	stopHealth()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), d.opts.ShutdownTimeout)
	defer cancel()
	if srv != nil {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			d.log.Warn("admin api shutdown", "err", err)
		}
	}
	if err := client.Close(shutdownCtx); err != nil {
		d.log.Warn("withdrawing registrations did not finish", "err", err)
	}
	wg.Wait()
	d.log.Info("producerd stopped")
	return runErr
}

// reload re-reads the command line and config file and applies what can
// change at run time: the registrations and the log level. It logs and
// keeps the running configuration if the new one is invalid.
func (d *daemon) reload(client *producer.Client) {
	next, err := loadOptions(d.args, io.Discard)
	if err != nil {
		d.log.Error("reload failed, keeping the running configuration", "err", err)
		return
	}
	p, err := planReload(d.opts, next)
	if err != nil {
		d.log.Error("reload failed, keeping the running configuration", "err", err)
		return
	}
	for _, name := range p.restartOnly {
		d.log.Warn("option changed; restart to apply it", "option", name)
	}
	if err := producerd.Apply(client, p.unregister, p.register); err != nil {
		d.log.Error("reload applied partly", "err", err)
	}
	d.level.Set(next.LogLevel.Level())
	d.opts.Register = next.Register
	d.opts.LogLevel = next.LogLevel
	d.log.Info("config reloaded", "registered", len(p.register), "unregistered", len(p.unregister))
}

// reloadPlan is what a reload changes.
type reloadPlan struct {
	unregister, register []producer.Registration
	// restartOnly names the flags whose new value needs a restart.
	restartOnly []string
}

// planReload compares the running options with freshly loaded ones.
func planReload(cur, next *Options) (reloadPlan, error) {
	oldRegs, err := producerd.ParseRegistrations(cur.Register)
	if err != nil {
		return reloadPlan{}, err
	}
	newRegs, err := producerd.ParseRegistrations(next.Register)
	if err != nil {
		return reloadPlan{}, err
	}
	var p reloadPlan
	p.unregister, p.register = producerd.Diff(oldRegs, newRegs)
	cv, nv := reflect.ValueOf(cur).Elem(), reflect.ValueOf(next).Elem()
	for i := range cv.NumField() {
		name := cv.Type().Field(i).Tag.Get("flag")
		if name == "" || name == "register" || name == "log-level" {
			continue
		}
		if !reflect.DeepEqual(cv.Field(i).Interface(), nv.Field(i).Interface()) {
			p.restartOnly = append(p.restartOnly, name)
		}
	}
	return p, nil
}
