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
	"io"
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
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := value(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func value(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return errors.New("unexpected end of JSON input")
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= MaxDepth {
		return fmt.Errorf("JSON nested deeper than %d levels", MaxDepth)
	}
	switch d {
	case '{':
		seen := make(map[string]struct{})
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			key, ok := k.(string)
			if !ok {
				return errors.New("invalid JSON: object key is not a string")
			}
			if _, dup := seen[key]; dup {
				return fmt.Errorf("duplicate JSON object key %q", key)
			}
			seen[key] = struct{}{}
			if err := value(dec, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := value(dec, depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}
