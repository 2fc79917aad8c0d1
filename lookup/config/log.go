package config

import (
	"io"
	"log/slog"
)

// NewTextHandler returns the log handler of every program here: slog's
// text format on w at level, leaving out attributes that carry nothing
// (an empty string, a nil error), so that a line never shows `channel=""`
// or `err=<nil>`.
func NewTextHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: dropEmpty})
}

// dropEmpty is a ReplaceAttr that discards empty attributes (a zero Attr
// is dropped by the handler).
func dropEmpty(_ []string, a slog.Attr) slog.Attr {
	switch v := a.Value; v.Kind() {
	case slog.KindString:
		if v.String() == "" {
			return slog.Attr{}
		}
	case slog.KindAny:
		if v.Any() == nil {
			return slog.Attr{}
		}
	}
	return a
}

// PrefixWriter returns w with prefix written before each Write, which a
// slog handler makes once per record: --log-prefix. With an empty prefix
// it returns w.
func PrefixWriter(w io.Writer, prefix string) io.Writer {
	if prefix == "" {
		return w
	}
	return prefixWriter{prefix: []byte(prefix), w: w}
}

// prefixWriter prepends a prefix to each log record (one Write each).
type prefixWriter struct {
	prefix []byte
	w      io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append(append([]byte(nil), p.prefix...), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}
