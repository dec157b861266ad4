package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/provenance"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// The canary: each poll, an auditor with a probe key submits a probe
// statement (provenance.Probe, signed by a key the log takes probes
// from) and records the index the log acknowledged. Reading the log, it
// marks the probe merged when it meets it. A probe that is not in a
// checkpoint read more than the maximum merge delay after it was
// acknowledged, or an index the log gave that holds another entry, is a
// canary alert; so is a log that refuses probes for longer than that.

// probeSchema holds the probes submitted: pending until the auditor reads
// them in the log (then merged), or alerted.
const probeSchema = `
CREATE TABLE IF NOT EXISTS probes (
	digest BLOB PRIMARY KEY,
	data BLOB NOT NULL,
	submitted INTEGER NOT NULL,
	idx INTEGER NOT NULL,
	state TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS probes_state ON probes (state);
`

// Probe states.
const (
	probePending = "pending"
	probeMerged  = "merged"
	probeAlerted = "alerted"
)

// makeProbe returns a new probe for the log of origin, signed by s.
func makeProbe(ctx context.Context, origin string, now time.Time, s dsse.SignerVerifier) ([]byte, error) {
	var nonce digest.Digest
	rand.Read(nonce[:])
	stmt, err := (&provenance.Probe{Origin: origin, Nonce: nonce, Created: now}).Statement()
	if err != nil {
		return nil, err
	}
	return provenance.Sign(ctx, stmt, s)
}

// failure is, in the state table, since when something (the log's
// answers to probes, reading the log) has failed, and the last error.
type failure struct {
	Since int64  `json:"since"`
	Err   string `json:"err"`
}

// Probe submits a probe to the log (Config.Probe signs it), and records
// the index the log gave it: the steps that follow check that the log
// merges it within the maximum merge delay. A log that refuses probes for
// longer than that raises a canary alert. The auditor must have verified
// a checkpoint of the log (Step) first.
func (a *Auditor) Probe(ctx context.Context) (*Result, error) {
	res := &Result{}
	if a.cfg.Probe == nil {
		return res, errors.New("audit: no probe key")
	}
	p, err := a.store.progress(ctx)
	if err != nil {
		return res, err
	}
	res.Size = p.Verified
	if len(p.Checkpoint) == 0 {
		return res, errors.New("audit: no checkpoint of the log verified yet, to take its origin from")
	}
	return res, a.probe(ctx, p.Checkpoint, a.cfg.Now(), res)
}

func (a *Auditor) probe(ctx context.Context, signed []byte, now time.Time, res *Result) error {
	origin, _, _ := bytes.Cut(signed, []byte("\n"))
	env, err := makeProbe(ctx, string(origin), now, a.cfg.Probe)
	if err != nil {
		return fmt.Errorf("couldn't make a probe: %w", err)
	}
	ack, err := a.submit.Add(ctx, env)
	switch want := hex.EncodeToString(hasher.HashLeaf(env)); {
	case err != nil:
	case ack.LeafHash != want:
		err = fmt.Errorf("the log acknowledged the probe with leaf hash %q, not its own %s", ack.LeafHash, want)
	case ack.Index >= 1<<63:
		err = fmt.Errorf("the log acknowledged the probe at index %d, beyond any tree", ack.Index)
	}
	if err != nil {
		a.metrics.probes.WithLabelValues("refused").Inc()
		a.log.Warn("the log did not take the probe", "err", err)
		return a.probeRefused(ctx, env, now, err, res)
	}
	a.metrics.probes.WithLabelValues("acknowledged").Inc()
	t, err := a.store.begin(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback()
	d := digest.Sum(env)
	if _, err := t.exec("INSERT INTO probes (digest, data, submitted, idx, state) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		d[:], env, now.UnixNano(), ack.Index, probePending); err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM state WHERE k = 'probe_failing'"); err != nil {
		return err
	}
	return t.Commit()
}

// probeRefused records a refused probe, and raises a canary alert once
// the log has refused probes for longer than the maximum merge delay.
func (a *Auditor) probeRefused(ctx context.Context, env []byte, now time.Time, why error, res *Result) error {
	return a.failing(ctx, "probe_failing", now, why, a.cfg.MaxMergeDelay, res, func(since time.Time) *Alert {
		return &Alert{
			Key: fmt.Sprintf("%s/refused/%d", TypeCanary, since.UnixNano()), Type: TypeCanary, Severity: Warning, Time: now.UTC(),
			Message: fmt.Sprintf("the log has not taken a probe since %s, longer than the maximum merge delay of %s; its last answer: %v",
				since.UTC().Format(time.RFC3339), a.cfg.MaxMergeDelay, why),
			Evidence: Evidence{Probe: env},
		}
	})
}

// failing records, under the state key k, that something failed at now
// (why), and since when it has failed without a success between (a
// success deletes k). Once that is longer than limit, it raises the alert
// alert returns.
func (a *Auditor) failing(ctx context.Context, k string, now time.Time, why error, limit time.Duration, res *Result, alert func(since time.Time) *Alert) error {
	t, err := a.store.begin(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback()
	f := failure{Since: now.UnixNano()}
	var data []byte
	switch err := t.queryRow("SELECT v FROM state WHERE k = ?", k).Scan(&data); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("the audit database's %s state: %w", k, err)
		}
	}
	f.Err = why.Error()
	if data, err = json.Marshal(f); err != nil {
		return err
	}
	if _, err := t.exec("INSERT INTO state (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k, data); err != nil {
		return err
	}
	if since := time.Unix(0, f.Since); now.Sub(since) > limit {
		if err := t.raise(alert(since)); err != nil {
			return err
		}
	}
	if err := t.Commit(); err != nil {
		return err
	}
	res.Alerts = append(res.Alerts, t.raised...)
	return nil
}

// probeMet marks a probe read in the log at idx as merged, if it is one
// of the auditor's, and observes its merge delay.
func (r *rules) probeMet(e *provenance.Entry) error {
	var submitted int64
	err := r.tx.queryRow("UPDATE probes SET state = ? WHERE digest = ? AND state = ? RETURNING submitted", probeMerged, e.Digest[:], probePending).Scan(&submitted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // another auditor's probe, or one already met
	case err != nil:
		return err
	}
	r.a.metrics.mergeDelay.Observe(time.Since(time.Unix(0, submitted)).Seconds())
	return nil
}

// checkProbes raises a canary alert for each pending probe that the
// checkpoint verified (signed, of size, read at fetchedAt) should hold and
// does not: one acknowledged below its size (the log put another entry at
// that index), or one acknowledged more than the maximum merge delay
// before fetchedAt.
func (a *Auditor) checkProbes(ctx context.Context, signed []byte, size uint64, fetchedAt time.Time, res *Result) error {
	type pending struct {
		digest    []byte
		data      []byte
		submitted int64
		idx       uint64
	}
	all, err := queryAll(ctx, a.store.db.W, func(rows *sql.Rows, p *pending) error {
		return rows.Scan(&p.digest, &p.data, &p.submitted, &p.idx)
	}, "SELECT digest, data, submitted, idx FROM probes WHERE state = ?", probePending)
	if err != nil {
		return err
	}
	late := slices.DeleteFunc(all, func(p pending) bool {
		return p.idx >= size && fetchedAt.Sub(time.Unix(0, p.submitted)) <= a.cfg.MaxMergeDelay
	})
	if len(late) == 0 {
		return nil
	}
	cp, err := parseCheckpoint(signed)
	if err != nil {
		return err
	}
	t, err := a.store.begin(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback()
	t.prove = a.prover(ctx, cp)
	for _, p := range late {
		submitted := time.Unix(0, p.submitted).UTC()
		al := entryAlert(TypeCanary, Critical, p.idx, signed, "")
		al.Key = fmt.Sprintf("%s/%x", TypeCanary, p.digest)
		al.Evidence.Probe = p.data
		if p.idx < size {
			data, err := a.entryAt(ctx, p.idx, size)
			if err != nil {
				return err
			}
			al.Message = fmt.Sprintf("the log acknowledged the probe submitted at %s at index %d, and its checkpoint of size %d holds another entry there", submitted.Format(time.RFC3339), p.idx, size)
			al.Evidence.Entries = []EvidenceEntry{{Index: p.idx, Data: data}}
		} else {
			al.Message = fmt.Sprintf("the probe the log acknowledged at index %d at %s is not in its checkpoint of size %d read at %s, more than the maximum merge delay of %s later",
				p.idx, submitted.Format(time.RFC3339), size, fetchedAt.UTC().Format(time.RFC3339), a.cfg.MaxMergeDelay)
		}
		if err := t.raise(al); err != nil {
			return err
		}
		if _, err := t.exec("UPDATE probes SET state = ? WHERE digest = ?", probeAlerted, p.digest); err != nil {
			return err
		}
	}
	if err := t.Commit(); err != nil {
		return err
	}
	res.Alerts = append(res.Alerts, t.raised...)
	return nil
}

// PendingProbes returns how many probes the auditor submitted that it has
// not yet read in the log nor alerted on, and the latest time by which
// they must be merged.
func (a *Auditor) PendingProbes(ctx context.Context) (n int, deadline time.Time, err error) {
	var last sql.NullInt64
	err = a.store.db.W.QueryRowContext(ctx, "SELECT count(*), max(submitted) FROM probes WHERE state = ?", probePending).Scan(&n, &last)
	if err != nil || !last.Valid {
		return n, deadline, err
	}
	return n, time.Unix(0, last.Int64).Add(a.cfg.MaxMergeDelay), nil
}

// growth is, in the state table, the size of the log's verified tree and
// since when it has been that size.
type growth struct {
	Size  uint64 `json:"size"`
	Since int64  `json:"since"`
}

// checkStall raises a stall alert when the log's verified tree has not
// grown for longer than MaxStall.
func (a *Auditor) checkStall(ctx context.Context, p *progress, now time.Time, res *Result) error {
	t, err := a.store.begin(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback()
	var g growth
	var data []byte
	switch err := t.queryRow("SELECT v FROM state WHERE k = 'growth'").Scan(&data); {
	case errors.Is(err, sql.ErrNoRows):
		g.Size = p.Verified + 1 // first seen now
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, &g); err != nil {
			return fmt.Errorf("the audit database's growth state: %w", err)
		}
	}
	if p.Verified != g.Size {
		g = growth{Size: p.Verified, Since: now.UnixNano()}
		if data, err = json.Marshal(g); err != nil {
			return err
		}
		if _, err := t.exec("INSERT INTO state (k, v) VALUES ('growth', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", data); err != nil {
			return err
		}
	} else if since := time.Unix(0, g.Since); now.Sub(since) > a.cfg.MaxStall {
		if err := t.raise(&Alert{
			Key: fmt.Sprintf("%s/%d/%d", TypeStall, g.Size, g.Since), Type: TypeStall, Severity: Warning, Time: now.UTC(),
			Message: fmt.Sprintf("the log's checkpoint has stayed at size %d since %s, longer than %s: the log takes no entries, or publishes no checkpoint of them",
				g.Size, since.UTC().Format(time.RFC3339), a.cfg.MaxStall),
			Evidence: Evidence{Checkpoints: [][]byte{p.Checkpoint}},
		}); err != nil {
			return err
		}
	}
	if err := t.Commit(); err != nil {
		return err
	}
	res.Alerts = append(res.Alerts, t.raised...)
	return nil
}

// unreadable raises a stall alert when the log could not be read (Step
// failed with err) for longer than MaxStall (or, with a probe key,
// MaxMergeDelay): a log that stops answering, or withholds what it
// published, is not let off for failing.
func (a *Auditor) unreadable(ctx context.Context, now time.Time, err error, res *Result) error {
	limit := a.cfg.MaxStall
	if limit == 0 && a.cfg.Probe != nil {
		limit = a.cfg.MaxMergeDelay
	}
	if limit == 0 || errors.Is(err, context.Canceled) {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	if err == nil {
		_, derr := a.store.db.W.ExecContext(ctx, "DELETE FROM state WHERE k = 'failing'")
		return derr
	}
	p, perr := a.store.progress(ctx)
	if perr != nil {
		return perr
	}
	return a.failing(ctx, "failing", now, err, limit, res, func(since time.Time) *Alert {
		var ev Evidence
		if len(p.Checkpoint) > 0 {
			ev.Checkpoints = [][]byte{p.Checkpoint}
		}
		return &Alert{
			Key: fmt.Sprintf("%s/unreadable/%d", TypeStall, since.UnixNano()), Type: TypeStall, Severity: Warning, Time: now.UTC(),
			Message:  fmt.Sprintf("the log could not be audited since %s, longer than %s: %v", since.UTC().Format(time.RFC3339), limit, err),
			Evidence: ev,
		}
	})
}
