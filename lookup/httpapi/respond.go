package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

const (
	// headerNSQ is in canonical form because it is assigned to the header
	// map directly: Header.Get finds it, and the wire spelling matches
	// nsqlookupd's (which uses Header.Set).
	headerNSQ      = "X-Nsq-Content-Type"
	headerNSQValue = "nsq; version=1.0"
	contentJSON    = "application/json; charset=utf-8"
)

// Header values shared by every response, so setting them allocates
// nothing; nothing appends to or edits them (net/http copies them when it
// snapshots the header).
var (
	contentJSONValues = []string{contentJSON}
	headerNSQValues   = []string{headerNSQValue}
)

// rawJSON is an already encoded JSON body.
type rawJSON []byte

// respond writes a handler's result the way nsqlookupd's V1 responder
// does: JSON with the NSQ content-type header, an empty body for nil, and
// {"message": code} for errors. Errors that are not *Error become 500
// INTERNAL_ERROR and are logged.
func respond(w http.ResponseWriter, log *slog.Logger, data any, err error) {
	if err != nil {
		respondError(w, log, err)
		return
	}
	var body []byte
	isJSON := false
	switch d := data.(type) {
	case nil:
	case rawJSON:
		body, isJSON = d, true
	case string:
		body = []byte(d)
	default:
		body, err = json.Marshal(d)
		if err != nil {
			log.Error("encode response", "err", err)
			writeError(w, errInternal)
			return
		}
		isJSON = true
	}
	h := w.Header()
	if isJSON {
		h["Content-Type"] = contentJSONValues
	}
	h[headerNSQ] = headerNSQValues
	if isJSON {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// respondError writes err as respond does and returns the status.
func respondError(w http.ResponseWriter, log *slog.Logger, err error) int {
	var ae *Error
	if !errors.As(err, &ae) {
		log.Error("handler failed", "err", err)
		ae = errInternal
	}
	writeError(w, ae)
	return ae.Status
}

// writeAnswer writes a read endpoint's answer with its index. Its bytes
// are those nsqlookupd writes, plus the X-Lookupd-Index header.
func writeAnswer(w http.ResponseWriter, a *answer) {
	h := w.Header()
	h["Content-Type"] = contentJSONValues
	h[headerNSQ] = headerNSQValues
	h["Content-Length"] = a.lengthHdr
	h[HeaderIndex] = a.indexHdr
	w.WriteHeader(a.status)
	w.Write(a.body)
}

func writeError(w http.ResponseWriter, ae *Error) {
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{ae.Code})
	h := w.Header()
	h["Content-Type"] = []string{contentJSON}
	h[headerNSQ] = []string{headerNSQValue}
	w.WriteHeader(ae.Status)
	w.Write(body)
}
