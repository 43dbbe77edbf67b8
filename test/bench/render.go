package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

func (r *run) rawRate(backend string) float64 {
	for _, x := range r.raw {
		if x.Backend == backend {
			return x.PerSec
		}
	}
	return 0
}

func (r *run) scenario(name string) *scenarioResult {
	for i := range r.scenarios {
		if r.scenarios[i].Name == name && r.scenarios[i].Err == "" && r.scenarios[i].Skipped == "" {
			return &r.scenarios[i]
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *run) render() string {
	var b strings.Builder
	m := r.machine
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (`go run ./test/bench`) on %s, in one run on one machine. Do not edit by hand: run `make bench` again.\n\n",
		r.started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| Machine | |\n|---|---|\n| CPU | %s |\n| Cores | %d |\n| Memory | %s |\n| Kernel | %s |\n| Go | %s |\n| Disk: append and fsync of a 600-byte line, median of 200 | %s |\n\n",
		m.CPU, m.Cores, m.Memory, m.Kernel, m.Go, fmtMillis(m.SyncLatency))
	fmt.Fprintf(&b, "The load generator (`signerctl bench`) runs on the same cores as the daemon, so end-to-end numbers include its cost. Each load run lasts %s.\n\n", r.duration)

	r.renderTargets(&b)
	r.renderRaw(&b)
	r.renderScenarios(&b)
	r.renderCosign(&b)

	r.renderBounds(&b)
	r.renderAnalysis(&b)

	if r.goBench != "" {
		fmt.Fprintf(&b, "## Hot-path Go benchmarks\n\n`go test -p 1 -run '^$' -bench . -benchmem` over %s:\n\n```\n%s\n```\n\n",
			strings.Join(goBenchPackages, ", "), r.goBench)
	}
	if len(r.notes) > 0 {
		fmt.Fprintf(&b, "## Notes from this run\n\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (r *run) renderTargets(b *strings.Builder) {
	fmt.Fprintf(b, "## Targets\n\n| Target | Measured | Result |\n|---|---|---|\n")
	raw := r.rawRate("file, " + "ecdsa-p256-sha256")

	if s := r.scenario("no extensions"); s != nil && raw > 0 {
		ratio := s.Best / raw
		fmt.Fprintf(b, "| File key, ECDSA P-256, no extensions: best throughput >= 50%% of the raw signing rate | %.0f/s of %.0f/s = %.0f%% | %s |\n",
			s.Best, raw, 100*ratio, verdict(ratio >= 0.5))
	}
	if s := r.scenario("three shipped extensions"); s != nil && raw > 0 {
		ratio := s.Best / raw
		fmt.Fprintf(b, "| With the three shipped extensions: >= 35%% of the raw rate | %.0f/s of %.0f/s = %.0f%% | %s |\n",
			s.Best, raw, 100*ratio, verdict(ratio >= 0.35))
	}
	if s := r.scenario("no extensions"); s != nil && s.HalfLoad != nil {
		h := s.HalfLoad.Result
		fmt.Fprintf(b, "| p99 at half the best throughput <= 5 x p50 (no extensions) | p99 %.2f ms, p50 %.2f ms = %.1f x | %s |\n",
			h.P99MS, h.P50MS, h.P99MS/h.P50MS, verdict(h.P99MS <= 5*h.P50MS))
	}
	if s := r.scenario("no extensions"); s != nil && r.cosign != nil {
		cpu := bestCPUPerReq(s)
		if cpu > 0 {
			ratio := float64(r.cosign.CPUPerSig) / float64(cpu)
			fmt.Fprintf(b, "| CPU per signature >= 1,000 x cheaper than cosign per artifact | %s vs %s = %.0f x | %s |\n",
				fmtMicros(cpu), ms(r.cosign.CPUPerSig), ratio, verdict(ratio >= 1000))
		}
	}
	if s := r.scenario("three shipped extensions"); s != nil {
		fmt.Fprintf(b, "| Resident memory under load <= 100 MiB with the three extensions | %s | %s |\n",
			mib(s.LoadRSSKiB), verdict(s.LoadRSSKiB <= 100*1024))
	}
	b.WriteString("\n")
}

// bestCPUPerReq returns the daemon's CPU time per request at its highest
// throughput, where fixed costs are spread thinnest.
func bestCPUPerReq(s *scenarioResult) time.Duration {
	var best loadPoint
	for _, p := range s.Points {
		if p.Result.ThroughputRPS >= best.Result.ThroughputRPS {
			best = p
		}
	}
	return best.CPUPerReq
}

func fmtMillis(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func fmtMicros(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

func (r *run) renderRaw(b *strings.Builder) {
	fmt.Fprintf(b, "## The limit: raw signing in process\n\n%d goroutines sign 1 KiB messages directly through the backend, with no daemon.\n\n| Backend | Signatures/s |\n|---|---|\n", r.cores)
	for _, x := range r.raw {
		fmt.Fprintf(b, "| %s | %.0f |\n", x.Backend, x.PerSec)
	}
	b.WriteString("\n")
}

func (r *run) renderScenarios(b *strings.Builder) {
	fmt.Fprintf(b, "## The daemon end to end over the socket\n\n")
	fmt.Fprintf(b, "| Scenario | Concurrency | Requests/s | p50 | p90 | p99 | max | Errors | Daemon CPU per request | Load generator CPU per request |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.scenarios {
		if s.Skipped != "" {
			fmt.Fprintf(b, "| %s | | | | | | | skipped: %s | | |\n", s.Name, firstLine(s.Skipped))
			continue
		}
		if s.Err != "" {
			fmt.Fprintf(b, "| %s | | | | | | | failed: %s | |\n", s.Name, firstLine(s.Err))
			continue
		}
		for _, p := range s.Points {
			o := p.Result
			clientCPU := time.Duration(0)
			if o.Requests > 0 {
				clientCPU = o.ClientCPU / time.Duration(o.Requests)
			}
			fmt.Fprintf(b, "| %s | %d | %.0f | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %d | %s | %s |\n",
				s.Name, p.Concurrency, o.ThroughputRPS, o.P50MS, o.P90MS, o.P99MS, o.MaxMS, o.Errors, fmtMicros(p.CPUPerReq), fmtMicros(clientCPU))
		}
		if h := s.HalfLoad; h != nil {
			o := h.Result
			fmt.Fprintf(b, "| %s, paced at %.0f/s | %d | %.0f | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %d | | |\n",
				s.Name, h.Rate, h.Concurrency, o.ThroughputRPS, o.P50MS, o.P90MS, o.P99MS, o.MaxMS, o.Errors)
		}
	}
	r.renderKeyBackends(b)
	fmt.Fprintf(b, "\n### Time per stage\n\nMean time a request spent in each pipeline stage, from the daemon's `signerd_stage_duration_seconds` histograms over all of a scenario's load runs. Stages overlap nothing; what is left of the latency is HTTP, JSON, logging and queueing.\n\n| Scenario | Stage | Mean | Requests |\n|---|---|---|---|\n")
	for _, s := range r.scenarios {
		for _, st := range s.Stages {
			fmt.Fprintf(b, "| %s | %s | %s | %d |\n", s.Name, st.Stage, fmtMicros(st.Mean), st.Count)
		}
	}

	fmt.Fprintf(b, "\n### Memory and start-up\n\nRSS under load is the largest of samples taken every 50 ms through the load runs; the high-water mark since start also counts loading.\n\n| Scenario | RSS idle | Peak RSS under load | High-water mark since start | Start to READY=1 (warm) |\n|---|---|---|---|---|\n")
	for _, s := range r.scenarios {
		if s.Err != "" || s.Skipped != "" {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", s.Name, mib(s.IdleRSSKiB), mib(s.LoadRSSKiB), mib(s.HWMKiB), ms(s.ReadyTime))
	}
	b.WriteString("\n")

	fmt.Fprintf(b, "Resident memory by kind after the load runs, from `/proc/PID/smaps`, with the Go heap in use from the daemon's `go_memstats_heap_inuse_bytes`:\n\n")
	fmt.Fprintf(b, "| Scenario | Compiled WebAssembly code (anonymous, executable) | signerd binary | Other anonymous: Go heap, stacks, extension linear memory | of which Go heap in use | Shared libraries and the rest |\n|---|---|---|---|---|---|\n")
	for _, s := range r.scenarios {
		if s.Err != "" || s.Memory == nil {
			continue
		}
		m := s.Memory
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", s.Name, mib(m.ExecAnonKiB), mib(m.BinaryKiB), mib(m.OtherAnonKiB), mib(s.HeapKiB), mib(m.OtherKiB))
	}
	b.WriteString("\n")
}

func (r *run) renderCosign(b *strings.Builder) {
	if r.cosign == nil {
		return
	}
	c := r.cosign
	fmt.Fprintf(b, "## What users would otherwise run\n\n")
	fmt.Fprintf(b, "`cosign attest-blob --key cosign.key --tlog-upload=false --use-signing-config=false` (cosign %s), once per artifact, %d runs; CPU time and peak memory from the kernel's rusage.\n\n", c.Version, c.Runs)
	fmt.Fprintf(b, "| Per signature | cosign CLI | signerd (no extensions, best load) |\n|---|---|---|\n")
	var daemonCPU time.Duration
	if s := r.scenario("no extensions"); s != nil {
		daemonCPU = bestCPUPerReq(s)
	}
	fmt.Fprintf(b, "| CPU time | %s | %s |\n", ms(c.CPUPerSig), fmtMicros(daemonCPU))
	fmt.Fprintf(b, "| Wall time | %s | |\n", ms(c.WallPer))
	fmt.Fprintf(b, "| Peak memory | %s | |\n\n", mib(c.MaxRSSKiB))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.ReplaceAll(line, "|", "/")
}

// renderBounds works out, from this run's own measurements, the two
// limits on the plain path's throughput that do not depend on how fast
// the daemon's code is: the cores (daemon and load generator CPU per
// request) and the disk (one sync per request's wait, at a given
// concurrency, by Little's law).
func (r *run) renderBounds(b *strings.Builder) {
	raw := r.rawRate("file, ecdsa-p256-sha256")
	s := r.scenario("no extensions")
	if s == nil || raw == 0 || len(s.Points) == 0 {
		return
	}
	best := s.Points[0]
	for _, p := range s.Points {
		if p.Result.ThroughputRPS >= best.Result.ThroughputRPS {
			best = p
		}
	}
	o := best.Result
	if o.Requests == 0 {
		return
	}
	clientCPU := o.ClientCPU / time.Duration(o.Requests)
	perReq := best.CPUPerReq + clientCPU

	fmt.Fprintf(b, "## What bounds the plain path\n\n")
	fmt.Fprintf(b, "Worked out from this run's numbers for the best load point (no extensions, concurrency %d, %.0f/s):\n\n", best.Concurrency, o.ThroughputRPS)
	if perReq > 0 {
		budget := time.Duration(2 * float64(r.cores) * float64(time.Second) / raw)
		fmt.Fprintf(b, "- **Budget.** One raw signature costs %s of CPU on one core (%d cores / %.0f per second). At 50%% of the raw rate, the daemon and the load generator may together spend twice that per request, %s; they spend %s.\n",
			fmtMicros(time.Duration(float64(r.cores)*float64(time.Second)/raw)), r.cores, raw, fmtMicros(budget), fmtMicros(perReq))
		cpuBound := float64(r.cores) * float64(time.Second) / float64(perReq)
		fmt.Fprintf(b, "- **Cores.** Each request costs %s of daemon CPU and %s of load generator CPU on the same %d cores, so at most %.0f requests/s fit: %.0f%% of the raw rate.\n",
			fmtMicros(best.CPUPerReq), fmtMicros(clientCPU), r.cores, cpuBound, 100*cpuBound/raw)
	}
	var auditMean time.Duration
	for _, st := range s.Stages {
		if st.Stage == "audit" {
			auditMean = st.Mean
		}
	}
	fmt.Fprintf(b, "- **Disk.** A signature is returned only after its audit record is synced. One sync of an idle file takes %s here, but across this scenario's load runs a request spent %s on average in the audit stage, most of it waiting for its group's sync, and the sync system call costs CPU as well (profile below).",
		fmtMillis(r.machine.SyncLatency), fmtMicros(auditMean))
	if m := r.scenario(noExtensionsInMemory); m != nil {
		fmt.Fprintf(b, " The same daemon with its state directory on a tmpfs (not durable, for comparison only) reached %.0f/s, %.0f%% of the raw rate, against %.0f/s with the trail on disk.",
			m.Best, 100*m.Best/raw, s.Best)
	}
	b.WriteString("\n")
	b.WriteString("\n")
}

// renderAnalysis explains where the time and memory go: the profile
// shares and benchmark results it cites come from this run; the text
// around them says what they mean and what was done about them.
func (r *run) renderAnalysis(b *strings.Builder) {
	b.WriteString("## Where the time goes\n\n### The plain path\n\n")
	if len(r.profile) > 0 {
		b.WriteString("A CPU profile of `BenchmarkServerSign` from this run: sign requests over a real Unix socket, with the client in the same process (`go test ./daemon/server -run '^$' -bench '^BenchmarkServerSign$' -benchtime 3s -cpuprofile cpu.prof`, read with `go tool pprof -top -cum`). Shares are cumulative; a row that starts with \"of which\" is inside the row above.\n\n| Part | Share of CPU |\n|---|---|\n")
		for _, p := range r.profile {
			if !p.Found {
				fmt.Fprintf(b, "| %s | not in the profile |\n", p.Label)
				continue
			}
			fmt.Fprintf(b, "| %s | %.1f%% |\n", p.Label, p.Share)
		}
		b.WriteString("\n")
	}
	b.WriteString(`- **Signing is a minority of the work.** The rest is what makes a signature trustworthy and usable: a durable
  audit record (the sync system call itself costs CPU on this virtual machine, not only waiting), HTTP/1.1, the caller's
  identity, one structured log line, and the Go runtime.
- **Done to cut it:** requests of the usual shape are decoded without reflection, and the response, the bundle and the
  audit record are written without it, byte for byte as encoding/json would; request bodies and response buffers are
  pooled; the log line is built without reflection and a request's logger only when a stage logs; metric handles are
  cached; policy matching formats no reasons unless nothing matched; the garbage collector aims at a 16 MiB heap, not
  4 MiB. ` + "`docs/decisions.md`" + ` has the reasons and the measurements before and after.
- **Left alone, on purpose:** the fsync per group of audit records. fdatasync makes an append no cheaper, because the
  new file size must be committed either way (` + "`BenchmarkSyncKind`" + ` below); writing into space allocated beforehand
  is cheaper, but readers and start-up recovery would then have to find the end of the records in a longer file, which
  changes the durability argument. Also net/http's server (a hand-written HTTP server on the daemon's side of the trust
  boundary is not worth its risk), and the log line per request, which administrators rely on.

`)

	b.WriteString("### Extensions\n\n")
	if checks := shippedCheckCPU(r.goBench); len(checks) > 0 {
		var sum float64
		var parts []string
		for _, c := range checks {
			sum += c.cpuMicros
			parts = append(parts, fmt.Sprintf("%s %.0f µs", c.name, c.cpuMicros))
		}
		fmt.Fprintf(b, "One check of each shipped extension, in process with the input the daemon builds (`BenchmarkCheckShipped` in this run): %s; %.0f µs of CPU for the three.", strings.Join(parts, ", "), sum)
		if s := r.scenario("three shipped extensions"); s != nil {
			fmt.Fprintf(b, " Through the daemon a request with the three costs %s of daemon CPU at its best load point.", fmtMicros(bestCPUPerReq(s)))
			if plain := r.scenario("no extensions"); plain != nil && bestCPUPerReq(s) > bestCPUPerReq(plain)+time.Duration(sum*float64(time.Microsecond)) {
				fmt.Fprintf(b, " That is more than the plain path (%s) and the three checks together: three large guests run in turn evict each other's code and data from the CPU caches, which a benchmark that repeats one guest does not see. This is an estimate; this virtual machine exposes no hardware counters to confirm it.",
					fmtMicros(bestCPUPerReq(plain)))
			}
		}
		b.WriteString("\n\n")
	}
	b.WriteString(`- **The guests' own code dominates.** In a CPU profile of the check benchmarks (` + "`go test ./daemon/extension -run '^$' -bench CheckShipped -cpuprofile ext.prof`" + `,
  leaving out the module compile) most of the time is ` + "`runtime._ExternalCode`" + `: the machine code wazero compiled
  from the Go guests. Go compiled to WebAssembly runs many times slower than native Go on call-heavy code, while a
  raw-ABI module that answers at once costs microseconds (` + "`BenchmarkCheckWAT`" + ` below), so the sandbox, the host
  and the stop-flag guard are not the bottleneck. The guest SDK decodes its request and encodes its
  reply without encoding/json, caches a decoded config, and the scanner window extension caches parsed version ranges.
- **The 35% target is out of reach with Go guests.** Three checks cost more CPU than the whole budget per request that
  35% of the raw rate leaves (worked out below the list). What would move it: guests from a leaner toolchain (TinyGo, or
  Rust with its wasm32 target; neither is on these machines), a binary input encoding in a next ABI version, and encoding
  the input once per request instead of once per extension.

`)
	if raw := r.rawRate("file, ecdsa-p256-sha256"); raw > 0 {
		budget := time.Duration(float64(r.cores) * float64(time.Second) / (0.35 * raw))
		fmt.Fprintf(b, "At 35%% of the raw rate (%.0f/s on %d cores) the daemon and the load generator may spend %s of CPU per request, for everything.\n\n", 0.35*raw, r.cores, fmtMicros(budget))
	}
	b.WriteString(`### Memory

- **Where it goes.** The memory-by-kind table above splits it. The three Go guests compile to the executable anonymous
  memory (each is a Go program of about 3.5 MB of WebAssembly); the signerd binary is the same in every scenario; the
  rest is anonymous memory: the Go heap, where wazero keeps each decoded module, and the instances' linear memories,
  several MiB each for a Go guest (` + "`BenchmarkInstanceMemory`" + ` below), with up to one instance per core per module.
  Linear memories are mapped outside the Go heap, so they do not raise the garbage collector's goal, and after a reload the
  daemon returns freed heap to the kernel.
- **The 100 MiB target is out of reach with Go guests:** the daemon's binary, its heap and three compiled Go guests
  exceed it before the first request (RSS idle above). Guests from a leaner toolchain would meet it; a pool of one instance per module would
  trim the peak a little, at the cost of requests waiting for an instance on a busy node.

`)
}

// shippedCheck is one BenchmarkCheckShipped result.
type shippedCheck struct {
	name      string
	cpuMicros float64
}

// shippedCheckCPU reads the CPU per check of each shipped extension from
// the Go benchmark output.
func shippedCheckCPU(goBench string) []shippedCheck {
	var out []shippedCheck
	for _, line := range strings.Split(goBench, "\n") {
		rest, ok := strings.CutPrefix(line, "BenchmarkCheckShipped/")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		for i := 1; i < len(fields); i++ {
			if fields[i] != "cpu-µs/op" {
				continue
			}
			v, err := strconv.ParseFloat(fields[i-1], 64)
			if err != nil {
				break
			}
			name := fields[0]
			if j := strings.LastIndexByte(name, '-'); j > 0 {
				name = name[:j]
			}
			out = append(out, shippedCheck{name: name, cpuMicros: v})
		}
	}
	return out
}

// renderKeyBackends explains why the key-backend scenarios have fewer load
// points, and compares each one's best throughput with its backend's raw
// rate from this run.
func (r *run) renderKeyBackends(b *strings.Builder) {
	var parts []string
	for _, s := range r.scenarios {
		if s.RawBackend == "" {
			continue
		}
		parts = append(parts, r.compareWithRaw(s))
	}
	if len(parts) == 0 {
		return
	}

	fmt.Fprintf(b, "\nThe scenarios with a TPM, PKCS#11 or KMS key run only at concurrency 1 and 2 x cores, with no extensions and no paced run: the file-key scenarios already show the daemon under heavier load, and fewer runs keep `make bench` short. swtpm and the KMS emulator run as processes of their own on the same cores, so the daemon CPU per request leaves their work out, while SoftHSM2 is a library inside the daemon and its work is counted. ")
	fmt.Fprintf(b, "Through the daemon, at each scenario's best load point, %s.\n", joinClauses(parts))
}

// compareWithRaw returns a clause such as "the TPM key (swtpm) reached
// 84% of its raw rate (812/s against 969/s one at a time)".
func (r *run) compareWithRaw(s scenarioResult) string {
	name := "the " + strings.TrimSuffix(s.Name, keyScenarioSuffix)
	switch {
	case s.Skipped != "":
		return name + " was skipped (" + s.Skipped + ")"
	case s.Err != "":
		return name + " failed (see the notes below)"
	}

	raw := r.rawRate(s.RawBackend)
	if raw == 0 {
		return fmt.Sprintf("%s reached %.0f/s with no raw rate to compare in this run (a run with -only skips the Go benchmarks that measure it)", name, s.Best)
	}
	return fmt.Sprintf("%s reached %.0f%% of its raw rate (%.0f/s against %.0f/s one at a time)", name, 100*s.Best/raw, s.Best, raw)
}

// joinClauses joins clauses as an English list: "a", "a and b", "a, b
// and c".
func joinClauses(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
