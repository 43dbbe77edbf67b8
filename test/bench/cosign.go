package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// cosignResult is the cost of one cosign attest-blob run.
type cosignResult struct {
	Version   string
	Runs      int
	CPUPerSig time.Duration
	WallPer   time.Duration
	MaxRSSKiB int64
}

// cosignPath finds cosign as make test installs it.
func cosignPath() string {
	dir := os.Getenv("SIGNERD_TOOLS_BIN")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "signerd-tools", "bin")
	}
	if p := filepath.Join(dir, "cosign"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// measureCosign runs cosign attest-blob once per artifact, as a user
// without signerd would, with a key file and no transparency log, and
// records its CPU time and peak memory from the kernel's rusage.
func (r *run) measureCosign(runs int) {
	cosign := cosignPath()
	if cosign == "" {
		r.notef("cosign not found; run make test-deps to build it; skipping the comparison")
		return
	}
	dir := filepath.Join(r.work, "cosign")
	os.MkdirAll(dir, 0o700)
	env := append(os.Environ(), "COSIGN_PASSWORD=", "TUF_ROOT="+filepath.Join(dir, "tuf"))

	gen := exec.Command(cosign, "generate-key-pair")
	gen.Dir, gen.Env = dir, env
	if out, err := gen.CombinedOutput(); err != nil {
		r.notef("cosign generate-key-pair: %v\n%s", err, out)
		return
	}
	predicate := filepath.Join(dir, "predicate.json")
	os.WriteFile(predicate, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"lodash","version":"4.17.21","purl":"pkg:npm/lodash@4.17.21"}]}`), 0o644)
	artifact := filepath.Join(dir, "artifact")
	os.WriteFile(artifact, []byte("artifact\n"), 0o644)

	res := &cosignResult{Runs: runs}
	if out, err := exec.Command(cosign, "version").CombinedOutput(); err == nil {
		res.Version = versionLine(string(out))
	}

	var cpu, wall time.Duration
	for i := range runs {
		cmd := exec.Command(cosign, "attest-blob", "--key", "cosign.key", "--predicate", predicate,
			"--type", "https://cyclonedx.org/bom", "--tlog-upload=false", "--use-signing-config=false",
			"--bundle", filepath.Join(dir, "out.json"), "--yes", artifact)
		cmd.Dir, cmd.Env = dir, env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			r.notef("cosign attest-blob run %d: %v\n%s", i, err, out)
			return
		}
		wall += time.Since(start)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		res.MaxRSSKiB = max(res.MaxRSSKiB, ru.Maxrss)
	}
	res.CPUPerSig = cpu / time.Duration(runs)
	res.WallPer = wall / time.Duration(runs)
	r.cosign = res
}

func versionLine(out string) string {
	for _, line := range splitLines(out) {
		if len(line) > 11 && line[:11] == "GitVersion:" {
			return trimSpace(line[11:])
		}
	}
	return ""
}
