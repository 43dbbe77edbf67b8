package guest

import (
	"bytes"
	"encoding/json"
	"fmt"
)

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("extension config: %w", err)
	}
	return nil
}
