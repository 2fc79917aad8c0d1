package credentials

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxTokenFileSize bounds a file read by ReadTokenFile.
const maxTokenFileSize = 4096

// ReadTokenFile returns the token stored in the file at name, the way a
// client keeps its token out of its command line (where ps shows it):
// the file's content with surrounding white space trimmed. The token must
// not be empty nor hold white space or control characters. Errors never
// include the token.
func ReadTokenFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFileSize+1))
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", name, err)
	}
	if len(data) > maxTokenFileSize {
		return "", fmt.Errorf("token file %s: larger than %d bytes", name, maxTokenFileSize)
	}
	tok := strings.TrimSpace(string(data))
	switch {
	case tok == "":
		return "", fmt.Errorf("token file %s: empty", name)
	case strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return "", fmt.Errorf("token file %s: more than one word, or control characters", name)
	}
	return tok, nil
}
