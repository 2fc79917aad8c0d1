package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"
)

// fuzzRoutes are the paths FuzzQuery picks from: every API route (pprof
// aside) and one unknown path.
var fuzzRoutes = []string{
	"/ping", "/info", "/debug", "/lookup", "/topics", "/channels", "/nodes",
	"/topic/create", "/topic/delete", "/channel/create", "/channel/delete", "/topic/tombstone",
	"/nope",
}

// jsonRoutes answer 200 with a JSON body to GET.
var jsonRoutes = map[string]bool{"/info": true, "/debug": true, "/lookup": true, "/topics": true, "/channels": true, "/nodes": true}

// postRoutes answer 200 with an empty body to POST.
var postRoutes = map[string]bool{"/topic/create": true, "/topic/delete": true, "/channel/create": true, "/channel/delete": true, "/topic/tombstone": true}

// errorStatus is the status each documented message code comes with.
var errorStatus = map[string]int{
	"INVALID_REQUEST":     400,
	"MISSING_ARG_TOPIC":   400,
	"INVALID_ARG_TOPIC":   400,
	"MISSING_ARG_CHANNEL": 400,
	"INVALID_ARG_CHANNEL": 400,
	"MISSING_ARG_NODE":    400,
	"INVALID_ARG_INDEX":   400,
	"INVALID_ARG_WAIT":    400,
	"TOPIC_NOT_FOUND":     404,
	"CHANNEL_NOT_FOUND":   404,
	"NOT_FOUND":           404,
	"METHOD_NOT_ALLOWED":  405,
}

// fuzzTopics are the topics the fuzz registry starts with, plus one that
// does not exist.
var fuzzTopics = []string{"orders", "events#ephemeral", "created", "missing"}

// reg is one registration of the fuzz registry: a topic (channel "") or a
// channel, with the connection ids of its producers ("" for none).
type reg struct{ topic, channel, producer string }

// populate fills e with two producers, an ephemeral topic, a tombstone and
// producer-less created registrations, at staggered times so that
// advancing the clock expires them one by one.
func populate(t testing.TB, e *env) {
	b := e.producer(t, 2)
	e.register(t, b, "orders", "billing")
	e.clk.Advance(20 * time.Second)
	a := e.producer(t, 1)
	e.register(t, a, "orders", "billing")
	e.register(t, a, "orders", "audit")
	e.register(t, a, "events#ephemeral", "x#ephemeral")
	e.db.Tombstone("orders", "10.0.0.2:4151")
	e.db.CreateChannel("created", "c1")
}

// registrations lists every registration of e's registry with its
// producers, sorted.
func registrations(e *env) []reg {
	var out []reg
	topics, _ := e.db.Topics()
	for _, topic := range topics {
		out = append(out, reg{topic: topic})
		chans, _ := e.db.Channels(topic)
		for _, ch := range chans {
			out = append(out, reg{topic: topic, channel: ch})
		}
	}
	for k, ps := range e.db.Debug() {
		if k.Category == "client" {
			continue
		}
		for _, p := range ps {
			out = append(out, reg{topic: k.Key, channel: k.SubKey, producer: p.ID})
		}
	}
	slices.SortFunc(out, func(a, b reg) int {
		if a.topic != b.topic {
			return cmpStr(a.topic, b.topic)
		}
		if a.channel != b.channel {
			return cmpStr(a.channel, b.channel)
		}
		return cmpStr(a.producer, b.producer)
	})
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// hasNull reports whether a decoded JSON value holds a null anywhere: our
// answers have none (lists are [] when empty).
func hasNull(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return slices.ContainsFunc(v, hasNull)
	case map[string]any:
		for _, e := range v {
			if hasNull(e) {
				return true
			}
		}
	}
	return false
}

func first(q url.Values, key string) (string, bool) {
	v, ok := q[key]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// FuzzQuery sends arbitrary raw query strings to every route with GET or
// POST over a small registry whose answers are cached, then checks that
// nothing panicked, the status and body are among the documented ones,
// nothing the request could not legitimately delete is gone, and every
// cached answer still equals the registry's.
func FuzzQuery(f *testing.F) {
	seeds := []struct {
		post    bool
		route   string
		advance uint8
		query   string
	}{
		{false, "/lookup", 0, "topic=orders"},
		{false, "/lookup", 35, "topic=orders"},
		{false, "/lookup", 61, "topic=orders"},
		{false, "/lookup", 0, "topic=events%23ephemeral"},
		{false, "/lookup", 0, "topic="},
		{false, "/lookup", 0, "topic=%zz"},
		{false, "/lookup", 0, "topic=a;b"},
		{false, "/lookup", 0, "topic=orders&topic=created"},
		{false, "/channels", 0, "topic=orders"},
		{false, "/channels", 0, "channel=billing"},
		{false, "/nodes", 45, ""},
		{false, "/lookup", 0, "topic=orders&index=1&wait=1s"},
		{false, "/topics", 0, "index=x"},
		{false, "/nodes", 0, "index=3&wait=-1s"},
		{false, "/topics", 0, "x=%"},
		{false, "/debug", 0, ""},
		{false, "/info", 0, ""},
		{false, "/ping", 0, ""},
		{true, "/topic/create", 0, "topic=new"},
		{true, "/topic/create", 0, "topic=bad!name"},
		{true, "/topic/delete", 0, "topic=orders"},
		{true, "/topic/delete", 0, "topic=created&topic=orders"},
		{true, "/channel/create", 0, "topic=orders&channel=new"},
		{true, "/channel/delete", 0, "topic=orders&channel=billing"},
		{true, "/channel/delete", 0, "topic=created&channel=c1"},
		{true, "/channel/delete", 0, "topic=orders&channel=missing"},
		{true, "/topic/tombstone", 0, "topic=orders&node=10.0.0.1:4151"},
		{true, "/topic/tombstone", 10, "topic=orders&node=10.0.0.2:4151"},
		{true, "/topic/tombstone", 0, "topic=orders"},
		{true, "/lookup", 0, "topic=orders"},
		{false, "/topic/delete", 0, "topic=orders"},
		{false, "/nope", 0, "topic=orders"},
	}
	for _, s := range seeds {
		f.Add(s.post, uint8(slices.Index(fuzzRoutes, s.route)), s.advance, s.query)
	}
	log := discardLogger()
	f.Fuzz(func(t *testing.T, post bool, route, advance uint8, query string) {
		e := newEnvLog(log, nil)
		populate(t, e)
		if err := checkCoherent(t, e, fuzzTopics...); err != nil { // warms every cache
			t.Fatalf("before the request: %v", err)
		}
		e.clk.Advance(time.Duration(advance) * time.Second)
		before := registrations(e)
		version := e.db.Version()

		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		req := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: path, RawQuery: query},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{},
			Body:       http.NoBody,
			Host:       "lookupd",
			RemoteAddr: "127.0.0.1:9999",
		}
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()

		switch rec.Code {
		case 200:
			switch {
			case path == "/ping":
				if string(body) != "OK" {
					t.Fatalf("/ping body %q", body)
				}
			case jsonRoutes[path]:
				var v any
				if err := json.Unmarshal(body, &v); err != nil {
					t.Fatalf("%s %s?%s: invalid JSON %q: %v", method, path, query, body, err)
				}
				if hasNull(v) {
					t.Fatalf("%s %s?%s: null in %s", method, path, query, body)
				}
			case postRoutes[path]:
				if len(body) != 0 {
					t.Fatalf("%s %s?%s: body %q, want empty", method, path, query, body)
				}
			default:
				t.Fatalf("%s %s?%s: 200 from an unknown route", method, path, query)
			}
		case 400, 404, 405:
			var msg map[string]string
			if err := json.Unmarshal(body, &msg); err != nil || len(msg) != 1 {
				t.Fatalf("%s %s?%s: %d body %q is not {\"message\":CODE}", method, path, query, rec.Code, body)
			}
			if status, ok := errorStatus[msg["message"]]; !ok || status != rec.Code {
				t.Fatalf("%s %s?%s: %d with unknown or mismatched code %q", method, path, query, rec.Code, msg["message"])
			}
		default:
			t.Fatalf("%s %s?%s: undocumented status %d body %q", method, path, query, rec.Code, body)
		}
		if rec.Code != 200 || method == http.MethodGet {
			if v := e.db.Version(); v != version {
				t.Fatalf("%s %s?%s: status %d changed the registry", method, path, query, rec.Code)
			}
		}

		// What this request may delete: with the query nsqlookupd would
		// parse, a /topic/delete its topic, a /channel/delete its channel.
		var delTopic, delChanTopic, delChan string
		if q, err := url.ParseQuery(query); err == nil && method == http.MethodPost {
			switch path {
			case "/topic/delete":
				delTopic, _ = first(q, "topic")
			case "/channel/delete":
				delChanTopic, _ = first(q, "topic")
				delChan, _ = first(q, "channel")
			}
		}
		after := registrations(e)
		for _, r := range before {
			if slices.Contains(after, r) {
				continue
			}
			if path == "/topic/delete" && r.topic == delTopic {
				continue
			}
			if r.topic == delChanTopic && r.channel != "" && r.channel == delChan {
				continue
			}
			t.Fatalf("%s %s?%s: registration %+v lost", method, path, query, r)
		}

		// Every cached answer still equals the registry's.
		extra := fuzzTopics
		if q, err := url.ParseQuery(query); err == nil {
			if topic, ok := first(q, "topic"); ok {
				extra = append(slices.Clone(fuzzTopics), topic)
			}
		}
		if err := checkCoherent(t, e, extra...); err != nil {
			t.Fatalf("after %s %s?%s: %v", method, path, query, err)
		}
	})
}
