package main

import (
	"strings"
	"testing"
)

func TestRenderKeyBackendsComparesRawRate(t *testing.T) {
	r := &run{
		raw: []rawResult{{Backend: rawTPM, PerSec: 1000}},
		scenarios: []scenarioResult{
			{Name: "no extensions", Best: 3000},
			{Name: "TPM key (swtpm)" + keyScenarioSuffix, RawBackend: rawTPM, Best: 800},
			{Name: "PKCS#11 key (SoftHSM2)" + keyScenarioSuffix, RawBackend: rawPKCS11, Best: 2000},
			{Name: "AWS KMS key (local-kms emulator)" + keyScenarioSuffix, RawBackend: rawKMS, Skipped: "local-kms not found"},
		},
	}
	var b strings.Builder
	r.renderKeyBackends(&b)
	page := b.String()

	for _, want := range []string{
		"the TPM key (swtpm) reached 80% of its raw rate (800/s against 1000/s one at a time)",
		"the PKCS#11 key (SoftHSM2) reached 2000/s with no raw rate to compare in this run",
		"and the AWS KMS key (local-kms emulator) was skipped (local-kms not found).",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "no extensions reached") {
		t.Errorf("page compares a file-key scenario with a raw rate:\n%s", page)
	}
}

func TestRenderKeyBackendsAbsent(t *testing.T) {
	r := &run{scenarios: []scenarioResult{{Name: "no extensions", Best: 3000}}}
	var b strings.Builder
	r.renderKeyBackends(&b)
	if b.Len() != 0 {
		t.Errorf("page without key-backend scenarios has their paragraph:\n%s", b.String())
	}
}

func TestConcurrenciesFewerForKeyBackends(t *testing.T) {
	file := scenario{name: "no extensions"}
	tpm := scenario{name: "TPM key (swtpm)" + keyScenarioSuffix, key: setupTPM}
	if got := file.concurrencies(2); len(got) != 3 || got[2] != 16 {
		t.Errorf("file-key concurrencies = %v, want [1 4 16]", got)
	}
	if got := tpm.concurrencies(2); len(got) != 2 || got[0] != 1 || got[1] != 4 {
		t.Errorf("TPM concurrencies = %v, want [1 4]", got)
	}
}
