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

// Marshal is json.Marshal with every NaN and ±Inf written as null.
func Marshal(v any) ([]byte, error) {
	return json.Marshal(clean(reflect.ValueOf(v)))
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

// cleanStruct is a struct as encoding/json writes it: its exported fields
// under their JSON names, those of embedded structs promoted (a shallower
// field hides a deeper one of the same name; two at the same depth hide
// each other, as encoding/json has it).
func cleanStruct(v reflect.Value) any {
	var fs []field
	fields(v, 0, &fs)
	best := map[string]int{} // name -> the shallowest depth, -1 when two tie there
	for _, f := range fs {
		d, ok := best[f.name]
		switch {
		case !ok || f.depth < d:
			best[f.name] = f.depth
		case f.depth == d:
			best[f.name] = -1
		}
	}
	var o object
	for _, f := range fs {
		if best[f.name] != f.depth {
			continue
		}
		if f.omitempty && f.val.IsZero() {
			continue
		}
		o.keys = append(o.keys, f.name)
		o.vals = append(o.vals, clean(f.val))
	}
	return o
}

// field is one JSON field of a struct, found depth embeddings down.
type field struct {
	name      string
	depth     int
	omitempty bool
	val       reflect.Value
}

// fields lists v's JSON fields in encoding/json's order, descending into
// embedded structs (and non-nil pointers to them) that have no JSON name.
func fields(v reflect.Value, depth int, out *[]field) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if fv.Kind() == reflect.Pointer {
					if fv.IsNil() {
						continue
					}
					fv = fv.Elem()
				}
				fields(fv, depth+1, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		*out = append(*out, field{name: name, depth: depth, omitempty: strings.Contains(opts, "omitempty"), val: fv})
	}
}
