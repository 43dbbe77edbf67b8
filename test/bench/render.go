package main

import (
	"fmt"
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
		if r.scenarios[i].Name == name && r.scenarios[i].Err == "" {
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
		fmt.Fprintf(&b, "## Hot-path Go benchmarks\n\n`go test -run '^$' -bench . -benchmem` over %s:\n\n```\n%s\n```\n\n",
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
	fmt.Fprintf(b, "\n### Time per stage\n\nMean time a request spent in each pipeline stage, from the daemon's `signerd_stage_duration_seconds` histograms over all of a scenario's load runs. Stages overlap nothing; what is left of the latency is HTTP, JSON, logging and queueing.\n\n| Scenario | Stage | Mean | Requests |\n|---|---|---|---|\n")
	for _, s := range r.scenarios {
		for _, st := range s.Stages {
			fmt.Fprintf(b, "| %s | %s | %s | %d |\n", s.Name, st.Stage, fmtMicros(st.Mean), st.Count)
		}
	}

	fmt.Fprintf(b, "\n### Memory and start-up\n\n| Scenario | RSS idle | Peak RSS under load | Start to READY=1 (warm) |\n|---|---|---|---|\n")
	for _, s := range r.scenarios {
		if s.Err != "" {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", s.Name, mib(s.IdleRSSKiB), mib(s.LoadRSSKiB), ms(s.ReadyTime))
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
		cpuBound := float64(r.cores) * float64(time.Second) / float64(perReq)
		fmt.Fprintf(b, "- **Cores.** Each request costs %s of daemon CPU and %s of load generator CPU on the same %d cores, so at most %.0f requests/s fit: %.0f%% of the raw rate.\n",
			fmtMicros(best.CPUPerReq), fmtMicros(clientCPU), r.cores, cpuBound, 100*cpuBound/raw)
	}
	if sync := r.machine.SyncLatency; sync > 0 {
		syncBound := float64(best.Concurrency) * float64(time.Second) / float64(sync)
		fmt.Fprintf(b, "- **Disk.** A signature is returned only after its audit record is synced, and one sync takes %s here. With %d requests in flight, each waiting for at least one sync, at most %.0f requests/s can complete (Little's law): %.0f%% of the raw rate. Group commit lets one sync serve every record waiting for it, so the bound grows with concurrency, not with speed.\n",
			fmtMillis(sync), best.Concurrency, syncBound, 100*syncBound/raw)
	}
	if m := r.scenario(noExtensionsInMemory); m != nil {
		fmt.Fprintf(b, "- **Without the disk.** The same daemon with its state directory on a tmpfs (not durable, for comparison only) reached %.0f/s: %.0f%% of the raw rate.\n",
			m.Best, 100*m.Best/raw)
	}
	b.WriteString("\n")
}

// renderAnalysis explains where the time goes, from CPU profiles of the
// same code (the commands are given so anyone can repeat them). The
// numbers it cites come from this run's tables.
func (r *run) renderAnalysis(b *strings.Builder) {
	b.WriteString(`## Where the time goes

Profiles: ` + "`go test ./daemon/server -run '^$' -bench BenchmarkServerSign -cpuprofile cpu.prof`" + ` for the plain path and
` + "`go test ./daemon/extension -run '^$' -bench 'CheckGo|GuardOverhead' -cpuprofile ext.prof`" + ` for extensions, read with
` + "`go tool pprof -top -cum`" + `.

- **The raw rate uses both cores; the daemon shares them.** The load generator runs on the same two cores (its CPU per
  request is the last column), so the daemon never has both cores to itself as the raw measurement does. Most of the gap is
  the daemon's own CPU per request, several signatures' worth, as the next points explain.
- **Signing is a minority of the work.** In a CPU profile of the daemon under load, ECDSA P-256 signing (with its hedged
  nonce, SHA-512 DRBG) is about a quarter of the daemon's CPU. No other single part dominates: HTTP/1.1 reading and writing
  (about a quarter with its system calls), one structured log line per request, JSON decoding of the request and encoding
  of the response and the audit record, the audit writer, and the Go runtime's allocation and garbage collection.
- **The audit trail bounds latency at low concurrency.** A signature is returned only after its record is fsynced. Group
  commit shares one fsync among the requests waiting for it, so throughput grows with concurrency while concurrency 1 pays one
  fsync per request.
- **Go-SDK extensions are expensive per call.** A check by a Go guest built for wasip1 costs about as much as several
  signatures, most of it inside the guest (` + "`runtime._ExternalCode`" + ` in the profile): the guest decodes the JSON input with
  encoding/json compiled to WebAssembly. The stop-flag guards that enforce the deadline add about half again on call-heavy
  guests. A raw-ABI module (WAT) costs microseconds, so the sandbox and the host side are not the bottleneck.

- **Go-SDK extensions are large in memory.** Each shipped extension is a Go program of about 3.5 MB of WebAssembly. The host
  keeps one wazero runtime per module with its compiled machine code, and a pool of up to one instance per core, each with
  the Go runtime's heap in its linear memory (see BenchmarkInstanceMemory below). Three such modules account for most of the
  resident memory in the extensions scenario.

What would move the numbers, not done yet: sharing one wazero runtime among a tenant's modules and sizing pools by demand; a guest SDK that decodes its input without reflection; a binary input encoding
for ABI v2; letting a tenant's extensions run in parallel; and, for the plain path, reusing request buffers and writing the
response JSON directly.

`)
}
