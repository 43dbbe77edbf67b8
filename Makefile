# signerd's build and test entry points. `make test` installs what the
# tests need (Debian packages and pinned Go tools) before it runs them, so
# it works on a fresh machine.

GO        ?= go
BIN       := bin
DEV_DIR   ?= ./.signerd-dev
# Tools built for the tests (cosign) live outside the repository and are
# reused between runs.
TOOLS_DIR ?= $(HOME)/.cache/signerd-tools
# VERSION names the build in signerd version and signerctl version.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
TEST_TIMEOUT ?= 60m

export SIGNERD_TOOLS_BIN := $(abspath $(TOOLS_DIR))/bin

# Installation paths; DESTDIR stages a package root.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
LIBDIR     ?= $(PREFIX)/lib
UNITDIR    ?= $(LIBDIR)/systemd/system
SYSUSERSDIR ?= $(LIBDIR)/sysusers.d
TMPFILESDIR ?= $(LIBDIR)/tmpfiles.d
EXTDIR     ?= $(LIBDIR)/signerd/extensions
DOCDIR     ?= $(PREFIX)/share/doc/signerd

.PHONY: all build run test test-deps unit vet clean generate generate-deps install extensions

# Extensions shipped with signerd, built as wasip1 reactor modules.
EXTENSIONS := allowlist scannerwindow sbomgate

all: build

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN)/ ./daemon/cmd/signerd ./client/cmd/signerctl

run: build
	@mkdir -p $(DEV_DIR)
	@echo "signerd: development daemon with state in $(DEV_DIR); stop it with Ctrl-C."
	@echo "In another shell, try:"
	@echo "  export SIGNERD_SOCKET=$(abspath $(DEV_DIR))/signerd.sock"
	@echo "  $(abspath $(BIN))/signerctl whoami"
	@echo "  $(abspath $(BIN))/signerctl status"
	@echo "  $(abspath $(BIN))/signerctl sign --predicate-type https://cyclonedx.org/bom --predicate bom.cdx.json --subject-file bom.cdx.json -o bom.sigstore.json   # bom.cdx.json: any CycloneDX SBOM"
	@echo "  $(abspath $(BIN))/signerctl audit verify $(abspath $(DEV_DIR))/state/audit   # after the first request"
	@echo
	$(BIN)/signerd --dev $(DEV_DIR)

extensions: $(EXTENSIONS:%=$(BIN)/extensions/%.wasm)

$(BIN)/extensions/%.wasm: FORCE
	@mkdir -p $(BIN)/extensions
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o $@ ./extensions/$*
	@sha256sum $@

.PHONY: FORCE
FORCE:

test-deps:
	./test/install-deps.sh "$(TOOLS_DIR)"

# The connect guard's eBPF object and Go bindings are committed, so only
# changing daemon/guard/bpf/guard.c needs clang, llvm and libbpf-dev.
generate-deps:
	./test/install-deps.sh "$(TOOLS_DIR)" generate

generate: generate-deps
	BPF2GO_CFLAGS="-I/usr/include/$(shell uname -m)-linux-gnu -O2 -g -Wall -Werror" $(GO) generate ./daemon/guard/

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -short ./...

test: test-deps build extensions vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# install copies the binaries, systemd units, sysusers.d and tmpfiles.d
# entries, the default config (never over an existing one), the shipped
# extensions and the operations guide.
install: build extensions
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(SYSCONFDIR)/signerd $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN)/signerd $(BIN)/signerctl $(DESTDIR)$(BINDIR)/
	for unit in signerd.service signerd.socket signerd-admin.socket; do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
			systemd/$$unit > $(DESTDIR)$(UNITDIR)/$$unit && chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit || exit 1; \
	done
	install -m 0644 systemd/signerd.sysusers $(DESTDIR)$(SYSUSERSDIR)/signerd.conf
	install -m 0644 systemd/signerd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/signerd.conf
	if [ -e $(DESTDIR)$(SYSCONFDIR)/signerd/signerd.yaml ]; then \
		echo "install: keeping the existing $(DESTDIR)$(SYSCONFDIR)/signerd/signerd.yaml"; \
	else \
		install -m 0644 daemon/config/signerd.yaml $(DESTDIR)$(SYSCONFDIR)/signerd/signerd.yaml; \
	fi
	if ls $(BIN)/extensions/*.wasm >/dev/null 2>&1; then \
		install -d $(DESTDIR)$(EXTDIR) && install -m 0644 $(BIN)/extensions/*.wasm $(DESTDIR)$(EXTDIR)/; \
	fi
	if [ -f docs/operations.md ]; then install -m 0644 docs/operations.md $(DESTDIR)$(DOCDIR)/; fi
	# The connect guard's drop-in is opt-in (docs/guard.md), so it goes
	# with the docs rather than into the unit directory.
	install -m 0644 systemd/signerd.service.d/guard.conf $(DESTDIR)$(DOCDIR)/guard.conf
	@echo
	@echo "Installed. Unless this is a package build (DESTDIR set), run:"
	@echo "  systemd-sysusers signerd.conf && systemd-tmpfiles --create signerd.conf && systemctl daemon-reload"
	@echo "then add a tenant to $(SYSCONFDIR)/signerd/signerd.yaml and run:"
	@echo "  systemctl enable --now signerd.socket signerd-admin.socket"

clean:
	rm -rf $(BIN)

.PHONY: bench
# Runs every benchmark in one go and rewrites docs/benchmarks.md.
bench: test-deps extensions
	$(GO) run ./test/bench -out docs/benchmarks.md
