package keys

import (
	"context"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"file:///k", "file:///k"},
		{"pkcs11:token=t?pin-value=1234", "pkcs11:token=t?pin-value=REDACTED"},
		{"pkcs11:token=t?pin-value=1234&module-path=/m.so", "pkcs11:token=t?pin-value=REDACTED&module-path=/m.so"},
		{"pkcs11:token=t?pin-value=1&x=2&pin-value=3", "pkcs11:token=t?pin-value=REDACTED&x=2&pin-value=REDACTED"},
	}
	for _, tc := range tests {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}

	for _, uri := range []string{"pkcs11:token=t?pin-value=secret%zz", "pkcs11:%zz?pin-value=secret", "nope:x?pin-value=secret"} {
		_, err := Open(context.Background(), uri, Options{})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): err = %v, want one without the PIN", uri, err)
		}
	}
}
