package wire

import "strings"

// MaxNameLength is the longest topic or channel name, in bytes, including
// an "#ephemeral" suffix.
const MaxNameLength = 64

// EphemeralSuffix marks a topic or channel that disappears when its last
// producer leaves.
const EphemeralSuffix = "#ephemeral"

// IsValidTopicName reports whether name is a valid topic name: 1 to 64
// bytes of [.a-zA-Z0-9_-], optionally ending in "#ephemeral".
func IsValidTopicName(name string) bool { return isValidName(name) }

// IsValidChannelName reports whether name is a valid channel name. The rule
// is the same as for topics.
func IsValidChannelName(name string) bool { return isValidName(name) }

// IsEphemeral reports whether name ends in "#ephemeral".
func IsEphemeral(name string) bool { return strings.HasSuffix(name, EphemeralSuffix) }

func isValidName(name string) bool {
	if len(name) < 1 || len(name) > MaxNameLength {
		return false
	}
	base := strings.TrimSuffix(name, EphemeralSuffix)
	if base == "" {
		return false
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
