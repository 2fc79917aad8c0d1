package config

import (
	"encoding"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The flags every program has besides its options; they are not TOML keys.
const (
	flagConfig  = "config"
	flagVersion = "version"
)

// kind is what a field's Go type is to the loader.
type kind int

const (
	kindString kind = iota + 1
	kindBool
	kindInt
	kindInt64
	kindUint
	kindUint64
	kindFloat64
	kindDuration
	kindStrings
	kindText
)

var (
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	exactKinds      = map[reflect.Type]kind{
		reflect.TypeFor[string]():        kindString,
		reflect.TypeFor[bool]():          kindBool,
		reflect.TypeFor[int]():           kindInt,
		reflect.TypeFor[int64]():         kindInt64,
		reflect.TypeFor[uint]():          kindUint,
		reflect.TypeFor[uint64]():        kindUint64,
		reflect.TypeFor[float64]():       kindFloat64,
		reflect.TypeFor[time.Duration](): kindDuration,
		reflect.TypeFor[[]string]():      kindStrings,
	}
)

// kindOf returns the kind of t, or false if the loader cannot handle it.
// Only exact types are accepted: go-options sets a field directly only
// when the value has the field's exact type and would otherwise coerce by
// kind, which fails for named types.
func kindOf(t reflect.Type) (kind, bool) {
	if t.Implements(textMarshaler) && reflect.PointerTo(t).Implements(textUnmarshaler) {
		return kindText, true
	}
	k, ok := exactKinds[t]
	return k, ok
}

// field is one flag-tagged field of an Options struct.
type field struct {
	name  string // flag name, "tcp-address"
	key   string // TOML key, "tcp_address"
	help  string
	index []int // for reflect.Value.FieldByIndex
	typ   reflect.Type
	kind  kind
}

// fieldsOf lists the flag-tagged fields of *opts in declaration order,
// embedded structs' fields in place.
func fieldsOf(opts any) ([]field, error) {
	v := reflect.ValueOf(opts)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: options must be a non-nil pointer to a struct, got %T", opts)
	}
	var (
		fields []field
		errs   []error
		seen   = map[string]bool{flagConfig: true, flagVersion: true}
	)
	for _, sf := range reflect.VisibleFields(v.Elem().Type()) {
		name, tagged := sf.Tag.Lookup("flag")
		if !tagged {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("config: field %s: "+format, append([]any{sf.Name}, args...)...))
		}
		k, ok := kindOf(sf.Type)
		switch {
		case name == "" || strings.ContainsAny(name, "_= ") || strings.HasPrefix(name, "-"):
			bad("bad flag name %q", name)
		case seen[name]:
			bad("flag --%s is defined twice", name)
		case !sf.IsExported():
			bad("unexported field cannot be a flag")
		case sf.Anonymous:
			bad("an embedded field cannot be a flag")
		case !embeddedByValue(v.Elem().Type(), sf.Index):
			bad("promoted through an unexported or pointer embedded field, which go-options cannot resolve")
		case sf.Tag.Get("cfg") != "" || sf.Tag.Get("deprecated") != "":
			bad("cfg and deprecated tags are not supported (the TOML key is the flag name with underscores)")
		case sf.Tag.Get("help") == "":
			bad("flag --%s has no help tag", name)
		case !ok:
			bad("type %s cannot be a flag", sf.Type)
		}
		seen[name] = true
		fields = append(fields, field{
			name:  name,
			key:   strings.ReplaceAll(name, "-", "_"),
			help:  sf.Tag.Get("help"),
			index: sf.Index,
			typ:   sf.Type,
			kind:  k,
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return fields, nil
}

// embeddedByValue reports whether the field at index is reached only
// through exported embedded structs held by value.
func embeddedByValue(t reflect.Type, index []int) bool {
	for _, i := range index[:len(index)-1] {
		f := t.Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Struct {
			return false
		}
		t = f.Type
	}
	return true
}

// flagSet builds the flag set of fields, taking defaults from *opts.
func (c Command) flagSet(opts any, fields []field, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(output)
	fs.String(flagConfig, "", "path to a TOML config file (keys are the flag names with underscores)")
	fs.Bool(flagVersion, false, "print the version and exit")
	v := reflect.ValueOf(opts).Elem()
	for _, f := range fields {
		def := v.FieldByIndex(f.index)
		switch f.kind {
		case kindString:
			fs.String(f.name, def.String(), f.help)
		case kindBool:
			fs.Bool(f.name, def.Bool(), f.help)
		case kindInt:
			fs.Int(f.name, int(def.Int()), f.help)
		case kindInt64:
			fs.Int64(f.name, def.Int(), f.help)
		case kindUint:
			fs.Uint(f.name, uint(def.Uint()), f.help)
		case kindUint64:
			fs.Uint64(f.name, def.Uint(), f.help)
		case kindFloat64:
			fs.Float64(f.name, def.Float(), f.help)
		case kindDuration:
			fs.Duration(f.name, time.Duration(def.Int()), f.help)
		case kindStrings:
			fs.Var(&stringsValue{vals: slices.Clone(def.Interface().([]string))}, f.name, f.help)
		case kindText:
			p := reflect.New(f.typ)
			p.Elem().Set(def)
			fs.Var(&textValue{p: p}, f.name, f.help)
		}
	}
	return fs
}

// stringsValue is a repeatable flag. Values given on the command line
// replace the default rather than adding to it.
type stringsValue struct {
	vals []string
	set  bool
}

func (s *stringsValue) Set(v string) error {
	if !s.set {
		s.vals, s.set = nil, true
	}
	s.vals = append(s.vals, v)
	return nil
}

func (s *stringsValue) String() string { return strings.Join(s.vals, ",") }

// Get implements flag.Getter for go-options; the caller owns the slice.
func (s *stringsValue) Get() any { return slices.Clone(s.vals) }

// textValue is a flag whose type is a text type; p points to its value.
// The flag package makes zero textValues to print defaults, so String
// copes with an invalid p.
type textValue struct{ p reflect.Value }

func (t *textValue) Set(s string) error {
	return t.p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
}

func (t *textValue) String() string {
	if !t.p.IsValid() {
		return ""
	}
	b, err := t.p.Elem().Interface().(encoding.TextMarshaler).MarshalText()
	if err != nil {
		return ""
	}
	return string(b)
}

// Get implements flag.Getter for go-options: the value itself, of the
// field's type (flag.TextVar's Get would return the pointer).
func (t *textValue) Get() any { return t.p.Elem().Interface() }
