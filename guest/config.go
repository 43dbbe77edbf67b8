package guest

import (
	"encoding"
	"encoding/json"
	"reflect"
	"sync"
)

// configCache keeps the last config decoded per target type, so that a
// module does not decode the same policy config with reflection on every
// request (about 160 µs of a check in WebAssembly, measured with the
// allow-list config). A hit gives the caller a deep copy, so changing the
// decoded value never changes a later request's config.
var configCache struct {
	sync.Mutex
	entries   map[reflect.Type]configEntry
	cacheable map[reflect.Type]bool
}

type configEntry struct {
	raw   string
	value reflect.Value
}

// decodeConfigCached decodes raw into v like decodeStrict. It uses the
// cache only when the result depends on nothing but raw and the type: v
// points to a zero value, and the type is built from plain data (no
// custom unmarshalers, interfaces or unexported fields).
func decodeConfigCached(raw []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !rv.Elem().IsZero() {
		return decodeStrict(raw, v)
	}
	target := rv.Elem()
	t := target.Type()

	configCache.Lock()
	defer configCache.Unlock()
	if configCache.cacheable == nil {
		configCache.cacheable = map[reflect.Type]bool{}
		configCache.entries = map[reflect.Type]configEntry{}
	}
	if !plainData(t, configCache.cacheable) {
		return decodeStrict(raw, v)
	}
	if e, ok := configCache.entries[t]; ok && e.raw == string(raw) {
		copyValue(target, e.value)
		return nil
	}

	if err := decodeStrict(raw, v); err != nil {
		return err
	}
	kept := reflect.New(t).Elem()
	copyValue(kept, target)
	configCache.entries[t] = configEntry{raw: string(raw), value: kept}
	return nil
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// plainData reports whether values of t are plain data that copyValue
// copies completely. known records the results, and marks types in
// progress as plain so that recursive types terminate.
func plainData(t reflect.Type, known map[reflect.Type]bool) bool {
	if ok, seen := known[t]; seen {
		return ok
	}
	known[t] = true
	ok := plainDataUncached(t, known)
	known[t] = ok
	return ok
}

func plainDataUncached(t reflect.Type, known map[reflect.Type]bool) bool {
	pt := reflect.PointerTo(t)
	if t.Implements(jsonUnmarshaler) || pt.Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || pt.Implements(textUnmarshaler) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return plainData(t.Elem(), known)
	case reflect.Map:
		return plainData(t.Key(), known) && plainData(t.Elem(), known)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || !plainData(f.Type, known) {
				return false
			}
		}
		return true
	}
	return false
}

// copyValue sets dst, a settable zero value, to a deep copy of src, a
// plain-data value as plainData defines it. Data decoded from JSON is a
// tree, so there are no cycles to follow.
func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		copyValue(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			copyValue(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Array:
		for i := range src.Len() {
			copyValue(dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		iter := src.MapRange()
		for iter.Next() {
			elem := reflect.New(src.Type().Elem()).Elem()
			copyValue(elem, iter.Value())
			m.SetMapIndex(iter.Key(), elem)
		}
		dst.Set(m)
	case reflect.Struct:
		for i := range src.NumField() {
			copyValue(dst.Field(i), src.Field(i))
		}
	default:
		dst.Set(src)
	}
}
