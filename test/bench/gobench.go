package main

import (
	"log"
	"os/exec"
	"strconv"
	"strings"
)

// goBenchPackages hold the hot-path Go benchmarks.
var goBenchPackages = []string{
	"./daemon/statement",
	"./daemon/dsse",
	"./daemon/bundle",
	"./daemon/policy",
	"./daemon/audit",
	"./daemon/server",
	"./daemon/keys",
	"./daemon/keys/tpmkey",
	"./daemon/keys/pkcs11key",
	"./daemon/keys/kmskey",
	"./daemon/extension",
}

// measureGoBenchmarks runs the hot-path Go benchmarks and keeps their
// result lines. -p 1 runs one package's benchmarks at a time: go test
// otherwise runs as many package binaries at once as there are cores, and
// each would measure the others' load.
func (r *run) measureGoBenchmarks() {
	args := append([]string{"test", "-p", "1", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "1s"}, goBenchPackages...)
	cmd := exec.Command("go", args...)
	cmd.Dir = r.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.notef("go test -bench: %v", err)
	}
	var keep []string
	pkg := ""
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "pkg:") {
			pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg:"))
		}
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") {
			keep = append(keep, line)
		}
		r.addBackendRate(pkg, line)
	}
	r.goBench = strings.Join(keep, "\n")
	log.Printf("go benchmarks: %d lines", len(keep))
}

// backendBenchmarks maps the key backends' Go benchmarks to the names the
// raw signing table uses. Each signs 1 KiB messages one at a time against
// the real component that the benchmark starts (swtpm, SoftHSM2, the
// local-kms emulator in a private network namespace).
var backendBenchmarks = map[string]string{
	"tpmkey BenchmarkSign":       rawTPM,
	"pkcs11key BenchmarkSign":    rawPKCS11,
	"kmskey BenchmarkAWSKMSSign": rawKMS,
}

func (r *run) addBackendRate(pkg, line string) {
	fields := strings.Fields(line)
	if len(fields) < 4 || fields[3] != "ns/op" {
		return
	}
	name, _, _ := strings.Cut(fields[0], "-")
	label, ok := backendBenchmarks[pkg[strings.LastIndex(pkg, "/")+1:]+" "+name]
	if !ok {
		return
	}
	ns, err := strconv.ParseFloat(fields[2], 64)
	if err != nil || ns <= 0 {
		return
	}
	r.raw = append(r.raw, rawResult{Backend: label, PerSec: 1e9 / ns})
}
