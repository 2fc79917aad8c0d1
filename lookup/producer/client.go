package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Errors returned by Client methods; callers may branch on them with
// errors.Is.
var (
	// ErrClosed is returned by Register, Unregister and Start after Close.
	ErrClosed = errors.New("producer client closed")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("producer client already started")
	// ErrBadTopic wraps every rejected topic name.
	ErrBadTopic = errors.New("invalid topic name")
	// ErrBadChannel wraps every rejected channel name.
	ErrBadChannel = errors.New("invalid channel name")
)

type phase int

const (
	phaseNew phase = iota
	phaseStarted
	phaseClosed
)

// Client announces registrations to a set of lookupds. All methods are safe
// for concurrent use. Register, Unregister, Suspend and Resume only change
// local state and return at once; the connection goroutines deliver the
// change to every connected lookupd, and to the others when they connect.
type Client struct {
	cfg Config
	log *slog.Logger

	// stopCtx ends when Close begins: connections drain and goroutines
	// exit. hardCtx ends when Close's context ends or Close is done: all
	// I/O is interrupted.
	stopCtx    context.Context
	stopCancel context.CancelFunc
	hardCtx    context.Context
	hardCancel context.CancelFunc

	wg     sync.WaitGroup
	closed chan struct{} // closed when the first Close has finished waiting

	// names expands LookupdTCPAddresses when some are DNS names; nil
	// when all are literal.
	names *dnsaddr.Set
	// failing is followDNS's record of the names that fail, so that each
	// failure is logged once.
	failing dnsaddr.Failures

	mu        sync.Mutex
	phase     phase
	regs      regSet
	suspended bool
	links     []*link
}

// New validates cfg, applies defaults and returns a Client that has not
// started; it starts no goroutine and opens no connection. Registrations
// made before Start are sent on the first connect.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("producer config: %w", err)
	}
	c := &Client{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "producer"),
		closed:    make(chan struct{}),
		regs:      make(regSet),
		suspended: cfg.StartSuspended,
	}
	c.stopCtx, c.stopCancel = context.WithCancel(context.Background())
	c.hardCtx, c.hardCancel = context.WithCancel(context.Background())
	for _, addr := range cfg.LookupdTCPAddresses {
		if dnsaddr.IsName(addr) {
			if c.names, err = dnsaddr.New(cfg.LookupdTCPAddresses, cfg.Resolver); err != nil {
				return nil, fmt.Errorf("producer config: lookupd %w", err)
			}
			continue
		}
		c.links = append(c.links, c.newLink(addr, ""))
	}
	return c, nil
}

// Identity returns the identity sent in IDENTIFY, with defaults applied.
func (c *Client) Identity() wire.ProducerInfo { return c.cfg.Identity }

// Start launches one goroutine per lookupd and returns at once. It fails
// with ErrStarted if called twice and ErrClosed after Close.
func (c *Client) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.phase {
	case phaseStarted:
		return ErrStarted
	case phaseClosed:
		return ErrClosed
	}
	c.phase = phaseStarted
	for _, l := range c.links {
		c.wg.Go(l.run)
	}
	if c.names != nil {
		c.wg.Go(c.followDNS)
	}
	return nil
}

// Close withdraws every registration and stops the Client. Each connected
// lookupd is sent UNREGISTER for everything it holds from us, then its
// connection is closed; lookupds that are not connected hold nothing from
// us and are skipped. Close blocks until every goroutine of the Client has
// exited. If ctx ends first, all I/O is interrupted (the connections close,
// which also drops our registrations on the lookupd), Close waits for the
// goroutines, which takes no longer than it takes them to notice, and
// returns an error wrapping ctx.Err(). Later calls wait for the first one
// and return nil. The local state stays readable with State.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	prev := c.phase
	c.phase = phaseClosed
	c.mu.Unlock()
	if prev == phaseClosed {
		select {
		case <-c.closed:
		case <-ctx.Done():
			return fmt.Errorf("close producer client: %w", ctx.Err())
		}
		return nil
	}
	defer close(c.closed)
	c.stopCancel()
	done := make(chan struct{})
	var waiter sync.WaitGroup
	waiter.Go(func() {
		c.wg.Wait()
		close(done)
	})
	defer waiter.Wait()
	select {
	case <-done:
		c.hardCancel()
		return nil
	case <-ctx.Done():
		c.hardCancel()
		<-done
		return fmt.Errorf("close producer client: %w", ctx.Err())
	}
}

func checkNames(topic, channel string) error {
	if !wire.IsValidTopicName(topic) {
		return fmt.Errorf("%w: %q", ErrBadTopic, topic)
	}
	if channel != "" && !wire.IsValidChannelName(channel) {
		return fmt.Errorf("%w: %q", ErrBadChannel, channel)
	}
	return nil
}

// Register announces topic, or channel of topic when channel is not empty
// (which announces the topic too). Names are validated first; an invalid
// one returns an error wrapping ErrBadTopic or ErrBadChannel and nothing is
// sent. Registering what is already registered is a no-op. Register does
// not wait for the lookupds.
func (c *Client) Register(topic, channel string) error {
	if err := checkNames(topic, channel); err != nil {
		return err
	}
	return c.update(func() bool { return c.regs.add(topic, channel) })
}

// Unregister withdraws a registration: with an empty channel the topic and
// all its channels, otherwise only that channel (the topic stays
// announced). Names are validated as in Register. Unregistering what is not
// registered is a no-op. Unregister does not wait for the lookupds.
func (c *Client) Unregister(topic, channel string) error {
	if err := checkNames(topic, channel); err != nil {
		return err
	}
	return c.update(func() bool { return c.regs.remove(topic, channel) })
}

// update applies change under the lock and wakes the connections if it
// changed anything.
func (c *Client) update(change func() bool) error {
	c.mu.Lock()
	if c.phase == phaseClosed {
		c.mu.Unlock()
		return ErrClosed
	}
	changed := change()
	c.mu.Unlock()
	if changed {
		c.notifyAll()
	}
	return nil
}

// Suspend withdraws every registration from every lookupd while keeping
// them locally; connections and heartbeats continue, so the producer stays
// known to the lookupds but is listed for no topic. Resume announces them
// again. Both are idempotent and return at once.
func (c *Client) Suspend() { c.setSuspended(true) }

// Resume ends a Suspend; see Suspend.
func (c *Client) Resume() { c.setSuspended(false) }

// Suspended reports whether the Client is suspended.
func (c *Client) Suspended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.suspended
}

func (c *Client) setSuspended(v bool) {
	c.mu.Lock()
	changed := c.suspended != v
	c.suspended = v
	c.mu.Unlock()
	if changed {
		if v {
			c.log.Info("announcements suspended")
		} else {
			c.log.Info("announcements resumed")
		}
		c.notifyAll()
	}
}

func (c *Client) notifyAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.links {
		select {
		case l.notify <- struct{}{}:
		default:
		}
	}
}

// desired returns a copy of what every lookupd should hold: nothing while
// suspended or closing, the registrations otherwise.
func (c *Client) desired() regSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.suspended || c.phase == phaseClosed {
		return regSet{}
	}
	return c.regs.clone()
}

// State returns the local registrations in wire form, sorted by topic then
// channel: one entry with an empty Channel for a topic without channels,
// one entry per channel otherwise. It includes registrations withheld by
// Suspend. The caller owns the returned slice.
func (c *Client) State() []Registration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regs.list()
}

// LookupdStatus describes the connection to one lookupd.
type LookupdStatus struct {
	// Address is the lookupd's TCP address as configured, or one address
	// a configured name stands for.
	Address string `json:"address"`
	// Name is the configured DNS name Address was found through; empty
	// for an address configured as such.
	Name string `json:"name,omitempty"`
	// Connected is true from a completed IDENTIFY until the connection
	// ends.
	Connected bool `json:"connected"`
	// RemoteVersion is the version the lookupd gave in its IDENTIFY reply.
	RemoteVersion string `json:"remote_version,omitempty"`
	// Registrations is how many registrations (wire form) the lookupd has
	// acknowledged on the current connection.
	Registrations int `json:"registrations"`
	// LastError is the text of the last error (I/O, timeout, or an E_*
	// reply from the lookupd), kept after a reconnect.
	LastError string `json:"last_error,omitempty"`
	// LastErrorTime is when LastError happened.
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// LastHeartbeat is when a PING was last answered OK.
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	// LastResync is when the whole state was last sent and acknowledged
	// (on connect and every resync interval).
	LastResync time.Time `json:"last_resync,omitzero"`
	// Connects counts completed IDENTIFYs since Start.
	Connects int `json:"connects"`
	// Failures counts failed attempts since the connection was last
	// healthy (answered a PING).
	Failures int `json:"failures"`
}

// Status returns the state of each lookupd connection: the configured
// addresses in the order of Config.LookupdTCPAddresses, then the ones
// names stand for in the order they appeared. The caller owns the returned slice.
func (c *Client) Status() []LookupdStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]LookupdStatus, len(c.links))
	for i, l := range c.links {
		out[i] = l.status
	}
	return out
}
