// Package guard installs signerd's connect guard: a cgroup/connect_unix
// eBPF program (Linux 6.7 and later) that lets only allowed tasks connect
// to the caller socket.
//
// # What it enforces
//
// The program runs in the kernel on every connect(2) to a Unix socket by a
// task in the cgroup it is attached to (by default the root of the cgroup
// v2 hierarchy, so every task). When the address the task passed equals
// the configured socket path, the connect proceeds only if the task's real
// uid is in the allowed uid set or one of its cgroup v2 ancestors (or its
// own cgroup) is in the allowed cgroup set. Every other such connect fails
// with EPERM and is counted. Connects to any other address pass untouched.
//
// The program, its link to the cgroup and its maps are pinned in bpffs
// (by default under /sys/fs/bpf/signerd), so the guard stays in force
// while the daemon is stopped or restarting, which matters with socket
// activation: systemd keeps accepting connections for the daemon then.
// Install reuses what an earlier run pinned; Remove detaches and unpins.
//
// # What it does not enforce
//
// The guard is a second line of defence, not the gate. The hook sees the
// address string the client passed, before the kernel resolves it, so a
// relative path, a path with "//" or "/./", a symlink or a hard link to the
// socket is not matched and passes. Peer-credential policy in the daemon
// stays authoritative for every request, and the socket's directory is
// searchable only by the caller group, so an alias still needs the group.
// Tasks outside the attached cgroup are not checked at all, and root can
// detach the program.
//
// Cgroup ids are resolved from paths when the guard is installed and on
// every reload. A cgroup that does not exist then, or is removed and
// created again later (systemd does this when a service restarts), is not
// allowed until the next reload, so allow a slice that outlives its
// services.
//
// # Updates
//
// The allowed sets live in one hash map held by a one-slot map-in-map.
// SetPolicy builds a new hash map and swaps it in with a single map
// update, so a connect sees either the old or the new set, never a mix.
package guard
