// Package jsonlimit bounds JSON before it is decoded: encoding/json accepts
// nesting up to 10,000 levels, far more than any document this library reads
// needs, and decoding a deep one costs memory before any rule can refuse it.
package jsonlimit

// DepthOK reports whether the JSON text b nests objects and arrays at most
// max levels deep. It only counts brackets outside strings and does not
// validate; the decoder does that afterwards.
func DepthOK(b []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return false
			}
		case '}', ']':
			depth--
		}
	}
	return true
}
