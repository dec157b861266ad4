package explorer

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/internal/webui"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tiles"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/fwledger/fwledger/witness"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// funcs are the explorer's template functions, beside webui's.
var funcs = template.FuncMap{
	"kindLabel": kindLabel,
}

func kindLabel(k provenance.Kind) string {
	switch k {
	case provenance.KindRelease:
		return "release"
	case provenance.KindProvenance:
		return "build provenance"
	case provenance.KindRevocation:
		return "revocation"
	case provenance.KindLayout:
		return "in-toto layout"
	case provenance.KindLink:
		return "in-toto link"
	case provenance.KindProbe:
		return "auditor's probe"
	case "":
		return "unparsed entry"
	}
	return string(k)
}

// A signer is a key that signed an entry, as verified: its ID and name, or
// a keyless identity (Key false).
type signer struct {
	ID, Name string
	Key      bool
}

func (e *Explorer) signers(ctx context.Context, s *ledger.Statement) []signer {
	var out []signer
	for _, id := range e.l.Signers(ctx, s) {
		out = append(out, signer{ID: id, Name: e.cfg.Keys.Name(id), Key: len(id) == 64 && isHex(id)})
	}
	return out
}

// A row is an entry in a list: its index, kind, and what identifies it.
type row struct {
	Index   uint64
	Kind    provenance.Kind
	Title   string // a release's model(s) and version, a builder, what a revocation revokes
	Detail  string
	Image   string // hex, for releases and provenance
	Time    time.Time
	Pending bool // not yet covered by the published checkpoint
	Release *provenance.Release
	// Revoked is set for a revoked release, KeyRevoked for an entry a
	// revoked key signed (at an index the revocation applies to), and Void
	// for one that no signature makes valid any more.
	Revoked, KeyRevoked, Void bool
}

// rowOf summarizes a statement for a list; size is the published size.
func rowOf(s *ledger.Statement, size uint64) row {
	r := row{Index: s.Index, Pending: s.Index >= size}
	if s.Entry == nil {
		return r
	}
	r.Kind = s.Kind
	switch s.Kind {
	case provenance.KindRelease:
		rel := s.Release
		r.Release = rel
		r.Title = fmt.Sprintf("%s %s", joinClip(rel.Models, 3), rel.Version)
		r.Detail = fmt.Sprintf("security version %d, channel %s", rel.SecurityVersion, rel.Channel)
		r.Image = hex.EncodeToString(rel.Image[:])
		r.Time = rel.Created
	case provenance.KindProvenance:
		p := s.Provenance
		r.Title = p.BuilderID
		r.Detail = p.Source.Repo
		if p.Source.Commit != "" {
			r.Detail += " @ " + p.Source.Commit
		}
		for _, sd := range p.Subjects {
			if sd.Alg == "sha256" {
				r.Image = hex.EncodeToString(sd.Value)
				break
			}
		}
		r.Time = p.FinishedOn
	case provenance.KindRevocation:
		rv := s.Revocation
		if rv.Revokes == provenance.RevokeKey {
			r.Title = "revokes key " + rv.KeyID
		} else {
			r.Title = "revokes release of image " + rv.Image.String()
		}
		r.Detail = rv.Reason
		r.Time = rv.Created
	}
	return r
}

func joinClip(ss []string, n int) string {
	var b bytes.Buffer
	for i, s := range ss {
		if i == n {
			fmt.Fprintf(&b, " and %d more", len(ss)-n)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	return b.String()
}

// rows summarizes a page of statements, with the revocations that
// concern each.
func (e *Explorer) rows(ctx context.Context, p *ledger.Page) ([]row, error) {
	out := make([]row, 0, len(p.Statements))
	for _, s := range p.Statements {
		r, err := e.rowOf(ctx, s, p.Size)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// rowOf is rowOf with the revocations that concern s marked: a revoked
// release, or a revoked key among its signers.
func (e *Explorer) rowOf(ctx context.Context, s *ledger.Statement, size uint64) (row, error) {
	r := rowOf(s, size)
	j, err := e.l.Judge(ctx, s)
	if err != nil {
		return r, err
	}
	r.Revoked, r.KeyRevoked, r.Void = j.ImageRevoked, j.KeyRevoked, j.Void
	return r, nil
}

// parseBefore parses the optional "before" parameter of a paged list: the
// index to continue below.
func parseBefore(r *http.Request) (uint64, error) {
	s := r.URL.Query().Get("before")
	if s == "" {
		return 1<<63 - 1, nil
	}
	v, err := strconv.ParseUint(s, 10, 63)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, webui.Errorf(http.StatusBadRequest, "parameter before is %q: want an entry index, a decimal integer", clipParam(s))
	}
	return v, nil
}

func clipParam(s string) string { return webui.Clip(64, s) }

// homeView is the home page.
type homeView struct {
	Checkpoint *checkpoint
	Err        string
	Quorum     string
	Witnesses  []witnessView
	Awaiting   uint64 // integrated but not yet published
	Growth     template.HTML
	Recent     []row
}

func (e *Explorer) home(r *http.Request) (string, any, error) {
	ctx := r.Context()
	v := homeView{}
	cp, err := e.checkpoint()
	if err != nil {
		v.Err = err.Error()
	}
	v.Checkpoint = cp
	var size uint64
	if cp != nil {
		size = cp.Size
	}
	if n := e.lg.Integrated(); n > size {
		v.Awaiting = n - size
	}
	v.Witnesses, v.Quorum = e.witnessViews(cp)
	v.Growth, err = e.growthChart(ctx, size)
	if err != nil {
		return "", nil, err
	}
	page, err := e.l.Find(ctx, ledger.Query{Search: ledger.AllReleases}, 1<<63-1, 10)
	if err != nil {
		return "", nil, err
	}
	if v.Recent, err = e.rows(ctx, page); err != nil {
		return "", nil, err
	}
	return "home", v, nil
}

// growthDays is how far back the home page charts the log's growth.
const growthDays = 30

// growthChart draws the log's size by the hour over the last growthDays,
// ending with the published size now.
func (e *Explorer) growthChart(ctx context.Context, size uint64) (template.HTML, error) {
	now := time.Now()
	since := now.Add(-growthDays * 24 * time.Hour)
	samples, err := e.lg.Growth(ctx, since)
	if err != nil {
		return "", err
	}
	var points []webui.Point
	for _, g := range samples {
		// Drawn at the hour's start: the size the log reached in it.
		points = append(points, webui.Point{T: g.Hour, V: float64(g.Size)})
	}
	points = append(points, webui.Point{T: now, V: float64(size)})
	t0 := now.Add(-time.Hour)
	if len(points) > 1 {
		t0 = samples[0].Hour
	}
	return webui.LineChartIn("The log's size over time", points, t0, now, 0), nil
}

// A witnessView is one witness of the policy, as the pages show it.
type witnessView struct {
	Name, URL, Key string
	// In the published checkpoint: whether it cosigned, and when.
	Cosigned bool
	Time     time.Time
	// From the collector: its latest cosigned size and time, lag, errors.
	Status *witness.WitnessStatus
	Lag    uint64
}

// witnessViews returns the policy's witnesses with what cp's
// cosignatures and the collector say of each, and the quorum.
func (e *Explorer) witnessViews(cp *checkpoint) ([]witnessView, string) {
	p := e.cfg.Witnesses
	if p == nil {
		return nil, ""
	}
	// Only the publisher asks the witnesses (a frontend of a shared
	// storage may not be it): the others show the published checkpoint's
	// cosignatures alone.
	var status []witness.WitnessStatus
	if e.cfg.WitnessStatus != nil && e.lg.Publishing() {
		status = e.cfg.WitnessStatus()
	}
	var out []witnessView
	for _, w := range p.Witnesses {
		v := witnessView{Name: w.Name, URL: w.URL, Key: w.VKey}
		if cp != nil {
			i := slices.IndexFunc(cp.Cosignatures, func(c tlogpolicy.Cosignature) bool { return c.Witness == w.Name })
			if i >= 0 {
				v.Cosigned, v.Time = true, cp.Cosignatures[i].Time
			}
		}
		for i := range status {
			if status[i].Name == w.Name {
				v.Status = &status[i]
				if cp != nil && status[i].Size < cp.Size {
					v.Lag = cp.Size - status[i].Size
				}
			}
		}
		out = append(out, v)
	}
	return out, p.Quorum
}

// witnessesView is the witnesses page.
type witnessesView struct {
	Checkpoint *checkpoint
	Err        string
	Quorum     string
	Witnesses  []witnessView
	Forks      []forkView
	Reports    []deviceFork
	ReportsErr string
}

// A forkView is a fork a witness reported to the collector.
type forkView struct {
	Witness string
	*witness.WitnessFork
}

func (e *Explorer) witnesses(r *http.Request) (string, any, error) {
	v := witnessesView{}
	cp, err := e.checkpoint()
	if err != nil {
		v.Err = err.Error()
	}
	v.Checkpoint = cp
	v.Witnesses, v.Quorum = e.witnessViews(cp)
	for _, w := range v.Witnesses {
		if w.Status != nil && w.Status.Fork != nil {
			v.Forks = append(v.Forks, forkView{Witness: w.Name, WitnessFork: w.Status.Fork})
		}
	}
	v.Reports, err = e.deviceForks(r.Context())
	if err != nil {
		v.ReportsErr = err.Error()
	}
	return "witnesses", v, nil
}

// entryView is an entry's page.
type entryView struct {
	Index     uint64
	LeafHash  string
	Digest    string
	Size      int
	Pending   bool
	Published uint64
	Kind      provenance.Kind
	Signers   []signer
	Entry     *provenance.Entry
	Identity  *provenance.CertificateIdentity
	// For a release: the provenance it endorses, found by digest.
	Endorsed []endorsed
	// For provenance: the releases that endorse it, and rebuilds that
	// agree (other provenance about its image) or disagree (provenance
	// of the same source commit with other images).
	EndorsedBy []row
	Agree      []row
	Disagree   []row
	// Revocations of the release's image or the entry's signers.
	Revocations []row
	// Void is set when the entry's signatures no longer make it valid
	// (ledger.Judgement).
	Void bool
	// BadCommit is set for provenance whose commit is not a git commit
	// digest (40 or 64 hex digits), BadSource for a source that is not a
	// plain URL (spaces or characters beyond ASCII).
	BadCommit, BadSource bool
	Proof                *proofView
	Payload              string
	Clipped              bool
}

type endorsed struct {
	Digest string
	Index  uint64
	Found  bool
}

// proofView is an inclusion proof and its verification.
type proofView struct {
	Size   uint64
	Root   string
	Hashes []string
	OK     bool
	Err    string
}

// maxPayloadShown is how much of an entry's statement the page shows.
const maxPayloadShown = 64 << 10

func parseIndex(r *http.Request) (uint64, error) {
	s := r.PathValue("index")
	v, err := strconv.ParseUint(s, 10, 63)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, webui.Errorf(http.StatusBadRequest, "%q is not an entry index: want a decimal integer", clipParam(s))
	}
	return v, nil
}

func (e *Explorer) entry(r *http.Request) (string, any, error) {
	ctx := r.Context()
	idx, err := parseIndex(r)
	if err != nil {
		return "", nil, err
	}
	s, err := e.statement(ctx, idx)
	if err != nil {
		return "", nil, err
	}
	cp, err := e.checkpoint()
	if err != nil {
		return "", nil, err
	}
	v := entryView{Index: idx, LeafHash: hex.EncodeToString(tiles.LeafHash(s.Data)), Size: len(s.Bytes())}
	d := digest.Sum(s.Bytes())
	v.Digest = hex.EncodeToString(d[:])
	if cp != nil {
		v.Published = cp.Size
	}
	v.Pending = idx >= v.Published
	if !v.Pending {
		v.Proof = e.proof(ctx, idx, tiles.LeafHash(s.Data), cp)
	}
	if s.Entry == nil {
		v.Payload, v.Clipped = clipBytes(s.Bytes())
		return "entry", v, nil
	}
	v.Kind, v.Entry, v.Identity = s.Kind, s.Entry, s.Identity
	v.Signers = e.signers(ctx, s)
	body := s.Bytes()
	if s.Envelope != nil {
		body = s.Envelope.Body
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		body = pretty.Bytes()
	}
	v.Payload, v.Clipped = clipBytes(body)
	switch s.Kind {
	case provenance.KindRelease:
		err = e.releaseFacts(ctx, s, &v)
	case provenance.KindProvenance:
		err = e.provenanceFacts(ctx, s, &v)
	}
	if err != nil {
		return "", nil, err
	}
	j, err := e.l.Judge(ctx, s)
	if err != nil {
		return "", nil, err
	}
	v.Void = j.Void
	for _, rv := range j.Revocations {
		rs, err := e.l.Statement(ctx, rv.Index)
		if err != nil {
			return "", nil, err
		}
		v.Revocations = append(v.Revocations, rowOf(rs, v.Published))
	}
	return "entry", v, nil
}

// find returns the newest entries q finds, at most limit.
func (e *Explorer) find(ctx context.Context, q ledger.Query, limit int) ([]*ledger.Statement, error) {
	p, err := e.l.Find(ctx, q, 1<<63-1, limit)
	if err != nil {
		return nil, err
	}
	return p.Statements, nil
}

// releaseFacts adds to a release's page the provenance it endorses, found
// by digest.
func (e *Explorer) releaseFacts(ctx context.Context, s *ledger.Statement, v *entryView) error {
	for _, d := range s.Release.Provenance {
		en := endorsed{Digest: d.String()}
		got, err := e.find(ctx, ledger.Query{Search: ledger.ByEntryDigest, Value: hex.EncodeToString(d[:])}, 1)
		if err != nil {
			return err
		}
		if len(got) > 0 {
			en.Index, en.Found = got[0].Index, true
		}
		v.Endorsed = append(v.Endorsed, en)
	}
	return nil
}

// provenanceFacts adds to a provenance's page the releases that endorse it
// and the rebuilds that agree (other builders' provenance of its image)
// or disagree (its source commit, other images), and marks a commit or
// source that is not what it should look like.
func (e *Explorer) provenanceFacts(ctx context.Context, s *ledger.Statement, v *entryView) error {
	p := s.Provenance
	if c := p.Source.Commit; c != "" && !((len(c) == 40 || len(c) == 64) && isHex(c)) {
		v.BadCommit = true
	}
	v.BadSource = strings.IndexFunc(p.Source.Repo, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0
	if i := slices.IndexFunc(p.Subjects, func(sd provenance.SubjectDigest) bool { return sd.Alg == "sha256" }); i >= 0 {
		about, err := e.find(ctx, ledger.Query{Search: ledger.ByImage, Value: hex.EncodeToString(p.Subjects[i].Value)}, PageSize)
		if err != nil {
			return err
		}
		for _, o := range about {
			switch {
			case o.Kind == provenance.KindRelease && slices.Contains(o.Release.Provenance, s.Digest):
				v.EndorsedBy = append(v.EndorsedBy, rowOf(o, v.Published))
			case o.Kind == provenance.KindProvenance && o.Index != s.Index && e.independent(ctx, o, s):
				v.Agree = append(v.Agree, rowOf(o, v.Published))
			}
		}
	}
	if p.Source.Repo == "" || p.Source.Commit == "" {
		return nil
	}
	same, err := e.find(ctx, ledger.Query{Search: ledger.BySourceCommit, Value: p.Source.Repo, Version: p.Source.Commit}, PageSize)
	if err != nil {
		return err
	}
	for _, o := range same {
		if o.Index != s.Index && !shareSubject(o.Provenance, p) && len(e.l.Signers(ctx, o)) > 0 {
			v.Disagree = append(v.Disagree, rowOf(o, v.Published))
		}
	}
	return nil
}

// statement reads the entry at idx; a 404 names the log's size.
func (e *Explorer) statement(ctx context.Context, idx uint64) (*ledger.Statement, error) {
	s, err := e.l.Statement(ctx, idx)
	if status(err) == http.StatusNotFound {
		return nil, webui.Errorf(http.StatusNotFound, "there is no entry %d: the published checkpoint has %d entries", idx, e.lg.Published().Size)
	}
	return s, err
}

// independent reports whether provenance o is an independent rebuild of
// what s attests, as the policy counts builders for reproducibility: its
// signature verifies, and none of its builders built s.
func (e *Explorer) independent(ctx context.Context, o, s *ledger.Statement) bool {
	ob, sb := e.l.Builders(ctx, o), e.l.Builders(ctx, s)
	return len(ob) > 0 && !slices.ContainsFunc(ob, func(b string) bool { return slices.Contains(sb, b) })
}

// shareSubject reports whether a and b have a subject digest in common.
func shareSubject(a, b *provenance.Provenance) bool {
	for _, s := range a.Subjects {
		if b.HasDigest(s.Alg, s.Value) {
			return true
		}
	}
	return false
}

func clipBytes(b []byte) (string, bool) {
	if len(b) > maxPayloadShown {
		return string(b[:maxPayloadShown]), true
	}
	return string(b), false
}

// proof returns the inclusion proof of the leaf at index under cp,
// verified here against cp's root.
func (e *Explorer) proof(ctx context.Context, index uint64, leafHash []byte, cp *checkpoint) *proofView {
	pv := &proofView{Size: cp.Size, Root: hex.EncodeToString(cp.Hash)}
	hashes, err := e.lg.InclusionProof(ctx, index, cp.Size)
	if err != nil {
		pv.Err = "couldn't read the proof: " + err.Error()
		return pv
	}
	for _, h := range hashes {
		pv.Hashes = append(pv.Hashes, hex.EncodeToString(h))
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, leafHash, hashes, cp.Hash); err != nil {
		pv.Err = "the proof does not verify: " + err.Error()
		return pv
	}
	pv.OK = true
	return pv
}

// raw sends an entry's exact bytes as a download (under the limiter:
// see Handler).
func (e *Explorer) raw(w http.ResponseWriter, r *http.Request) {
	idx, err := parseIndex(r)
	if err == nil {
		var s *ledger.Statement
		if s, err = e.statement(r.Context(), idx); err == nil {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			webui.Attachment(w, r, fmt.Sprintf("fwlog-entry-%d.json", idx), "application/octet-stream", s.Bytes())
			return
		}
	}
	e.t.Fail(w, r, e.logger, status(err), err)
}

// modelView is a model's page.
type modelView struct {
	Model    string
	Releases []row
	// Collisions are the releases shown whose version was first logged
	// with another image.
	Collisions []collision
	Next       uint64
	More       bool
}

// A collision is a version of the model logged with more than one image:
// the first release of it, and the releases shown with another image.
type collision struct {
	Version string
	First   row
	Others  []row
}

func (e *Explorer) model(r *http.Request) (string, any, error) {
	ctx := r.Context()
	model := r.PathValue("model")
	if model == "" || len(model) > provenance.MaxFieldLength {
		return "", nil, webui.Errorf(http.StatusBadRequest, "a model name is 1 to %d bytes", provenance.MaxFieldLength)
	}
	before, err := parseBefore(r)
	if err != nil {
		return "", nil, err
	}
	p, err := e.l.Find(ctx, ledger.Query{Search: ledger.ByModel, Value: model}, before, PageSize)
	if err != nil {
		return "", nil, err
	}
	rs, err := e.rows(ctx, p)
	if err != nil {
		return "", nil, err
	}
	v := modelView{Model: model, Releases: rs, More: p.More, Next: uint64(p.Next)}
	// Each release shown is compared with the first release logged of
	// its version (as the auditor keeps the first image): any other image
	// is a collision, however many releases came between.
	first := map[string]*ledger.Statement{}
	for _, rw := range v.Releases {
		ver := rw.Release.Version
		f, ok := first[ver]
		if !ok {
			if f, err = e.l.First(ctx, ledger.Query{Search: ledger.ByModelVersion, Value: model, Version: ver}); err != nil {
				return "", nil, err
			}
			first[ver] = f
		}
		if f == nil || f.Release.Image == rw.Release.Image {
			continue
		}
		i := slices.IndexFunc(v.Collisions, func(c collision) bool { return c.Version == ver })
		if i < 0 {
			v.Collisions = append(v.Collisions, collision{Version: ver, First: rowOf(f, p.Size)})
			i = len(v.Collisions) - 1
		}
		v.Collisions[i].Others = append(v.Collisions[i].Others, rw)
	}
	return "model", v, nil
}
