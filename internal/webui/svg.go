package webui

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// Charts are SVG drawn on the server, in the page itself: no script, and
// every label escaped. Colours come from the stylesheet's classes s0..s5,
// so that they follow its light and dark schemes. Each chart has a title
// and a description for screen readers, and pages give the numbers in a
// table beside it as well.

const (
	chartW, chartH = 640, 220
	padL, padR     = 56, 12
	padT, padB     = 10, 28
	maxSeries      = 6
)

// A Point is one point of a line chart.
type Point struct {
	T time.Time
	V float64
}

// LineChartIn draws points (in time order) as a line over the time span
// from t0 to t1, with the value axis from 0 up to top (0: the largest
// value, rounded up), labelled with title (for screen readers).
func LineChartIn(title string, points []Point, t0, t1 time.Time, top float64) template.HTML {
	var b strings.Builder
	open(&b, title)
	if len(points) == 0 {
		empty(&b)
		return template.HTML(b.String())
	}
	if top <= 0 {
		for _, p := range points {
			top = math.Max(top, p.V)
		}
		top = niceCeil(top)
	}
	axes(&b, top, t0, t1)
	x := func(t time.Time) float64 {
		if !t1.After(t0) {
			return padL + float64(chartW-padL-padR)/2
		}
		return padL + float64(chartW-padL-padR)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v float64) float64 { return padT + float64(chartH-padT-padB)*(1-v/top) }
	b.WriteString(`<polyline class="line" points="`)
	for i, p := range points {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x(p.T), y(p.V))
	}
	b.WriteString(`"/>`)
	if len(points) == 1 {
		fmt.Fprintf(&b, `<circle class="s0" cx="%.1f" cy="%.1f" r="3"/>`, x(points[0].T), y(points[0].V))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// A Bar is one bar of a stacked bar chart: its time and a value per
// series.
type Bar struct {
	T      time.Time
	Values []float64
}

// BarChart draws stacked bars, one per bucket of the given width starting
// at each Bar's T; series names the stacks (at most 6 are drawn, in the
// stylesheet's colours s0..s5, the rest are left out).
func BarChart(title string, series []string, bars []Bar, width time.Duration) template.HTML {
	var b strings.Builder
	open(&b, title)
	if len(bars) == 0 {
		empty(&b)
		return template.HTML(b.String())
	}
	t0, t1 := bars[0].T, bars[len(bars)-1].T.Add(width)
	top := 0.0
	for _, bar := range bars {
		sum := 0.0
		for i, v := range bar.Values {
			if i < maxSeries {
				sum += v
			}
		}
		top = math.Max(top, sum)
	}
	top = niceCeil(top)
	axes(&b, top, t0, t1)
	span := float64(t1.Sub(t0))
	plotW := float64(chartW - padL - padR)
	plotH := float64(chartH - padT - padB)
	bw := math.Max(1, plotW*float64(width)/span-1)
	for _, bar := range bars {
		x := padL + plotW*float64(bar.T.Sub(t0))/span
		base := float64(chartH - padB)
		for i, v := range bar.Values {
			if i >= maxSeries || v <= 0 {
				continue
			}
			h := plotH * v / top
			base -= h
			name := ""
			if i < len(series) {
				name = series[i]
			}
			fmt.Fprintf(&b, `<rect class="s%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %s</title></rect>`,
				i, x, base, bw, h, html.EscapeString(FormatTime(bar.T)), html.EscapeString(name), Count(int64(v)))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func open(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg"><title>%s</title>`,
		chartW, chartH, html.EscapeString(title), html.EscapeString(title))
}

func empty(b *strings.Builder) {
	fmt.Fprintf(b, `<text x="%d" y="%d">no data yet</text></svg>`, padL, chartH/2)
}

// axes draws the value axis (0, half, top) and the time axis (start, end).
func axes(b *strings.Builder, top float64, t0, t1 time.Time) {
	plotH := float64(chartH - padT - padB)
	for _, f := range []float64{0, 0.5, 1} {
		y := padT + plotH*(1-f)
		fmt.Fprintf(b, `<line class="axis" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, padL, y, chartW-padR, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y+4, tick(top*f))
	}
	layout := "2006-01-02 15:04"
	fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`, padL, chartH-8, t0.UTC().Format(layout))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s UTC</text>`, chartW-padR, chartH-8, t1.UTC().Format(layout))
}

// tick formats an axis value: whole numbers with separators, others to
// one decimal.
func tick(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return Count(int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
