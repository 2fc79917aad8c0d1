package wire

// Code is a V1 protocol error code, sent to the client as the first word of
// an error response.
type Code string

// The error codes of the V1 lookup protocol.
const (
	CodeInvalid     Code = "E_INVALID"
	CodeBadTopic    Code = "E_BAD_TOPIC"
	CodeBadChannel  Code = "E_BAD_CHANNEL"
	CodeBadBody     Code = "E_BAD_BODY"
	CodeBadProtocol Code = "E_BAD_PROTOCOL"
	// CodeUnauthorized is ours (nsqd uses the same code for its AUTH): an
	// IDENTIFY without an acceptable auth_token, or a REGISTER of a topic
	// the token does not cover, when lookupd runs with --auth-file or
	// --tcp-allow. It is always fatal.
	CodeUnauthorized Code = "E_UNAUTHORIZED"
)

// Error is a protocol error. The client is sent Error() ("CODE desc"); the
// wrapped cause is for logs only. A Fatal error closes the connection after
// the reply is sent. Inspect it with errors.As.
type Error struct {
	Code  Code
	Desc  string
	Fatal bool
	Err   error
}

// NewFatal returns a fatal protocol error with the given code, description
// and (possibly nil) cause.
func NewFatal(code Code, desc string, cause error) *Error {
	return &Error{Code: code, Desc: desc, Fatal: true, Err: cause}
}

// Error returns the text sent to the client: the code, a space and the
// description.
func (e *Error) Error() string {
	if e.Desc == "" {
		return string(e.Code)
	}
	return string(e.Code) + " " + e.Desc
}

// Unwrap returns the cause, which may be nil.
func (e *Error) Unwrap() error { return e.Err }
