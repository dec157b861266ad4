// Package strictjson checks that a JSON document has one meaning for every
// parser: one value, valid UTF-8, no duplicate object keys, bounded nesting.
//
// Signed JSON that two parsers read differently (the first or the last of two
// "payload" keys, say) would let one logged entry say two things. The log
// refuses such documents before anything interprets them.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects that Check accepts.
const MaxDepth = 32

// Check returns an error describing the first reason data is not a single,
// unambiguous JSON value.
func Check(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("JSON is not valid UTF-8")
	}
	if !json.Valid(data) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		return errors.New("invalid JSON")
	}
	return checkKeys(data)
}

// frame is an open array or object.
type frame struct {
	object    bool
	expectKey bool
	// start is where the object's keys begin in the keys of checkKeys,
	// which hold the keys of every open object, innermost last: an
	// object's keys are compared in order while there are few (objects in
	// signed statements have a handful), and through set beyond
	// smallObject.
	start int
	set   map[string]struct{}
}

// smallObject is the most keys an object's duplicate check compares one by
// one before it uses a map.
const smallObject = 16

// checkKeys scans valid JSON for duplicate object keys and excess depth.
func checkKeys(data []byte) error {
	stack := make([]frame, 0, 8)
	keys := make([][]byte, 0, 32)
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			if len(stack) >= MaxDepth {
				return fmt.Errorf("JSON nested deeper than %d levels", MaxDepth)
			}
			stack = append(stack, frame{object: c == '{', expectKey: c == '{', start: len(keys)})
		case '}', ']':
			keys = keys[:stack[len(stack)-1].start]
			stack = stack[:len(stack)-1]
		case ',':
			if top := len(stack) - 1; top >= 0 && stack[top].object {
				stack[top].expectKey = true
			}
		case '"':
			end := stringEnd(data, i)
			if top := len(stack) - 1; top >= 0 && stack[top].object && stack[top].expectKey {
				f := &stack[top]
				f.expectKey = false
				key, err := unquote(data[i : end+1])
				if err != nil {
					return err
				}
				if f.has(keys[f.start:], key) {
					return fmt.Errorf("duplicate JSON object key %q", key)
				}
				keys = f.add(keys, key)
			}
			i = end
		}
	}
	return nil
}

// has reports whether the object, whose keys so far are own (or f.set),
// has key already.
func (f *frame) has(own [][]byte, key []byte) bool {
	if f.set != nil {
		_, ok := f.set[string(key)]
		return ok
	}
	for _, k := range own {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// add records key, and returns keys with it if it went there.
func (f *frame) add(keys [][]byte, key []byte) [][]byte {
	if f.set == nil && len(keys)-f.start < smallObject {
		return append(keys, key)
	}
	if f.set == nil {
		f.set = make(map[string]struct{}, 2*smallObject)
		for _, k := range keys[f.start:] {
			f.set[string(k)] = struct{}{}
		}
	}
	f.set[string(key)] = struct{}{}
	return keys
}

// stringEnd returns the index of the quote closing the string that opens at
// data[start]; data is valid JSON.
func stringEnd(data []byte, start int) int {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(data) - 1
}

// unquote returns the value of a JSON string literal: its bytes between
// the quotes when it has no escape, which is the common case and allocates
// nothing.
func unquote(lit []byte) ([]byte, error) {
	if bytes.IndexByte(lit, '\\') < 0 {
		return lit[1 : len(lit)-1], nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return nil, fmt.Errorf("invalid JSON string: %w", err)
	}
	return []byte(s), nil
}

// Decode checks data (see Check) and decodes it into v, refusing an
// object field v has no place for.
func Decode(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
