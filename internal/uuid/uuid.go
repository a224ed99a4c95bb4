// Package uuid makes version 4 UUIDs in their canonical form (8-4-4-4-12
// lowercase hex digits) and packs canonical UUIDs into their 16 bytes and
// back.
//
// New is the one place the module draws an id: the engine's job and task
// ids (from the step's randomness) and the worker SDK's worker and event
// ids (from crypto/rand). Parse and Append serve the stores' compact ids.
package uuid

import (
	"fmt"
	"io"
)

// New reads 16 bytes from r and returns them as a version 4 (random)
// UUID. A failed or short read is an error: an id is never made of zeros.
func New(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("read randomness: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant RFC 9562
	return string(Append(make([]byte, 0, 36), string(b[:]))), nil
}

// Parse returns the bytes of a canonical UUID. Upper-case digits are not
// canonical: they would not come back as they were.
func Parse(s string) (b [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return b, false
		}
		b[j] = hi<<4 | lo
		i, j = i+2, j+1
	}
	return b, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// Append appends the canonical form of the 16 bytes of raw to dst.
func Append(dst []byte, raw string) []byte {
	const digits = "0123456789abcdef"
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, digits[raw[i]>>4], digits[raw[i]&15])
	}
	return dst
}
