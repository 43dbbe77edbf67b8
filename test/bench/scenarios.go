package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// scenario is one daemon configuration measured end to end.
type scenario struct {
	name string

	// tenants is the config's tenants section; %d is the benchmark's uid.
	tenants string

	// setup prepares files the scenario needs in dir and returns extra
	// config text and signerctl bench flags. It may be nil.
	setup func(r *run, dir string) (config string, clientArgs []string, err error)

	// clientArgs are extra signerctl bench flags.
	clientArgs []string

	// memoryState puts the state directory, and so the audit trail, on a
	// tmpfs. Such a trail is not durable; the scenario shows what the
	// disk's sync latency costs, not a way to run signerd.
	memoryState bool

	// key starts the component that holds the daemon's key and creates
	// the key in dir. When it is nil, the daemon signs with a file key.
	key func(r *run, dir string) (*keyBackend, error)

	// rawBackend is the raw signing table's row for the same backend,
	// which the page compares the scenario's throughput with.
	rawBackend string
}

// concurrencies returns the load runs' concurrency levels. A scenario
// with a TPM, PKCS#11 or KMS key runs only 1 and 2 x cores, because the
// file-key scenarios already show the daemon under heavier load and these
// runs should keep make bench short.
func (sc scenario) concurrencies(cores int) []int {
	if sc.key != nil {
		return []int{1, 2 * cores}
	}
	return []int{1, 2 * cores, 8 * cores}
}

// loadPoint is one load run against one scenario.
type loadPoint struct {
	Concurrency int
	Rate        float64
	Result      benchOutput
	CPUPerReq   time.Duration
}

type scenarioResult struct {
	Name       string
	Points     []loadPoint
	Best       float64
	HalfLoad   *loadPoint
	IdleRSSKiB int64
	LoadRSSKiB int64 // the most sampled during the load runs
	HWMKiB     int64 // the kernel's high-water mark since start
	ReadyTime  time.Duration
	Stages     []stageTime
	Err        string

	// Skipped is the reason the scenario did not run, such as a missing tool.
	Skipped    string
	RawBackend string

	// Memory splits the resident memory after the load runs; HeapKiB is
	// the Go heap in use then, from the daemon's metrics.
	Memory  *memoryParts
	HeapKiB int64
}

// noExtensionsInMemory is the plain scenario with its audit trail on a
// tmpfs, where a sync costs next to nothing.
const noExtensionsInMemory = "no extensions, audit trail on tmpfs"

const plainTenants = `tenants:
  - name: bench
    predicate_types: ["*"]
    callers:
      - uid: %d
`

// keyScenarioSuffix ends the names of the scenarios that sign with a
// TPM, PKCS#11 or KMS key, after the key's name.
const keyScenarioSuffix = ", no extensions"

func (r *run) scenarioList() []scenario {
	return []scenario{
		{name: "no extensions", tenants: plainTenants},
		{name: noExtensionsInMemory, tenants: plainTenants, memoryState: true},
		{name: "three shipped extensions", tenants: extensionTenants, setup: setupExtensions},
		{name: "release integrity, warm cache", tenants: releaseTenants, setup: setupRelease},
		{name: "OpTok with DPoP and a PoE", tenants: tokenTenants, setup: setupTokens},
		{name: "TPM key (swtpm)" + keyScenarioSuffix, tenants: plainTenants, key: setupTPM, rawBackend: rawTPM},
		{name: "PKCS#11 key (SoftHSM2)" + keyScenarioSuffix, tenants: plainTenants, key: setupPKCS11, rawBackend: rawPKCS11},
		{name: "AWS KMS key (local-kms emulator)" + keyScenarioSuffix, tenants: plainTenants, key: setupKMS, rawBackend: rawKMS},
	}
}

func (r *run) measureDaemon() {
	for _, sc := range r.scenarioList() {
		if r.only != "" && sc.name != r.only {
			continue
		}
		res := r.measureScenario(sc)
		if res.Err != "" {
			r.notef("scenario %q: %s", sc.name, res.Err)
		}
		if res.Skipped != "" {
			log.Printf("scenario %q skipped: %s", sc.name, res.Skipped)
		}
		r.scenarios = append(r.scenarios, res)
	}
}

func (r *run) measureScenario(sc scenario) scenarioResult {
	res := scenarioResult{Name: sc.name, RawBackend: sc.rawBackend}
	cfg := fmt.Sprintf(sc.tenants, uid())
	clientArgs := sc.clientArgs
	if sc.setup != nil {
		extraCfg, extraArgs, err := sc.setup(r, r.scenarioDir(sc.name))
		if err != nil {
			res.Err = err.Error()
			return res
		}
		cfg += extraCfg
		clientArgs = append(clientArgs, extraArgs...)
		cfg = replacePlaceholders(cfg, r.tenantReplace)
		r.tenantReplace = nil
	}
	sc.clientArgs = clientArgs

	var stateDir string
	if sc.memoryState {
		dir, err := memoryDir()
		if err != nil || dir == "" {
			res.Err = fmt.Sprintf("no tmpfs at /dev/shm for the state directory (%v)", err)
			return res
		}
		defer os.RemoveAll(dir)
		stateDir = filepath.Join(dir, "state")
	}

	var key *keyBackend
	if sc.key != nil {
		var err error
		key, err = sc.key(r, r.scenarioDir(sc.name))
		var skip skipError
		if errors.As(err, &skip) {
			res.Skipped = skip.reason
			return res
		}
		if err != nil {
			res.Err = err.Error()
			return res
		}
		defer key.stop()
	}

	d, _, err := r.startDaemon(slug(sc.name), stateDir, cfg, key)
	if err != nil {
		res.Err = err.Error()
		return res
	}

	// Measure start-up once more with a warm state directory, as after a
	// restart: keys exist and compile caches are filled.
	d.stop()
	d, ready, err := r.startDaemon(slug(sc.name), stateDir, cfg, key)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer d.stop()
	res.ReadyTime = ready

	time.Sleep(500 * time.Millisecond)
	if st, err := readProcStats(d.cmd.Process.Pid); err == nil {
		res.IdleRSSKiB = st.rssKiB
	}

	// Sample the resident memory through the load runs: the kernel's
	// high-water mark also counts the start-up, when modules are loaded.
	stopSampling := sampleRSS(d.cmd.Process.Pid, &res.LoadRSSKiB)
	for _, c := range sc.concurrencies(r.cores) {
		before, _ := readProcStats(d.cmd.Process.Pid)
		out, err := r.loadRun(d, c, 0, sc.clientArgs...)
		if err != nil {
			stopSampling()
			res.Err = err.Error()
			return res
		}
		after, _ := readProcStats(d.cmd.Process.Pid)
		p := loadPoint{Concurrency: c, Result: out}
		if out.Requests > 0 {
			p.CPUPerReq = (after.cpu - before.cpu) / time.Duration(out.Requests)
		}
		res.Points = append(res.Points, p)
		res.Best = max(res.Best, out.ThroughputRPS)
		log.Printf("%s, concurrency %d: %.0f/s p50 %.2f ms p99 %.2f ms", sc.name, c, out.ThroughputRPS, out.P50MS, out.P99MS)
	}
	stopSampling()
	if st, err := readProcStats(d.cmd.Process.Pid); err == nil {
		res.HWMKiB = st.hwmKiB
	}
	if m, err := readMemoryParts(d.cmd.Process.Pid, filepath.Join(r.bin, "signerd")); err == nil {
		res.Memory = &m
	}
	if body, err := fetchMetrics(d); err == nil {
		if v, ok := metricValue(body, "go_memstats_heap_inuse_bytes"); ok {
			res.HeapKiB = int64(v) / 1024
		}
	}
	if stages, err := scrapeStages(d); err == nil {
		res.Stages = stages
	} else {
		r.notef("scenario %q: stage histograms: %v", sc.name, err)
	}

	// The paced run checks the latency target, which only the file-key
	// scenarios have.
	if sc.key != nil {
		return res
	}
	half := res.Best / 2
	out, err := r.loadRun(d, 2*r.cores, half, sc.clientArgs...)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.HalfLoad = &loadPoint{Concurrency: 2 * r.cores, Rate: half, Result: out}
	return res
}

// replacePlaceholders replaces the longest placeholders first, so one that
// is a prefix of another never cuts it in half.
func replacePlaceholders(text string, values map[string]string) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, values[k])
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// sampleRSS records into max the largest resident size of pid seen every
// 50 ms, until the returned function is called.
func sampleRSS(pid int, maxKiB *int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if st, err := readProcStats(pid); err == nil {
				*maxKiB = max(*maxKiB, st.rssKiB)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-finished })
	}
}
