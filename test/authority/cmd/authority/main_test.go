package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{"help command", []string{"help"}, "authority poe -dir DIR -tenant NAME", ""},
		{"help flag", []string{"--help"}, "authority dpop-key -out FILE", ""},
		{"command help", []string{"optok", "-h"}, "-dpop-key file", ""},
		{"no command", nil, "", "missing command"},
		{"unknown command", []string{"mint"}, "", `unknown command "mint"`},
		{"missing output", []string{"optok", "-dir", "x", "-tenant", "a"}, "", "optok needs -out FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(tc.args, &out)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("run: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out.String())
			}
		})
	}
}
