package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
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

	opts := []client.Option{client.WithHTTPClient(benchHTTPClient(e.socket, *concurrency))}
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
	res, err := runBench(ctx, c, benchOptions{
		duration:      *duration,
		concurrency:   *concurrency,
		rate:          *rate,
		predicate:     predicate,
		predicateType: *predicateType,
		scanner:       scanner,
		subjectName:   *subjectName,
	})
	if err != nil {
		return err
	}

	if *asJSON {
		data, _ := json.Marshal(res)
		fmt.Fprintln(e.stdout, string(data))
		return nil
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
	return nil
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

// benchHTTPClient keeps one connection per worker alive.
func benchHTTPClient(socket string, concurrency int) *http.Client {
	c := client.New(socket)
	hc := client.HTTPClientOf(c)
	if t, ok := hc.Transport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = concurrency
		t.MaxConnsPerHost = concurrency
	}
	return hc
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
			next := time.Now()
			for ctx.Err() == nil {
				if interval > 0 {
					if wait := time.Until(next); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
					}
					next = next.Add(interval)
				}

				t0 := time.Now()
				_, err := c.SignEncoded(ctx, body)
				elapsed := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return // cut off by the end of the run
					}
					var ce *client.Error
					code := "transport"
					if errors.As(err, &ce) {
						code = string(ce.API.Code)
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

	res := &benchResult{ErrorsByCode: map[string]int{}, Concurrency: o.concurrency, DurationSec: elapsed.Seconds()}
	var all []time.Duration
	for _, r := range results {
		all = append(all, r.latencies...)
		for code, n := range r.errors {
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
