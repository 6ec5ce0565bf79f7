package audit

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"strings"
	"time"
)

// WriteHTML writes report.html: one self-contained page, with inline CSS
// and inline SVG charts, that needs no network: mismatch rate per hour,
// mismatches per feature, snapshots per cause and the score-delta
// histogram, with the numbers in tables beside them.
func (r *Report) WriteHTML(w io.Writer) error {
	return pageTemplate.Execute(w, r.page())
}

// page is what the template shows.
type page struct {
	R          *Report
	From, To   string
	DiffRate   string
	Features   []featureRow
	Causes     []causeRow
	HourChart  template.HTML
	FeatChart  template.HTML
	CauseChart template.HTML
	DeltaChart template.HTML
}

type featureRow struct {
	Name string
	FeatureStats
	RateText string
}

type causeRow struct {
	Cause     Cause
	Snapshots int
	RateText  string
	Limit     string
}

func (r *Report) page() *page {
	p := &page{R: r, From: r.Window.From.Format(time.RFC3339), To: r.Window.To.Format(time.RFC3339),
		DiffRate: pct(rate(r.Differing, r.Snapshots))}
	var hourLabels, featLabels, causeLabels, deltaLabels []string
	var hourVals, featVals, causeVals, deltaVals []float64
	for _, h := range r.Hours {
		hourLabels = append(hourLabels, h.Start.Format("15:04"))
		hourVals = append(hourVals, 100*h.Rate)
	}
	for _, name := range r.featureNames() {
		fs := r.Features[name]
		p.Features = append(p.Features, featureRow{name, fs, pct(fs.Rate)})
		featLabels = append(featLabels, name)
		featVals = append(featVals, float64(fs.Mismatched))
	}
	for _, c := range Causes {
		cs := r.Causes[c]
		limit := limitOf(r.Thresholds.Causes, c)
		p.Causes = append(p.Causes, causeRow{c, cs.Snapshots, pct(cs.Rate), limit})
		causeLabels = append(causeLabels, string(c))
		causeVals = append(causeVals, float64(cs.Snapshots))
	}
	for _, b := range r.ScoreImpact.Histogram {
		deltaLabels = append(deltaLabels, fmt.Sprintf("%g", b.Lo))
		deltaVals = append(deltaVals, float64(b.Count))
	}
	p.HourChart = columns("Mismatch rate per hour (%)", hourLabels, hourVals, "%.2f")
	p.FeatChart = rows("Mismatched snapshots per feature", featLabels, featVals)
	p.CauseChart = rows("Snapshots per cause", causeLabels, causeVals)
	p.DeltaChart = columns("Score delta (truth - served), by lower bin edge",
		deltaLabels, deltaVals, "%.0f")
	return p
}

// Chart geometry, in SVG user units.
const (
	chartW   = 640
	labelW   = 170
	rowH     = 22
	colAreaH = 160
)

// rows draws a horizontal bar chart, one labelled row per value.
func rows(title string, labels []string, vals []float64) template.HTML {
	top := vmax(vals)
	h := 30 + rowH*len(labels)
	b := &strings.Builder{}
	fmt.Fprintf(b, `<svg class="chart" role="img" width="%d" height="%d" viewBox="0 0 %d %d">`,
		chartW, h, chartW, h)
	fmt.Fprintf(b, `<title>%s</title><text x="0" y="16" class="t">%s</text>`,
		html.EscapeString(title), html.EscapeString(title))
	for i, l := range labels {
		y := 26 + i*rowH
		w := 0.0
		if top > 0 {
			w = (chartW - labelW - 60) * vals[i] / top
		}
		fmt.Fprintf(b, `<text x="0" y="%d">%s</text>`, y+14, html.EscapeString(l))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.1f" height="%d"/>`, labelW, y+2, w, rowH-6)
		fmt.Fprintf(b, `<text x="%.1f" y="%d">%g</text>`, float64(labelW)+w+6, y+14, vals[i])
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// columns draws a vertical bar chart, one labelled column per value.
func columns(title string, labels []string, vals []float64, format string) template.HTML {
	top := vmax(vals)
	n := max(len(vals), 1)
	colW := float64(chartW-40) / float64(n)
	h := colAreaH + 60
	b := &strings.Builder{}
	fmt.Fprintf(b, `<svg class="chart" role="img" width="%d" height="%d" viewBox="0 0 %d %d">`,
		chartW, h, chartW, h)
	fmt.Fprintf(b, `<title>%s</title><text x="0" y="16" class="t">%s</text>`,
		html.EscapeString(title), html.EscapeString(title))
	base := 30 + colAreaH
	for i, v := range vals {
		ch := 0.0
		if top > 0 {
			ch = colAreaH * v / top
		}
		x := 20 + float64(i)*colW
		fmt.Fprintf(b,
			`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
			x+1, float64(base)-ch, max(colW-2, 1), ch, html.EscapeString(labels[i]),
			fmt.Sprintf(format, v))
		if n <= 24 {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="v">%s</text>`, x+colW/2,
				float64(base)-ch-3,
				fmt.Sprintf(format, v))
			fmt.Fprintf(b, `<text x="%.1f" y="%d" class="v">%s</text>`, x+colW/2, base+14,
				html.EscapeString(labels[i]))
		}
	}
	fmt.Fprintf(b, `<line x1="20" y1="%d" x2="%d" y2="%d"/></svg>`, base, chartW-20, base)
	return template.HTML(b.String())
}

func vmax(vals []float64) float64 {
	m := 0.0
	for _, v := range vals {
		m = max(m, v)
	}
	return m
}

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>asof audit {{.From}} to {{.To}}: {{.R.Verdict}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
h1 .pass{color:#17692f} h1 .fail{color:#b3261e}
table{border-collapse:collapse;margin:.5em 0 1.5em} td,th{border:1px solid #ccc;padding:3px 8px}
td.n{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{display:block;margin:1em 0} svg rect{fill:#3b6ea8} svg text{font-size:12px}
svg text.t{font-weight:bold} svg text.v{text-anchor:middle;font-size:10px} svg line{stroke:#888}
</style></head><body>
<h1>asof audit: <span class="{{.R.Verdict}}" id="verdict">{{.R.Verdict}}</span></h1>
<p>Window {{.From}} to {{.To}}{{if .R.Model}}, model {{.R.Model}}{{end}}, spec {{.R.SpecVersion}},
tolerance {{.R.Tolerance}}.</p>
<table id="summary">
<tr><th>snapshots audited</th><td class="n" id="snapshots">{{.R.Snapshots}}</td></tr>
<tr><th>consistent with truth</th><td class="n" id="consistent">{{.R.Consistent}}</td></tr>
<tr><th>differing</th><td class="n" id="differing">{{.R.Differing}}</td></tr>
<tr><th>differing rate</th><td class="n">{{.DiffRate}}</td></tr>
<tr><th>decision flips</th><td class="n" id="flips">{{.R.ScoreImpact.Flips}}</td></tr>
<tr><th>broker sequences missing from the ledger</th>
<td class="n" id="missing">{{.R.Ingest.Missing}}</td></tr>
</table>
{{.HourChart}}
<h2>Causes</h2>
<table id="causes"><tr><th>cause</th><th>snapshots</th><th>rate</th><th>limit</th></tr>
{{range .Causes}}<tr id="cause-{{.Cause}}"><td>{{.Cause}}</td><td class="n">{{.Snapshots}}</td>
<td class="n">{{.RateText}}</td><td class="n">{{.Limit}}</td></tr>
{{end}}</table>
{{.CauseChart}}
<h2>Features</h2>
<table id="features"><tr><th>feature</th><th>compared</th><th>mismatched</th><th>rate</th>
<th>mean abs diff</th><th>max abs diff</th></tr>
{{range .Features}}<tr id="feature-{{.Name}}"><td>{{.Name}}</td><td class="n">{{.Compared}}</td>
<td class="n">{{.Mismatched}}</td><td class="n">{{.RateText}}</td>
<td class="n">{{printf "%.6g" .MeanAbsDiff}}</td>
<td class="n">{{printf "%.6g" .MaxAbsDiff}}</td></tr>
{{end}}</table>
{{.FeatChart}}
<h2>Score impact</h2>
<p>{{.R.ScoreImpact.Rescored}} re-scored, {{.R.ScoreImpact.NotRescored}} not re-scored;
mean |delta| {{printf "%.6g" .R.ScoreImpact.MeanAbsDelta}},
max {{printf "%.6g" .R.ScoreImpact.MaxAbsDelta}}.</p>
{{.DeltaChart}}
{{if .R.WorstEntities}}<h2>Worst entities</h2>
<table id="entities">
<tr><th>entity</th><th>snapshots</th><th>differing</th><th>max abs diff</th></tr>
{{range .R.WorstEntities}}<tr><td>{{.Entity}}</td><td class="n">{{.Snapshots}}</td>
<td class="n">{{.Differing}}</td><td class="n">{{printf "%.6g" .MaxAbsDiff}}</td></tr>
{{end}}</table>{{end}}
<h2>Verdict</h2>
{{if .R.Breaches}}<ul id="breaches">{{range .R.Breaches}}<li>{{.Rule}}: {{printf "%.4g" .Rate}}
above the limit {{printf "%.4g" .Limit}}</li>{{end}}</ul>
{{else}}<p>Every threshold holds.</p>{{end}}
</body></html>
`))
