package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"runtime"

	options "github.com/mreiferson/go-options"
)

// ErrVersion is returned by Load when --version was given; ExitCode prints
// the version line for it.
var ErrVersion = errors.New("version requested")

// Command names a program: its flag set, the prefix of its error messages
// and its version line. It is a plain value, safe to copy and to use from
// several goroutines.
type Command struct {
	// Name is the program name, e.g. "lookupd".
	Name string
	// Version is the program's version without the "v", e.g. "0.1.0".
	Version string
	// Note, if set, goes in the version line before the Go version, e.g.
	// "nsqlookupd 1.3.0 compatible".
	Note string
}

// VersionLine is what --version prints:
// "NAME vVERSION (NOTE, built w/GOVERSION)", the note being optional. The
// shape is nsqlookupd's, so scripts that read one read the other.
func (c Command) VersionLine() string {
	note := ""
	if c.Note != "" {
		note = c.Note + ", "
	}
	return fmt.Sprintf("%s v%s (%sbuilt w/%s)", c.Name, c.Version, note, runtime.Version())
}

// FlagSet returns the command line of opts, a pointer to an Options struct
// (see the package doc): one flag per flag-tagged field, with the field's
// current value as default, plus --config and --version. Usage and parse
// errors are written to output. It returns an error if opts is not such a
// pointer or a field cannot be a flag (a programming error).
func (c Command) FlagSet(opts any, output io.Writer) (*flag.FlagSet, error) {
	fields, err := fieldsOf(opts)
	if err != nil {
		return nil, err
	}
	return c.flagSet(opts, fields, output), nil
}

// Load fills opts from args and the TOML file named by --config: each
// flag-tagged field takes the flag if given, else the file's key if set,
// else keeps its value (the default). Then it calls opts.Validate() if
// opts has that method. opts must hold the defaults (NewOptions) on entry.
//
// Load returns flag.ErrHelp for -h, ErrVersion for --version, an error
// for positional arguments, every problem of the file (unknown keys,
// wrong types) joined in file order, or Validate's error. On error opts
// may be partly filled; discard it. Usage and flag errors are also
// written to output.
func (c Command) Load(opts any, args []string, output io.Writer) error {
	rest, err := c.LoadArgs(opts, args, output)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments: %q", rest)
	}
	return err
}

// LoadArgs is Load for programs that take positional arguments after the
// flags (lookupctl's subcommands): it returns them instead of rejecting
// them. The caller owns the returned slice.
func (c Command) LoadArgs(opts any, args []string, output io.Writer) ([]string, error) {
	fields, err := fieldsOf(opts)
	if err != nil {
		return nil, err
	}
	fs := c.flagSet(opts, fields, output)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &FlagError{err: err}
	}
	if fs.Lookup(flagVersion).Value.(flag.Getter).Get().(bool) {
		return nil, ErrVersion
	}
	cfg := map[string]any{}
	if path := fs.Lookup(flagConfig).Value.String(); path != "" {
		if cfg, err = readFile(path, fields); err != nil {
			return nil, err
		}
	}
	// Every flag's Getter and every cfg value has its field's exact type,
	// so Resolve never coerces (and never calls log.Fatal).
	options.Resolve(opts, fs, cfg)
	if v, ok := opts.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return fs.Args(), nil
}

// FlagError is an error of the command line itself (an unknown flag, a
// value that does not parse), which Load has already written to its
// output together with the usage.
type FlagError struct{ err error }

func (e *FlagError) Error() string { return e.err.Error() }
func (e *FlagError) Unwrap() error { return e.err }

// ExitCode reports an error from Load the way every program here does and
// returns main's exit code: 0 for nil and -h; 0 for ErrVersion, after
// printing the version line to stdout; 2 for a *FlagError, which Load
// already printed with the usage; otherwise 2, after printing "NAME: err"
// to stderr.
func (c Command) ExitCode(err error, stdout, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrVersion):
		fmt.Fprintln(stdout, c.VersionLine())
		return 0
	case errors.As(err, new(*FlagError)):
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
	return 2
}

// StartFailed reports an error of a daemon's New (a listener that cannot
// bind, a file that cannot be read) the way every program here does, as
// "NAME: err" on stderr, and returns main's exit code, 1. err already
// names what failed (net.Listen's errors name the address): callers do
// not repeat it.
func (c Command) StartFailed(err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
	return 1
}

// Changed returns the flag names of the options whose values differ
// between old and new, two pointers to the same Options struct type, in
// declaration order. A daemon's Reload uses it to name what it cannot
// apply without a restart.
func Changed(old, new any) ([]string, error) {
	if reflect.TypeOf(old) != reflect.TypeOf(new) {
		return nil, fmt.Errorf("config: cannot compare %T with %T", old, new)
	}
	fields, err := fieldsOf(old)
	if err != nil {
		return nil, err
	}
	if _, err := fieldsOf(new); err != nil {
		return nil, err
	}
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()
	var names []string
	for _, f := range fields {
		if !reflect.DeepEqual(ov.FieldByIndex(f.index).Interface(), nv.FieldByIndex(f.index).Interface()) {
			names = append(names, f.name)
		}
	}
	return names, nil
}
