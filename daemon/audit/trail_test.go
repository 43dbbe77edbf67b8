package audit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signerd/signerd/test/testenv"
)

func testRecord(i int) *Record {
	return &Record{
		CorrelationID: fmt.Sprintf("c-%d", i),
		Caller:        &Caller{PID: 42, UID: 1000, GID: 1000},
		Tenant:        "dev",
		Request: &Request{
			Subjects:        []string{"sha256:" + strings.Repeat("ab", 32)},
			PredicateType:   "https://cyclonedx.org/bom",
			PredicateSHA256: strings.Repeat("cd", 32),
		},
		KeyHint: "hint",
		Outcome: OutcomeAllowed,
	}
}

func openTrail(t *testing.T, dir string, opts Options) *Trail {
	t.Helper()
	tr := Open(dir, opts)
	t.Cleanup(func() { tr.Close() })
	return tr
}

func appendN(t *testing.T, tr *Trail, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := tr.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatalf("append record %d: %v", i, err)
		}
	}
}

func mustVerify(t *testing.T, dir string, records uint64) *Report {
	t.Helper()
	rep, err := Verify(dir)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Break != nil {
		t.Fatalf("chain broken: %s", rep.Break)
	}
	if rep.Records != records {
		t.Fatalf("verified %d records, want %d", rep.Records, records)
	}
	return rep
}

func TestAppendContinuesChainAfterReopen(t *testing.T) {
	dir := t.TempDir()
	tr := Open(dir, Options{})
	appendN(t, tr, 0, 3)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Append(context.Background(), testRecord(9)); err != ErrClosed {
		t.Fatalf("append after close: got %v, want ErrClosed", err)
	}

	tr = openTrail(t, dir, Options{})
	rec := testRecord(3)
	if err := tr.Append(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 4 || rec.ID != "4" {
		t.Errorf("record after reopen has seq %d id %q, want 4", rec.Seq, rec.ID)
	}
	if rec.Hash == "" || rec.Prev == ZeroHash {
		t.Errorf("record after reopen has prev %q hash %q", rec.Prev, rec.Hash)
	}
	mustVerify(t, dir, 4)
}

func TestGroupCommitConcurrent(t *testing.T) {
	for _, maxFileBytes := range []int64{0, 4096} {
		t.Run(fmt.Sprintf("max file bytes %d", maxFileBytes), func(t *testing.T) {
			testGroupCommit(t, maxFileBytes)
		})
	}
}

// TestGroupCommitSharesOneFsync holds the writer on its first record until
// eight more appends are queued, and checks that all nine are committed
// with one fsync.
func TestGroupCommitSharesOneFsync(t *testing.T) {
	tr := openTrail(t, t.TempDir(), Options{})
	const queued = 8
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	tr.testHookGather = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}

	errs := make(chan error, queued+1)
	go func() { errs <- tr.Append(context.Background(), testRecord(0)) }()
	<-entered
	for i := 1; i <= queued; i++ {
		go func() { errs <- tr.Append(context.Background(), testRecord(i)) }()
	}
	for len(tr.reqs) < queued {
		runtime.Gosched()
	}
	close(release)

	for range queued + 1 {
		if err := <-errs; err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	st := tr.Stats()
	if st.Records != queued+1 {
		t.Errorf("stats count %d records, want %d", st.Records, queued+1)
	}
	if st.Fsyncs != 1 {
		t.Errorf("stats count %d fsyncs, want 1 for the first record and the %d queued behind it", st.Fsyncs, queued)
	}
}

// testGroupCommit appends from many goroutines at once. Every append
// that returned nil must be on disk with its content, under a distinct
// id, in a chain that verifies, with rotation too when maxFileBytes is
// small.
func testGroupCommit(t *testing.T, maxFileBytes int64) {
	dir := t.TempDir()
	tr := openTrail(t, dir, Options{MaxFileBytes: maxFileBytes})
	const workers, each = 32, 20

	var mu sync.Mutex
	byID := map[string]*Record{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				rec := testRecord(w*each + i)
				if err := tr.Append(context.Background(), rec); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				byID[rec.ID] = rec
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}

	if len(byID) != workers*each {
		t.Fatalf("%d distinct record ids, want %d", len(byID), workers*each)
	}
	mustVerify(t, dir, workers*each)

	// Every acknowledged record is on disk with the content its caller
	// gave it.
	onDisk := readRecords(t, dir)
	for id, rec := range byID {
		got, ok := onDisk[id]
		if !ok {
			t.Fatalf("record %s acknowledged but not on disk", id)
		}
		if got.CorrelationID != rec.CorrelationID || got.Hash != rec.Hash {
			t.Errorf("record %s on disk has correlation id %q hash %s, acknowledged %q %s",
				id, got.CorrelationID, got.Hash, rec.CorrelationID, rec.Hash)
		}
	}

	st := tr.Stats()
	if st.Records != workers*each {
		t.Errorf("stats count %d records, want %d", st.Records, workers*each)
	}
	if st.Fsyncs == 0 || st.Fsyncs > st.Records {
		t.Errorf("stats count %d fsyncs for %d records", st.Fsyncs, st.Records)
	}
	if names, _ := listFiles(dir); maxFileBytes > 0 && len(names) < 2 {
		t.Errorf("%d files with a %d-byte limit, want rotation", len(names), maxFileBytes)
	}
	t.Logf("%d records in %d fsyncs", st.Records, st.Fsyncs)
}

func readRecords(t *testing.T, dir string) map[string]*Record {
	t.Helper()
	names, err := listFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Record{}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			rec, err := Decode(line)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[rec.ID] = rec
		}
	}
	return out
}

func TestRotationKeepsChain(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, Options{MaxFileBytes: 2000})
	appendN(t, tr, 0, 40)

	names, err := listFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 3 {
		t.Fatalf("%d files after 40 records with a 2000-byte limit, want at least 3", len(names))
	}
	mustVerify(t, dir, 40)

	for i := 1; i < len(names); i++ {
		prevData, _ := os.ReadFile(filepath.Join(dir, names[i-1]))
		last, _, _ := lastLine(prevData)
		lastRec, err := Decode(last)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(dir, names[i]))
		first, err := Decode(data[:bytes.IndexByte(data, '\n')])
		if err != nil {
			t.Fatal(err)
		}
		if first.Prev != lastRec.Hash || first.Seq != lastRec.Seq+1 {
			t.Errorf("%s starts with seq %d prev %s; %s ends with seq %d hash %s",
				names[i], first.Seq, first.Prev, names[i-1], lastRec.Seq, lastRec.Hash)
		}
		if want := fileName(first.Seq); names[i] != want {
			t.Errorf("file %s holds first record %d, want name %s", names[i], first.Seq, want)
		}
	}
}

func TestTornTailRepairedAtOpen(t *testing.T) {
	dir := t.TempDir()
	tr := Open(dir, Options{})
	appendN(t, tr, 0, 5)
	tr.Close()

	names, _ := listFiles(dir)
	path := filepath.Join(dir, names[len(names)-1])
	before, _ := os.ReadFile(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"v":1,"seq":6,"id":"6","ti`)
	f.Close()

	var logs bytes.Buffer
	tr = openTrail(t, dir, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := tr.Health(); err != nil {
		t.Fatalf("health after repair: %v", err)
	}
	if !strings.Contains(logs.String(), "torn line") || !strings.Contains(logs.String(), "removed_bytes=27") {
		t.Errorf("repair log does not name the torn line and its size:\n%s", logs.String())
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, before) {
		t.Errorf("file after repair has %d bytes, want the %d bytes before the torn write", len(after), len(before))
	}

	rec := testRecord(5)
	if err := tr.Append(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 6 {
		t.Errorf("record after repair has seq %d, want 6", rec.Seq)
	}
	mustVerify(t, dir, 6)
}

func TestCorruptLastRecordFailsClosed(t *testing.T) {
	dir := t.TempDir()
	tr := Open(dir, Options{})
	appendN(t, tr, 0, 3)
	tr.Close()

	names, _ := listFiles(dir)
	path := filepath.Join(dir, names[0])
	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte(`"c-2"`), []byte(`"c-X"`), 1), 0o600)

	tr = openTrail(t, dir, Options{})
	err := tr.Health()
	if err == nil || !strings.Contains(err.Error(), "line 3 is corrupt") {
		t.Fatalf("health after corrupting the last record: %v, want a corrupt-record error naming line 3", err)
	}
	if err := tr.Append(context.Background(), testRecord(3)); err == nil {
		t.Fatal("append succeeded on a trail whose last record is corrupt")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Contains(after, []byte(`"c-X"`)) {
		t.Error("the corrupt record was removed; it must be kept as evidence")
	}
}

// TestFullDiskStopsAndResumes fills a small tmpfs under the trail:
// appends fail with the reason and health reports it, then both recover
// once space returns.
func TestFullDiskStopsAndResumes(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })

	tr := openTrail(t, dir, Options{ProbeInterval: 20 * time.Millisecond})
	appendN(t, tr, 0, 2)

	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)

	// Records go on fitting into the file's last page until it is full.
	var err error
	durable := 2
	for i := 0; i < 100 && err == nil; i++ {
		if err = tr.Append(context.Background(), testRecord(durable)); err == nil {
			durable++
		}
	}
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("append on a full disk: %v, want no space left on device", err)
	}
	if h := tr.Health(); h == nil || !strings.Contains(h.Error(), "no space left on device") {
		t.Fatalf("health on a full disk: %v", h)
	}

	os.Remove(filler)
	waitHealthy(t, tr)
	rec := testRecord(durable)
	if err := tr.Append(context.Background(), rec); err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
	if rec.Seq != uint64(durable+1) {
		t.Errorf("record after recovery has seq %d, want %d (the failed record must not count)", rec.Seq, durable+1)
	}
	mustVerify(t, dir, uint64(durable+1))
}

func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 1024)
	for {
		if _, err := f.Write(block); err != nil {
			break
		}
	}
	// The last partial block may leave a few bytes free; fill them.
	for {
		if _, err := f.Write(block[:1]); err != nil {
			return
		}
	}
}

// waitHealthy polls until the probe clears the failure.
func waitHealthy(t *testing.T, tr *Trail) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for tr.Health() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("trail still failed after space returned: %v", tr.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRemovedFileStopsWriter(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, Options{})
	appendN(t, tr, 0, 3)

	names, _ := listFiles(dir)
	if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		err := tr.Append(context.Background(), testRecord(3+i))
		if err == nil {
			t.Fatalf("append %d after the trail file was removed succeeded", i)
		}
		if !strings.Contains(err.Error(), "removed") {
			t.Errorf("append %d after removal: %v, want an error saying records were removed", i, err)
		}
	}
	if tr.Health() == nil {
		t.Error("health is ok after the trail file was removed")
	}
	if names, _ := listFiles(dir); len(names) != 0 {
		t.Errorf("writer started a new chain over the removed records: %v", names)
	}
}
