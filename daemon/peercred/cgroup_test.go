package peercred

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/signerd/signerd/test/testenv"
)

const (
	idA = "3f4e1a9c2b7d8e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
	idB = "9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961"
)

// Fixtures written from the documented formats: cgroups(7) for the file,
// systemd's cgroup layout (slices, services, scopes, user@UID.service),
// and the naming schemes of Docker, containerd's CRI plugin, CRI-O and
// Podman with the systemd and cgroupfs drivers.
func TestParseCgroup(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Cgroup
		wantErr bool
	}{
		{
			name: "v2 system service",
			in:   "0::/system.slice/trivy.service\n",
			want: Cgroup{Path: "/system.slice/trivy.service", Version: 2, SystemdUnit: "trivy.service"},
		},
		{
			name: "v2 nested service slice",
			in:   "0::/system.slice/scanners.slice/grype@nightly.service\n",
			want: Cgroup{Path: "/system.slice/scanners.slice/grype@nightly.service", Version: 2, SystemdUnit: "grype@nightly.service"},
		},
		{
			name: "v2 transient scope from systemd-run",
			in:   "0::/system.slice/run-u42.scope\n",
			want: Cgroup{Path: "/system.slice/run-u42.scope", Version: 2, SystemdUnit: "run-u42.scope"},
		},
		{
			name: "v2 login session scope",
			in:   "0::/user.slice/user-1000.slice/session-3.scope\n",
			want: Cgroup{Path: "/user.slice/user-1000.slice/session-3.scope", Version: 2, SystemdUnit: "session-3.scope"},
		},
		{
			name: "v2 user manager unit",
			in:   "0::/user.slice/user-1000.slice/user@1000.service/app.slice/scan.service\n",
			want: Cgroup{Path: "/user.slice/user-1000.slice/user@1000.service/app.slice/scan.service", Version: 2,
				SystemdUnit: "user@1000.service", SystemdUserUnit: "scan.service"},
		},
		{
			name: "v2 docker systemd driver",
			in:   "0::/system.slice/docker-" + idA + ".scope\n",
			want: Cgroup{Path: "/system.slice/docker-" + idA + ".scope", Version: 2,
				SystemdUnit: "docker-" + idA + ".scope", ContainerID: idA, ContainerRuntime: "docker"},
		},
		{
			name: "v2 docker cgroupfs driver",
			in:   "0::/docker/" + idA + "\n",
			want: Cgroup{Path: "/docker/" + idA, Version: 2, ContainerID: idA, ContainerRuntime: "docker"},
		},
		{
			name: "v2 kubernetes containerd systemd driver",
			in:   "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_0000_4000_8000_00000000abcd.slice/cri-containerd-" + idA + ".scope\n",
			want: Cgroup{Path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_0000_4000_8000_00000000abcd.slice/cri-containerd-" + idA + ".scope",
				Version: 2, SystemdUnit: "cri-containerd-" + idA + ".scope", ContainerID: idA, ContainerRuntime: "containerd",
				PodUID: "1b2c3d4e-0000-4000-8000-00000000abcd"},
		},
		{
			name: "v2 kubernetes guaranteed pod cri-o",
			in:   "0::/kubepods.slice/kubepods-pod1b2c3d4e_0000_4000_8000_00000000abcd.slice/crio-" + idA + ".scope\n",
			want: Cgroup{Path: "/kubepods.slice/kubepods-pod1b2c3d4e_0000_4000_8000_00000000abcd.slice/crio-" + idA + ".scope",
				Version: 2, SystemdUnit: "crio-" + idA + ".scope", ContainerID: idA, ContainerRuntime: "cri-o",
				PodUID: "1b2c3d4e-0000-4000-8000-00000000abcd"},
		},
		{
			name: "v2 cri-o conmon is not the container",
			in:   "0::/kubepods.slice/crio-conmon-" + idA + ".scope\n",
			want: Cgroup{Path: "/kubepods.slice/crio-conmon-" + idA + ".scope", Version: 2, SystemdUnit: "crio-conmon-" + idA + ".scope"},
		},
		{
			name: "v2 podman rootful with container subgroup",
			in:   "0::/machine.slice/libpod-" + idA + ".scope/container\n",
			want: Cgroup{Path: "/machine.slice/libpod-" + idA + ".scope/container", Version: 2,
				SystemdUnit: "libpod-" + idA + ".scope", ContainerID: idA, ContainerRuntime: "podman"},
		},
		{
			name: "v2 podman rootless under the user manager",
			in:   "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + idA + ".scope\n",
			want: Cgroup{Path: "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + idA + ".scope", Version: 2,
				SystemdUnit: "user@1000.service", SystemdUserUnit: "libpod-" + idA + ".scope", ContainerID: idA, ContainerRuntime: "podman"},
		},
		{
			name: "v2 outside the cgroup namespace",
			in:   "0::/../../system.slice/docker-" + idA + ".scope\n",
			want: Cgroup{Path: "/../../system.slice/docker-" + idA + ".scope", Version: 2, OutsideNamespace: true,
				ContainerID: idA, ContainerRuntime: "docker"},
		},
		{
			name: "v2 root",
			in:   "0::/\n",
			want: Cgroup{Path: "/", Version: 2},
		},
		{
			name: "v1 kubernetes cgroupfs driver",
			in: "4:memory:/kubepods/burstable/pod2c48913c-b29f-11e7-9350-020968147796/" + idB + "\n" +
				"1:name=systemd:/kubepods/burstable/pod2c48913c-b29f-11e7-9350-020968147796/" + idB + "\n",
			want: Cgroup{Path: "/kubepods/burstable/pod2c48913c-b29f-11e7-9350-020968147796/" + idB, Version: 1,
				ContainerID: idB, ContainerRuntime: "docker", PodUID: "2c48913c-b29f-11e7-9350-020968147796"},
		},
		{
			name: "v1 systemd service with a docker id only in memory",
			in: "4:memory:/docker/" + idA + "\n" +
				"1:name=systemd:/system.slice/docker.service\n",
			want: Cgroup{Path: "/system.slice/docker.service", Version: 1, SystemdUnit: "docker.service",
				ContainerID: idA, ContainerRuntime: "docker"},
		},
		{
			name: "hybrid prefers name=systemd",
			in: "1:name=systemd:/system.slice/trivy.service\n" +
				"0::/system.slice/trivy.service\n",
			want: Cgroup{Path: "/system.slice/trivy.service", Version: 1, SystemdUnit: "trivy.service"},
		},
		{
			name: "v1 without name=systemd",
			in:   "3:cpu,cpuacct:/batch\n2:memory:/batch\n",
			want: Cgroup{Path: "/batch", Version: 1},
		},
		{name: "empty", in: "", wantErr: true},
		{name: "missing fields", in: "0:/x\n", wantErr: true},
		{name: "bad hierarchy id", in: "x::/\n", wantErr: true},
		{name: "relative path", in: "0::system.slice\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCgroup([]byte(tc.in))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseCgroup(%q) = %+v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCgroup(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseCgroup(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMountInfo(t *testing.T) {
	const docker = `600 500 0:52 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A
601 600 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
602 600 0:56 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate
603 600 8:1 /var/lib/docker/containers/` + idA + `/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw
604 600 8:1 /home/a\040b /mnt/with\040space rw shared:7 master:2 - ext4 /dev/sda1 rw
`
	mounts, err := ParseMountInfo([]byte(docker))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 5 {
		t.Fatalf("got %d mounts, want 5", len(mounts))
	}
	if got := ContainerIDFromMounts(mounts); got != idA {
		t.Errorf("container id = %q, want %q", got, idA)
	}
	cg := CgroupMounts(mounts)
	if len(cg) != 1 || cg[0].MountPoint != "/sys/fs/cgroup" || cg[0].FSType != "cgroup2" {
		t.Errorf("cgroup mounts = %+v, want one cgroup2 at /sys/fs/cgroup", cg)
	}
	if m := mounts[4]; m.Root != "/home/a b" || m.MountPoint != "/mnt/with space" || m.Source != "/dev/sda1" {
		t.Errorf("escaped mount = %+v, want root %q and mount point %q", m, "/home/a b", "/mnt/with space")
	}

	for _, bad := range []string{
		"1 2 0:1 / /\n",             // no separator
		"1 2 0:1 / / rw - proc\n",   // no source
		"x 2 0:1 / / rw - proc p\n", // bad id
		"1 2 0:1 / / rw - \n",       // empty tail
	} {
		if _, err := ParseMountInfo([]byte(bad)); err == nil {
			t.Errorf("ParseMountInfo(%q) succeeded, want an error", bad)
		}
	}
}

// TestParseRealWorldCgroups reads samples from other projects in place.
func TestParseRealWorldCgroups(t *testing.T) {
	dir := testenv.RealWorld(t, "cgroup")
	tests := []struct {
		file        string
		unit        string
		containerID string
		podUID      string
		outsideNS   bool
		userUnit    string
	}{
		{file: "spire_k8s_cgroups_pid_in_pod.txt", containerID: idB, podUID: "2c48913c-b29f-11e7-9350-020968147796"},
		{file: "constructed_v2_systemd_service.txt", unit: "trivy-scan.service"},
		{file: "constructed_v2_docker_systemd_driver.txt", unit: "docker-" + idA + ".scope", containerID: idA},
		{file: "constructed_v2_kubernetes_containerd.txt", unit: "cri-containerd-a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90.scope",
			containerID: "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90", podUID: "7e1c2d3a-4b5f-4c6d-8e9f-0a1b2c3d4e5f"},
		// The id in this sample has 61 hex digits, not the 64 that Docker
		// writes, so the parser does not take it as a container id.
		{file: "constructed_v2_relative_cgroupns.txt", outsideNS: true},
		{file: "constructed_v2_user_scope.txt", unit: "user@1000.service", userUnit: "app-scanner-42.scope"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Skipf("sample missing: %v", err)
			}
			got, err := ParseCgroup(data)
			if err != nil {
				t.Fatal(err)
			}
			if got.SystemdUnit != tc.unit {
				t.Errorf("unit = %q, want %q", got.SystemdUnit, tc.unit)
			}
			if got.SystemdUserUnit != tc.userUnit {
				t.Errorf("user unit = %q, want %q", got.SystemdUserUnit, tc.userUnit)
			}
			if got.ContainerID != tc.containerID {
				t.Errorf("container id = %q, want %q", got.ContainerID, tc.containerID)
			}
			if got.PodUID != tc.podUID {
				t.Errorf("pod uid = %q, want %q", got.PodUID, tc.podUID)
			}
			if got.OutsideNamespace != tc.outsideNS {
				t.Errorf("outside namespace = %v, want %v", got.OutsideNamespace, tc.outsideNS)
			}
		})
	}

	t.Run("otel_podman_proc_self_mountinfo1", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(dir, "otel_podman_proc_self_mountinfo1"))
		if err != nil {
			t.Skipf("sample missing: %v", err)
		}
		mounts, err := ParseMountInfo(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(mounts) != 47 {
			t.Errorf("got %d mounts, want 47", len(mounts))
		}
		const want = "2a33efc76e519c137fe6093179653788bed6162d4a15e5131c8e835c968afbe6"
		if got := ContainerIDFromMounts(mounts); got != want {
			t.Errorf("container id = %q, want %q", got, want)
		}
		if len(CgroupMounts(mounts)) == 0 {
			t.Error("found no cgroup mounts")
		}
	})
}

func TestParseStartTime(t *testing.T) {
	stat := "4242 (a) b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100"
	got, err := parseStartTime([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if got != 987654 {
		t.Errorf("start time = %d, want 987654", got)
	}
	if _, err := parseStartTime([]byte("1 (x) S 1 2")); err == nil {
		t.Error("short stat line parsed, want an error")
	}
}
