// Package wire is the one vocabulary the orchestrator, its workers and its
// clients share: job, result and worker statuses, error codes, dispatch
// strategies, the message bodies and the job view, header and route names,
// and the HMAC-SHA256 signing of worker messages.
//
// Each value is declared once here and used by name everywhere else. The
// types read leniently what other implementations send (timestamps as
// integers or floats, skill names as strings or objects, unknown members
// ignored) in their own UnmarshalJSON, and write strictly. The package
// depends on the standard library only, so a worker binary stays small.
package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind says which members a message's signature leaves out.
type Kind int

const (
	// KindMessage: registration, heartbeat, result (drops security, _signature).
	KindMessage Kind = iota
	// KindEvent: worker events (also drops bubbling_chain).
	KindEvent
)

// Canonical returns the bytes a signature covers: the JSON object with
// top-level security and _signature removed (and bubbling_chain for
// events), null members removed at every depth, integral numbers written
// as integers, keys sorted, no whitespace, strings in UTF-8 with only
// `"`, `\` and control characters escaped (the orjson form the Python
// peers sign).
func Canonical(body []byte, kind Kind) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical form: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("canonical form: the body is not a JSON object")
	}
	delete(obj, "security")
	delete(obj, "_signature")
	if kind == KindEvent {
		delete(obj, "bubbling_chain")
	}
	var b bytes.Buffer
	if err := writeCanonical(&b, obj, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeCanonical(b *bytes.Buffer, v any, depth int) error {
	if depth > 200 {
		return errors.New("canonical form: nested too deeply")
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		writeString(b, x)
	case json.Number:
		s, err := canonicalNumber(string(x))
		if err != nil {
			return err
		}
		b.WriteString(s)
	case float64:
		s, err := canonicalNumber(strconv.FormatFloat(x, 'g', -1, 64))
		if err != nil {
			return err
		}
		b.WriteString(s)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k, e := range x {
			if e != nil {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := writeCanonical(b, x[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("canonical form: unexpected %T", v)
	}
	return nil
}

// canonicalNumber writes a JSON number as the Python peers do: integers
// as they are, integral floats as integers, others in the shortest form,
// plain for 1e-5 <= |x| < 1e16 and with an exponent otherwise.
func canonicalNumber(s string) (string, error) {
	if !strings.ContainsAny(s, ".eE") {
		if _, ok := new(big.Int).SetString(s, 10); ok {
			return strings.TrimPrefix(s, "+"), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("canonical form: bad number %q", s)
	}
	if f == math.Trunc(f) {
		bf := new(big.Float).SetFloat64(f)
		i, _ := bf.Int(nil)
		return i.String(), nil
	}
	a := math.Abs(f)
	if a >= 1e-5 && a < 1e16 {
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // 1.5e-07
	mant, exp, _ := strings.Cut(e, "e")
	sign := ""
	if strings.HasPrefix(exp, "-") {
		sign = "-"
	}
	exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	if exp == "" {
		exp = "0"
	}
	return mant + "e" + sign + exp, nil
}

func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// Sign returns hex(HMAC-SHA256(secret, Canonical(body))).
func Sign(secret string, body []byte, kind Kind) (string, error) {
	c, err := Canonical(body, kind)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(c)
	return hex.EncodeToString(m.Sum(nil)), nil
}

// Verify reports whether signature (hex) signs body with secret; the
// comparison takes constant time.
func Verify(secret string, body []byte, kind Kind, signature string) bool {
	want, err := Sign(secret, body, kind)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(want), []byte(strings.ToLower(signature)))
}
