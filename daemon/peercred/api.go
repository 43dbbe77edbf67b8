package peercred

import "github.com/signerd/signerd/daemon/api"

// Caller returns the snapshot in the API's wire form.
func (id *Identity) Caller() api.Caller {
	return api.Caller{
		PID:       id.PID,
		UID:       id.UID,
		GID:       id.GID,
		Groups:    id.Groups,
		StartTime: id.StartTime,

		Executable:            id.Exe.Path,
		ExecutableDevice:      id.Exe.Device,
		ExecutableInode:       id.Exe.Inode,
		ExecutableSize:        id.Exe.Size,
		ExecutableSHA256:      id.Exe.SHA256,
		ExecutableHashCached:  id.Exe.HashCached,
		ExecutableHashSkipped: id.Exe.HashSkipped,
		ExecutableDeleted:     id.Exe.Deleted,
		ExecutableUnavailable: id.Exe.Unavailable,

		Cgroup:                 id.Cgroup.Path,
		CgroupVersion:          id.Cgroup.Version,
		CgroupOutsideNamespace: id.Cgroup.OutsideNamespace,
		SystemdUnit:            id.Cgroup.SystemdUnit,
		SystemdUserUnit:        id.Cgroup.SystemdUserUnit,
		ContainerID:            id.Cgroup.ContainerID,
		ContainerRuntime:       id.Cgroup.ContainerRuntime,
		PodUID:                 id.Cgroup.PodUID,

		PIDFD: id.HasPIDFD(),
	}
}
