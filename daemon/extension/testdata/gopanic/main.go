// A Go extension that panics when the tenant is "panic" and allows
// otherwise: the hostile corpus's Go panic.
package main

import "github.com/signerd/signerd/guest"

func init() {
	guest.Handle(func(r *guest.Request) guest.Decision {
		if r.Tenant == "panic" {
			var m map[string]int
			m["boom"]++ // assignment to entry in nil map
		}
		return guest.Allow("tenant " + r.Tenant)
	})
}

func main() {}
