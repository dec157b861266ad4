package transport

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// A PinError reports a TLS server whose certificate's public key is not the
// pinned one. It is not retried: a different key is not a transient fault.
type PinError struct {
	Host string
	// Want is the pin; Got the SHA-256 of the leaf certificate's
	// SubjectPublicKeyInfo, or nil if the server sent no certificate.
	Want, Got []byte
}

func (e *PinError) Error() string {
	if e.Got == nil {
		return fmt.Sprintf("%s presented no certificate; want the key pinned as %s", e.Host, FormatPin(e.Want))
	}
	return fmt.Sprintf("%s presented the key %s, not the pinned %s", e.Host, FormatPin(e.Got), FormatPin(e.Want))
}

// A TooLargeError reports a response larger than its limit: the max of a
// [Client.Get] or [Client.Post], or the size of a [Client.Download]. It is
// not retried.
type TooLargeError struct {
	Limit int64
	// Declared is the length the server declared (its Content-Length, or
	// the complete length of a Content-Range), or -1 if it declared none
	// and sent more than Limit bytes.
	Declared int64
}

func (e *TooLargeError) Error() string {
	if e.Declared >= 0 {
		return fmt.Sprintf("the response is larger than %d bytes (the server declared %d)", e.Limit, e.Declared)
	}
	return fmt.Sprintf("the response is larger than %d bytes", e.Limit)
}

// A StatusError is a response with a status code other than 2xx. Only 502,
// 503 and 504 are retried.
type StatusError struct {
	Code int
	// Message is the "error" member of the server's JSON error body
	// ({"error":"..."}), or the body's text if it is not such JSON, read up
	// to 4 KiB.
	Message string
	// RetryAfter is the delay the server asked for in a Retry-After
	// header; zero if it named none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the server answered %d %s: %q", e.Code, http.StatusText(e.Code), e.Message)
}

// A StallError reports a response that sent no byte for Timeout, the
// Options.StallTimeout. The attempt is abandoned and retried (a download
// resumes where it stopped).
type StallError struct {
	Timeout time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("the server sent nothing for %s", e.Timeout)
}

// An IncompleteError reports a download that ended short of its size after
// every attempt it was allowed. The bytes received are kept in the .part
// file, and the next [Client.Download] of the same file resumes from them.
type IncompleteError struct {
	Have, Size int64
	Attempts   int
	// Err is why the last attempt ended.
	Err error
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("the download stopped at %d of %d bytes after %d attempts: %v", e.Have, e.Size, e.Attempts, e.Err)
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// A SizeError reports a server that declares a file shorter than the size a
// download asked for (longer is a [TooLargeError]). It is not retried.
type SizeError struct {
	Size, Declared int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("the server declares %d bytes, not the expected %d", e.Declared, e.Size)
}

// A transientError marks an error that another attempt may not meet:
// a connection that failed or dropped, a stall, 502, 503 or 504.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func transient(err error) error { return &transientError{err} }

func isTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// errRedirect is a redirect refused: to another scheme or host, or one too
// many.
var errRedirect = errors.New("redirect refused")
