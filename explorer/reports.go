package explorer

import (
	"cmp"
	"context"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fwledger/fwledger/internal/webui"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/report"
	reportstore "github.com/fwledger/fwledger/report/store"
)

// A deviceFork is a device report whose checkpoint is not this log's tree.
type deviceFork struct {
	ID         uint64
	Device     string
	Size       uint64
	Received   time.Time
	Checkpoint string
}

// maxForksShown is how many fork reports the witnesses page shows.
const maxForksShown = 10

// deviceForks returns the first fork reports stored, if the log takes
// reports.
func (e *Explorer) deviceForks(ctx context.Context) ([]deviceFork, error) {
	rs, _, err := e.l.Reports(ctx, reportstore.Query{Fork: true, Limit: maxForksShown})
	if errors.Is(err, ledger.ErrReportsDisabled) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]deviceFork, 0, len(rs))
	for _, r := range rs {
		out = append(out, forkOf(r))
	}
	return out, nil
}

func forkOf(r reportstore.Report) deviceFork {
	f := deviceFork{ID: r.ID, Device: r.Report.Device, Received: r.Received, Checkpoint: string(r.Report.Checkpoint)}
	// The size is the checkpoint's second line.
	if _, rest, ok := strings.Cut(f.Checkpoint, "\n"); ok {
		if line, _, ok := strings.Cut(rest, "\n"); ok {
			f.Size, _ = strconv.ParseUint(line, 10, 64)
		}
	}
	return f
}

// reportsView is the device reports page.
type reportsView struct {
	Disabled bool
	Days     int
	Bucket   string
	Outcomes template.HTML
	Reasons  template.HTML
	Success  template.HTML
	// OutcomeNames and ReasonNames are the charts' series, in order.
	OutcomeNames []string
	ReasonNames  []string
	Table        []reportRow
	Total        uint64
	// Cut is set when the store returned its most count rows: the
	// oldest hours of the span may be missing.
	Cut       bool
	Forks     []deviceFork
	ForksMore bool
	ForksNext uint64
}

// A reportRow is one bucket of the table beside the charts.
type reportRow struct {
	T                                       time.Time
	Installed, Confirmed, Refused, Reverted uint64
	Rate                                    string
}

var outcomes = []report.Outcome{report.Installed, report.Confirmed, report.Refused, report.Reverted}

// maxDays is the longest span the reports page charts: its hourly counts
// (4 outcomes with up to 16 reasons each, in practice at most 36 pairs an
// hour) stay within the store's reportstore.MaxCountRows.
const maxDays = 45

func (e *Explorer) reports(r *http.Request) (string, any, error) {
	ctx := r.Context()
	v := reportsView{Days: 14}
	if s := r.URL.Query().Get("days"); s != "" {
		d, err := strconv.Atoi(s)
		if err != nil || d < 1 || d > maxDays {
			return "", nil, webui.Errorf(http.StatusBadRequest, "parameter days is %q: want 1 to %d", clipParam(s), maxDays)
		}
		v.Days = d
	}
	var after uint64
	if s := r.URL.Query().Get("after"); s != "" {
		a, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return "", nil, webui.Errorf(http.StatusBadRequest, "parameter after is %q: want a report ID", clipParam(s))
		}
		after = a
	}
	now := time.Now().UTC()
	width := 24 * time.Hour
	v.Bucket = "day"
	if v.Days <= 2 {
		width, v.Bucket = time.Hour, "hour"
	}
	since := now.Add(-time.Duration(v.Days) * 24 * time.Hour).Truncate(width)
	counts, err := e.counts.get(ctx, e.l, since)
	if errors.Is(err, ledger.ErrReportsDisabled) {
		v.Disabled = true
		return "reports", v, nil
	}
	if err != nil {
		return "", nil, err
	}
	v.Cut = len(counts) >= reportstore.MaxCountRows
	// Buckets from since to now, every one present (a gap is zero).
	n := int(now.Sub(since)/width) + 1
	byOutcome := make([][]float64, n)
	reasonTotals := map[report.Reason]uint64{}
	for i := range byOutcome {
		byOutcome[i] = make([]float64, len(outcomes))
	}
	for _, c := range counts {
		i := int(c.Hour.Sub(since) / width)
		if i < 0 || i >= n {
			continue
		}
		if j := slices.Index(outcomes, c.Outcome); j >= 0 {
			byOutcome[i][j] += float64(c.N)
		}
		if c.Outcome == report.Refused || c.Outcome == report.Reverted {
			reasonTotals[c.Reason] += c.N
		}
		v.Total += c.N
	}
	// The five most frequent reasons, and the rest as "other".
	var reasons []report.Reason
	for rs := range reasonTotals {
		reasons = append(reasons, rs)
	}
	slices.SortFunc(reasons, func(a, b report.Reason) int {
		return cmp.Or(cmp.Compare(reasonTotals[b], reasonTotals[a]), cmp.Compare(a, b))
	})
	const topReasons = 5
	for i, rs := range reasons {
		if i == topReasons {
			v.ReasonNames = append(v.ReasonNames, "other")
			break
		}
		v.ReasonNames = append(v.ReasonNames, string(rs))
	}
	byReason := make([][]float64, n)
	for i := range byReason {
		byReason[i] = make([]float64, len(v.ReasonNames))
	}
	for _, c := range counts {
		i := int(c.Hour.Sub(since) / width)
		if i < 0 || i >= n || (c.Outcome != report.Refused && c.Outcome != report.Reverted) {
			continue
		}
		j := slices.Index(reasons, c.Reason)
		if j >= topReasons {
			j = topReasons
		}
		byReason[i][j] += float64(c.N)
	}
	var obars, rbars []webui.Bar
	var rate []webui.Point
	for i := range n {
		t := since.Add(time.Duration(i) * width)
		obars = append(obars, webui.Bar{T: t, Values: byOutcome[i]})
		rbars = append(rbars, webui.Bar{T: t, Values: byReason[i]})
		o := byOutcome[i]
		row := reportRow{T: t, Installed: uint64(o[0]), Confirmed: uint64(o[1]), Refused: uint64(o[2]), Reverted: uint64(o[3]), Rate: "—"}
		if ended := o[1] + o[2] + o[3]; ended > 0 {
			pct := 100 * o[1] / ended
			rate = append(rate, webui.Point{T: t, V: pct})
			row.Rate = strconv.FormatFloat(pct, 'f', 1, 64) + " %"
		}
		v.Table = append(v.Table, row)
	}
	for _, o := range outcomes {
		v.OutcomeNames = append(v.OutcomeNames, string(o))
	}
	v.Outcomes = webui.BarChart("Device reports per "+v.Bucket+", by outcome", v.OutcomeNames, obars, width)
	v.Reasons = webui.BarChart("Refusals and reverts per "+v.Bucket+", by reason", v.ReasonNames, rbars, width)
	v.Success = webui.LineChartIn("Success rate per "+v.Bucket+", in percent", rate, since, since.Add(time.Duration(n)*width), 100)
	slices.Reverse(v.Table)
	rs, more, err := e.l.Reports(ctx, reportstore.Query{Fork: true, After: after, Limit: PageSize})
	if err != nil {
		return "", nil, err
	}
	for _, r := range rs {
		v.Forks = append(v.Forks, forkOf(r))
	}
	if more && len(rs) > 0 {
		v.ForksMore, v.ForksNext = true, rs[len(rs)-1].ID
	}
	return "reports", v, nil
}

// countsCache keeps the report counts since a time for countsTTL, so
// that a flood of requests for the reports page reads them once in a
// while: they change by the hour.
type countsCache struct {
	mu     sync.Mutex
	since  time.Time
	at     time.Time
	counts []reportstore.Count
}

const countsTTL = 10 * time.Second

func (c *countsCache) get(ctx context.Context, l *ledger.Ledger, since time.Time) ([]reportstore.Count, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since.Equal(since) && time.Since(c.at) < countsTTL {
		return c.counts, nil
	}
	counts, err := l.ReportCounts(ctx, since)
	if err != nil {
		return nil, err
	}
	c.since, c.at, c.counts = since, time.Now(), counts
	return counts, nil
}
