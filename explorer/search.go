package explorer

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/fwledger/fwledger/internal/webui"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/provenance"
)

// MaxQuery is the longest search the explorer takes, in bytes.
const MaxQuery = 512

// A Section is one search the explorer runs for a query, with its title
// and its name in URLs (the "in" parameter, to page through it alone).
type Section struct {
	Name  string
	Title string
	Query ledger.Query
}

// ParseQuery returns the searches a query means:
//
//   - a SHA-256 digest (64 hex digits, optionally "sha256:" before it, or
//     a line of sha256sum output): releases of the image and provenance
//     about it, the entry with that digest, the key with that ID and what
//     it signed, and revocations of the key or image;
//   - a SHA-512 digest (128 hex digits, "sha512:", or sha512sum output):
//     provenance about the image;
//   - anything else: the releases of a model of that name; if it has a
//     space or an "@", the releases of that model and version (for
//     "acme-x1 1.4.0" or "acme-x1@1.4.0"); the provenance of that
//     builder.id; and of that source repository (with "@commit", of that
//     commit).
//
// It returns nil for an empty query, and an *webui.Error for one that is
// too long or not UTF-8.
func ParseQuery(q string) ([]Section, error) {
	if len(q) > MaxQuery {
		return nil, webui.Errorf(http.StatusBadRequest, "the search is %d bytes long: at most %d", len(q), MaxQuery)
	}
	if !utf8.ValidString(q) {
		return nil, webui.Errorf(http.StatusBadRequest, "the search is not valid UTF-8")
	}
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	// sha256sum output: "<hex>  <file>", or "<hex> *<file>".
	if f := strings.Fields(q); len(f) >= 2 && isHex(f[0]) && (len(f[0]) == 64 || len(f[0]) == 128) {
		q = f[0]
	}
	lower := strings.ToLower(q)
	switch {
	case strings.HasPrefix(lower, "sha256:") && isHex(lower[7:]) && len(lower) == 7+64:
		lower = lower[7:]
		fallthrough
	case len(lower) == 64 && isHex(lower):
		return []Section{
			{"image", "Releases of the image, and provenance about it", ledger.Query{Search: ledger.ByImage, Value: lower}},
			{"entry", "The entry with these exact bytes", ledger.Query{Search: ledger.ByEntryDigest, Value: lower}},
			{"signer", "Entries signed by the key with this ID", ledger.Query{Search: ledger.BySigner, Value: lower}},
			{"revocation", "Revocations of the key or image", ledger.Query{Search: ledger.RevocationsOf, Value: lower}},
		}, nil
	case strings.HasPrefix(lower, "sha512:") && isHex(lower[7:]) && len(lower) == 7+128:
		lower = lower[7:]
		fallthrough
	case len(lower) == 128 && isHex(lower):
		return []Section{
			{"image512", "Provenance about the image", ledger.Query{Search: ledger.ByImage512, Value: lower}},
		}, nil
	}
	out := []Section{
		{"model", "Releases of the model", ledger.Query{Search: ledger.ByModel, Value: q}},
	}
	if len(q) <= provenance.MaxFieldLength {
		if m, v, ok := cutVersion(q); ok {
			out = append(out, Section{"version", "Releases of the model and version", ledger.Query{Search: ledger.ByModelVersion, Value: m, Version: v}})
		}
	}
	out = append(out, Section{"builder", "Provenance from the builder", ledger.Query{Search: ledger.ByBuilder, Value: q}})
	if repo, commit, ok := strings.Cut(q, "@"); ok && isHex(commit) && len(commit) >= 7 {
		out = append(out, Section{"commit", "Provenance of builds of the source commit", ledger.Query{Search: ledger.BySourceCommit, Value: repo, Version: strings.ToLower(commit)}})
	} else {
		out = append(out, Section{"source", "Provenance of builds from the source repository", ledger.Query{Search: ledger.BySource, Value: q}})
	}
	return out, nil
}

// cutVersion splits "model version" or "model@version" at the last space
// or "@".
func cutVersion(q string) (model, version string, ok bool) {
	i := strings.LastIndexAny(q, " @")
	if i <= 0 || i == len(q)-1 {
		return "", "", false
	}
	return strings.TrimSpace(q[:i]), q[i+1:], true
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// searchView is the search page.
type searchView struct {
	Q        string
	Sections []sectionView
	// In is the Section shown alone (paging through it), if any.
	In string
}

type sectionView struct {
	Name, Title string
	Rows        []row
	More        bool
	Next        int64
}

func (e *Explorer) search(r *http.Request) (string, any, error) {
	ctx := r.Context()
	q := r.URL.Query().Get("q")
	secs, err := ParseQuery(q)
	if err != nil {
		return "", nil, err
	}
	v := searchView{Q: q, In: r.URL.Query().Get("in")}
	before, err := parseBefore(r)
	if err != nil {
		return "", nil, err
	}
	for _, s := range secs {
		if v.In != "" && s.Name != v.In {
			continue
		}
		p, err := e.l.Find(ctx, s.Query, before, PageSize)
		if err != nil {
			return "", nil, err
		}
		rs, err := e.rows(ctx, p)
		if err != nil {
			return "", nil, err
		}
		v.Sections = append(v.Sections, sectionView{Name: s.Name, Title: s.Title, Rows: rs, More: p.More, Next: p.Next})
	}
	if v.In != "" && len(v.Sections) == 0 {
		return "", nil, webui.Errorf(http.StatusBadRequest, "this search has no section %q", clipParam(v.In))
	}
	return "search", v, nil
}
