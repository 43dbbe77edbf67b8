package main

import (
	"os"
	"path/filepath"
	"strings"
)

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}

func uid() int { return os.Getuid() }

func splitLines(s string) []string { return strings.Split(s, "\n") }

func trimSpace(s string) string { return strings.TrimSpace(s) }

func (r *run) scenarioDir(name string) string {
	dir := filepath.Join(r.work, slug(name))
	os.MkdirAll(dir, 0o700)
	return dir
}
