package guest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

type cachedConfig struct {
	Names  []string          `json:"names"`
	Limit  *int              `json:"limit"`
	Labels map[string]string `json:"labels"`
	Nested struct {
		On bool `json:"on"`
	} `json:"nested"`
}

func TestDecodeConfigCacheCopies(t *testing.T) {
	req := &Request{Config: json.RawMessage(`{"names":["a","b"],"limit":3,"labels":{"k":"v"},"nested":{"on":true}}`)}

	var first cachedConfig
	if err := req.DecodeConfig(&first); err != nil {
		t.Fatal(err)
	}
	first.Names[0] = "changed"
	*first.Limit = 99
	first.Labels["k"] = "changed"

	var second cachedConfig
	if err := req.DecodeConfig(&second); err != nil {
		t.Fatal(err)
	}
	var want cachedConfig
	if err := json.Unmarshal(req.Config, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second, want) {
		t.Fatalf("second decode = %+v, want %+v: a change to the first result reached the cache", second, want)
	}
	if &second.Names[0] == &first.Names[0] || second.Limit == first.Limit {
		t.Fatal("second decode shares memory with the first")
	}
}

func TestDecodeConfigCacheFollowsConfig(t *testing.T) {
	for _, raw := range []string{`{"names":["x"]}`, `{"names":["y"],"limit":1}`, `{"names":["x"]}`} {
		var got, want cachedConfig
		if err := (&Request{Config: json.RawMessage(raw)}).DecodeConfig(&got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("config %s decoded to %+v, want %+v", raw, got, want)
		}
	}
}

func TestDecodeConfigKeepsDefaults(t *testing.T) {
	req := &Request{Config: json.RawMessage(`{"names":["a"]}`)}
	var warm cachedConfig
	if err := req.DecodeConfig(&warm); err != nil {
		t.Fatal(err)
	}

	limit := 5
	cfg := cachedConfig{Limit: &limit}
	if err := req.DecodeConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Limit == nil || *cfg.Limit != 5 {
		t.Fatalf("limit = %v, want the default 5 kept", cfg.Limit)
	}
	if len(cfg.Names) != 1 || cfg.Names[0] != "a" {
		t.Fatalf("names = %v, want [a]", cfg.Names)
	}
}

func TestDecodeConfigErrorsEveryTime(t *testing.T) {
	req := &Request{Config: json.RawMessage(`{"nmaes":["a"]}`)}
	for i := range 2 {
		var cfg cachedConfig
		if err := req.DecodeConfig(&cfg); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Fatalf("call %d: DecodeConfig() = %v, want an unknown field error", i, err)
		}
	}
}

func TestPlainDataTypes(t *testing.T) {
	type tree struct {
		Children []tree `json:"children"`
	}
	type withTime struct {
		At time.Time `json:"at"`
	}
	type withAny struct {
		Any any `json:"any"`
	}
	type withHidden struct {
		hidden []string
	}
	cases := []struct {
		value any
		want  bool
	}{
		{cachedConfig{}, true},
		{tree{}, true},
		{withTime{}, false},
		{withAny{}, false},
		{withHidden{}, false},
		{map[string][]int{}, true},
	}
	for _, tc := range cases {
		if got := plainData(reflect.TypeOf(tc.value), map[reflect.Type]bool{}); got != tc.want {
			t.Errorf("plainData(%T) = %v, want %v", tc.value, got, tc.want)
		}
	}
}
