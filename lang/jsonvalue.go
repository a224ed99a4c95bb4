package lang

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// FromJSON normalises a value decoded from JSON (numbers as float64 or
// json.Number) into the representation expressions use: int64 for
// integral numbers that fit, float64 for the rest; maps and lists are
// converted in place where possible.
func FromJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = FromJSON(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = FromJSON(e)
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return normFloat(f)
	case float64:
		return normFloat(x)
	case float32:
		return normFloat(float64(x))
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return float64(x)
	}
	return v
}

func normFloat(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return f
}

// jsonDict is a read-only JSON object in Starlark: x.key, x["key"],
// x.get(k, d), keys(), values(), items(), `in`, len, iteration and `|`.
//
// Its type name is "json_dict", not "dict": Starlark's own *Dict and
// *List compare themselves with any value of the same type name by a type
// assertion, so sharing the name would panic on `{"a": 1} < input.x`.
// Equality with Starlark dicts and lists is instead given by the `==`,
// `!=`, `in` and `not in` rewrites (see jsonEqual), so
// `input.tags == ["a"]` is true when the JSON list holds "a".
type jsonDict struct{ m map[string]any }

var (
	_ starlark.HasAttrs        = jsonDict{}
	_ starlark.Mapping         = jsonDict{}
	_ starlark.IterableMapping = jsonDict{}
	_ starlark.Sequence        = jsonDict{}
	_ starlark.Comparable      = jsonDict{}
	_ starlark.HasBinary       = jsonDict{}
)

func (d jsonDict) String() string {
	b, _ := json.Marshal(d.m)
	return string(b)
}
func (d jsonDict) Type() string          { return "json_dict" }
func (d jsonDict) Freeze()               {}
func (d jsonDict) Truth() starlark.Bool  { return len(d.m) > 0 }
func (d jsonDict) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: json_dict") }
func (d jsonDict) Len() int              { return len(d.m) }

func (d jsonDict) sortedKeys() []string {
	ks := make([]string, 0, len(d.m))
	for k := range d.m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (d jsonDict) Iterate() starlark.Iterator { return &strIter{keys: d.sortedKeys()} }

// Items makes the object an IterableMapping (for json.encode, dict(x)).
func (d jsonDict) Items() []starlark.Tuple {
	ks := d.sortedKeys()
	out := make([]starlark.Tuple, len(ks))
	for i, k := range ks {
		out[i] = starlark.Tuple{starlark.String(k), toStarlark(d.m[k])}
	}
	return out
}

type strIter struct {
	keys []string
	i    int
}

func (it *strIter) Next(p *starlark.Value) bool {
	if it.i >= len(it.keys) {
		return false
	}
	*p = starlark.String(it.keys[it.i])
	it.i++
	return true
}
func (it *strIter) Done() {}

// Get reports a missing key as not found (so `in` is right); the
// expression rewrite of x[k] (builtinIdx) turns that into None.
func (d jsonDict) Get(k starlark.Value) (starlark.Value, bool, error) {
	s, ok := k.(starlark.String)
	if !ok {
		return nil, false, nil
	}
	v, ok := d.m[string(s)]
	if !ok {
		return nil, false, nil
	}
	return toStarlark(v), true, nil
}

// Binary gives `|` (union) with another dict, as a new Starlark dict.
func (d jsonDict) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	if op != syntax.PIPE {
		return nil, nil
	}
	other, ok := asDict(y)
	if !ok {
		return nil, nil
	}
	x := d.dict()
	if side == starlark.Right {
		x, other = other, x
	}
	return x.Union(other), nil
}

// dict copies the object's top level into a Starlark dict.
func (d jsonDict) dict() *starlark.Dict {
	out := starlark.NewDict(len(d.m))
	for _, k := range d.sortedKeys() {
		_ = out.SetKey(starlark.String(k), toStarlark(d.m[k]))
	}
	return out
}

func asDict(v starlark.Value) (*starlark.Dict, bool) {
	switch x := v.(type) {
	case *starlark.Dict:
		return x, true
	case jsonDict:
		return x.dict(), true
	}
	return nil, false
}

// Attr gives the dict methods first, then the object's keys (a method
// call x.get(k) stays a method when the object has a "get" key; x.get
// without a call is rewritten to _dot and reads the key).
func (d jsonDict) Attr(name string) (starlark.Value, error) {
	switch name {
	case "get", "keys", "values", "items":
		return starlark.NewBuiltin(name, d.method).BindReceiver(d), nil
	}
	if v, ok := d.m[name]; ok {
		return toStarlark(v), nil
	}
	return starlark.None, nil
}

func (d jsonDict) AttrNames() []string { return []string{"get", "items", "keys", "values"} }

func (d jsonDict) method(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	switch b.Name() {
	case "get":
		var k, def starlark.Value = nil, starlark.None
		if err := starlark.UnpackPositionalArgs("get", args, kwargs, 1, &k, &def); err != nil {
			return nil, err
		}
		if s, ok := k.(starlark.String); ok {
			if v, ok := d.m[string(s)]; ok {
				return toStarlark(v), nil
			}
		}
		return def, nil
	case "keys", "values", "items":
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
			return nil, err
		}
		ks := d.sortedKeys()
		out := make([]starlark.Value, len(ks))
		for i, k := range ks {
			switch b.Name() {
			case "keys":
				out[i] = starlark.String(k)
			case "values":
				out[i] = toStarlark(d.m[k])
			default:
				out[i] = starlark.Tuple{starlark.String(k), toStarlark(d.m[k])}
			}
		}
		return starlark.NewList(out), nil
	}
	return nil, fmt.Errorf("dict has no method %s", b.Name())
}

func (d jsonDict) CompareSameType(op syntaxToken, y starlark.Value, depth int) (bool, error) {
	return cmpEq(op, goEqual(d.m, y.(jsonDict).m))
}

// jsonList is a read-only JSON array in Starlark (type name "json_list",
// see jsonDict): index, slice, len, iteration, `in`, `+` and `*`.
type jsonList struct{ s []any }

var (
	_ starlark.Indexable  = jsonList{}
	_ starlark.Sequence   = jsonList{}
	_ starlark.Sliceable  = jsonList{}
	_ starlark.Comparable = jsonList{}
	_ starlark.Container  = jsonList{}
	_ starlark.HasBinary  = jsonList{}
)

// Has is `x in list`, by JSON equality.
func (l jsonList) Has(x starlark.Value) (bool, error) {
	for _, e := range l.s {
		if ok, err := jsonEqual(toStarlark(e), x); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// Binary gives `+` with another list and `*` with an int, as new
// Starlark lists.
func (l jsonList) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	switch op {
	case syntax.PLUS:
		other, ok := asList(y)
		if !ok {
			return nil, nil
		}
		a, b := l.values(), other
		if side == starlark.Right {
			a, b = b, a
		}
		return starlark.NewList(append(append(make([]starlark.Value, 0, len(a)+len(b)), a...), b...)), nil
	case syntax.STAR:
		n, err := starlark.AsInt32(y)
		if err != nil {
			return nil, nil
		}
		var out []starlark.Value
		for range max(n, 0) {
			out = append(out, l.values()...)
		}
		return starlark.NewList(out), nil
	}
	return nil, nil
}

func (l jsonList) values() []starlark.Value {
	out := make([]starlark.Value, len(l.s))
	for i, e := range l.s {
		out[i] = toStarlark(e)
	}
	return out
}

func asList(v starlark.Value) ([]starlark.Value, bool) {
	switch x := v.(type) {
	case *starlark.List:
		out := make([]starlark.Value, x.Len())
		for i := range out {
			out[i] = x.Index(i)
		}
		return out, true
	case jsonList:
		return x.values(), true
	}
	return nil, false
}

func (l jsonList) String() string {
	b, _ := json.Marshal(l.s)
	return string(b)
}
func (l jsonList) Type() string          { return "json_list" }
func (l jsonList) Freeze()               {}
func (l jsonList) Truth() starlark.Bool  { return len(l.s) > 0 }
func (l jsonList) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: json_list") }
func (l jsonList) Len() int              { return len(l.s) }
func (l jsonList) Index(i int) starlark.Value {
	return toStarlark(l.s[i])
}
func (l jsonList) Iterate() starlark.Iterator { return &listIter{l: l} }
func (l jsonList) Slice(start, end, step int) starlark.Value {
	var out []starlark.Value
	if step > 0 {
		for i := start; i < end; i += step {
			out = append(out, toStarlark(l.s[i]))
		}
	} else {
		for i := start; i > end; i += step {
			out = append(out, toStarlark(l.s[i]))
		}
	}
	return starlark.NewList(out)
}
func (l jsonList) CompareSameType(op syntaxToken, y starlark.Value, depth int) (bool, error) {
	return cmpEq(op, goEqual(l.s, y.(jsonList).s))
}

type listIter struct {
	l jsonList
	i int
}

func (it *listIter) Next(p *starlark.Value) bool {
	if it.i >= len(it.l.s) {
		return false
	}
	*p = toStarlark(it.l.s[it.i])
	it.i++
	return true
}
func (it *listIter) Done() {}

// jsonEqual is `==` that also holds between JSON values and Starlark
// dicts, lists and tuples with equal contents; other values compare as
// Starlark compares them.
func jsonEqual(x, y starlark.Value) (bool, error) {
	if isContainer(x) && isContainer(y) {
		a, err := fromStarlark(x)
		if err != nil {
			return false, err
		}
		b, err := fromStarlark(y)
		if err != nil {
			return false, err
		}
		return goEqual(a, b), nil
	}
	if isContainer(x) || isContainer(y) {
		return false, nil
	}
	return starlark.Equal(x, y)
}

func isContainer(v starlark.Value) bool {
	switch v.(type) {
	case jsonDict, jsonList, *starlark.Dict, *starlark.List, starlark.Tuple:
		return true
	}
	return false
}

// goEqual compares JSON values; numbers compare by value (1 == 1.0).
func goEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			f, ok := y[k]
			if !ok || !goEqual(e, f) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !goEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case int64, float64, int, json.Number:
		fa, oka := number(a)
		fb, okb := number(b)
		if !oka || !okb {
			return false
		}
		return fa == fb
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch x := FromJSON(v).(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// builtinEq and builtinIn are the rewrites of `==`/`!=` and `in`/`not in`
// (see rewriteExpr); the last argument says whether to negate.
func builtinEq(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("_eq: want 3 arguments")
	}
	ok, err := jsonEqual(args[0], args[1])
	if err != nil {
		return nil, err
	}
	return starlark.Bool(ok != bool(args[2].Truth())), nil
}

func builtinIn(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("_in: want 3 arguments")
	}
	x, y := args[0], args[1]
	var found bool
	switch c := y.(type) {
	case *starlark.List, starlark.Tuple:
		it := starlark.Iterate(c)
		defer it.Done()
		var e starlark.Value
		for it.Next(&e) {
			ok, err := jsonEqual(e, x)
			if err != nil {
				return nil, err
			}
			if ok {
				found = true
				break
			}
		}
	default:
		op := syntax.IN
		v, err := starlark.Binary(op, x, y)
		if err != nil {
			return nil, err
		}
		found = bool(v.Truth())
	}
	return starlark.Bool(found != bool(args[2].Truth())), nil
}

// toStarlark wraps a JSON value for Starlark without copying it.
func toStarlark(v any) starlark.Value {
	switch x := v.(type) {
	case nil:
		return starlark.None
	case string:
		return starlark.String(x)
	case bool:
		return starlark.Bool(x)
	case int64:
		return starlark.MakeInt64(x)
	case int:
		return starlark.MakeInt(x)
	case float64:
		return starlark.Float(x)
	case json.Number:
		return toStarlark(FromJSON(x))
	case map[string]any:
		return jsonDict{x}
	case []any:
		return jsonList{x}
	case starlark.Value:
		return x
	}
	return starlark.String(fmt.Sprint(v))
}

func mapValue(m map[string]any) starlark.Value {
	if m == nil {
		return jsonDict{map[string]any{}}
	}
	return jsonDict{m}
}

func listOf(s []any) starlark.Value {
	if s == nil {
		return jsonList{[]any{}}
	}
	return jsonList{s}
}

func jobValue(j JobInfo) starlark.Value {
	m := map[string]any{"id": j.ID, "blueprint": j.Blueprint, "state": j.State, "attempt": int64(j.Attempt)}
	if !j.CreatedAt.IsZero() {
		m["created_at"] = j.CreatedAt.UTC().Format(time.RFC3339Nano)
	} else {
		m["created_at"] = nil
	}
	return jsonDict{m}
}

func storesValue(s map[string]map[string]any) starlark.Value {
	m := make(map[string]any, len(s))
	for k, v := range s {
		m[k] = v
	}
	return jsonDict{m}
}

// fromStarlark converts a Starlark value into a JSON value.
func fromStarlark(v starlark.Value) (any, error) {
	switch x := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(x), nil
	case starlark.String:
		return string(x), nil
	case starlark.Int:
		if i, ok := x.Int64(); ok {
			return i, nil
		}
		f, _ := new(big.Float).SetInt(x.BigInt()).Float64()
		return f, nil
	case starlark.Float:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", f)
		}
		return normFloat(f), nil
	case jsonDict:
		return x.m, nil
	case jsonList:
		return x.s, nil
	case *starlark.Dict:
		out := make(map[string]any, x.Len())
		for _, it := range x.Items() {
			k, ok := it[0].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("dict key %s is not a string", it[0])
			}
			e, err := fromStarlark(it[1])
			if err != nil {
				return nil, err
			}
			out[string(k)] = e
		}
		return out, nil
	case *starlark.List:
		out := make([]any, x.Len())
		for i := range out {
			e, err := fromStarlark(x.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case starlark.Tuple:
		out := make([]any, len(x))
		for i := range x {
			e, err := fromStarlark(x[i])
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s is not a JSON value", v.Type())
}

// builtinDot is x.name that gives None for a missing key and for None.
func builtinDot(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("_dot: want 2 arguments")
	}
	name, _ := starlark.AsString(args[1])
	switch x := args[0].(type) {
	case starlark.NoneType:
		return starlark.None, nil
	case jsonDict:
		if v, ok := x.m[name]; ok {
			return toStarlark(v), nil
		}
		return starlark.None, nil
	case *starlark.Dict:
		v, found, err := x.Get(starlark.String(name))
		if err != nil || !found {
			return starlark.None, nil
		}
		return v, nil
	case starlark.HasAttrs:
		v, err := x.Attr(name)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("%s has no .%s field or method", x.Type(), name)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%s has no .%s field or method", args[0].Type(), name)
}

// maxElements bounds a list, tuple or range made by repetition or range
// (and a string made by repetition, in bytes).
const maxElements = 1 << 20

// builtinMul is a * b, refusing repetitions longer than maxElements.
func builtinMul(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("_mul: want 2 arguments")
	}
	x, y := args[0], args[1]
	seq, n := x, y
	if _, ok := x.(starlark.Int); ok {
		seq, n = y, x
	}
	if k, ok := n.(starlark.Int); ok {
		var size int
		switch s := seq.(type) {
		case starlark.String:
			size = len(s)
		case starlark.Sequence:
			size = s.Len()
		}
		if c, ok := k.Int64(); size > 0 && (!ok || c > 0 && int64(size)*min(c, maxElements+1) > maxElements) {
			return nil, fmt.Errorf("repetition of a %s of %d by %s would exceed %d elements", seq.Type(), size, k, maxElements)
		}
	}
	if l, ok := seq.(jsonList); ok {
		return l.Binary(syntax.STAR, n, starlark.Left)
	}
	return starlark.Binary(syntax.STAR, x, y)
}

// builtinRange is Starlark's range, refusing more than maxElements.
func builtinRange(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	r, err := starlark.Call(th, starlark.Universe["range"], args, kwargs)
	if err != nil {
		return nil, err
	}
	if s, ok := r.(starlark.Sequence); ok && s.Len() > maxElements {
		return nil, fmt.Errorf("range of %d elements exceeds %d", s.Len(), maxElements)
	}
	return r, nil
}

// builtinMeth is x.name(args...) that gives None when x is None.
func builtinMeth(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("_meth: want at least 2 arguments")
	}
	if args[0] == starlark.None {
		return starlark.None, nil
	}
	name, _ := starlark.AsString(args[1])
	x, ok := args[0].(starlark.HasAttrs)
	if !ok {
		return nil, fmt.Errorf("%s has no .%s field or method", args[0].Type(), name)
	}
	m, err := x.Attr(name)
	if err != nil {
		return nil, err
	}
	if m == nil || m == starlark.None {
		return nil, fmt.Errorf("%s has no .%s method", x.Type(), name)
	}
	return starlark.Call(th, m, args[2:], kwargs)
}

// builtinIdx is x[k] that gives None for a missing key and for None.
func builtinIdx(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("_idx: want 2 arguments")
	}
	x, k := args[0], args[1]
	switch c := x.(type) {
	case starlark.NoneType:
		return starlark.None, nil
	case starlark.Mapping:
		v, found, err := c.Get(k)
		if err != nil {
			return nil, err
		}
		if !found {
			return starlark.None, nil
		}
		return v, nil
	case starlark.Indexable:
		i, err := starlark.AsInt32(k)
		if err != nil {
			return nil, fmt.Errorf("%s index: got %s, want int", c.Type(), k.Type())
		}
		n := c.Len()
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return starlark.None, nil
		}
		return c.Index(i), nil
	}
	return nil, fmt.Errorf("unhandled index operation %s[%s]", x.Type(), k.Type())
}

// formatInto writes a value into a longer string: strings as they are,
// None as nothing, numbers and booleans and containers as compact JSON.
func formatInto(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func decodeRune(s string) (rune, int) { return utf8.DecodeRuneInString(s) }

// CopyJSON copies a JSON value deeply: maps (map[string]any) and lists
// ([]any) are copied, a nil one stays nil, other values are shared. An
// evaluated constant is copied so that a caller may change it without
// changing the machine.
func CopyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = CopyJSON(e)
		}
		return out
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = CopyJSON(e)
		}
		return out
	}
	return v
}
