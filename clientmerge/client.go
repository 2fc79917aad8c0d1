package clientmerge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Client asks every configured lookupd at once and merges their answers.
// It is safe for concurrent use by multiple goroutines; its configuration
// cannot change after New. It holds no goroutines between calls.
type Client struct {
	addrs        []string // as given to New
	lookupds     *lookupds
	http         *http.Client
	ownTransport *http.Transport // nil when the caller supplied the client
	// watchHTTP sends Watch's requests. Its own transport keeps many idle
	// connections per lookupd and has no header timeout: a blocking query
	// is bounded by its context, set from its wait.
	watchHTTP      *http.Client
	watchTransport *http.Transport // nil when the caller supplied the client
	blockingWait   time.Duration
	logger         *slog.Logger
	timeout        time.Duration
	minResponses   int
	concurrency    int
	maxBytes       int64
	snaps          *snapshotStore // nil when snapshots are off
	token          string         // bearer token; "" for none
}

// New returns a Client for the lookupds at httpAddrs. Each address is
// "host:port", a base URL such as "http://host:port", or "srv+NAME" for
// the SRV records NAME has (ports included). A host name in "host:port" or
// an http base URL stands for one lookupd per address it resolves to, each
// with the given port; an https URL is used as given. Names are resolved
// at the first call and again every WithDNSRefresh (30 s), at the first
// call after it; a lookupd that appears joins the fan-out and one that
// goes is dropped. A name that fails keeps the addresses it last resolved
// to (logged as a warning once, until it resolves again or fails
// differently); one that never resolved is reported in every
// call as a failed lookupd under its given address. Each Response and
// error names a lookupd as given, or for a name, in the same form with the
// address it stands for ("10.0.0.1:4161"). Literal IP addresses need no
// DNS.
//
// New does no I/O. It fails for an empty list, an empty, unparseable or
// repeated address, or an invalid option.
func New(httpAddrs []string, opts ...Option) (*Client, error) {
	s := settings{
		timeout:      DefaultTimeout,
		minResponses: 1,
		snapshots:    true,
		maxSnapshots: DefaultMaxSnapshots,
		concurrency:  DefaultMaxConcurrency,
		maxBytes:     DefaultMaxResponseBytes,
		blockingWait: DefaultBlockingWait,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&s); err != nil {
			return nil, fmt.Errorf("clientmerge: %w", err)
		}
	}
	if len(httpAddrs) == 0 {
		return nil, errors.New("clientmerge: no lookupd addresses")
	}
	if s.tlsConfig != nil && s.httpClient != nil {
		return nil, errors.New("clientmerge: WithTLSConfig and WithHTTPClient cannot be combined: set the TLS configuration on the client's transport")
	}
	lds, err := newLookupds(httpAddrs, s)
	if err != nil {
		return nil, fmt.Errorf("clientmerge: %w", err)
	}
	if lds.names == nil && s.minResponses > len(httpAddrs) {
		return nil, fmt.Errorf("clientmerge: min responses %d exceeds the %d lookupds", s.minResponses, len(httpAddrs))
	}
	c := &Client{
		addrs:        slices.Clone(httpAddrs),
		lookupds:     lds,
		http:         s.httpClient,
		logger:       s.logger,
		timeout:      s.timeout,
		minResponses: s.minResponses,
		concurrency:  s.concurrency,
		maxBytes:     s.maxBytes,
		blockingWait: s.blockingWait,
		token:        s.token,
	}
	if c.http == nil {
		// Every request carries the call's context, whose deadline is the
		// timeout; the client's own timeouts are a backstop set later than
		// that, so that an expired request always reports
		// context.DeadlineExceeded.
		backstop := 2 * s.timeout
		c.ownTransport = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: backstop, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   backstop,
			TLSClientConfig:       s.tlsConfig,
			ResponseHeaderTimeout: backstop,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
		}
		c.http = &http.Client{Transport: c.ownTransport, Timeout: backstop}
		c.watchTransport = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: backstop, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: backstop,
			TLSClientConfig:     s.tlsConfig.Clone(),
			IdleConnTimeout:     90 * time.Second,
			// Every Watch holds a connection per lookupd, and a change
			// returns them all to the pool at once: keep them rather
			// than close and dial them again.
			MaxIdleConnsPerHost: 1 << 12,
		}
		c.watchHTTP = &http.Client{Transport: c.watchTransport}
	} else {
		c.watchHTTP = c.http
		if t := c.http.Timeout; t > 0 {
			// The caller's client would end a longer wait (plus the
			// lookupd's jitter of up to 1/16, plus the timeout for the
			// answer) as a failure.
			c.blockingWait = min(c.blockingWait, max(0, (t-c.timeout)*16/17))
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if s.snapshots {
		c.snaps = newSnapshotStore(s.maxSnapshots)
	}
	return c, nil
}

// baseURL turns "host:port" or "http(s)://host:port[/prefix]" into a base
// URL without a trailing slash.
func baseURL(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("empty address")
	}
	raw := addr
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("query or fragment not allowed")
	}
	return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// Do sends req with the Client's HTTP client and its bearer token (see
// WithBearerToken), for requests the Client has no method for, such as
// the POST endpoints. The caller closes the response body. Safe for
// concurrent use.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	c.authorize(req)
	return c.http.Do(req)
}

// authorize sets the bearer token on req, if the Client has one.
func (c *Client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// Addrs returns the lookupd addresses as given to New. The caller owns the
// returned slice.
func (c *Client) Addrs() []string { return slices.Clone(c.addrs) }

// Lookupds returns the lookupds a call made now would ask, in the form of
// Response.Addr: the addresses as given, each name replaced by the
// addresses it stands for (resolving names first when they are due, under
// ctx). A name that never resolved is listed as given. The caller owns the
// returned slice.
func (c *Client) Lookupds(ctx context.Context) []string {
	ts := c.lookupds.targets(ctx, c)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.addr
	}
	return out
}

// DNSRefresh returns how often names among the lookupd addresses are
// resolved again (see WithDNSRefresh), for callers that follow the list
// with Lookupds. Safe for concurrent use.
func (c *Client) DNSRefresh() time.Duration { return c.lookupds.refresh }

// Logger returns the logger set with WithLogger (or the default), for
// packages built on the Client such as nsqbridge. Safe for concurrent use.
func (c *Client) Logger() *slog.Logger { return c.logger }

// CloseIdleConnections closes the idle keep-alive connections of the
// Client's own HTTP transport (it does nothing for a client supplied with
// WithHTTPClient). The Client stays usable. Safe for concurrent use.
func (c *Client) CloseIdleConnections() {
	if c.ownTransport != nil {
		c.ownTransport.CloseIdleConnections()
		c.watchTransport.CloseIdleConnections()
	}
}

// Lookup asks every lookupd for the producers and channels of topic and
// merges the answers. It blocks for at most about the configured timeout
// (or until ctx ends, whichever is first).
//
// Success means at least WithMinResponses (default 1) lookupds answered. A
// lookupd that answers 404 TOPIC_NOT_FOUND has answered, with nothing. The
// outcomes are:
//   - every lookupd answered: the merged result and a nil error;
//   - some failed, enough answered: the union of the answers that arrived
//     and a *PartialError naming each failed lookupd;
//   - too few answered, a snapshot of this topic exists: the snapshot with
//     Stale set and a *StaleError (wrapping an *UnavailableError);
//   - too few answered, no snapshot: nil and an *UnavailableError;
//   - ctx had already ended: nil and an error wrapping ctx.Err(), and no
//     request is sent.
//
// When ctx ends during the call, before the timeout, the answers that
// arrived are kept: the lookupds still pending count as failed, each with
// a cause wrapping ctx.Err(), and the outcomes above apply. So a caller
// with a short deadline gets what arrived and a *PartialError naming the
// rest, and errors.Is(err, context.DeadlineExceeded) holds.
//
// The caller owns the returned result.
func (c *Client) Lookup(ctx context.Context, topic string) (*LookupResult, error) {
	if topic == "" {
		return nil, fmt.Errorf("lookup: %w", ErrEmptyTopic)
	}
	return runQuery(ctx, c, lookupSpec(topic))
}

// Topics asks every lookupd for its topics and returns their sorted union.
// Outcomes, blocking and ownership are as for Lookup.
func (c *Client) Topics(ctx context.Context) (*TopicsResult, error) {
	return runQuery(ctx, c, topicsSpec())
}

// Channels asks every lookupd for the channels of topic and returns their
// sorted union. Outcomes, blocking and ownership are as for Lookup.
func (c *Client) Channels(ctx context.Context, topic string) (*ChannelsResult, error) {
	if topic == "" {
		return nil, fmt.Errorf("channels: %w", ErrEmptyTopic)
	}
	return runQuery(ctx, c, channelsSpec(topic))
}

// Nodes asks every lookupd for its producers (/nodes) and merges them:
// one Node per TCPAddr with the union of its topics. Outcomes, blocking and
// ownership are as for Lookup.
func (c *Client) Nodes(ctx context.Context) (*NodesResult, error) {
	return runQuery(ctx, c, nodesSpec())
}

// query describes one kind of request.
type query struct {
	op         string // for error messages
	key        string // snapshot key
	pathQuery  string
	notFoundOK bool // 404 TOPIC_NOT_FOUND is an empty answer
}

// spec is a query with what its answers decode into (T) and how they
// merge into a result (R).
type spec[T, R any] struct {
	query
	merge func([]answer[T]) *R
	meta  func(*R) *Meta
	clone func(*R) *R
}

func lookupSpec(topic string) spec[lookupBody, LookupResult] {
	return spec[lookupBody, LookupResult]{
		query: query{
			op:         "lookup",
			key:        "lookup\x00" + topic,
			pathQuery:  "/lookup?topic=" + url.QueryEscape(topic),
			notFoundOK: true,
		},
		merge: func(answers []answer[lookupBody]) *LookupResult {
			return &LookupResult{Topic: topic, Producers: mergeProducers(answers), Channels: mergeLookupChannels(answers)}
		},
		meta:  func(r *LookupResult) *Meta { return &r.Meta },
		clone: cloneLookup,
	}
}

func topicsSpec() spec[topicsBody, TopicsResult] {
	return spec[topicsBody, TopicsResult]{
		query: query{op: "topics", key: "topics", pathQuery: "/topics"},
		merge: func(answers []answer[topicsBody]) *TopicsResult {
			return &TopicsResult{Topics: mergeTopics(answers)}
		},
		meta:  func(r *TopicsResult) *Meta { return &r.Meta },
		clone: cloneTopics,
	}
}

func channelsSpec(topic string) spec[channelsBody, ChannelsResult] {
	return spec[channelsBody, ChannelsResult]{
		query: query{
			op:         "channels",
			key:        "channels\x00" + topic,
			pathQuery:  "/channels?topic=" + url.QueryEscape(topic),
			notFoundOK: true,
		},
		merge: func(answers []answer[channelsBody]) *ChannelsResult {
			return &ChannelsResult{Topic: topic, Channels: mergeChannels(answers)}
		},
		meta:  func(r *ChannelsResult) *Meta { return &r.Meta },
		clone: cloneChannels,
	}
}

func nodesSpec() spec[nodesBody, NodesResult] {
	return spec[nodesBody, NodesResult]{
		query: query{op: "nodes", key: "nodes", pathQuery: "/nodes"},
		merge: func(answers []answer[nodesBody]) *NodesResult {
			return &NodesResult{Nodes: mergeNodes(answers)}
		},
		meta:  func(r *NodesResult) *Meta { return &r.Meta },
		clone: cloneNodes,
	}
}

// answer is one successful lookupd's decoded body.
type answer[T any] struct {
	addr string
	body T
}

// runQuery fans s out and combines the answers.
func runQuery[T, R any](ctx context.Context, c *Client, s spec[T, R]) (*R, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.op, err)
	}
	// When ctx ends during the call, the lookupds that had not answered
	// fail with its error and the answers that arrived still count.
	bodies, resps := fanOut[T](ctx, c, s.query)
	return combine(c, s, bodies, resps, true)
}

// combine applies the WithMinResponses rule to one answer (or failure) per
// lookupd, merges, and serves the snapshot or, with keep, keeps one.
// bodies[i] counts only when resps[i].Err is nil.
func combine[T, R any](c *Client, s spec[T, R], bodies []T, resps []Response, keep bool) (*R, error) {
	var failed []*LookupdError
	answers := make([]answer[T], 0, len(resps))
	for i, r := range resps {
		if r.Err != nil {
			failed = append(failed, &LookupdError{Addr: r.Addr, Err: r.Err})
			continue
		}
		answers = append(answers, answer[T]{addr: r.Addr, body: bodies[i]})
	}
	if len(answers) < c.minResponses {
		ue := &UnavailableError{Failed: failed, Required: c.minResponses, Total: len(resps)}
		if c.snaps != nil {
			if v, at, ok := c.snaps.get(s.key); ok {
				r := s.clone(v.(*R))
				age := time.Since(at)
				m := s.meta(r)
				m.Responses, m.Answered, m.Stale, m.Age = resps, len(answers), true, age
				return r, &StaleError{Err: ue, age: age}
			}
		}
		return nil, ue
	}
	r := s.merge(answers)
	m := s.meta(r)
	m.Responses, m.Answered = resps, len(answers)
	if keep && c.snaps != nil {
		c.snaps.put(s.key, s.clone(r))
	}
	if len(failed) > 0 {
		return r, &PartialError{Failed: failed, Total: len(resps)}
	}
	return r, nil
}
