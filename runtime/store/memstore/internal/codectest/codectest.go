// Package codectest holds values that set every field the memory
// store's codec keeps, for the tests of the codec and of the store.
package codectest

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

var Zone = time.FixedZone("X", 3*3600)

// Values are JSON values of every Go type the memory codec keeps.
func Values(n int) map[string]any {
	return map[string]any{
		"float": float64(n) + 0.25, "int-float": float64(n), "neg-zero": math.Copysign(0, -1), "big": 1e300,
		"huge-int": float64(1 << 60), "int": n, "int64": int64(-n), "str": fmt.Sprint("v", n), "empty": "",
		"true": true, "false": false, "nil": nil, "list": []any{1.0, "x", nil, []any{}}, "nil-list": []any(nil),
		"map": map[string]any{"a": map[string]any{}}, "nil-map": map[string]any(nil), "strings": []string{"a", ""},
		"nil-strings": []string(nil), "maps": map[string]map[string]any{"s": {"k": 1.0}, "nil": nil},
		"nil-maps": map[string]map[string]any(nil),
		"uuid":     "0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b", "task-uuid": "task-0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b",
		"upper-uuid":                           "0B6F2C7E-8F55-4A5E-9D3A-0C6D1E2F3A4B",
		"0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b": "a UUID as a key",
	}
}

// Time is the n-th of a set of times of every kind the codec keeps.
func Time(n int) time.Time {
	t := time.Date(2026, 3, 4, 5, 6, 7, n, time.UTC)
	switch n % 6 {
	case 1:
		return t.In(time.Local)
	case 2:
		return t.In(Zone)
	case 3:
		return time.Date(3000, 1, 2, 3, 4, 5, n, time.UTC) // past the range of nanoseconds
	case 4:
		return time.Date(1, 1, 1, 0, 0, 0, n, Zone)
	case 5:
		return time.Time{}.In(time.Local) // zero, not in UTC
	}
	return t
}

// Fill sets every field reachable from v to a value that is not
// zero; n makes the values differ. Job.Tasks is filled by the caller.
func Fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		Fill(t, v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(Time(*n)))
			return
		}
		if v.Type() == reflect.TypeFor[core.TaskRefs]() {
			return // FillRefs
		}
		for i := range v.NumField() {
			if !v.Field(i).CanSet() {
				t.Fatalf("%s.%s: cannot fill an unexported field", v.Type(), v.Type().Field(i).Name)
			}
			Fill(t, v.Field(i), n)
		}
	case reflect.String:
		v.SetString(fmt.Sprint("s", *n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n) * 1_000_001)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 3, 3)
		for i := range 3 {
			if i != 1 || v.Type().Elem().Kind() != reflect.Pointer { // leave a nil in slices of pointers
				Fill(t, s.Index(i), n)
			}
		}
		v.Set(s)
	case reflect.Map:
		if v.Type() == reflect.TypeFor[map[string]any]() {
			v.Set(reflect.ValueOf(Values(*n)))
			return
		}
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		Fill(t, k, n)
		Fill(t, e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf(Values(*n)))
	default:
		t.Fatalf("fill: no value for kind %s (%s)", v.Kind(), v.Type())
	}
}

// EachField calls check with a T holding only that field, for each
// field of T, then with a T holding every field. special fills the
// fields Fill cannot and reports whether it did.
func EachField[T any](t *testing.T, check func(*testing.T, *T), special func(*T, string, *int) bool) {
	var all T
	n := 0
	typ := reflect.TypeFor[T]()
	set := func(v *T, name string) {
		if special == nil || !special(v, name, &n) {
			Fill(t, reflect.ValueOf(v).Elem().FieldByName(name), &n)
		}
	}
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		var one T
		set(&one, name)
		set(&all, name)
		t.Run(name, func(t *testing.T) { check(t, &one) })
	}
	t.Run("all", func(t *testing.T) { check(t, &all) })
}

// Same fails unless got is want exactly: types of values inside maps,
// nil against empty, time locations.
func Same(t *testing.T, want, got any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("round trip differs (-want +got):\n%s", cmp.Diff(want, got))
	}
}

func FillRefs(t *testing.T, j *core.Job, count int, n *int) {
	refs := make([]core.TaskRef, count)
	for i := range refs {
		if i != 1 { // one ref all zero
			Fill(t, reflect.ValueOf(&refs[i]).Elem(), n)
		}
	}
	j.Tasks = core.NewTaskRefs(refs...)
}
