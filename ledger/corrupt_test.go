package ledger

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/go-hclog"
)

// buildLedger writes a small ledger with events, snapshots, checkpoints and
// coverage, closes it and returns its directory.
func buildLedger(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l := openTest(t, dir)
	mustAppend(t, l, &Batch{
		Events:      []Event{ev("user:1", "e1", 0, "p1"), ev("user:2", "", time.Minute, "p2")},
		Checkpoints: map[string]uint64{"EVENTS": 2},
		Covered:     []SeqRange{{"EVENTS", 1, 2}},
	})
	mustAppend(t, l, &Batch{
		Events:    []Event{ev("user:1", "e3", time.Hour, "p3")},
		Snapshots: []Snapshot{snap("s1", "fraud", "user:1", time.Hour)},
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// editRaw opens the store of a closed ledger with plain Pebble, finds the
// first key with prefix and applies edit to it. It returns that key.
func editRaw(t *testing.T, dir string, prefix []byte, edit func(db *pebble.DB, k,
	v []byte)) []byte {
	t.Helper()
	db, err := pebble.Open(dir, quietPebble())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, _ := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if !it.First() {
		t.Fatalf("no key with prefix %q", prefix)
	}
	k, v := clone(it.Key()), clone(it.Value())
	it.Close()
	edit(db, k, v)
	return k
}

func quietPebble() *pebble.Options {
	return &pebble.Options{Logger: pebbleLogger{hclog.NewNullLogger()}}
}

func flipByte(i int) func(db *pebble.DB, k, v []byte) {
	return func(db *pebble.DB, k, v []byte) {
		if i < 0 {
			i += len(v)
		}
		v[i] ^= 0x40
		if err := db.Set(k, v, pebble.Sync); err != nil {
			panic(err)
		}
	}
}

func deleteKey(db *pebble.DB, k, _ []byte) {
	if err := db.Delete(k, pebble.Sync); err != nil {
		panic(err)
	}
}

func verifyDir(t *testing.T, dir string) *Report {
	t.Helper()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep, err := l.Verify()
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestVerifyCleanLedger(t *testing.T) {
	rep := verifyDir(t, buildLedger(t))
	if !rep.Clean() || rep.Events != 3 || rep.Snapshots != 1 || rep.Batches != 2 {
		t.Fatalf("clean ledger: %+v", rep)
	}
}

func TestVerifyFindsCorruption(t *testing.T) {
	seq1, seq4 := uint64(1), uint64(4)
	tests := []struct {
		name   string
		prefix []byte
		edit   func(db *pebble.DB, k, v []byte)
		kind   string  // the finding kind expected at the edited key
		seq    *uint64 // the sequence expected with it, when one applies
	}{
		{"payload byte flipped", logKey(1), flipByte(-1), "hash", &seq1},
		{"record event time flipped", logKey(1), flipByte(12), "index", &seq1},
		{"entity index value flipped", []byte{prefixEntity}, flipByte(2), "index", &seq1},
		{"dedup index value flipped", dedupKey(&Event{ID: "e1"}), flipByte(7), "index", nil},
		{"snapshot index value flipped", []byte{prefixSnapModel}, flipByte(-2), "index", &seq4},
		{"batch record flipped", batchKey(1), flipByte(20), "batch", nil},
		{"checkpoint flipped", []byte{prefixCheckpoint}, flipByte(7), "checksum", nil},
		{"coverage flipped", []byte{prefixCoverage}, flipByte(0), "checksum", nil},
		{"counts flipped", keyCounts, flipByte(7), "checksum", nil},
		{"log record deleted", logKey(4), deleteKey, "log", &seq4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildLedger(t)
			k := editRaw(t, dir, tc.prefix, tc.edit)
			rep := verifyDir(t, dir)
			if rep.Clean() {
				t.Fatal("verify found nothing")
			}
			for _, f := range rep.Findings {
				if f.Kind == tc.kind && bytes.Equal(f.Key, k) && (tc.seq == nil ||
					f.Seq == *tc.seq) {
					return
				}
			}
			t.Fatalf("no %s finding at %s; findings: %v", tc.kind, FormatKey(k), rep.Findings)
		})
	}
}

func TestVerifyFindsDeletedIndexEntries(t *testing.T) {
	for _, prefix := range [][]byte{{prefixEntity}, {prefixDedup}, {prefixSnapModel},
		{prefixSnapID}} {
		t.Run(indexName(prefix[0]), func(t *testing.T) {
			dir := buildLedger(t)
			k := editRaw(t, dir, prefix, deleteKey)
			var seq uint64
			if name, _, s, ok := splitTimeSeq(k); ok && name != "" {
				seq = s
			}
			rep := verifyDir(t, dir)
			found := false
			for _, f := range rep.Findings {
				if f.Kind == "index" && strings.Contains(f.Msg, "missing") && (seq == 0 ||
					f.Seq == seq) {
					found = true
				}
			}
			if !found {
				t.Fatalf("deleted %s not reported: %v", FormatKey(k), rep.Findings)
			}
		})
	}
}

func TestVerifyReportsEveryFinding(t *testing.T) {
	dir := buildLedger(t)
	editRaw(t, dir, logKey(1), flipByte(-1))
	editRaw(t, dir, logKey(3), flipByte(-1))
	rep := verifyDir(t, dir)
	hashes := 0
	for _, f := range rep.Findings {
		var ce *CorruptionError
		if !errors.As(error(f), &ce) {
			t.Fatalf("finding is not a CorruptionError: %v", f)
		}
		if f.Kind == "hash" {
			hashes++
		}
	}
	if hashes != 2 {
		t.Fatalf("want 2 hash findings, got %d: %v", hashes, rep.Findings)
	}
}

// flushedLedger builds a ledger whose data lives in sstables, not only in the
// WAL, so that damaging a table file damages records.
func flushedLedger(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l := openTest(t, dir)
	var es []Event
	for i := range 2000 {
		es = append(es, ev("user:"+string(rune('a'+i%20)), "e"+itoa(i),
			time.Duration(i)*time.Second,
			strings.Repeat("x", 100)+itoa(i)))
	}
	mustAppend(t, l, &Batch{Events: es})
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	return dir
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func sstFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(files) == 0 {
		t.Fatal("no sstable in", dir)
	}
	return files
}

// damagedStore runs open and verify on a ledger whose files were damaged and
// requires that one of them fails with an error naming the damaged file,
// never a panic.
func damagedStore(t *testing.T, dir, file string) {
	t.Helper()
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	l, err := Open(dir, Options{})
	if err != nil {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("open refused the store without naming %s: %v", name, err)
		}
		return
	}
	defer l.Close()
	rep, err := l.Verify()
	if err != nil {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("verify failed without naming %s: %v", name, err)
		}
		return
	}
	for _, f := range rep.Findings {
		if f.Kind == "store" && strings.Contains(f.Msg, name) {
			return
		}
	}
	t.Fatalf("damage to %s not reported; findings: %v", name, rep.Findings)
}

func TestDamagedTableFile(t *testing.T) {
	dir := flushedLedger(t)
	f := sstFiles(t, dir)[0]
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(data) / 4; i < len(data)/2; i += 97 {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	damagedStore(t, dir, f)
}

func TestTruncatedTableFile(t *testing.T) {
	dir := flushedLedger(t)
	f := sstFiles(t, dir)[0]
	st, _ := os.Stat(f)
	if err := os.Truncate(f, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	damagedStore(t, dir, f)
}

func TestDamagedManifest(t *testing.T) {
	dir := flushedLedger(t)
	files, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	if len(files) == 0 {
		t.Fatal("no MANIFEST")
	}
	f := files[len(files)-1]
	if err := os.WriteFile(f, []byte("not a manifest at all, just text"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	if err == nil {
		t.Fatal("opened a ledger with a damaged MANIFEST")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error does not name the directory: %v", err)
	}
}
