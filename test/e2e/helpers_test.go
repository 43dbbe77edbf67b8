package e2e

import (
	"errors"

	"github.com/signerd/signerd/client"
)

func asClientError(err error, target **client.Error) bool { return errors.As(err, target) }
