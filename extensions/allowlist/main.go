// Command allowlist is a signerd extension that allows a request only when
// every subject names a container image in an allowed registry or
// repository.
//
// Config:
//
//	registries:   [ghcr.io, registry.example.com]  # any repository in these
//	repositories: [docker.io/library/alpine, quay.io/acme/*]  # exact, or prefix/*
//
// Subject names are image references (REGISTRY/REPOSITORY[:TAG][@DIGEST]);
// a name without a registry host means docker.io, as docker pull reads it.
// A subject that is not an image reference is denied.
package main

import (
	"fmt"
	"strings"

	"github.com/signerd/signerd/guest"
)

// Config is the extension's policy config.
type Config struct {
	Registries   []string `json:"registries"`
	Repositories []string `json:"repositories"`
}

func init() { guest.Handle(check) }

func main() {}

func check(req *guest.Request) guest.Decision {
	var cfg Config
	if err := req.DecodeConfig(&cfg); err != nil {
		return guest.Deny("%v", err)
	}
	if len(cfg.Registries) == 0 && len(cfg.Repositories) == 0 {
		return guest.Deny("allow-list config lists no registries or repositories, so nothing may be signed")
	}
	if len(req.Subjects) == 0 {
		return guest.Deny("request has no subjects")
	}

	var denied []string
	for _, s := range req.Subjects {
		reg, repo, err := parseImage(s.Name)
		if err != nil {
			denied = append(denied, fmt.Sprintf("subject %q: %v", s.Name, err))
			continue
		}
		if !allowed(&cfg, reg, repo) {
			denied = append(denied, fmt.Sprintf("subject %q: repository %s/%s is not on the tenant's allow-list", s.Name, reg, repo))
		}
	}
	if len(denied) > 0 {
		return guest.DenyAll(denied)
	}
	return guest.Allow(fmt.Sprintf("%d subject(s) in allowed repositories", len(req.Subjects)))
}

func allowed(cfg *Config, reg, repo string) bool {
	for _, r := range cfg.Registries {
		if strings.EqualFold(r, reg) {
			return true
		}
	}
	full := reg + "/" + repo
	for _, p := range cfg.Repositories {
		if prefix, ok := strings.CutSuffix(p, "/*"); ok {
			if strings.HasPrefix(full, prefix+"/") {
				return true
			}
		} else if p == full {
			return true
		}
	}
	return false
}

// parseImage splits an image reference into its registry and repository,
// dropping tag and digest.
func parseImage(ref string) (registry, repository string, err error) {
	name := ref
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i:], "/") {
		name = name[:i]
	}
	if name == "" || strings.Contains(name, "://") || strings.ContainsAny(name, " \t") {
		return "", "", fmt.Errorf("not a container image reference")
	}
	first, rest, found := strings.Cut(name, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		registry, repository = strings.ToLower(first), rest
	} else {
		registry, repository = "docker.io", name
		if !found {
			repository = "library/" + name
		}
	}
	if repository == "" || repository != strings.ToLower(repository) {
		return "", "", fmt.Errorf("repository %q must be non-empty lower case", repository)
	}
	for _, part := range strings.Split(repository, "/") {
		if part == "" || part == "." || part == ".." {
			return "", "", fmt.Errorf("repository %q has an empty or dot path component", repository)
		}
	}
	return registry, repository, nil
}
