package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
)

// benchResult is the summary that --json prints as its last line.
type benchResult struct {
	Requests      int            `json:"requests"`
	Errors        int            `json:"errors"`
	ErrorsByCode  map[string]int `json:"errors_by_code"`
	Concurrency   int            `json:"concurrency"`
	DurationSec   float64        `json:"duration_s"`
	ThroughputRPS float64        `json:"throughput_rps"`
	P50MS         float64        `json:"p50_ms"`
	P90MS         float64        `json:"p90_ms"`
	P99MS         float64        `json:"p99_ms"`
	MaxMS         float64        `json:"max_ms"`

	// examples maps an error code to the message of one such error.
	examples map[string]string
}

func cmdBench(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl bench", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	duration := fs.Duration("duration", 10*time.Second, "how long to send requests")
	concurrency := fs.Int("concurrency", 1, "number of requests in flight at once")
	predicatePath := fs.String("predicate", "", "predicate `file` to sign (default: a small built-in CycloneDX document)")
	predicateType := fs.String("predicate-type", "https://cyclonedx.org/bom", "predicate type `URI` to sign")
	rate := fs.Float64("rate", 0, "target requests per second over all workers; 0 sends as fast as possible")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object on the last line")
	subjectName := fs.String("subject-name", "bench-%d", "subject `name`; %d becomes the worker number")
	scannerVersion := fs.String("scanner-version", "", "scanner `version` to declare in each request")
	scannerImage := fs.String("scanner-image", "", "scanner `image` by digest to declare in each request")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of signerctl itself to `file`, for go tool pprof")
	creds := addCredentialFlags(fs)
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *concurrency < 1 || *concurrency > 4096 {
		return usageError("--concurrency %d is out of range; use 1 to 4096", *concurrency)
	}
	if *duration <= 0 {
		return usageError("--duration must be positive")
	}

	predicate := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"lodash","version":"4.17.21","purl":"pkg:npm/lodash@4.17.21"}]}`)
	if *predicatePath != "" {
		var err error
		if predicate, err = os.ReadFile(*predicatePath); err != nil {
			return err
		}
	}

	// Every worker keeps its own connection alive.
	opts := []client.Option{client.WithMaxIdleConns(*concurrency)}
	credOpt, err := creds.option()
	if err != nil {
		return err
	}
	if credOpt != nil {
		opts = append(opts, credOpt)
	}
	c := client.New(e.socket, opts...)
	defer c.Close()

	var scanner *api.Scanner
	if *scannerVersion != "" || *scannerImage != "" {
		scanner = &api.Scanner{Version: *scannerVersion, Image: *scannerImage}
	}
	// The bench's heap is a few MiB, so collecting garbage less often
	// costs little memory and leaves more CPU to the daemon it measures.
	// GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	// With one worker only one goroutine ever runs, and a second P would
	// only spin looking for work each time the worker waits for the
	// daemon.
	if *concurrency == 1 && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}

	res, err := runBench(ctx, c, benchOptions{
		duration:      *duration,
		concurrency:   *concurrency,
		rate:          *rate,
		predicate:     predicate,
		predicateType: *predicateType,
		scanner:       scanner,
		subjectName:   *subjectName,
	})
	if res == nil {
		return err
	}

	// The summary is printed even when no request succeeded, because its
	// error counts by code show why.
	printErrorExamples(e, res)
	if *asJSON {
		data, _ := json.Marshal(res)
		fmt.Fprintln(e.stdout, string(data))
		return err
	}
	fmt.Fprintf(e.stdout, "requests     %d in %.1fs at concurrency %d\n", res.Requests, res.DurationSec, res.Concurrency)
	fmt.Fprintf(e.stdout, "throughput   %.0f requests/s\n", res.ThroughputRPS)
	fmt.Fprintf(e.stdout, "latency      p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n", res.P50MS, res.P90MS, res.P99MS, res.MaxMS)
	fmt.Fprintf(e.stdout, "errors       %d\n", res.Errors)
	codes := make([]string, 0, len(res.ErrorsByCode))
	for code := range res.ErrorsByCode {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		fmt.Fprintf(e.stdout, "  %-22s %d\n", code, res.ErrorsByCode[code])
	}
	return err
}

type benchOptions struct {
	duration      time.Duration
	concurrency   int
	rate          float64
	predicate     []byte
	predicateType string
	scanner       *api.Scanner
	subjectName   string
}

func runBench(ctx context.Context, c *client.Client, o benchOptions) (*benchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()

	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(o.concurrency) / o.rate)
	}

	type workerResult struct {
		latencies []time.Duration
		errors    map[string]int
		examples  map[string]string
	}
	results := make([]workerResult, o.concurrency)
	var wg sync.WaitGroup
	start := time.Now()

	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := &results[w]
			r.errors = map[string]int{}
			r.examples = map[string]string{}
			body, err := json.Marshal(&api.SignRequest{
				PredicateType: o.predicateType,
				Predicate:     o.predicate,
				Subjects:      []api.Subject{{Name: subjectFor(o.subjectName, w), Digest: map[string]string{"sha256": randomDigest()}}},
				Scanner:       o.scanner,
			})
			if err != nil {
				r.errors["encode"]++
				return
			}
			var buf []byte
			pace := time.NewTimer(0)
			next := time.Now()
			for ctx.Err() == nil {
				if interval > 0 {
					if wait := time.Until(next); wait > 0 {
						pace.Reset(wait)
						select {
						case <-pace.C:
						case <-ctx.Done():
							return
						}
					}
					next = next.Add(interval)
				}

				t0 := time.Now()
				resp, err := c.SignEncoded(ctx, body, buf[:0])
				elapsed := time.Since(t0)
				if err == nil {
					buf = resp.Body
					err = checkSignResponse(resp)
				}
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
						return // cut off by the end of the run
					}
					code := errorCode(err)
					if r.errors[code] == 0 {
						r.examples[code] = err.Error()
					}
					r.errors[code]++
					continue
				}
				r.latencies = append(r.latencies, elapsed)
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := &benchResult{ErrorsByCode: map[string]int{}, examples: map[string]string{}, Concurrency: o.concurrency, DurationSec: elapsed.Seconds()}
	var all []time.Duration
	for _, r := range results {
		all = append(all, r.latencies...)
		for code, n := range r.errors {
			if _, seen := res.ErrorsByCode[code]; !seen {
				res.examples[code] = r.examples[code]
			}
			res.ErrorsByCode[code] += n
			res.Errors += n
		}
	}
	res.Requests = len(all) + res.Errors
	if len(all) == 0 {
		return res, fmt.Errorf("no request succeeded in %s (%d errors: %v)", o.duration, res.Errors, res.ErrorsByCode)
	}

	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	res.ThroughputRPS = float64(len(all)) / elapsed.Seconds()
	res.P50MS = percentileMS(all, 0.50)
	res.P90MS = percentileMS(all, 0.90)
	res.P99MS = percentileMS(all, 0.99)
	res.MaxMS = float64(all[len(all)-1].Microseconds()) / 1000
	return res, nil
}

// printErrorExamples writes one message for each error code to stderr,
// so a run with errors shows what went wrong without a second run.
func printErrorExamples(e *env, res *benchResult) {
	codes := make([]string, 0, len(res.examples))
	for code := range res.examples {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		fmt.Fprintf(e.stderr, "signerctl bench: %d errors with code %s, for example: %s\n", res.ErrorsByCode[code], code, res.examples[code])
	}
}

// errorCode returns the key under which a failed request is counted: the
// daemon's stable error code, or "transport" when no response arrived, or
// "bad_response" when a response came with status 200 but lacked what a
// signature response has.
func errorCode(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return string(ce.API.Code)
	}
	if errors.Is(err, errBadResponse) {
		return "bad_response"
	}
	return "transport"
}

var errBadResponse = errors.New("bad sign response")

// checkSignResponse checks, without decoding the JSON, that a successful
// response has a correlation id, repeats it in its body and carries a
// bundle object. The daemon encodes responses with encoding/json, which
// puts no space after a colon.
func checkSignResponse(resp client.RawResponse) error {
	if resp.CorrelationID == "" {
		return fmt.Errorf("%w: no %s header", errBadResponse, api.HeaderCorrelationID)
	}
	id, ok := jsonStringAfter(resp.Body, `"correlationId":"`)
	if !ok || string(id) != resp.CorrelationID {
		return fmt.Errorf("%w: body does not contain correlation id %q", errBadResponse, resp.CorrelationID)
	}
	if !bytes.Contains(resp.Body, []byte(`"bundle":{`)) {
		return fmt.Errorf("%w: body has no bundle object", errBadResponse)
	}
	return nil
}

// jsonStringAfter returns the bytes between key and the next double
// quote, which is the value of a JSON string that has no escapes.
func jsonStringAfter(body []byte, key string) ([]byte, bool) {
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return nil, false
	}
	rest := body[i+len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil, false
	}
	return rest[:end], true
}

// startCPUProfile profiles this process into path until the returned
// function is called, so the load generator's own cost can be read with
// go tool pprof.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// percentileMS returns the nearest-rank percentile of sorted latencies.
func percentileMS(sorted []time.Duration, p float64) float64 {
	i := int(float64(len(sorted))*p+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

func randomDigest() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// subjectFor names worker w's subject from a pattern that may hold %d.
func subjectFor(pattern string, w int) string {
	if strings.Contains(pattern, "%d") {
		return strings.Replace(pattern, "%d", strconv.Itoa(w), 1)
	}
	return pattern
}
