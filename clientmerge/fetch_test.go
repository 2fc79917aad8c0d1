package clientmerge

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge/internal/cmtest"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// TestClient_Answers checks how single answers are classified and decoded,
// with a fake lookupd per case beside a healthy one.
func TestClient_Answers(t *testing.T) {
	healthy, _ := cmtest.FakeLookupd(t, func(w http.ResponseWriter, r *http.Request) {
		cmtest.RespondV1(w, http.StatusOK, cmtest.ProducersJSON(t, []string{"c0"}, "127.0.0.1:4000"))
	})
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		opts      []Option
		wantAddrs []string // producers after merging with healthy
		wantErr   func(error) bool
		notFound  bool
	}{
		{
			name: "topic not found is an empty answer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				cmtest.RespondV1(w, http.StatusNotFound, `{"message":"TOPIC_NOT_FOUND"}`)
			},
			wantAddrs: []string{"127.0.0.1:4000"},
			notFound:  true,
		},
		{
			name: "other 404 is a failure",
			handler: func(w http.ResponseWriter, r *http.Request) {
				cmtest.RespondV1(w, http.StatusNotFound, `{"message":"NOT_FOUND"}`)
			},
			wantAddrs: []string{"127.0.0.1:4000"},
			wantErr: func(err error) bool {
				var st *StatusError
				return errors.As(err, &st) && st.StatusCode == 404 && st.Message == "NOT_FOUND"
			},
		},
		{
			name: "400 with a plain body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, "  no such thing "+strings.Repeat("x", 500))
			},
			wantAddrs: []string{"127.0.0.1:4000"},
			wantErr: func(err error) bool {
				var st *StatusError
				return errors.As(err, &st) && st.StatusCode == 400 &&
					strings.HasPrefix(st.Message, "no such thing x") && len(st.Message) < 200
			},
		},
		{
			name: "body over the limit",
			handler: func(w http.ResponseWriter, r *http.Request) {
				cmtest.RespondV1(w, http.StatusOK, cmtest.ProducersJSON(t, nil, "127.0.0.1:4001", "127.0.0.1:4002", "127.0.0.1:4003"))
			},
			// The limit applies to the healthy lookupd too; its answer fits.
			opts:      []Option{WithMaxResponseBytes(300)},
			wantAddrs: []string{"127.0.0.1:4000"},
			wantErr:   func(err error) bool { return errors.Is(err, ErrResponseTooLarge) },
		},
		{
			name: "legacy envelope",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"status_code":200,"status_txt":"OK","data":`+cmtest.ProducersJSON(t, nil, "127.0.0.1:4001")+`}`)
			},
			wantAddrs: []string{"127.0.0.1:4000", "127.0.0.1:4001"},
		},
		{
			name: "bare JSON without the nsq header",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, cmtest.ProducersJSON(t, nil, "127.0.0.1:4001"))
			},
			wantAddrs: []string{"127.0.0.1:4000", "127.0.0.1:4001"},
		},
		{
			name: "empty body is an empty answer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				cmtest.RespondV1(w, http.StatusOK, "")
			},
			wantAddrs: []string{"127.0.0.1:4000"},
		},
		{
			name: "wrong JSON type is a failure",
			handler: func(w http.ResponseWriter, r *http.Request) {
				cmtest.RespondV1(w, http.StatusOK, `{"producers":"all of them"}`)
			},
			wantAddrs: []string{"127.0.0.1:4000"},
			wantErr:   func(err error) bool { return err != nil && strings.Contains(err.Error(), "decode body") },
		},
		{
			name: "unusable producer entries are skipped",
			handler: func(w http.ResponseWriter, r *http.Request) {
				cmtest.RespondV1(w, http.StatusOK, `{"producers":[{"broadcast_address":"","tcp_port":1},`+
					`{"broadcast_address":"h","tcp_port":0},{"broadcast_address":"h","tcp_port":70000},`+
					`{"broadcast_address":"h","tcp_port":4001}]}`)
			},
			wantAddrs: []string{"127.0.0.1:4000", "h:4001"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotReq *http.Request
			addr, _ := cmtest.FakeLookupd(t, func(w http.ResponseWriter, r *http.Request) {
				gotReq = r
				tt.handler(w, r)
			})
			cl := newClient(t, []string{healthy, "http://" + addr + "/"}, tt.opts...)
			res, err := cl.Lookup(t.Context(), "a topic&x=y")
			if gotReq.URL.Path != "/lookup" || gotReq.URL.Query().Get("topic") != "a topic&x=y" ||
				gotReq.Header.Get("Accept") != "application/vnd.nsq; version=1.0" {
				t.Errorf("request %s %v", gotReq.URL, gotReq.Header)
			}
			if res == nil {
				t.Fatalf("no result, err = %v", err)
			}
			var got []string
			for _, p := range res.Producers {
				got = append(got, p.TCPAddr())
			}
			if !reflect.DeepEqual(got, tt.wantAddrs) {
				t.Errorf("producers = %v, want %v", got, tt.wantAddrs)
			}
			r := res.Responses[1]
			if tt.wantErr == nil {
				if err != nil || r.Err != nil {
					t.Errorf("err = %v, response %+v", err, r)
				}
			} else {
				var pe *PartialError
				if !errors.As(err, &pe) || !tt.wantErr(r.Err) || !tt.wantErr(err) {
					t.Errorf("err = %v, response err = %v", err, r.Err)
				}
			}
			if r.TopicNotFound != tt.notFound {
				t.Errorf("TopicNotFound = %v", r.TopicNotFound)
			}
			if r.Addr != "http://"+addr+"/" {
				t.Errorf("Addr = %q, want it as given", r.Addr)
			}
		})
	}
}

func TestNew_Validation(t *testing.T) {
	tests := []struct {
		name  string
		addrs []string
		opts  []Option
	}{
		{name: "no addresses"},
		{name: "empty address", addrs: []string{""}},
		{name: "duplicate", addrs: []string{"127.0.0.1:4161", "http://127.0.0.1:4161/"}},
		{name: "bad scheme", addrs: []string{"ftp://127.0.0.1:4161"}},
		{name: "query", addrs: []string{"http://127.0.0.1:4161/?x=1"}},
		{name: "no host", addrs: []string{"http://"}},
		{name: "zero timeout", addrs: []string{"127.0.0.1:4161"}, opts: []Option{WithTimeout(0)}},
		{name: "nil http client", addrs: []string{"127.0.0.1:4161"}, opts: []Option{WithHTTPClient(nil)}},
		{name: "nil logger", addrs: []string{"127.0.0.1:4161"}, opts: []Option{WithLogger(nil)}},
		{name: "zero concurrency", addrs: []string{"127.0.0.1:4161"}, opts: []Option{WithMaxConcurrency(0)}},
		{name: "zero body limit", addrs: []string{"127.0.0.1:4161"}, opts: []Option{WithMaxResponseBytes(0)}},
		{name: "min above count", addrs: []string{"127.0.0.1:4161"}, opts: []Option{WithMinResponses(2)}},
		{name: "bad srv form", addrs: []string{"srv+"}},
		{name: "name given twice", addrs: []string{"lookupd.example:4161", "http://lookupd.example:4161"}},
		{name: "nil resolver", addrs: []string{"lookupd.example:4161"}, opts: []Option{WithResolver(nil)}},
		{name: "zero dns refresh", addrs: []string{"lookupd.example:4161"}, opts: []Option{WithDNSRefresh(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := New(tt.addrs, tt.opts...); err == nil || c != nil {
				t.Errorf("New = %v, %v; want an error", c, err)
			}
		})
	}
	c, err := New([]string{"127.0.0.1:4161", "https://lookupd.example:4161/prefix/"})
	if err != nil {
		t.Fatal(err)
	}
	var bases []string
	for _, tg := range c.lookupds.targets(t.Context(), c) {
		bases = append(bases, tg.base)
	}
	if want := []string{"http://127.0.0.1:4161", "https://lookupd.example:4161/prefix"}; !reflect.DeepEqual(bases, want) {
		t.Errorf("bases = %q, want %q", bases, want)
	}
	if _, err := c.Lookup(t.Context(), ""); err == nil {
		t.Error("empty topic accepted")
	}
}

// TestClient_BoundedFanOut: with concurrency 1 the lookupds are asked one at
// a time, and one that hangs uses up the call's timeout, so the ones after
// it are reported as not asked instead of stretching the call.
func TestClient_BoundedFanOut(t *testing.T) {
	var (
		mu             sync.Mutex
		inFlight, peak int
	)
	h := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		cmtest.RespondV1(w, http.StatusOK, cmtest.ProducersJSON(t, nil, "127.0.0.1:4000"))
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	var addrs []string
	for range 4 {
		a, _ := cmtest.FakeLookupd(t, h)
		addrs = append(addrs, a)
	}
	cl := newClient(t, addrs, WithMaxConcurrency(1))
	res, err := cl.Lookup(t.Context(), "t")
	if err != nil || res.Producers[0].SeenBy != 4 {
		t.Fatalf("%+v, %v", res, err)
	}
	mu.Lock()
	gotPeak := peak
	mu.Unlock()
	if gotPeak != 1 {
		t.Errorf("peak concurrency %d, want 1", gotPeak)
	}

	hang := lookuptest.SilentListener(t)
	cl = newClient(t, []string{addrs[0], hang, addrs[1]}, WithMaxConcurrency(1), WithTimeout(200*time.Millisecond))
	res, err = cl.Lookup(t.Context(), "t")
	var pe *PartialError
	if !errors.As(err, &pe) || len(pe.Failed) != 2 || res.Answered != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if r := res.Responses[2]; !strings.Contains(r.Err.Error(), "not asked") || r.Latency != 0 {
		t.Errorf("lookupd after the hanging one: %+v", r)
	}
}
