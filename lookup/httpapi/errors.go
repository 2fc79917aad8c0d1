package httpapi

import "net/http"

// Error is an API error: the HTTP status and the message code written as
// {"message": Code}. Handlers return it; one responder writes it.
type Error struct {
	Status int
	Code   string
}

func (e *Error) Error() string { return e.Code }

func apiErr(status int, code string) *Error { return &Error{Status: status, Code: code} }

// Message codes, spelled as nsqlookupd spells them.
var (
	errInvalidRequest   = apiErr(http.StatusBadRequest, "INVALID_REQUEST")
	errMissingTopic     = apiErr(http.StatusBadRequest, "MISSING_ARG_TOPIC")
	errInvalidTopic     = apiErr(http.StatusBadRequest, "INVALID_ARG_TOPIC")
	errMissingChannel   = apiErr(http.StatusBadRequest, "MISSING_ARG_CHANNEL")
	errInvalidChannel   = apiErr(http.StatusBadRequest, "INVALID_ARG_CHANNEL")
	errMissingNode      = apiErr(http.StatusBadRequest, "MISSING_ARG_NODE")
	errInvalidIndex     = apiErr(http.StatusBadRequest, "INVALID_ARG_INDEX")
	errInvalidWait      = apiErr(http.StatusBadRequest, "INVALID_ARG_WAIT")
	errTopicNotFound    = apiErr(http.StatusNotFound, "TOPIC_NOT_FOUND")
	errChannelNotFound  = apiErr(http.StatusNotFound, "CHANNEL_NOT_FOUND")
	errNotFound         = apiErr(http.StatusNotFound, "NOT_FOUND")
	errMethodNotAllowed = apiErr(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
	errInternal         = apiErr(http.StatusInternalServerError, "INTERNAL_ERROR")

	// Ours: POST /topic/create or /channel/create past --max-topics or
	// --max-channels-per-topic. 409, since deleting topics or channels
	// resolves it.
	errTooManyTopics = apiErr(http.StatusConflict, "TOO_MANY_TOPICS")
	// Ours, with --auth-file: no known bearer token, or one whose role is
	// too small for the request.
	errUnauthorized    = apiErr(http.StatusUnauthorized, "UNAUTHORIZED")
	errForbidden       = apiErr(http.StatusForbidden, "FORBIDDEN")
	errTooManyChannels = apiErr(http.StatusConflict, "TOO_MANY_CHANNELS")
)
