package config

import (
	"encoding"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"reflect"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
)

// keyError is one problem with one key of a config file.
type keyError struct {
	path, key string
	err       error
}

func (e *keyError) Error() string { return fmt.Sprintf("config file %s: %s: %v", e.path, e.key, e.err) }
func (e *keyError) Unwrap() error { return e.err }

// errUnknownKey is the problem of a key that names no option.
var errUnknownKey = errors.New("unknown key")

// readFile decodes the TOML file at path and returns its keys, each value
// converted to its field's exact type, ready for options.Resolve. It
// returns every unknown key and every value of the wrong type, in file
// order.
func readFile(path string, fields []field) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err // its message names path again
	}
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	raw := map[string]any{}
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	byKey := make(map[string]field, len(fields))
	for _, f := range fields {
		byKey[f.key] = f
	}
	cfg := make(map[string]any, len(raw))
	var errs []error
	seen := map[string]bool{}
	for _, k := range md.Keys() { // file order; a table's keys follow it
		top := k[0]
		if seen[top] {
			continue
		}
		seen[top] = true
		f, ok := byKey[top]
		if !ok {
			errs = append(errs, &keyError{path: path, key: toml.Key{top}.String(), err: errUnknownKey})
			continue
		}
		v, err := convert(raw[top], f)
		if err != nil {
			errs = append(errs, &keyError{path: path, key: top, err: err})
			continue
		}
		cfg[top] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// convert returns the decoded TOML value v as a value of f's exact type.
func convert(v any, f field) (any, error) {
	switch f.kind {
	case kindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, want("a string", v)
	case kindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		// go-options would read 0 as true and 1 as false.
		return nil, want("true or false", v)
	case kindInt:
		if i, ok := v.(int64); ok && i >= math.MinInt && i <= math.MaxInt {
			return int(i), nil
		}
		return nil, want("an integer", v)
	case kindInt64:
		if i, ok := v.(int64); ok {
			return i, nil
		}
		return nil, want("an integer", v)
	case kindUint, kindUint64:
		i, ok := v.(int64)
		switch {
		case !ok || i < 0:
			return nil, want("a non-negative integer", v)
		case f.kind == kindUint:
			return uint(i), nil
		}
		return uint64(i), nil
	case kindFloat64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
		return nil, want("a number", v)
	case kindDuration:
		switch x := v.(type) {
		case string:
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, fmt.Errorf("want a duration such as \"30s\": %w", err)
			}
			return d, nil
		case int64:
			return nil, fmt.Errorf("want a duration string such as \"%ds\", got integer %d (write \"%dms\" if milliseconds are meant)", x, x, x)
		}
		return nil, want("a duration string such as \"30s\"", v)
	case kindStrings:
		arr, ok := v.([]any)
		if !ok {
			return nil, want("an array of strings", v)
		}
		out := make([]string, len(arr))
		for i, e := range arr {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want an array of strings, got %s at index %d", describe(e), i)
			}
			out[i] = s
		}
		return out, nil
	case kindText:
		s, ok := v.(string)
		if !ok {
			return nil, want("a string", v)
		}
		p := reflect.New(f.typ)
		if err := p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return nil, err
		}
		return p.Elem().Interface(), nil
	}
	return nil, fmt.Errorf("unsupported type %s", f.typ) // fieldsOf rejects these
}

// want is the error for a value of the wrong type.
func want(what string, got any) error {
	return fmt.Errorf("want %s, got %s", what, describe(got))
}

// describe names a decoded TOML value's type, with the value if it is
// short.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if r := []rune(x); len(r) > 40 {
			x = string(r[:40]) + "…"
		}
		return "string " + strconv.Quote(x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %g", x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case []any:
		return "array"
	case []map[string]any:
		return "array of tables"
	case map[string]any:
		return "table"
	case time.Time:
		return "datetime"
	}
	return fmt.Sprintf("%T", v)
}
