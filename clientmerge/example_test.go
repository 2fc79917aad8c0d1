package clientmerge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

// exampleLookupd serves a fixed /lookup answer, as a lookupd that knows the
// given producers would. It stands in for real lookupds so that the example
// runs anywhere.
func exampleLookupd(producers string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-NSQ-Content-Type", "nsq; version=1.0")
		io.WriteString(w, `{"channels":["billing"],"producers":[`+producers+`]}`)
	}))
}

func ExampleClient_Lookup() {
	const (
		nsqd1 = `{"broadcast_address":"127.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}`
		nsqd2 = `{"broadcast_address":"127.0.0.1","tcp_port":5150,"http_port":5151,"version":"1.3.0"}`
	)
	a := exampleLookupd(nsqd1 + "," + nsqd2)
	defer a.Close()
	b := exampleLookupd(nsqd1) // has not heard of nsqd2 yet
	defer b.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // a lookupd that is down

	c, err := clientmerge.New(
		[]string{a.URL, b.URL, down.URL},
		clientmerge.WithTimeout(2*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Lookup(context.Background(), "orders")
	var partial *clientmerge.PartialError
	switch {
	case err == nil:
	case errors.As(err, &partial):
		// Usable data; say which lookupds failed.
		fmt.Println("failed lookupds:", len(partial.Failed), strings.HasPrefix(partial.Failed[0].Addr, "http://"))
	default:
		fmt.Println("no data:", err)
		return
	}
	for _, p := range res.Producers {
		fmt.Printf("%s seen by %d of %d\n", p.TCPAddr(), p.SeenBy, len(res.Responses))
	}
	fmt.Println("channels:", res.Channels)
	// Output:
	// failed lookupds: 1 true
	// 127.0.0.1:4150 seen by 2 of 3
	// 127.0.0.1:5150 seen by 1 of 3
	// channels: [billing]
}
