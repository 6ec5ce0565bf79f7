package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium returns the path of a headless-capable Chromium, or skips the
// test when there is none, except in CI, where it must run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is required in CI to render report.html (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); " +
		"skipping the rendering of report.html outside CI")
	return ""
}

// TestHTMLRenders writes the report of the mixed case, renders report.html
// in headless Chromium with the network off, and checks that the rendered
// page shows the report's numbers and its four charts.
func TestHTMLRenders(t *testing.T) {
	bin := chromium(t)
	fx := loadFixture(t)
	r := fx.runCase(t, fx.build(t, parseScript(t, filepath.Join(casesDir, "mixed", "case.txt"))))
	dir := t.TempDir()
	if err := WriteReport(dir, r); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, ReportHTML)
	src, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?i)(src|href)="?https?:`).Match(src) {
		t.Fatal("report.html refers to the network")
	}

	dom := renderDOM(t, bin, page, dir)
	want := []string{
		`id="verdict">fail<`,
		fmt.Sprintf(`id="snapshots">%d<`, r.Snapshots),
		fmt.Sprintf(`id="differing">%d<`, r.Differing),
		fmt.Sprintf(`id="flips">%d<`, r.ScoreImpact.Flips),
		"Mismatch rate per hour", "Mismatched snapshots per feature", "Snapshots per cause",
		"Score delta",
	}
	for _, c := range Causes {
		want = append(want, fmt.Sprintf(`<tr id="cause-%s"><td>%s</td><td class="n">%d</td>`,
			c, c, r.Causes[c].Snapshots))
	}
	for name, fs := range r.Features {
		want = append(want, fmt.Sprintf(`<tr id="feature-%s"><td>%s</td><td class="n">%d</td>`+
			"\n"+`<td class="n">%d</td>`, name, name, fs.Compared, fs.Mismatched))
	}
	for _, w := range want {
		if !strings.Contains(dom, w) {
			t.Errorf("rendered page lacks %q", w)
		}
	}
	if n := strings.Count(dom, "<svg"); n != 4 {
		t.Errorf("rendered page holds %d charts, want 4", n)
	}
}

// renderDOM loads a file in headless Chromium and returns the DOM after
// scripts and layout.
func renderDOM(t *testing.T, bin, page, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "chromium"), "--dump-dom", "file://"+page)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	if stdout.Len() == 0 {
		t.Fatalf("chromium printed no DOM:\n%s", stderr.String())
	}
	return stdout.String()
}
