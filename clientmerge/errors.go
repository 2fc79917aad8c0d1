package clientmerge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrEmptyTopic is returned (wrapped) for an empty topic by the calls that
// take one, before any request is sent.
var ErrEmptyTopic = errors.New("empty topic")

// ErrResponseTooLarge is the cause recorded for a lookupd whose response
// body is longer than the limit set with WithMaxResponseBytes.
var ErrResponseTooLarge = errors.New("response body too large")

// StatusError is the cause recorded for a lookupd that answered with a
// non-2xx status (other than 404 TOPIC_NOT_FOUND on /lookup).
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the "message" field of nsqlookupd's error body, or the
	// start of the body when it is not such JSON.
	Message string
}

// Error returns "http status CODE: MESSAGE".
func (e *StatusError) Error() string {
	if e.Message == "" {
		return "http status " + strconv.Itoa(e.StatusCode)
	}
	return "http status " + strconv.Itoa(e.StatusCode) + ": " + e.Message
}

// LookupdError names one lookupd that failed during a call and wraps the
// cause (the same value as the corresponding Response.Err).
type LookupdError struct {
	Addr string
	Err  error
}

// Error returns "lookupd ADDR: CAUSE".
func (e *LookupdError) Error() string { return "lookupd " + e.Addr + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *LookupdError) Unwrap() error { return e.Err }

// PartialError is returned together with a fresh, usable result when some
// lookupds failed but at least WithMinResponses answered. The result is the
// union of the answers that arrived. Find it with errors.As; errors.Is and
// errors.As also see each lookupd's cause through Unwrap.
type PartialError struct {
	// Failed lists the lookupds that failed, in the order given to New.
	Failed []*LookupdError
	// Total counts the lookupds asked; Total-len(Failed) answered (the
	// result's Answered).
	Total int
}

// Error lists every failed lookupd with its cause.
func (e *PartialError) Error() string {
	return fmt.Sprintf("%d of %d lookupds failed: %s", len(e.Failed), e.Total, joinFailures(e.Failed))
}

// Unwrap returns one *LookupdError per failed lookupd, errors.Join style.
func (e *PartialError) Unwrap() []error { return unwrapFailures(e.Failed) }

// UnavailableError is returned when fewer lookupds than WithMinResponses requires
// answered (with the default of 1: when every lookupd failed).
// No fresh data comes with it: either no result at all, or, when a
// snapshot exists, the snapshot wrapped in a *StaleError.
type UnavailableError struct {
	// Failed lists the lookupds that failed, in the order given to New.
	Failed []*LookupdError
	// Required is the WithMinResponses setting and Total counts the
	// lookupds asked; Total-len(Failed) answered.
	Required int
	Total    int
}

// Error lists every failed lookupd with its cause.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%d of %d lookupds answered, %d required: %s",
		e.Total-len(e.Failed), e.Total, e.Required, joinFailures(e.Failed))
}

// Unwrap returns one *LookupdError per failed lookupd, errors.Join style.
func (e *UnavailableError) Unwrap() []error { return unwrapFailures(e.Failed) }

// StaleError is returned together with a stale result (Meta.Stale true,
// Meta.Age how old it is): too few lookupds answered, so the snapshot of
// the last successful call for the same query is served instead. A
// consumer can keep working with it. It wraps the *UnavailableError that
// describes the failure, so errors.As finds either: check for StaleError
// first.
type StaleError struct {
	// Err describes why no fresh answer could be had.
	Err *UnavailableError
	age time.Duration // for the message; the result's Age
}

// Error returns "serving snapshot from AGE ago: CAUSE".
func (e *StaleError) Error() string {
	return "serving snapshot from " + e.age.Round(time.Millisecond).String() + " ago: " + e.Err.Error()
}

// Unwrap returns the *UnavailableError.
func (e *StaleError) Unwrap() error { return e.Err }

func joinFailures(failed []*LookupdError) string {
	var b strings.Builder
	for i, f := range failed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

func unwrapFailures(failed []*LookupdError) []error {
	errs := make([]error, len(failed))
	for i, f := range failed {
		errs[i] = f
	}
	return errs
}
