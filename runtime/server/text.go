package server

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// checkText refuses a JSON text with a string that is not valid UTF-8 or
// holds a lone surrogate escape (\ud800 without its pair): the decoder
// would silently put U+FFFD in its place, so what is stored would not be
// what was sent. The error names the member (initial_data.name[2]).
func checkText(b []byte) error {
	if utf8.Valid(b) && !bytes.Contains(b, []byte(`\ud`)) && !bytes.Contains(b, []byte(`\uD`)) {
		return nil
	}
	type frame struct {
		obj bool
		key string
		idx int
	}
	var st []frame
	expectKey := false
	for i := 0; i < len(b); {
		switch b[i] {
		case '{':
			st = append(st, frame{obj: true})
			expectKey = true
			i++
		case '[':
			st = append(st, frame{})
			expectKey = false
			i++
		case '}', ']':
			if len(st) > 0 {
				st = st[:len(st)-1]
			}
			expectKey = false
			i++
		case ',':
			if len(st) > 0 {
				if top := &st[len(st)-1]; top.obj {
					expectKey = true
				} else {
					top.idx++
				}
			}
			i++
		case ':':
			expectKey = false
			i++
		case '"':
			end, problem := scanString(b, i)
			isKey := expectKey && len(st) > 0 && st[len(st)-1].obj
			if isKey {
				st[len(st)-1].key = string(b[i+1 : max(i+1, end-1)])
			}
			if problem != "" {
				var p strings.Builder
				for n, f := range st {
					switch {
					case f.obj && n == 0:
						p.WriteString(f.key)
					case f.obj:
						p.WriteString("." + f.key)
					default:
						p.WriteString("[" + strconv.Itoa(f.idx) + "]")
					}
				}
				where := p.String()
				if where == "" {
					where = "the body"
				}
				if isKey {
					where = "a member name in " + where
				}
				return errorf(http.StatusBadRequest, wire.CodeInvalidJSON, "%s: %s (at byte %d)", strings.ToValidUTF8(where, "?"), problem, i)
			}
			i = end
		default:
			i++
		}
	}
	return nil
}

// scanString reads the JSON string that opens at b[i] and returns the
// index after it and what is wrong with it ("" when nothing).
func scanString(b []byte, i int) (end int, problem string) {
	for j := i + 1; j < len(b); {
		c := b[j]
		switch {
		case c == '"':
			return j + 1, problem
		case c == '\\' && j+1 < len(b) && b[j+1] == 'u':
			r, ok := hex4(b, j+2)
			if !ok {
				j += 2
				continue
			}
			switch {
			case r >= 0xD800 && r < 0xDC00:
				if lo, ok := hex4(b, j+8); ok && j+7 < len(b) && b[j+6] == '\\' && b[j+7] == 'u' && lo >= 0xDC00 && lo < 0xE000 {
					j += 12
					continue
				}
				if problem == "" {
					problem = "lone surrogate \\u" + string(b[j+2:j+6]) + " in a string"
				}
			case r >= 0xDC00 && r < 0xE000:
				if problem == "" {
					problem = "lone surrogate \\u" + string(b[j+2:j+6]) + " in a string"
				}
			}
			j += 6
		case c == '\\':
			j += 2
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size <= 1 && problem == "" {
				problem = "invalid UTF-8 in a string"
			}
			j += max(size, 1)
		default:
			j++
		}
	}
	return len(b), problem
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(n), err == nil
}
