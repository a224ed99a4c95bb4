package redisstore

import (
	"encoding/base64"
	"encoding/hex"
)

// Ids are stored packed: a canonical UUID (lower-case, 8-4-4-4-12 hex
// digits) after its prefix ("" for jobs, "task-" for tasks, as the engine
// makes them) becomes its 16 bytes in unpadded base64url, 22 characters
// instead of 36 or 41. Any other id is kept as it is, behind "!" when it
// could be mistaken for a packed one (22 characters long or starting
// with "!"). The scripts see only packed ids; the store packs what it
// sends and unpacks what it reads.

const (
	jobPrefix  = ""
	taskPrefix = "task-"
	packedLen  = 22
)

func pack(id, prefix string) string {
	if len(id) == len(prefix)+36 && id[:len(prefix)] == prefix {
		if b, ok := uuidBytes(id[len(prefix):]); ok {
			return base64.RawURLEncoding.EncodeToString(b[:])
		}
	}
	if len(id) == packedLen || (id != "" && id[0] == '!') {
		return "!" + id
	}
	return id
}

func unpack(s, prefix string) string {
	if s != "" && s[0] == '!' {
		return s[1:]
	}
	if len(s) != packedLen {
		return s
	}
	var b [16]byte
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(s)); err != nil || n != 16 {
		return s
	}
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:36], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return prefix + string(out[:])
}

// uuidBytes parses a canonical UUID; upper-case digits are not canonical
// (they would not come back as they were).
func uuidBytes(s string) (b [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return b, false
		}
		b[j] = hi<<4 | lo
		i, j = i+2, j+1
	}
	return b, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func packJob(id string) string   { return pack(id, jobPrefix) }
func unpackJob(s string) string  { return unpack(s, jobPrefix) }
func packTask(id string) string  { return pack(id, taskPrefix) }
func unpackTask(s string) string { return unpack(s, taskPrefix) }
func packTasks(ids []string) []string {
	if ids == nil {
		return nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = packTask(id)
	}
	return out
}
