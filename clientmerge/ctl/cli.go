package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
)

// Exit codes of Main.
const (
	// ExitOK: the command succeeded; for diff, the lookupds agree.
	ExitOK = 0
	// ExitDiverged: diff found something the lookupds disagree on.
	ExitDiverged = 1
	// ExitUnreachable: at least one lookupd did not answer. What the
	// others answered is still printed. diff reports this before
	// ExitDiverged.
	ExitUnreachable = 2
	// ExitFailed: the command failed for another reason (the web view could
	// not listen, output could not be written).
	ExitFailed = 3
	// ExitUsage: bad command line or options.
	ExitUsage = 64
)

// Usage is the text of lookupctl --help.
const Usage = `lookupctl: ask every lookupd at once and show where they agree and differ.

Usage:
  lookupctl [flags] COMMAND [ARGS] [flags]

Commands:
  lookup TOPIC     the producers of TOPIC merged over all lookupds, each with
                   "seen by N/M" and the lookupds that miss it; the channels
  topics           every topic, with the lookupds that list it
  channels TOPIC   the channels of TOPIC, with the lookupds that list each
  nodes            every producer (the /nodes entries), with its topics
  health           per lookupd: reachable, latency, version, /stats counts
  diff             every topic, channel, producer and tombstone the lookupds
                   disagree on, and the lookupds that are down (for
                   monitoring; see exit codes)
  watch [TOPIC]    one timestamped line per change until interrupted: a
                   producer joined, reached every lookupd, left; a lookupd
                   went down or came back. Without TOPIC, producers joining
                   and leaving the cluster (/nodes); with it, that topic
  ui               serve the live web view of the cluster until interrupted
  dns              serve the merged view over DNS until interrupted:
                   _TOPIC._tcp.ZONE SRV and TOPIC.ZONE A/AAAA records of the
                   producers any lookupd lists (see the README's DNS section)
  help             this text

Flags (anywhere on the line; --flag and -flag are the same):
  --lookupd-http-address ADDR  a lookupd's HTTP address, host:port,
                               http(s)://host:port or srv+NAME; a name may
                               stand for several lookupds (watch, ui and dns
                               follow it; the other commands resolve it
                               once); repeat for each.
                               Default: $LOOKUPD_HTTP_ADDRESSES, a
                               comma-separated list
  -o, --output FORMAT          table (default) or json. watch prints one JSON
                               object per line
  --timeout DURATION           bound on each lookupd's answer (default 5s)
  --lookupd-dns-refresh D      watch, ui, dns: resolve names among the
                               addresses again this often (default 30s,
                               0: once)
  --auth-token-file FILE       bearer token for lookupds run with --auth-file:
                               read (for --auth-reads) or admin (ui actions)
  --interval DURATION          watch, ui: health probe interval, and polling
                               interval for lookupds without blocking
                               queries (default 500ms)
  --http-address ADDR          ui: listen address (default 127.0.0.1:4171)
  --enable-actions             ui: offer tombstoning a producer and deleting
                               topics and channels (default: read-only)
  --feed-size N                ui: changes kept in the feed (default 200)
  --tls-ca-file FILE           PEM CAs that verify https:// lookupds
                               (default: the system's)
  --tls-cert FILE, --tls-key FILE
                               client certificate and key, for lookupds run
                               with --tls-client-ca
  --tls-server-name NAME       name the lookupds' certificates must carry
  --dns-address ADDR           dns: UDP and TCP listen address (default
                               127.0.0.1:4153)
  --dns-zone ZONE              dns: domain answered for (default lookupd.)
  --dns-ttl DURATION           dns: TTL of the records (default 5s)
  --dns-max-tcp-connections N  dns: concurrent TCP connections (default 256,
                               0: no limit)
  --dns-tcp-idle-timeout D     dns: close a TCP connection idle this long
                               (default 10s)
  --dns-max-udp-size N         dns: largest UDP answer EDNS0 may ask for
                               (default 1232)
  --dns-udp-workers N          dns: UDP queries answered at once (default 64)
  --config FILE                a TOML file with these options, keys with
                               underscores (lookupd_http_address = [...]);
                               the command line beats it, it beats
                               $LOOKUPD_HTTP_ADDRESSES
  --version                    print the version and exit
  -h, --help                   this text

Exit codes:
  0   success; for diff: every answering lookupd agrees
  1   diff: the lookupds disagree
  2   a lookupd could not be reached (the others' answers are still shown;
      for diff this wins over 1)
  3   another failure (ui cannot listen, output cannot be written)
  64  usage error

Examples:
  export LOOKUPD_HTTP_ADDRESSES=10.0.0.1:4161,10.0.0.2:4161,10.0.0.3:4161
  lookupctl lookup orders
  lookupctl diff -o json || alert
  lookupctl watch orders
  lookupctl ui --http-address=127.0.0.1:4171
  lookupctl dns --dns-address=127.0.0.1:4153 &
  dig @127.0.0.1 -p 4153 _orders._tcp.lookupd. SRV
`

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Main runs lookupctl with args (without the program name) and returns the
// exit code, reading options from the command line and the environment
// only (no --config): MainWithLoader with a nil Loader.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return MainWithLoader(ctx, args, getenv, stdout, stderr, nil)
}

// MainWithLoader runs lookupctl with args (without the program name) and
// returns the exit code. getenv reads the environment (os.Getenv); load,
// if not nil, reads the flags and the --config file (see Loader). Output
// goes to stdout, every error as one line "lookupctl: …" to stderr. watch
// and ui run until ctx ends; ending them that way exits 0. It is safe to
// call concurrently with different writers. It is MainWithHooks with only
// the Loader.
func MainWithLoader(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, load Loader) int {
	return MainWithHooks(ctx, args, getenv, stdout, stderr, Hooks{Load: load})
}

// Hooks are what the lookupctl binary hands ctl from packages ctl does not
// import (it imports nothing from github.com/lookupd/lookupd/lookup).
type Hooks struct {
	// Load reads the flags and the --config file; see Loader. Nil: the
	// command line and the environment only.
	Load Loader
	// ServeDNS runs the dns command: it serves the merged view of c over
	// DNS as cfg says until ctx ends, calls ready with the bound address
	// once it listens, and returns nil after a clean shutdown. lookupctl
	// passes lookup/mergeddns.Serve. Nil: dns fails, saying so.
	ServeDNS func(ctx context.Context, c *clientmerge.Client, cfg DNSConfig, ready func(addr string)) error
	// Resolver resolves lookupd addresses that are names; nil:
	// net.DefaultResolver. Tests point it at an in-process DNS server.
	Resolver dnsaddr.Resolver
}

// MainWithHooks is MainWithLoader with every hook.
func MainWithHooks(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h Hooks) int {
	code, err := run(ctx, args, getenv, stdout, stderr, h)
	if err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(stderr, "lookupctl: %s\n", line)
		}
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "lookupctl: see lookupctl --help")
	}
	return code
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h Hooks) (int, error) {
	opts, pos, err := parseArgs(args, getenv, h.Load)
	switch {
	case errors.Is(err, flag.ErrHelp):
		io.WriteString(stdout, Usage)
		return ExitOK, nil
	case err != nil:
		return ExitUsage, &usageError{msg: err.Error()}
	}
	cmd := commands[pos[0]]
	copts, err := opts.clientOptions()
	if err != nil {
		return ExitUsage, &usageError{msg: err.Error()}
	}
	copts = append(copts, opts.dnsOptions(h.Resolver)...)
	// Resolution failures and nothing else: watch and ui report the
	// lookupds that join and leave themselves.
	dnsLog := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "dns")
	cl, err := newCluster(opts.LookupdHTTPAddresses, opts.Timeout, nil, dnsLog, copts)
	if err != nil {
		return ExitUsage, &usageError{msg: err.Error()}
	}
	defer cl.Close()
	env := &cmdEnv{ctx: ctx, opts: opts, clientOpts: copts, cl: cl, args: pos[1:], out: stdout, errw: stderr, hooks: h}
	code := cmd.run(env)
	if env.writeErr != nil {
		return ExitFailed, fmt.Errorf("write output: %w", env.writeErr)
	}
	return code, env.err
}

// command is one subcommand.
type command struct {
	args             string // for the usage error
	minArgs, maxArgs int
	run              func(*cmdEnv) int
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"lookup":   {args: "one argument, the topic", minArgs: 1, maxArgs: 1, run: cmdLookup},
		"topics":   {args: "no arguments", run: cmdTopics},
		"channels": {args: "one argument, the topic", minArgs: 1, maxArgs: 1, run: cmdChannels},
		"nodes":    {args: "no arguments", run: cmdNodes},
		"health":   {args: "no arguments", run: cmdHealth},
		"diff":     {args: "no arguments", run: cmdDiff},
		"watch":    {args: "at most one argument, a topic", maxArgs: 1, run: cmdWatch},
		"ui":       {args: "no arguments", run: cmdUI},
		"dns":      {args: "no arguments", run: cmdDNS},
	}
}

// cmdEnv is what a command runs with.
type cmdEnv struct {
	ctx        context.Context
	opts       *Options
	clientOpts []clientmerge.Option // the credentials and DNS options, for clients of its own
	cl         *Cluster
	args       []string
	out        io.Writer
	errw       io.Writer
	err        error // printed by Main
	writeErr   error
	hooks      Hooks
}

// warnDown prints one line per lookupd that did not answer and returns
// ExitUnreachable if there was one, else ExitOK.
func (e *cmdEnv) warnDown(states []LookupdState) int {
	code := ExitOK
	for _, s := range states {
		if !s.Up() {
			fmt.Fprintf(e.errw, "lookupctl: lookupd %s unreachable: %v\n", s.Addr, s.Err)
			code = ExitUnreachable
		}
	}
	return code
}
