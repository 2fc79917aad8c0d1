package credentials_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookupd/lookupd/clientmerge/credentials"
)

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want, err string
	}{
		{name: "trailing newline", content: "tok-0123456789abcdef\n", want: "tok-0123456789abcdef"},
		{name: "crlf and spaces", content: "  tok-0123456789abcdef \r\n", want: "tok-0123456789abcdef"},
		{name: "empty", content: "\n", err: "empty"},
		{name: "two words", content: "tok-0123 456789abcdef\n", err: "more than one word"},
		{name: "too large", content: strings.Repeat("x", 5000), err: "larger than 4096 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := credentials.ReadTokenFile(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "0123") {
					t.Fatalf("err %v, want %q without the token", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := credentials.ReadTokenFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file read")
	}
}
