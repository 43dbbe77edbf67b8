package main

import (
	"log"
	"os/exec"
	"strings"
)

// goBenchPackages hold the hot-path Go benchmarks.
var goBenchPackages = []string{
	"./daemon/statement",
	"./daemon/dsse",
	"./daemon/bundle",
	"./daemon/policy",
	"./daemon/keys",
	"./daemon/extension",
}

// measureGoBenchmarks runs the hot-path Go benchmarks and keeps their
// result lines.
func (r *run) measureGoBenchmarks() {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "1s"}, goBenchPackages...)
	cmd := exec.Command("go", args...)
	cmd.Dir = r.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.notef("go test -bench: %v", err)
	}
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") {
			keep = append(keep, line)
		}
	}
	r.goBench = strings.Join(keep, "\n")
	log.Printf("go benchmarks: %d lines", len(keep))
}
