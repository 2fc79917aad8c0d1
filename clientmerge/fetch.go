package clientmerge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Wire bodies of the nsqlookupd HTTP API, as far as clientmerge reads them.
type (
	lookupBody struct {
		Channels  []string       `json:"channels"`
		Producers []ProducerInfo `json:"producers"`
	}
	topicsBody struct {
		Topics []string `json:"topics"`
	}
	channelsBody struct {
		Channels []string `json:"channels"`
	}
	nodeBody struct {
		ProducerInfo
		Tombstones []bool   `json:"tombstones"`
		Topics     []string `json:"topics"`
	}
	nodesBody struct {
		Producers []nodeBody `json:"producers"`
	}
)

const (
	// topicNotFound is nsqlookupd's message for an unknown topic.
	topicNotFound = "TOPIC_NOT_FOUND"
	// maxErrorBody bounds what is read of a non-2xx body.
	maxErrorBody = 4 << 10
	// maxErrorMessage bounds the raw body text kept in a StatusError.
	maxErrorMessage = 128
)

// fanOut asks every lookupd for q.pathQuery with at most c.concurrency
// requests in flight, all under one context that expires after c.timeout.
// It returns only after every request has finished; bodies and responses
// are parallel to the lookupds the call asks (see Client.Lookupds).
func fanOut[T any](ctx context.Context, c *Client, q query) ([]T, []Response) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ts := c.lookupds.targets(ctx, c)
	n := len(ts)
	bodies := make([]T, n)
	resps := make([]Response, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c.concurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				resps[i] = c.fetch(ctx, ts[i], q, &bodies[i])
			}
		})
	}
	wg.Wait()
	return bodies, resps
}

// fetch sends one request to lookupd t and decodes its answer into dst.
func (c *Client) fetch(ctx context.Context, t target, q query, dst any) Response {
	start := time.Now()
	r := Response{Addr: t.addr}
	if t.err != nil {
		r.Err = t.err
		return r
	}
	// The deadline is checked by the clock too: under load the context's
	// timer may fire late, and a request sent after the deadline would
	// stretch the call.
	if dl, ok := ctx.Deadline(); ctx.Err() != nil || (ok && !start.Before(dl)) {
		r.Err = fmt.Errorf("not asked: %w", context.DeadlineExceeded)
		if err := ctx.Err(); err != nil {
			r.Err = fmt.Errorf("not asked: %w", err)
		}
		return r
	}
	got, err := c.get(ctx, c.http, t.base+q.pathQuery, q.notFoundOK, dst)
	r.Latency = time.Since(start)
	r.Err = err
	r.TopicNotFound = got.notFound
	return r
}

// headerIndex is the header in which our lookupd gives the index of an
// answer, for blocking queries; nsqlookupd does not send it.
const headerIndex = "X-Lookupd-Index"

// got is what get learnt besides the body.
type got struct {
	notFound bool   // a 404 TOPIC_NOT_FOUND accepted as an empty answer
	index    uint64 // X-Lookupd-Index, 0 when absent or malformed
}

// get performs the GET with hc and decodes a 2xx body into dst.
func (c *Client) get(ctx context.Context, hc *http.Client, url string, notFoundOK bool, dst any) (got, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return got{}, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.nsq; version=1.0")
	c.authorize(req)
	resp, err := hc.Do(req)
	if err != nil {
		return got{}, err
	}
	defer resp.Body.Close()
	var g got
	if v := resp.Header.Get(headerIndex); v != "" {
		g.index, _ = strconv.ParseUint(v, 10, 64)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, min(c.maxBytes, maxErrorBody)))
		msg := errorMessage(body)
		if notFoundOK && resp.StatusCode == http.StatusNotFound && msg == topicNotFound {
			g.notFound = true
			return g, nil
		}
		return got{}, &StatusError{StatusCode: resp.StatusCode, Message: msg}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return got{}, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > c.maxBytes {
		return got{}, fmt.Errorf("read body: more than %d bytes: %w", c.maxBytes, ErrResponseTooLarge)
	}
	if err := decodeBody(resp.Header, body, dst); err != nil {
		return got{}, fmt.Errorf("decode body: %w", err)
	}
	return g, nil
}

// decodeBody decodes a 2xx body. nsqlookupd since 1.0 sends the bare JSON
// and the header X-NSQ-Content-Type "nsq; version=1.0"; older servers wrap
// it as {"status_code":…,"status_txt":…,"data":…}. Like go-nsq, an empty
// body is an empty object.
func decodeBody(h http.Header, body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if strings.HasPrefix(h.Get("X-NSQ-Content-Type"), "nsq; version=1.0") {
		return json.Unmarshal(body, dst)
	}
	var env struct {
		StatusCode *int            `json:"status_code"`
		Data       json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return err
	}
	if env.StatusCode != nil && env.Data != nil {
		return json.Unmarshal(env.Data, dst)
	}
	return json.Unmarshal(body, dst)
}

// errorMessage extracts the message of an error body: nsqlookupd's
// {"message":…}, the legacy {"status_txt":…}, or else the start of the raw
// text.
func errorMessage(body []byte) string {
	var e struct {
		Message   string `json:"message"`
		StatusTxt string `json:"status_txt"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Message != "" {
			return e.Message
		}
		if e.StatusTxt != "" {
			return e.StatusTxt
		}
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), ""))
	if len(s) > maxErrorMessage {
		s = strings.ToValidUTF8(s[:maxErrorMessage], "") + "…"
	}
	return s
}
