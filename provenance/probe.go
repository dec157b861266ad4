package provenance

import "bytes"

// probeKeys are the keys of entryProbe that decide how an entry is parsed,
// lower case ("signatures" counts only beside "signed", and a DSSE envelope
// has it).
var probeKeys = [][]byte{[]byte("mediatype"), []byte("dsseenvelope"), []byte("signed")}

// probeMayFind reports whether decoding data into an entryProbe could find
// a field that decides how it is parsed. It says no only when it is sure: data is ASCII without
// escapes (encoding/json matches keys after unescaping, without regard to
// case and with Unicode folding), and no quoted string in it is one of the
// keys in any case. A bare DSSE envelope, the common entry, is so told
// apart without a second decode.
func probeMayFind(data []byte) bool {
	for _, c := range data {
		if c >= 0x80 || c == '\\' {
			return true
		}
	}
	for i := bytes.IndexByte(data, '"'); i >= 0; {
		rest := data[i+1:]
		for _, k := range probeKeys {
			if len(rest) > len(k) && rest[len(k)] == '"' && bytes.EqualFold(rest[:len(k)], k) {
				return true
			}
		}
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}
