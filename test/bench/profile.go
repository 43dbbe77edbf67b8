package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// profilePart is one part of the plain sign path in a CPU profile: the
// cumulative share of the functions in add, less that of those in sub.
type profilePart struct {
	Label string
	add   []string
	sub   []string

	Share float64
	Found bool
}

const mod = "github.com/signerd/signerd/"

// plainPathParts are the parts of a sign request that the profile of
// BenchmarkServerSign is split into. Rows marked "of which" are inside
// the row above them.
func plainPathParts() []profilePart {
	return []profilePart{
		{Label: "ECDSA P-256 signature", add: []string{"crypto/ecdsa.SignASN1"}},
		{Label: "audit trail writer: encode, write, fsync", add: []string{mod + "daemon/audit.(*Trail).run"}},
		{Label: "of which the fsync system call", add: []string{"os.(*File).Sync"}},
		{Label: "request log line", add: []string{mod + "daemon/server.logRequest"}},
		{Label: "rest of the handler: decode, statement, DSSE, bundle, policy, metrics",
			add: []string{mod + "daemon/server.(*Server).ServeHTTP"},
			sub: []string{"crypto/ecdsa.SignASN1", mod + "daemon/server.logRequest"}},
		{Label: "HTTP/1.1 outside the handler: parsing, writing, connection",
			add: []string{"net/http.(*conn).serve"},
			sub: []string{"net/http.serverHandler.ServeHTTP"}},
		{Label: "caller identity at connect: peer credentials, /proc", add: []string{mod + "daemon/peercred.(*Reader).Read"}},
		{Label: "garbage collection, background marking", add: []string{"runtime.gcBgMarkWorker"}},
		{Label: "goroutine scheduling", add: []string{"runtime.schedule"}},
		{Label: "the client, in the same process", add: []string{mod + "daemon/server_test.BenchmarkServerSign.func1"}},
	}
}

// profilePlainPath profiles BenchmarkServerSign, a sign request over a
// real socket in one process, and splits its CPU time into parts.
func (r *run) profilePlainPath() {
	dir := filepath.Join(r.work, "profile")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.notef("profile of the sign path: %v", err)
		return
	}
	bin, prof := filepath.Join(dir, "server.test"), filepath.Join(dir, "cpu.prof")
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkServerSign$", "-benchtime", "3s",
		"-cpuprofile", prof, "-o", bin, "./daemon/server")
	cmd.Dir = r.root
	if out, err := cmd.CombinedOutput(); err != nil {
		r.notef("profile of the sign path: %v\n%s", err, out)
		return
	}
	var stderr bytes.Buffer
	top := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=100000", bin, prof)
	top.Stderr = &stderr
	out, err := top.Output()
	if err != nil {
		r.notef("go tool pprof: %v: %s", err, stderr.String())
		return
	}

	cum := parsePprofTop(string(out))
	parts := plainPathParts()
	for i := range parts {
		p := &parts[i]
		for _, f := range p.add {
			if v, ok := cum[f]; ok {
				p.Share += v
				p.Found = true
			}
		}
		for _, f := range p.sub {
			p.Share -= cum[f]
		}
	}
	r.profile = parts
}

// parsePprofTop reads the cumulative percentage of each function from
// `go tool pprof -top -cum` output.
func parsePprofTop(out string) map[string]float64 {
	cum := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasSuffix(fields[4], "%") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(fields[4], "%"), 64)
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(strings.Join(fields[5:], " "), " (inline)")
		cum[name] = max(cum[name], v)
	}
	return cum
}
