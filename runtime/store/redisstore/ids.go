package redisstore

import (
	"encoding/base64"

	"github.com/avtomatika-ai/avtomatika-go/internal/uuid"
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
		if b, ok := uuid.Parse(id[len(prefix):]); ok {
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
	return string(uuid.Append(append(make([]byte, 0, len(prefix)+36), prefix...), string(b[:])))
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
