// Command bench runs signerd's benchmarks in one go on one machine and
// writes docs/benchmarks.md: the raw signing rate of each key backend, the
// daemon end to end over its socket, the cost of running the cosign CLI
// once per artifact, memory, and start-up time. Every number in the page
// comes from the run that wrote it.
//
// Usage (from the repository root; make bench does this):
//
//	go run ./test/bench -out docs/benchmarks.md
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

func main() {
	out := flag.String("out", "docs/benchmarks.md", "markdown `file` to write")
	duration := flag.Duration("duration", 8*time.Second, "how long each load run lasts")
	cosignRuns := flag.Int("cosign-runs", 10, "how many times to run cosign attest-blob (0 skips it)")
	only := flag.String("only", "", "run only the daemon scenario with this `name`, and no Go benchmarks, for a quick check")
	flag.Parse()

	log.SetFlags(0)
	log.SetPrefix("bench: ")

	root, err := os.Getwd()
	if err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp("/tmp", "sdbench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	r := &run{root: root, work: work, duration: *duration, cores: runtime.NumCPU(), only: *only}
	r.machine = describeMachine()
	if r.machine.SyncLatency, err = syncLatency(work, 200); err != nil {
		r.notef("sync latency of %s: %v", work, err)
	}
	r.started = time.Now().UTC()

	if err := r.buildBinaries(); err != nil {
		log.Fatal(err)
	}
	defer func() {
		for _, f := range r.cleanups {
			f()
		}
	}()
	r.measureRawSigning()
	r.measureDaemon()
	if *cosignRuns > 0 {
		r.measureCosign(*cosignRuns)
	}
	// A quick check of one scenario skips the Go benchmarks, which take
	// minutes.
	if *only == "" {
		r.measureGoBenchmarks()
		r.profilePlainPath()
	}

	page := r.render()
	path := *out
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %s\n", *out)
}
