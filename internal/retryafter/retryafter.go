// Package retryafter reads the Retry-After header of an HTTP response
// (RFC 9110, Section 10.2.3), with which a server that answers 503 Service
// Unavailable says when to come back: "Retry-After: 120", or
// "Retry-After: Fri, 31 Dec 1999 23:59:59 GMT".
package retryafter

import (
	"net/http"
	"strconv"
	"time"
)

// Parse returns the delay a Retry-After value v asks for at time now: its
// seconds, or the time from now to its HTTP date. It returns zero for an
// empty or malformed value and for a date not after now.
func Parse(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 31); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
