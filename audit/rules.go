package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tiles"
)

// rules judges entries in log order, in one step's transaction.
type rules struct {
	a  *Auditor
	tx *tx
	// cp is the checkpoint the step reads up to (the evidence's), and
	// size its tree size.
	cp   []byte
	size uint64
	// revs are the revocations seen, signed by the revocation keys
	// (loaded at the first entry).
	revs *revocation.Set
	// recent are the statements kept in this step, parsed: a release
	// usually follows its provenance closely.
	recent map[digest.Digest]recentEntry
}

type recentEntry struct {
	e   *provenance.Entry
	idx uint64
}

// maxRecent bounds the statements held parsed.
const maxRecent = 1024

// judge applies every rule to the entry at idx.
func (r *rules) judge(ctx context.Context, idx uint64, data []byte, p parsed) error {
	ev := EvidenceEntry{Index: idx, Data: data}
	if p.reference {
		// An entry stored by digest (a large Sigstore bundle): its content
		// is not in the tiles. It is read from the log and judged as the
		// entry, and must be a Sigstore bundle.
		content, err := r.a.referenced(ctx, idx, data)
		var ce *provenance.ContentError
		switch {
		case errors.As(err, &ce):
			ev.Content = content
			return r.tx.raise(entryAlert(TypeUnparseable, Critical, idx, r.cp, fmt.Sprintf("entry %d is a reference to an entry stored by digest, and %v", idx, err), ev))
		case err != nil:
			return err
		}
		ev.Content, data = content, content
		p.e, p.err = provenance.ParseEntry(content)
	}
	e, err := p.e, p.err
	if err != nil {
		return r.tx.raise(entryAlert(TypeUnparseable, Critical, idx, r.cp, fmt.Sprintf("entry %d does not parse: %v", idx, err), ev))
	}
	if err := r.loadRevocations(ctx); err != nil {
		return err
	}
	switch e.Kind {
	case provenance.KindRelease:
		return r.release(ctx, idx, e, ev)
	case provenance.KindProbe:
		return r.probeMet(e)
	case provenance.KindRevocation:
		if err := r.keep(idx, e, data); err != nil {
			return err
		}
		if lg, err := revocation.Verify(ctx, e, data, idx, r.a.cfg.RevocationKeys, r.a.cfg.RevocationThreshold); err == nil {
			r.revs.Add(lg)
			return r.revokedBefore(ctx, lg, ev)
		}
		return nil
	case provenance.KindProvenance:
		if err := r.keep(idx, e, data); err != nil {
			return err
		}
		if err := r.keyWindows(ctx, idx, e, ev); err != nil {
			return err
		}
		// Indexed by the images it is about, for rebuilds.
		if e.Provenance != nil {
			for _, sub := range e.Provenance.Subjects {
				if (sub.Alg != "sha256" && sub.Alg != "sha512") || len(sub.Value) < 8 {
					continue // not how a release names its image
				}
				if _, err := r.tx.exec("INSERT INTO subjects (image, idx) VALUES (?, ?) ON CONFLICT DO NOTHING", prefixKey(sub.Value), idx); err != nil {
					return err
				}
			}
		}
		return nil
	default:
		return r.keep(idx, e, data)
	}
}

// keep stores a statement that releases name, by digest; one logged again
// is kept at its first index.
func (r *rules) keep(idx uint64, e *provenance.Entry, data []byte) error {
	if r.recent == nil || len(r.recent) >= maxRecent {
		r.recent = map[digest.Digest]recentEntry{}
	}
	r.recent[e.Digest] = recentEntry{e: e, idx: idx}
	var first uint64
	err := r.tx.queryRow("SELECT idx FROM statements WHERE dkey = ? AND digest = ?", prefixKey(e.Digest[:]), e.Digest[:]).Scan(&first)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	_, err = r.tx.exec("INSERT INTO statements (idx, dkey, digest, kind, data) VALUES (?, ?, ?, ?, ?)",
		idx, prefixKey(e.Digest[:]), e.Digest[:], string(e.Kind), data)
	return err
}

// prefixKey is the integer that indexes a digest (a statement's, an
// image's): its first 8 bytes, big-endian. Digests that share it are told
// apart by the rows they index.
func prefixKey(d []byte) int64 {
	return int64(binary.BigEndian.Uint64(d[:8]))
}

// isRevocation is the condition of the statements_revocations index, which
// a query repeats to use it (a bound parameter would not do).
const isRevocation = "kind = '" + string(provenance.KindRevocation) + "'"

// revocationsQuery reads the stored revocations.
const revocationsQuery = "SELECT idx, data FROM statements WHERE " + isRevocation

func (r *rules) loadRevocations(ctx context.Context) error {
	if r.revs != nil {
		return nil
	}
	r.revs = revocation.NewSet()
	rows, err := r.tx.QueryContext(ctx, revocationsQuery+" ORDER BY idx")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var idx uint64
		var data []byte
		if err := rows.Scan(&idx, &data); err != nil {
			return err
		}
		e, err := provenance.ParseEntry(data)
		if err != nil {
			continue
		}
		if lg, err := revocation.Verify(ctx, e, data, idx, r.a.cfg.RevocationKeys, r.a.cfg.RevocationThreshold); err == nil {
			r.revs.Add(lg)
		}
	}
	return rows.Err()
}

// statement returns the stored statement with digest d.
func (r *rules) statement(d digest.Digest) (*provenance.Entry, uint64, bool, error) {
	if re, ok := r.recent[d]; ok {
		// The same Entry: its envelope keeps the signature checks made
		// (one goroutine judges, after the parallel parse).
		return re.e, re.idx, true, nil
	}
	var idx uint64
	var data []byte
	err := r.tx.queryRow("SELECT idx, data FROM statements WHERE dkey = ? AND digest = ? ORDER BY idx LIMIT 1", prefixKey(d[:]), d[:]).Scan(&idx, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	e, err := provenance.ParseEntry(data)
	if err != nil {
		return nil, 0, false, nil
	}
	return e, idx, true, nil
}

func (r *rules) release(ctx context.Context, idx uint64, e *provenance.Entry, ev EvidenceEntry) error {
	rel := e.Release
	// The release judged by the policy, with the statements it names.
	var entries []*provenance.Entry
	index := map[digest.Digest]uint64{e.Digest: idx}
	names := append([]digest.Digest{}, rel.Provenance...)
	if rel.Layout != nil {
		names = append(names, *rel.Layout)
	}
	names = append(names, rel.Links...)
	for _, d := range names {
		s, at, ok, err := r.statement(d)
		if err != nil {
			return err
		}
		if ok {
			entries = append(entries, s)
			index[d] = at
		}
	}
	indexOf := func(d digest.Digest) (uint64, bool) { i, ok := index[d]; return i, ok }
	// Judged as the log judged it when it took it (at the release's
	// time, without the rebuilds, which come later): reproducibility is
	// judged when it is due (Config.ReproducibleWithin).
	res := r.a.cfg.Policy.Evaluate(ctx, e, entries, provenance.EvalOptions{
		IndexOf: indexOf, Revoked: r.revs.Revoked(indexOf), AtSubmission: true, Now: rel.Created, Keyless: r.a.cfg.Keyless,
	})
	if err := r.keyWindows(ctx, idx, e, ev); err != nil {
		return err
	}
	if r.a.reproducibleNeeded(rel) {
		due := rel.Created.Add(r.a.cfg.ReproducibleWithin).Unix()
		if _, err := r.tx.exec("INSERT INTO rebuilds_due (idx, due) VALUES (?, ?) ON CONFLICT DO NOTHING", idx, due); err != nil {
			return err
		}
	}
	for _, id := range res.Signers {
		if _, err := r.tx.exec("INSERT INTO signers (key, idx) VALUES (?, ?) ON CONFLICT DO NOTHING", id, idx); err != nil {
			return err
		}
		for _, model := range rel.Models {
			if err := r.newModel(ctx, id, model, idx, ev); err != nil {
				return err
			}
		}
	}
	err := res.Err()
	if err != nil {
		var pv *provenance.PolicyViolation
		typ := TypeProvenance
		if errors.As(err, &pv) && pv.Failed().Name == "release signatures" {
			typ = TypeReleaseSignature
			if by, ok := r.revs.SignedBy(e.Envelope, idx); ok {
				typ = TypeRevokedKey
				err = fmt.Errorf("%w (key %s was revoked by entry %d)", err, by.Revocation.KeyID, by.Index)
			}
		}
		if err := r.tx.raise(entryAlert(typ, Critical, idx, r.cp, fmt.Sprintf("release %s %s at %d: %v", rel.Version, rel.Image, idx, err), ev)); err != nil {
			return err
		}
		// A release devices refuse takes no model's version, nor sets a
		// security version others are held to: an untrusted key cannot
		// squat them.
		return nil
	}
	for _, model := range rel.Models {
		if err := r.equivocation(ctx, idx, model, rel, ev); err != nil {
			return err
		}
		if err := r.securityVersion(ctx, idx, model, rel, ev); err != nil {
			return err
		}
	}
	return nil
}

// keyWindows raises a warning for each key of the policy that signed the
// entry at idx outside its validity window: a verifier does not count the
// signature, and a key used after its rotation is worth a look.
func (r *rules) keyWindows(ctx context.Context, idx uint64, e *provenance.Entry, ev EvidenceEntry) error {
	out := r.a.cfg.Policy.OutsideWindow(ctx, e, idx)
	for _, id := range slices.Sorted(maps.Keys(out)) {
		al := entryAlert(TypeKeyWindow, Warning, idx, r.cp, fmt.Sprintf("the %s at %d is signed by key %s outside its validity window (%s)", e.Kind, idx, id, out[id]), ev)
		al.Key = fmt.Sprintf("%s/%d/%s", TypeKeyWindow, idx, id)
		if err := r.tx.raise(al); err != nil {
			return err
		}
	}
	return nil
}

// revokedBefore raises an alert for each release logged before a key
// revocation that it applies to: signed by the key, at or after the index
// it is revoked from (a retroactive revocation, after a key was found
// stolen).
func (r *rules) revokedBefore(ctx context.Context, lg revocation.Logged, ev EvidenceEntry) error {
	if lg.Revocation.Revokes != provenance.RevokeKey {
		return nil
	}
	signed, err := queryAll(ctx, r.tx, func(rows *sql.Rows, idx *uint64) error { return rows.Scan(idx) },
		"SELECT idx FROM signers WHERE key = ? AND idx < ? ORDER BY idx", lg.Revocation.KeyID, lg.Index)
	if err != nil {
		return err
	}
	for _, idx := range signed {
		if !lg.Revocation.Applies(lg.Revocation.KeyID, idx, lg.Index) {
			continue
		}
		data, err := r.a.entryAt(ctx, idx, r.size)
		if err != nil {
			return err
		}
		if err := r.tx.raise(entryAlert(TypeRevokedKey, Critical, idx, r.cp,
			fmt.Sprintf("the release at %d is signed by key %s, which entry %d revokes from index %d", idx, lg.Revocation.KeyID, lg.Index, lg.Revocation.FromIndex),
			EvidenceEntry{Index: idx, Data: data}, ev)); err != nil {
			return err
		}
	}
	return nil
}

// equivocation raises an alert for a second image of a model's version.
func (r *rules) equivocation(ctx context.Context, idx uint64, model string, rel *provenance.Release, ev EvidenceEntry) error {
	var image []byte
	var first uint64
	err := r.tx.queryRow("SELECT image, idx FROM releases WHERE model = ? AND version = ?", model, rel.Version).Scan(&image, &first)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = r.tx.exec("INSERT INTO releases (model, version, image, idx) VALUES (?, ?, ?, ?)", model, rel.Version, rel.Image[:], idx)
		return err
	}
	if err != nil || digest.Digest(image) == rel.Image {
		return err
	}
	other, err := r.a.entryAt(ctx, first, r.size)
	if err != nil {
		return err
	}
	al := entryAlert(TypeEquivocation, Critical, idx, r.cp, fmt.Sprintf("two images for %s %s: %s at %d and %s at %d", model, rel.Version, digest.Digest(image), first, rel.Image, idx), EvidenceEntry{Index: first, Data: other}, ev)
	al.Key = fmt.Sprintf("%s/%s/%s/%d", TypeEquivocation, model, rel.Version, idx)
	return r.tx.raise(al)
}

// securityVersion raises an alert for a release below an earlier one's
// security version for the same model and channel.
func (r *rules) securityVersion(ctx context.Context, idx uint64, model string, rel *provenance.Release, ev EvidenceEntry) error {
	var max, at uint64
	err := r.tx.queryRow("SELECT version, idx FROM security WHERE model = ? AND channel = ?", model, rel.Channel).Scan(&max, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && rel.SecurityVersion > max):
		_, err = r.tx.exec("INSERT INTO security (model, channel, version, idx) VALUES (?, ?, ?, ?) ON CONFLICT (model, channel) DO UPDATE SET version = excluded.version, idx = excluded.idx",
			model, rel.Channel, rel.SecurityVersion, idx)
		return err
	case err != nil || rel.SecurityVersion == max:
		return err
	}
	other, err := r.a.entryAt(ctx, at, r.size)
	if err != nil {
		return err
	}
	al := entryAlert(TypeSecurityRegressed, Critical, idx, r.cp, fmt.Sprintf("%s on %s: security version %d at %d, below %d at %d", model, rel.Channel, rel.SecurityVersion, idx, max, at), EvidenceEntry{Index: at, Data: other}, ev)
	al.Key = fmt.Sprintf("%s/%s/%d", TypeSecurityRegressed, model, idx)
	return r.tx.raise(al)
}

// entryAt reads the entry at index from the log, whose tree has size
// entries (the few bundles read last are kept: alerts often cite entries
// of one bundle).
func (a *Auditor) entryAt(ctx context.Context, index, size uint64) ([]byte, error) {
	b := index / tiles.Width
	width := 0
	if (b+1)*tiles.Width > size {
		width = int(size - b*tiles.Width)
	}
	path := "/" + tiles.EntriesPath(b, width)
	entries, ok := a.bundles.Get(path)
	if !ok {
		data, err := a.get(ctx, path, maxBundle)
		if err != nil {
			return nil, fmt.Errorf("couldn't read entry %d again: %w", index, err)
		}
		if entries, err = tiles.SplitBundle(data); err != nil {
			return nil, fmt.Errorf("couldn't read entry %d again: %v", index, err)
		}
		a.bundles.Add(path, entries)
	}
	if uint64(len(entries)) <= index%tiles.Width {
		return nil, fmt.Errorf("couldn't read entry %d again: the bundle holds %d entries", index, len(entries))
	}
	return entries[index%tiles.Width], nil
}

// maxReferenced bounds the answer of GET /v1/entries/<i> for an entry
// stored by digest: the content, up to provenance.MaxLargeEntrySize bytes,
// in base64 beside the reference.
const maxReferenced = 2*provenance.MaxLargeEntrySize + 64<<10

// referenced reads the content of the reference leaf at index from the
// log (GET /v1/entries/<i>), and checks it (provenance.Resolve: a
// *provenance.ContentError, with the content served, if it is not the
// referenced Sigstore bundle).
func (a *Auditor) referenced(ctx context.Context, index uint64, leaf []byte) ([]byte, error) {
	data, err := a.get(ctx, fmt.Sprintf("%s/%d", api.PathEntries, index), maxReferenced)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the content of entry %d, stored by digest: %w", index, err)
	}
	var e api.Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("the log's entry %d: %w", index, err)
	}
	if !bytes.Equal(e.Data, leaf) {
		return nil, fmt.Errorf("the log's entry %d is not the leaf of its tiles", index)
	}
	if _, err := provenance.Resolve(leaf, e.Content); err != nil {
		return e.Content, err
	}
	return e.Content, nil
}

// reproducibleNeeded reports whether the policy requires rebuilds of the
// release (a rule of one of its models asks for more than one builder).
func (a *Auditor) reproducibleNeeded(rel *provenance.Release) bool {
	for _, m := range rel.Models {
		if rule := a.cfg.Policy.RuleFor(m); rule != nil && rule.Reproducible > 1 {
			return true
		}
	}
	return false
}

// checkRebuilds judges the releases whose rebuilds are due by now: each
// with every provenance about its image the auditor has read, under the
// policy's reproducibility requirement. One that falls short is a
// reproducibility alert.
func (a *Auditor) checkRebuilds(ctx context.Context, cp []byte, size uint64, now time.Time, res *Result) error {
	rows, err := a.store.db.W.QueryContext(ctx, "SELECT idx FROM rebuilds_due WHERE due <= ? ORDER BY idx", now.Unix())
	if err != nil {
		return err
	}
	var due []uint64
	for rows.Next() {
		var idx uint64
		if err := rows.Scan(&idx); err != nil {
			rows.Close()
			return err
		}
		due = append(due, idx)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	cpv, err := parseCheckpoint(cp)
	if err != nil {
		return err
	}
	for _, idx := range due {
		t, err := a.store.begin(ctx)
		if err != nil {
			return err
		}
		t.prove = a.prover(ctx, cpv)
		r := &rules{a: a, tx: t, cp: cp, size: size}
		if err := r.loadRevocations(ctx); err != nil {
			t.Rollback()
			return err
		}
		if err := r.judgeRebuilds(ctx, idx); err != nil {
			t.Rollback()
			return err
		}
		if _, err := t.ExecContext(ctx, "DELETE FROM rebuilds_due WHERE idx = ?", idx); err != nil {
			t.Rollback()
			return err
		}
		if err := t.Commit(); err != nil {
			return err
		}
		res.Alerts = append(res.Alerts, t.raised...)
	}
	return nil
}

func (r *rules) judgeRebuilds(ctx context.Context, idx uint64) error {
	data, err := r.a.entryAt(ctx, idx, r.size)
	if err != nil {
		return err
	}
	e, err := provenance.ParseEntry(data)
	if err != nil || e.Kind != provenance.KindRelease {
		return nil
	}
	var sha512 any // NULL: no SHA-512 digest
	if len(e.Release.ImageSHA512) >= 8 {
		sha512 = prefixKey(e.Release.ImageSHA512)
	}
	rows, err := r.tx.QueryContext(ctx, "SELECT idx, data FROM statements WHERE idx IN (SELECT idx FROM subjects WHERE image IN (?, ?)) ORDER BY idx",
		prefixKey(e.Release.Image[:]), sha512)
	if err != nil {
		return err
	}
	var entries []*provenance.Entry
	index := map[digest.Digest]uint64{e.Digest: idx}
	for rows.Next() {
		var at uint64
		var pd []byte
		if err := rows.Scan(&at, &pd); err != nil {
			rows.Close()
			return err
		}
		// The index found it by a prefix of the image's digest.
		if pe, err := provenance.ParseEntry(pd); err == nil && about(pe, e.Release) {
			entries = append(entries, pe)
			index[pe.Digest] = at
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	indexOf := func(d digest.Digest) (uint64, bool) { i, ok := index[d]; return i, ok }
	res := r.a.cfg.Policy.Evaluate(ctx, e, entries, provenance.EvalOptions{IndexOf: indexOf, Revoked: r.revs.Revoked(indexOf), Now: e.Release.Created, Keyless: r.a.cfg.Keyless})
	if err := res.Err(); err != nil {
		var pv *provenance.PolicyViolation
		if errors.As(err, &pv) && pv.Failed().Name == "reproducible" {
			al := entryAlert(TypeReproducibility, Critical, idx, r.cp, fmt.Sprintf("release %s %s at %d is not reproduced %s after it was made: %v", e.Release.Version, e.Release.Image, idx, r.a.cfg.ReproducibleWithin, err), EvidenceEntry{Index: idx, Data: data})
			return r.tx.raise(al)
		}
	}
	return nil
}

// about reports whether provenance pe names rel's image as a subject, by
// its SHA-256 or its SHA-512 digest.
func about(pe *provenance.Entry, rel *provenance.Release) bool {
	if pe.Provenance == nil {
		return false
	}
	for _, sub := range pe.Provenance.Subjects {
		switch {
		case sub.Alg == "sha256" && bytes.Equal(sub.Value, rel.Image[:]),
			sub.Alg == "sha512" && rel.ImageSHA512 != nil && bytes.Equal(sub.Value, rel.ImageSHA512):
			return true
		}
	}
	return false
}

// newModel records that key signed a release for model, and raises a
// warning the first time a key that signed for other models signs for
// this one: an unusual pattern (a stolen key used where it never was).
func (r *rules) newModel(ctx context.Context, key, model string, idx uint64, ev EvidenceEntry) error {
	res, err := r.tx.exec("INSERT INTO key_models (key, model, idx) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", key, model, idx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // signed for this model before
	}
	var first uint64
	var other string
	err = r.tx.queryRow("SELECT idx, model FROM key_models WHERE key = ? AND model != ? ORDER BY idx LIMIT 1", key, model).Scan(&first, &other)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the key's first release
	}
	if err != nil {
		return err
	}
	prev, err := r.a.entryAt(ctx, first, r.size)
	if err != nil {
		return err
	}
	al := entryAlert(TypeNewModel, Warning, idx, r.cp, fmt.Sprintf("key %s, which signed releases for %s (first at %d), signs one for %s for the first time", key, other, first, model),
		EvidenceEntry{Index: first, Data: prev}, ev)
	al.Key = fmt.Sprintf("%s/%s/%s", TypeNewModel, key, model)
	return r.tx.raise(al)
}

// parsed is an entry parsed ahead of the rules, with its leaf hash.
type parsed struct {
	e         *provenance.Entry
	err       error
	reference bool
	leaf      []byte
}

// parseAll parses and hashes entries on every core, and checks the
// signatures the rules will need (release keys of the models' rules,
// builder keys): the checks are kept in each envelope, so the rules, which
// judge one entry after another, find them made.
func (a *Auditor) parseAll(ctx context.Context, entries [][]byte) []parsed {
	out := make([]parsed, len(entries))
	builders, _ := a.cfg.Policy.BuilderKeys()
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(entries))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(entries); i += workers {
				leaf := hasher.HashLeaf(entries[i])
				if ref, err := provenance.ParseReference(entries[i]); err == nil && ref != nil {
					out[i] = parsed{reference: true, leaf: leaf}
					continue
				}
				e, err := provenance.ParseEntry(entries[i])
				out[i] = parsed{e: e, err: err, leaf: leaf}
				if err != nil {
					continue
				}
				switch e.Kind {
				case provenance.KindRelease:
					for _, m := range e.Release.Models {
						if rule := a.cfg.Policy.RuleFor(m); rule != nil {
							provenance.VerifySignatures(ctx, e.Envelope, rule.ReleaseKeys, 1)
						}
					}
				case provenance.KindProvenance:
					if builders.Len() > 0 && e.Envelope != nil {
						provenance.VerifySignatures(ctx, e.Envelope, builders, 1)
					}
				}
			}
		}()
	}
	wg.Wait()
	return out
}
