package configtest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// WriteFile writes body to a file in a fresh temporary directory and
// returns its path.
func WriteFile(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Section returns the lines of the markdown file at path from the heading
// line (e.g. "## Running lookupd") up to the next heading of the same or a
// higher level, skipping fenced code blocks (a "# comment" there is no
// heading).
func Section(t testing.TB, path, heading string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	level := func(line string) int {
		n := len(line) - len(strings.TrimLeft(line, "#"))
		if n == 0 || !strings.HasPrefix(line[n:], " ") {
			return 0
		}
		return n
	}
	var out []string
	in, fenced := false, false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		switch {
		case line == heading:
			in = true
		case in && !fenced && level(line) > 0 && level(line) <= level(heading):
			return strings.Join(out, "\n")
		}
		if in {
			out = append(out, line)
		}
	}
	if !in {
		t.Fatalf("%s has no heading %q", path, heading)
	}
	return strings.Join(out, "\n")
}

// FlagTable checks that the markdown table rows "| `--name` | default |
// meaning |" in section list exactly the flags of fs, and that each
// default written as `literal` first in its cell equals the flag's
// default (durations compared as durations).
func FlagTable(t testing.TB, fs *flag.FlagSet, section string) {
	t.Helper()
	rows := map[string]string{} // flag name -> default cell
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`--") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`-")
		rows[name] = strings.TrimSpace(cells[2])
	}
	fs.VisitAll(func(f *flag.Flag) {
		cell, ok := rows[f.Name]
		if !ok {
			t.Errorf("flag --%s is missing from the README table", f.Name)
			return
		}
		delete(rows, f.Name)
		lit, ok := firstCode(cell)
		if !ok {
			return // prose such as "OS hostname"
		}
		if lit != f.DefValue && !sameDuration(lit, f.DefValue) {
			t.Errorf("README says --%s defaults to %q, the flag to %q", f.Name, lit, f.DefValue)
		}
	})
	for name := range rows {
		t.Errorf("README lists --%s, which is not a flag", name)
	}
}

// firstCode returns the text of the first `code span` in s.
func firstCode(s string) (string, bool) {
	_, after, ok := strings.Cut(s, "`")
	if !ok {
		return "", false
	}
	code, _, ok := strings.Cut(after, "`")
	return code, ok
}

func sameDuration(a, b string) bool {
	da, errA := time.ParseDuration(a)
	db, errB := time.ParseDuration(b)
	return errA == nil && errB == nil && da == db
}
