package systemd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
)

// The nspawn test runs this test binary inside the container as a load
// generator (SIGNERD_LOADGEN=1), so the requests come from a process in
// the container's own cgroup and user view, as a scanner's would.
const (
	loadgenEnv     = "SIGNERD_LOADGEN"
	loadgenStarted = "/run/signerd-loadgen.started"
	loadgenStop    = "/run/signerd-loadgen.stop"
)

// loadgenResult is what the load generator prints as JSON.
type loadgenResult struct {
	OK     int64    `json:"ok"`
	Failed int64    `json:"failed"`
	Errors []string `json:"errors"`
}

// runLoadgen signs with 4 workers until the stop file appears or 2
// minutes pass, then prints a loadgenResult. Every request carries the
// correlation id loadgen-N, so the journal can be searched for it.
func runLoadgen() int {
	c := client.New(client.SocketFromEnv())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	req := &api.SignRequest{
		Subjects:      []api.Subject{{Name: "app.tar", Digest: map[string]string{"sha256": "a3f0c2c4e0b0f1e8d9c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5"}}},
		PredicateType: "https://example.com/loadgen/v1",
		Predicate:     json.RawMessage(`{"tool":"loadgen"}`),
	}

	var res loadgenResult
	var mu sync.Mutex
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := os.Stat(loadgenStop); err == nil {
					return
				}
				id := "loadgen-" + strconv.FormatInt(seq.Add(1), 10)
				_, err := c.Sign(ctx, req, client.WithCorrelationID(id))
				if err != nil {
					atomic.AddInt64(&res.Failed, 1)
					mu.Lock()
					if len(res.Errors) < 10 {
						res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", id, err))
					}
					mu.Unlock()
					continue
				}
				if atomic.AddInt64(&res.OK, 1) == 1 {
					os.WriteFile(loadgenStarted, nil, 0o644)
				}
			}
		}()
	}
	wg.Wait()

	json.NewEncoder(os.Stdout).Encode(&res)
	if res.Failed > 0 || res.OK == 0 {
		return 1
	}
	return 0
}
