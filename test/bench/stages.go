package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// stageTime is the mean time a request spent in one pipeline stage.
type stageTime struct {
	Stage string
	Mean  time.Duration
	Count int64
}

// scrapeStages reads the daemon's stage histograms from its admin socket
// and returns the mean of each stage over everything the daemon served.
func scrapeStages(d *daemon) ([]stageTime, error) {
	body, err := fetchMetrics(d)
	if err != nil {
		return nil, err
	}

	sums := map[string]float64{}
	counts := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || !strings.HasPrefix(name, "signerd_stage_duration_seconds_") {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		stage := labelValue(labels, "stage")
		switch name {
		case "signerd_stage_duration_seconds_sum":
			sums[stage], _ = strconv.ParseFloat(value, 64)
		case "signerd_stage_duration_seconds_count":
			n, _ := strconv.ParseFloat(value, 64)
			counts[stage] = int64(n)
		}
	}

	var out []stageTime
	for stage, n := range counts {
		if n == 0 {
			continue
		}
		out = append(out, stageTime{Stage: stage, Count: n, Mean: time.Duration(sums[stage] / float64(n) * float64(time.Second))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stage < out[j].Stage })
	return out, sc.Err()
}

// fetchMetrics reads the daemon's Prometheus metrics from its admin
// socket.
func fetchMetrics(d *daemon) (string, error) {
	admin := filepath.Join(filepath.Dir(d.socket), "admin.sock")
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", admin)
		},
	}, Timeout: 10 * time.Second}
	resp, err := hc.Get("http://signer.localhost/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return string(body), err
}

// metricValue returns the value of an unlabelled metric, or false.
func metricValue(body, name string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

func labelValue(labels, key string) string {
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
