package ledger

import (
	"context"
	"errors"
	"net/http"

	"github.com/fwledger/fwledger/cas"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
)

// outcome labels a submission for the submissions metric.
func outcome(res AddResult, err error) string {
	switch {
	case err == nil && res.Dup:
		return "duplicate"
	case err == nil:
		return "new"
	}
	return classify(err).outcome
}

// A class is what an error means to a client: its HTTP status, and for a
// rejected submission, the label of the submissions metric.
type class struct {
	status  int
	outcome string
}

// classify maps the typed errors of the ledger, of the log and of package
// provenance to their class: the one place where an error becomes an HTTP
// status (docs/API.md lists them). Handlers and metrics both use it, so
// that they agree.
func classify(err error) class {
	var (
		envErr  *provenance.EnvelopeError
		ptErr   *provenance.PayloadTypeError
		stErr   *provenance.StatementError
		sigErr  *provenance.SignatureError
		thErr   *provenance.ThresholdError
		digErr  *digest.MismatchError
		endErr  *provenance.EndorsementError
		polErr  *provenance.PolicyViolation
		klErr   *KeylessError
		layErr  *provenance.LayoutError
		large   *SizeError
		subErr  *SubmissionError
		readErr *cas.ReadError
		rngErr  *log.RangeError
		ncErr   *provenance.NonCanonicalError
		tmErr   *TimeError
		stErr2  *log.StorageError
		pendErr *PendingError
		corrupt *log.CorruptError
		badReq  *badRequest
		mErr    *methodError
		tooBig  *http.MaxBytesError
		revoked *RevokedError
		frozen  *FrozenError
		deltaE  *DeltaError
		decided *classifiedError
		prErr   *ProbeError
		prRate  *ProbeRateError
	)
	switch {
	case errors.As(err, &decided):
		return decided.c
	case errors.As(err, &prRate):
		return class{http.StatusTooManyRequests, "rate"}
	case errors.As(err, &mErr):
		return class{http.StatusMethodNotAllowed, "error"}
	case errors.As(err, &stErr2):
		return class{http.StatusServiceUnavailable, "storage"}
	case errors.As(err, &corrupt):
		return class{http.StatusInternalServerError, "storage"}
	case errors.As(err, &pendErr):
		return class{http.StatusServiceUnavailable, "error"}
	case errors.As(err, &frozen):
		return class{http.StatusGone, "frozen"}
	case errors.As(err, &deltaE):
		return class{http.StatusBadRequest, "error"}
	case errors.Is(err, ErrDeltaBusy):
		return class{http.StatusServiceUnavailable, "error"}
	case errors.As(err, &revoked):
		// Before the policy violation it may unwrap to: the revocation
		// is why.
		return class{http.StatusForbidden, "revoked"}
	case errors.Is(err, ErrNoRevocationKeys), errors.Is(err, ErrNoProbeKeys):
		return class{http.StatusForbidden, "bad_signature"}
	case errors.Is(err, ErrRevocationsFull):
		return class{http.StatusConflict, "error"}
	case errors.As(err, &polErr):
		// Before the errors a policy violation unwraps to (the failed
		// check's): it is the policy's verdict.
		return class{http.StatusForbidden, "policy"}
	case errors.As(err, &ncErr):
		return class{http.StatusBadRequest, "non_canonical"}
	case errors.As(err, &tmErr), errors.As(err, &prErr):
		return class{http.StatusBadRequest, "bad_statement"}
	case errors.Is(err, log.ErrEntryTooLarge), errors.As(err, &tooBig), errors.As(err, &large):
		return class{http.StatusRequestEntityTooLarge, "too_large"}
	case errors.As(err, &endErr), errors.Is(err, ErrProvenanceRequired):
		return class{http.StatusBadRequest, "bad_provenance"}
	case errors.As(err, &envErr), errors.As(err, &ptErr):
		return class{http.StatusBadRequest, "bad_envelope"}
	case errors.Is(err, provenance.ErrKeyless):
		return class{http.StatusForbidden, "bad_signature"}
	case errors.As(err, &stErr):
		return class{http.StatusBadRequest, "bad_statement"}
	case errors.As(err, &rngErr), errors.As(err, &badReq), errors.As(err, &subErr), errors.As(err, &readErr), errors.As(err, &digErr):
		return class{http.StatusBadRequest, "error"}
	case errors.As(err, &sigErr), errors.As(err, &thErr):
		return class{http.StatusForbidden, "bad_signature"}
	case errors.As(err, &klErr):
		return class{http.StatusForbidden, "bad_signature"}
	case errors.As(err, &layErr):
		return class{http.StatusForbidden, "layout"}
	case errors.Is(err, log.ErrNotFound), errors.Is(err, ErrNoImageStore):
		return class{http.StatusNotFound, "error"}
	case errors.Is(err, log.ErrPushback):
		return class{http.StatusServiceUnavailable, "pushback"}
	case errors.Is(err, log.ErrFenced):
		return class{http.StatusServiceUnavailable, "fenced"}
	case errors.Is(err, log.ErrNotWitnessed):
		return class{http.StatusServiceUnavailable, "not_witnessed"}
	case errors.Is(err, log.ErrStopped):
		return class{http.StatusServiceUnavailable, "stopped"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return class{http.StatusServiceUnavailable, "error"}
	}
	return class{http.StatusInternalServerError, "error"}
}
