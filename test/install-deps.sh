#!/bin/bash
# Installs what signerd's tests need on a Debian machine: Debian packages
# through apt-get (only when one is missing) and Go tools pinned to a
# version, built once into TOOLS_DIR outside the repository.
#
# Usage: test/install-deps.sh TOOLS_DIR [generate]
#
# With "generate" it installs only what `make generate` needs to rebuild
# the committed eBPF object (clang, llvm, libbpf-dev, linux-libc-dev) and stops.
set -euo pipefail

tools_dir=${1:?usage: $0 TOOLS_DIR [generate]}
mode=${2:-test}
mkdir -p "$tools_dir/bin"

# Debian packages, by the file that proves each present.
declare -A packages
if [[ $mode == generate ]]; then
	packages=(
		[clang]=clang
		[llvm]=llvm-strip
		[libbpf-dev]=/usr/include/bpf/bpf_helpers.h
		[linux-libc-dev]=/usr/include/linux/bpf.h
	)
else
	packages=(
		[util-linux]=unshare
		[mount]=mount
		[systemd]=systemd-socket-activate
		[systemd-container]=systemd-nspawn
		[make]=make
		[iproute2]=ip
		[swtpm]=swtpm
		[swtpm-tools]=swtpm_setup
		[softhsm2]=softhsm2-util
		[wabt]=wat2wasm
	)
fi

missing=()
for pkg in "${!packages[@]}"; do
	if ! command -v "${packages[$pkg]}" >/dev/null 2>&1 && [[ ! -e ${packages[$pkg]} ]]; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} > 0)); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: missing Debian packages: ${missing[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if [[ $mode == generate ]]; then
	exit 0
fi

# Go tools, pinned. cosign takes about five minutes to build the first time.
install_go_tool() {
	local name=$1 module=$2 version=$3
	local stamp="$tools_dir/bin/.$name.version"
	if [[ -x "$tools_dir/bin/$name" && -f "$stamp" && $(cat "$stamp") == "$version" ]]; then
		return
	fi
	echo "install-deps: building $name $version (once)"
	GOBIN="$tools_dir/bin" GOFLAGS=-buildvcs=false go install "$module@$version"
	echo "$version" >"$stamp"
}

install_go_tool cosign github.com/sigstore/cosign/v3/cmd/cosign v3.1.3
# The local AWS KMS emulator for the awskms key backend's tests.
install_go_tool local-kms github.com/nsmithuk/local-kms v0.0.0-20260228092603-2a5e92d09ab6
