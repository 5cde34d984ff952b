// Package jsonsafe writes JSON of values that may hold floating-point
// numbers JSON cannot write (NaN, ±Inf: a figure over no pairs, a head
// whose rewards overflow): they are written as null, and the rest as
// encoding/json writes it.
package jsonsafe

import (
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strings"
)

// MarshalIndent is json.MarshalIndent with every NaN and ±Inf written as
// null.
func MarshalIndent(v any, prefix, indent string) ([]byte, error) {
	return json.MarshalIndent(clean(reflect.ValueOf(v)), prefix, indent)
}

var (
	marshaler     = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// clean returns v as encoding/json would see it, with non-finite floats
// replaced by nil: structs become ordered maps of their JSON fields.
func clean(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Type().Implements(marshaler) || v.Type().Implements(textMarshaler) {
		return v.Interface() // it writes itself
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return v.Interface()
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return clean(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Interface() // bytes: base64, as json writes them
		}
		fallthrough
	case reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = clean(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			k, err := json.Marshal(it.Key().Interface())
			if err != nil {
				continue
			}
			key := strings.Trim(string(k), `"`)
			out[key] = clean(it.Value())
		}
		return out
	case reflect.Struct:
		return cleanStruct(v)
	}
	return v.Interface()
}

// object is a struct's JSON fields in their order.
type object struct {
	keys []string
	vals []any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func cleanStruct(v reflect.Value) any {
	var o object
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fv := v.Field(i)
		if strings.Contains(opts, "omitempty") && fv.IsZero() {
			continue
		}
		o.keys = append(o.keys, name)
		o.vals = append(o.vals, clean(fv))
	}
	return o
}
