package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MarkdownPath is where the markdown of a JSON report at jsonPath goes:
// beside it, with the extension .md.
func MarkdownPath(jsonPath string) string {
	return strings.TrimSuffix(jsonPath, filepath.Ext(jsonPath)) + ".md"
}

// WriteReport writes rep as indented JSON to path and md to
// MarkdownPath(path), creating the directory.
func WriteReport(path string, rep any, md string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(MarkdownPath(path), []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// PrintReport is how a benchmark command ends: it prints md to stdout and,
// unless path is "", writes rep and md with WriteReport and says where on
// stderr.
func PrintReport(stdout, stderr io.Writer, path string, rep any, md string) error {
	fmt.Fprint(stdout, md)
	if path == "" {
		return nil
	}
	if err := WriteReport(path, rep, md); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s and %s\n", path, MarkdownPath(path))
	return nil
}

// ReadReport decodes the JSON report at path (one WriteReport wrote) into
// rep, a pointer. The caller names the path in its message: a decoding
// error does not.
func ReadReport(path string, rep any) error {
	js, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(js, rep)
}
