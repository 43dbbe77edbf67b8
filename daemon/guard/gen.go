package guard

// The program is compiled by `make generate`, which sets BPF_CFLAGS to
// Debian's multiarch include directory. The generated Go and object files
// are committed so that building signerd needs no clang.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -tags linux -target bpfel -type target_path guard bpf/guard.c
