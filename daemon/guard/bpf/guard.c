// The cgroup/connect_unix program of signerd's connect guard. It runs on
// every connect(2) to a Unix socket by a task in the cgroup it is attached
// to. For connects whose address is the configured socket path it allows
// only tasks whose uid, or one of whose cgroup ancestors, is in the policy
// map; every other connect passes untouched.
//
// Build with `make generate` (bpf2go and clang); the Go package embeds the
// object file.

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ALLOW 1
#define DENY 0

// SUN_PATH_MAX is the size of sockaddr_un.sun_path on Linux.
#define SUN_PATH_MAX 108

// SUN_PATH_OFFSET is offsetof(struct sockaddr_un, sun_path).
#define SUN_PATH_OFFSET 2

// MAX_CGROUP_LEVELS bounds the ancestor walk. An allowed cgroup deeper
// than this never matches, so the walk fails closed.
#define MAX_CGROUP_LEVELS 64

#define POLICY_KIND_UID 1
#define POLICY_KIND_CGROUP 2

// The kernel's context behind struct bpf_sock_addr (Linux 6.7 and later).
// Only the fields read here are declared; CO-RE relocates their offsets
// against the running kernel's BTF.
struct bpf_sock_addr_kern {
	void *uaddr;
	__u32 uaddrlen;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

struct target_path {
	// len is the length of path without a terminating NUL; 0 disables
	// the guard.
	__u32 len;
	char path[SUN_PATH_MAX];
};

struct guard_policy_key {
	__u32 kind;
	__u32 pad;
	__u64 id;
};

struct sockaddr_un_copy {
	__u16 family;
	char path[SUN_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct target_path);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_target SEC(".maps");

// guard_policy_set is the type of guard_policy's inner map: the allowed
// uids and cgroup ids, with an unused byte as the value. Sizes stand in
// for BTF types because clang 14 emits the key struct as a forward
// declaration inside an inner map definition.
struct guard_policy_set {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(struct guard_policy_key));
	__uint(value_size, sizeof(__u8));
};

// guard_policy holds one inner hash map. User space replaces the whole
// inner map in one update, so a connect sees either the old or the new
// allowed set, never a mix.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct guard_policy_set);
} guard_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_denied SEC(".maps");

static __always_inline int deny(void)
{
	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(&guard_denied, &zero);

	if (count)
		*count += 1;
	return DENY;
}

// targets_socket reports whether the connect address equals target. The
// kernel resolves sun_path up to its first NUL or to the address length the
// caller passed, whichever comes first, so both ends are accepted.
static __always_inline int targets_socket(struct bpf_sock_addr *ctx, struct target_path *target,
					   int *read_failed)
{
	struct bpf_sock_addr_kern *sa = bpf_cast_to_kern_ctx(ctx);
	struct sockaddr_un_copy addr = {};
	__u32 target_len = target->len;
	__u32 addr_len = sa->uaddrlen;
	__u32 path_len;

	if (addr_len <= SUN_PATH_OFFSET)
		return 0;
	path_len = addr_len - SUN_PATH_OFFSET;
	if (path_len > SUN_PATH_MAX)
		path_len = SUN_PATH_MAX;
	if (target_len == 0 || target_len > SUN_PATH_MAX || path_len < target_len)
		return 0;

	if (bpf_probe_read_kernel(&addr, sizeof(addr), sa->uaddr) != 0) {
		*read_failed = 1;
		return 0;
	}

	for (int i = 0; i < SUN_PATH_MAX; i++) {
		if (i >= target_len)
			break;
		if (addr.path[i] != target->path[i])
			return 0;
	}
	// A longer address matches only when a NUL ends the path at
	// target_len.
	if (path_len > target_len) {
		__u32 end = target_len;

		if (end >= SUN_PATH_MAX || addr.path[end] != 0)
			return 0;
	}
	return 1;
}

SEC("cgroup/connect_unix")
int signerd_connect_guard(struct bpf_sock_addr *ctx)
{
	struct guard_policy_key key = {};
	struct target_path *target;
	int read_failed = 0;
	__u32 zero = 0;
	void *policy;

	target = bpf_map_lookup_elem(&guard_target, &zero);
	if (!target)
		return ALLOW;
	if (!targets_socket(ctx, target, &read_failed)) {
		// An address that cannot be read might be the socket: fail
		// closed.
		if (read_failed)
			return deny();
		return ALLOW;
	}

	// Without a policy map nobody is allowed.
	policy = bpf_map_lookup_elem(&guard_policy, &zero);
	if (!policy)
		return deny();

	key.kind = POLICY_KIND_UID;
	key.id = (__u32)bpf_get_current_uid_gid();
	if (bpf_map_lookup_elem(policy, &key))
		return ALLOW;

	key.kind = POLICY_KIND_CGROUP;
	for (int level = 0; level < MAX_CGROUP_LEVELS; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (id == 0)
			break;
		key.id = id;
		if (bpf_map_lookup_elem(policy, &key))
			return ALLOW;
	}
	return deny();
}

// The kernel lets only GPL-compatible programs call kfuncs and
// bpf_probe_read_kernel.
char LICENSE[] SEC("license") = "Dual MIT/GPL";
