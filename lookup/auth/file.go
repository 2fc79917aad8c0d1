package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/BurntSushi/toml"
)

// MaxFileSize bounds the token file read by LoadFile.
const MaxFileSize = 4 << 20

// fileTokens is the TOML shape of a token file.
type fileTokens struct {
	Tokens []struct {
		Token  string   `toml:"token"`
		Role   string   `toml:"role"`
		Topics []string `toml:"topics"`
	} `toml:"tokens"`
}

// Parse reads a token file:
//
//	[[tokens]]
//	token = "…"                       # at least MinTokenLength characters
//	role = "register"                 # "read", "admin" or "register"
//	topics = ["orders", "billing.*"]  # register only: globs it may REGISTER; absent or empty means all
//
// It returns every problem found, each naming the entry by position,
// never by token: unknown keys, a missing, short or repeated token, an
// unknown role, topics on a role other than register, a bad glob. A file
// with no tokens is valid (it refuses every credential).
func Parse(data []byte) (*Table, error) {
	var f fileTokens
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, redact(err)
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("unknown key %s", describeKey(k)))
	}
	t := &Table{entries: make([]entry, 0, len(f.Tokens))}
	seen := make(map[[sha256.Size]byte]int, len(f.Tokens))
	for i, tk := range f.Tokens {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("tokens[%d]: "+format, append([]any{i}, args...)...))
		}
		role := Role(tk.Role)
		switch role {
		case RoleRead, RoleAdmin, RoleRegister:
		case "":
			bad("role is missing (want read, admin or register)")
		default:
			bad("unknown role %q (want read, admin or register)", tk.Role)
		}
		if len(tk.Topics) > 0 && role != RoleRegister {
			bad("topics apply only to role register, not %q", tk.Role)
		}
		for _, p := range tk.Topics {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				bad("topic glob %q is not valid", p)
			}
		}
		switch {
		case tk.Token == "":
			bad("token is missing")
		case len(tk.Token) < MinTokenLength:
			bad("token is shorter than %d characters", MinTokenLength)
		case strings.TrimSpace(tk.Token) != tk.Token || strings.ContainsAny(tk.Token, "\r\n\t"):
			// An HTTP client could not send it intact.
			bad("token has leading or trailing white space or control characters")
		}
		d := sha256.Sum256([]byte(tk.Token))
		if j, dup := seen[d]; dup && tk.Token != "" {
			bad("same token as tokens[%d]", j)
		}
		seen[d] = i
		t.entries = append(t.entries, entry{digest: d, grant: Grant{Role: role, Index: i, topics: tk.Topics}})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// describeKey names a key of the file for an error, with array positions
// left out (toml.Key does not carry them).
func describeKey(k toml.Key) string { return k.String() }

// redact returns a TOML syntax error without the parser's message when the
// error is at a token value, since that message may quote the value.
func redact(err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("invalid TOML: %w", err)
	}
	if strings.HasSuffix(pe.LastKey, "token") {
		return fmt.Errorf("invalid TOML at line %d (key %s): the value is not shown since it may be a secret; quote tokens as strings", pe.Position.Line, pe.LastKey)
	}
	return fmt.Errorf("invalid TOML at line %d: %s", pe.Position.Line, pe.Message)
}

// LoadFile reads and parses the token file at path. Its errors start with
// the path. warn, if not empty, is a problem that does not stop the load:
// the file can be read by group or others.
func LoadFile(name string) (t *Table, warn string, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, "", fmt.Errorf("auth file %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("auth file %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, "", fmt.Errorf("auth file %s: not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("auth file %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, "", fmt.Errorf("auth file %s: larger than %d bytes", name, MaxFileSize)
	}
	t, err = Parse(data)
	if err != nil {
		return nil, "", fmt.Errorf("auth file %s: %w", name, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		warn = fmt.Sprintf("auth file %s has mode %s: group and others can read the tokens (chmod 600)", name, st.Mode().Perm())
	}
	return t, warn, nil
}
