package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/signerd/signerd/daemon/keys"
)

// run holds one benchmark run's settings and results.
type run struct {
	root     string
	work     string
	bin      string
	duration time.Duration
	cores    int
	machine  machine
	started  time.Time
	only     string

	raw       []rawResult
	scenarios []scenarioResult
	cosign    *cosignResult
	startup   []time.Duration
	goBench   string
	profile   []profilePart
	notes     []string

	// cleanups run when the benchmarks end; tenantReplace maps
	// placeholders in a scenario's config to paths its setup made.
	cleanups      []func()
	tenantReplace map[string]string
}

func (r *run) notef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	log.Print(msg)
	r.notes = append(r.notes, msg)
}

func (r *run) buildBinaries() error {
	r.bin = filepath.Join(r.work, "bin")
	cmd := exec.Command("go", "build", "-o", r.bin+"/", "./daemon/cmd/signerd", "./client/cmd/signerctl")
	cmd.Dir = r.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	return nil
}

// rawResult is the in-process signing rate of one backend on all cores.
type rawResult struct {
	Backend string
	PerSec  float64
}

// measureRawSigning signs 1 KiB messages on every core for a fixed time,
// calling the backend directly: the upper bound for the daemon.
func (r *run) measureRawSigning() {
	for _, alg := range []keys.Algorithm{keys.ECDSAP256SHA256, keys.Ed25519} {
		path := filepath.Join(r.work, "raw-"+string(alg)+".key")
		s, err := keys.Open(context.Background(), "file://"+path, keys.Options{Create: true, Algorithm: alg})
		if err != nil {
			r.notef("raw %s: %v", alg, err)
			continue
		}
		rate := signRate(s, r.cores, r.duration/2)
		r.raw = append(r.raw, rawResult{Backend: "file, " + string(alg), PerSec: rate})
		log.Printf("raw %s: %.0f signatures/s", alg, rate)
	}
}

func signRate(s keys.Signer, workers int, d time.Duration) float64 {
	msg := make([]byte, 1024)
	rand.Read(msg)

	var count atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := s.SignMessage(context.Background(), msg); err != nil {
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds()
}

// daemon is a signerd process under test.
type daemon struct {
	cmd    *exec.Cmd
	socket string
	dir    string
	log    *os.File
}

// startDaemon writes a config with the given tenants section and starts
// signerd with it. The state directory (audit trail, caches) is stateDir,
// or one in the daemon's directory when stateDir is empty. The daemon
// signs with key, or with a file key in its directory when key is nil. It
// returns once READY=1 arrives and the time that took.
func (r *run) startDaemon(name, stateDir, tenants string, key *keyBackend) (*daemon, time.Duration, error) {
	dir := filepath.Join(r.work, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, err
	}
	if stateDir == "" {
		stateDir = filepath.Join(dir, "state")
	}
	keyURI := "file://" + filepath.Join(dir, "signing.key")
	if key != nil {
		keyURI = key.uri
	}
	socket := filepath.Join(dir, "s.sock")
	cfg := fmt.Sprintf("socket:\n  path: %s\n  mode: \"0600\"\nstate_dir: %s\nkey:\n  uri: %q\nlog:\n  format: json\n%s",
		socket, stateDir, keyURI, tenants)
	cfgPath := filepath.Join(dir, "signerd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, 0, err
	}

	notifyPath := filepath.Join(dir, "notify.sock")
	os.Remove(notifyPath)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		return nil, 0, err
	}
	defer notify.Close()

	logFile, err := os.Create(filepath.Join(dir, "signerd.log"))
	if err != nil {
		return nil, 0, err
	}
	// nsenter, the only wrapper, replaces itself with signerd (it forks
	// only to enter a PID namespace), so cmd's process is the daemon.
	argv := []string{filepath.Join(r.bin, "signerd"), "--config", cfgPath}
	env := append(os.Environ(), "NOTIFY_SOCKET="+notifyPath)
	if key != nil {
		argv = append(append([]string{}, key.wrap...), argv...)
		env = append(daemonEnv(key.env), "NOTIFY_SOCKET="+notifyPath)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	ready, err := waitReady(notify, 60*time.Second)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		data, _ := os.ReadFile(logFile.Name())
		return nil, 0, fmt.Errorf("%s: %v\n%s", name, err, data)
	}
	return &daemon{cmd: cmd, socket: socket, dir: dir, log: logFile}, ready.Sub(start), nil
}

func waitReady(conn *net.UnixConn, timeout time.Duration) (time.Time, error) {
	buf := make([]byte, 4096)
	deadline := time.Now().Add(timeout)
	for {
		conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			return time.Time{}, fmt.Errorf("no READY=1 within %s: %w", timeout, err)
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line == "READY=1" {
				return time.Now(), nil
			}
		}
	}
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	d.log.Close()
}

// procStats reads a process's CPU time and resident memory.
type procStats struct {
	cpu    time.Duration
	rssKiB int64
	hwmKiB int64
}

func readProcStats(pid int) (procStats, error) {
	var st procStats
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name, which may contain spaces.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	st.cpu = time.Duration(utime+stime) * time.Second / clockTicks

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(strings.Fields(v + " 0")[0], 10, 64)
		switch k {
		case "VmRSS":
			st.rssKiB = n
		case "VmHWM":
			st.hwmKiB = n
		}
	}
	return st, nil
}

// benchOutput is what signerctl bench --json prints.
type benchOutput struct {
	Requests      int            `json:"requests"`
	Errors        int            `json:"errors"`
	ErrorsByCode  map[string]int `json:"errors_by_code"`
	ThroughputRPS float64        `json:"throughput_rps"`
	P50MS         float64        `json:"p50_ms"`
	P90MS         float64        `json:"p90_ms"`
	P99MS         float64        `json:"p99_ms"`
	MaxMS         float64        `json:"max_ms"`

	// ClientCPU is the load generator's own CPU time over the run, from
	// its rusage; it shares the cores with the daemon.
	ClientCPU time.Duration `json:"-"`
}

func (r *run) loadRun(d *daemon, concurrency int, rate float64, extra ...string) (benchOutput, error) {
	args := []string{"--socket", d.socket, "bench", "--json",
		"--duration", r.duration.String(), "--concurrency", strconv.Itoa(concurrency)}
	if rate > 0 {
		args = append(args, "--rate", strconv.FormatFloat(rate, 'f', 0, 64))
	}
	args = append(args, extra...)
	cmd := exec.Command(filepath.Join(r.bin, "signerctl"), args...)
	out, err := cmd.Output()
	var res benchOutput
	if err != nil {
		return res, fmt.Errorf("signerctl bench: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	err = json.Unmarshal([]byte(lines[len(lines)-1]), &res)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.ClientCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return res, err
}
