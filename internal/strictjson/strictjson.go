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
	keys      map[string]struct{}
}

// checkKeys scans valid JSON for duplicate object keys and excess depth.
func checkKeys(data []byte) error {
	stack := make([]frame, 0, 8)
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			if len(stack) >= MaxDepth {
				return fmt.Errorf("JSON nested deeper than %d levels", MaxDepth)
			}
			stack = append(stack, frame{object: c == '{', expectKey: c == '{'})
		case '}', ']':
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
				if _, dup := f.keys[key]; dup {
					return fmt.Errorf("duplicate JSON object key %q", key)
				}
				if f.keys == nil {
					f.keys = make(map[string]struct{}, 8)
				}
				f.keys[key] = struct{}{}
			}
			i = end
		}
	}
	return nil
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

// unquote returns the value of a JSON string literal.
func unquote(lit []byte) (string, error) {
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1]), nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", fmt.Errorf("invalid JSON string: %w", err)
	}
	return s, nil
}
