package config

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

//go:embed dev.yaml
var devTemplate string

// Dev returns the development config for state directory dir: the socket,
// key and state live under dir, and only the invoking user may sign.
func Dev(dir string) (*Config, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	text := strings.NewReplacer(
		"@DIR@", abs,
		"@UID@", fmt.Sprint(os.Getuid()),
	).Replace(devTemplate)
	return Load("dev config ("+abs+")", []byte(text))
}

// DevTemplate returns the embedded development config with its
// placeholders, for documentation.
func DevTemplate() string { return devTemplate }

func fmtDuration(d Duration) string { return time.Duration(d).String() }
