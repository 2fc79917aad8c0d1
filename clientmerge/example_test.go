package clientmerge_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

func ExampleClient_Lookup() {
	a, b := startLookupd(), startLookupd()
	defer a.Stop()
	defer b.Stop()
	a.announce(4150, "orders")
	a.announce(5150, "orders")
	b.announce(4150, "orders") // b has not heard of the producer on 5150 yet

	c, err := clientmerge.New([]string{a.HTTPAddr(), b.HTTPAddr()}, clientmerge.WithTimeout(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Lookup(context.Background(), "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range res.Producers {
		fmt.Printf("%s seen by %d of %d lookupds\n", p.TCPAddr(), p.SeenBy, res.Answered)
	}
	// Output:
	// 127.0.0.1:4150 seen by 2 of 2 lookupds
	// 127.0.0.1:5150 seen by 1 of 2 lookupds
}

// Some lookupds fail: the others' union comes with a *PartialError.
func ExamplePartialError() {
	a, b := startLookupd(), startLookupd()
	defer a.Stop()
	a.announce(4150, "orders")
	b.announce(5150, "orders")
	b.Stop() // down, and with it what only b knew

	c, err := clientmerge.New([]string{a.HTTPAddr(), b.HTTPAddr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Lookup(context.Background(), "orders")
	var (
		stale       *clientmerge.StaleError
		unavailable *clientmerge.UnavailableError
		partial     *clientmerge.PartialError
	)
	switch {
	case err == nil:
	case errors.As(err, &stale): // first: a StaleError is an UnavailableError too
		fmt.Println("stale:", len(stale.Err.Failed), "of", stale.Err.Total, "lookupds failed; snapshot age above zero:", res.Age > 0)
	case errors.As(err, &unavailable):
		fmt.Println("unavailable:", len(unavailable.Failed), "of", unavailable.Total, "lookupds failed,",
			unavailable.Required, "required; result is nil:", res == nil)
		return
	case errors.As(err, &partial):
		fmt.Println("partial:", len(partial.Failed), "of", partial.Total, "lookupds failed")
	default:
		fmt.Println(err) // an empty topic, or ctx ended before the call
		return
	}
	for _, p := range res.Producers {
		fmt.Println(p.TCPAddr())
	}
	// Output:
	// partial: 1 of 2 lookupds failed
	// 127.0.0.1:4150
}

// Every lookupd fails after an earlier success: the snapshot of that
// success is served, marked Stale, with a *StaleError wrapping the
// *UnavailableError.
func ExampleStaleError() {
	a := startLookupd()
	defer a.Stop()
	a.announce(4150, "orders")

	c, err := clientmerge.New([]string{a.HTTPAddr()}) // snapshots are on by default
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := c.Lookup(context.Background(), "orders"); err != nil {
		fmt.Println(err)
		return
	}
	a.Stop()
	res, err := c.Lookup(context.Background(), "orders")
	var (
		stale       *clientmerge.StaleError
		unavailable *clientmerge.UnavailableError
		partial     *clientmerge.PartialError
	)
	switch {
	case err == nil:
	case errors.As(err, &stale): // first: a StaleError is an UnavailableError too
		fmt.Println("stale:", len(stale.Err.Failed), "of", stale.Err.Total, "lookupds failed; snapshot age above zero:", res.Age > 0)
	case errors.As(err, &unavailable):
		fmt.Println("unavailable:", len(unavailable.Failed), "of", unavailable.Total, "lookupds failed,",
			unavailable.Required, "required; result is nil:", res == nil)
		return
	case errors.As(err, &partial):
		fmt.Println("partial:", len(partial.Failed), "of", partial.Total, "lookupds failed")
	default:
		fmt.Println(err) // an empty topic, or ctx ended before the call
		return
	}
	for _, p := range res.Producers {
		fmt.Println(p.TCPAddr())
	}
	// Output:
	// stale: 1 of 1 lookupds failed; snapshot age above zero: true
	// 127.0.0.1:4150
}

// Too few lookupds answer and there is no snapshot: no data, and an
// *UnavailableError.
func ExampleUnavailableError() {
	a, b := startLookupd(), startLookupd()
	defer a.Stop()
	a.announce(4150, "orders")
	b.Stop()

	c, err := clientmerge.New([]string{a.HTTPAddr(), b.HTTPAddr()},
		clientmerge.WithMinResponses(2), // both must answer
		clientmerge.WithSnapshots(false),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Lookup(context.Background(), "orders")
	var (
		stale       *clientmerge.StaleError
		unavailable *clientmerge.UnavailableError
		partial     *clientmerge.PartialError
	)
	switch {
	case err == nil:
	case errors.As(err, &stale): // first: a StaleError is an UnavailableError too
		fmt.Println("stale:", len(stale.Err.Failed), "of", stale.Err.Total, "lookupds failed; snapshot age above zero:", res.Age > 0)
	case errors.As(err, &unavailable):
		fmt.Println("unavailable:", len(unavailable.Failed), "of", unavailable.Total, "lookupds failed,",
			unavailable.Required, "required; result is nil:", res == nil)
		return
	case errors.As(err, &partial):
		fmt.Println("partial:", len(partial.Failed), "of", partial.Total, "lookupds failed")
	default:
		fmt.Println(err) // an empty topic, or ctx ended before the call
		return
	}
	for _, p := range res.Producers {
		fmt.Println(p.TCPAddr())
	}
	// Output:
	// unavailable: 1 of 2 lookupds failed, 2 required; result is nil: true
}
