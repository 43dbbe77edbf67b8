# signerd's build and test entry points. `make test` installs what the
# tests need (Debian packages and pinned Go tools) before it runs them, so
# it works on a fresh machine.

GO        ?= go
BIN       := bin
DEV_DIR   ?= ./.signerd-dev
# Tools built for the tests (cosign) live outside the repository and are
# reused between runs.
TOOLS_DIR ?= $(HOME)/.cache/signerd-tools
TEST_TIMEOUT ?= 60m

export SIGNERD_TOOLS_BIN := $(abspath $(TOOLS_DIR))/bin

.PHONY: all build run test test-deps unit vet clean generate generate-deps

all: build

build:
	$(GO) build -trimpath -o $(BIN)/ ./daemon/cmd/signerd ./client/cmd/signerctl

run: build
	@mkdir -p $(DEV_DIR)
	@echo "signerd: development daemon with state in $(DEV_DIR); stop it with Ctrl-C."
	@echo "In another shell, try:"
	@echo "  export SIGNERD_SOCKET=$(abspath $(DEV_DIR))/signerd.sock"
	@echo "  $(abspath $(BIN))/signerctl whoami"
	@echo "  $(abspath $(BIN))/signerctl sign --predicate-type https://cyclonedx.org/bom --predicate bom.json --subject-file bom.json -o bom.sigstore.json"
	@echo
	$(BIN)/signerd --dev $(DEV_DIR)

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

test: test-deps build vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

clean:
	rm -rf $(BIN)

.PHONY: bench
# Runs every benchmark in one go and rewrites docs/benchmarks.md.
bench: test-deps
	$(GO) run ./test/bench -out docs/benchmarks.md
