package pipeline

import (
	"github.com/signerd/signerd/daemon/api"
)

// recheckCaller confirms, just before signing, that the caller's process
// is still alive and still runs the executable it ran at connect. A
// process that executes another program after connecting, or exits and
// leaves its pid to another process, is rejected here even when its
// tenant was chosen from the snapshot taken at accept.
func (s *State) recheckCaller(req *Request) error {
	if req.Caller == nil {
		return api.Errorf(api.CodeUnauthenticated, "request has no caller identity")
	}
	if err := req.Caller.Recheck(); err != nil {
		return api.Errorf(api.CodeUnauthenticated, "%v", err)
	}
	return nil
}
