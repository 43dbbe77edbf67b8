package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/signerd/signerd/daemon/api"
)

// AppendLine appends the record's line, with its trailing newline, to b
// and sets rec.Hash, as Encode describes. It writes the bytes that
// encoding/json writes for a Record without reflection, because the
// trail encodes one record per sign request. The tests compare the two.
func AppendLine(b []byte, rec *Record) []byte {
	rec.Hash = ""
	start := len(b)
	b = appendRecordBody(b, rec)

	sum := sha256.Sum256(b[start:])
	rec.Hash = hex.EncodeToString(sum[:])

	b = b[:len(b)-1] // the closing brace
	b = append(b, `,"hash":"`...)
	b = append(b, rec.Hash...)
	return append(b, "\"}\n"...)
}

// appendRecordBody appends rec as encoding/json writes it. AppendLine
// clears Hash first, so the line's body ends with "prev".
func appendRecordBody(b []byte, rec *Record) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(rec.Version), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, rec.Seq, 10)
	b = appendField(b, "id", rec.ID)
	b = appendField(b, "time", rec.Time)
	b = appendOptional(b, "correlationId", rec.CorrelationID)

	if c := rec.Caller; c != nil {
		b = append(b, `,"caller":{"pid":`...)
		b = strconv.AppendInt(b, int64(c.PID), 10)
		b = append(b, `,"uid":`...)
		b = strconv.AppendUint(b, uint64(c.UID), 10)
		b = append(b, `,"gid":`...)
		b = strconv.AppendUint(b, uint64(c.GID), 10)
		b = appendOptional(b, "exe", c.Executable)
		b = appendOptional(b, "exeSha256", c.ExecutableSHA256)
		b = appendOptional(b, "unit", c.SystemdUnit)
		b = appendOptional(b, "containerId", c.ContainerID)
		b = append(b, '}')
	}
	b = appendOptional(b, "tenant", rec.Tenant)

	if r := rec.Request; r != nil {
		b = appendRequest(b, r)
	}
	if v := rec.Release; v != nil {
		b = append(b, `,"release":`...)
		b = appendVerdict(b, v)
	}
	if len(rec.Extensions) > 0 {
		b = append(b, `,"extensions":[`...)
		for i := range rec.Extensions {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendExtensionVerdict(b, &rec.Extensions[i])
		}
		b = append(b, ']')
	}

	b = appendOptional(b, "keyHint", rec.KeyHint)
	b = appendOptional(b, "keyId", rec.KeyID)
	b = appendOptional(b, "bundleSha256", rec.BundleSHA256)
	b = appendField(b, "outcome", rec.Outcome)
	b = appendOptional(b, "code", rec.Code)
	b = appendOptional(b, "reason", rec.Reason)
	b = appendField(b, "prev", rec.Prev)
	if rec.Hash != "" {
		b = appendField(b, "hash", rec.Hash)
	}
	return append(b, '}')
}

func appendRequest(b []byte, r *Request) []byte {
	b = append(b, `,"request":{`...)
	mark := len(b)
	if len(r.Subjects) > 0 {
		b = append(b, `,"subjects":[`...)
		for i, s := range r.Subjects {
			if i > 0 {
				b = append(b, ',')
			}
			b = api.AppendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if r.SubjectsOmitted != 0 {
		b = append(b, `,"subjectsOmitted":`...)
		b = strconv.AppendInt(b, int64(r.SubjectsOmitted), 10)
	}
	b = appendOptional(b, "predicateType", r.PredicateType)
	b = appendOptional(b, "predicateSha256", r.PredicateSHA256)
	if sc := r.Scanner; sc != nil {
		b = append(b, `,"scanner":{`...)
		scannerMark := len(b)
		b = appendOptional(b, "name", sc.Name)
		b = appendOptional(b, "version", sc.Version)
		b = appendOptional(b, "image", sc.Image)
		b = dropLeadingComma(b, scannerMark)
		b = append(b, '}')
	}
	b = dropLeadingComma(b, mark)
	return append(b, '}')
}

func appendVerdict(b []byte, v *Verdict) []byte {
	b = append(b, `{"result":`...)
	b = api.AppendJSONString(b, v.Result)
	b = appendOptional(b, "reason", v.Reason)
	return append(b, '}')
}

func appendExtensionVerdict(b []byte, v *ExtensionVerdict) []byte {
	b = append(b, `{"name":`...)
	b = api.AppendJSONString(b, v.Name)
	b = appendField(b, "result", v.Result)
	b = appendOptional(b, "reason", v.Reason)
	return append(b, '}')
}

// appendField appends `,"key":value`.
func appendField(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return api.AppendJSONString(b, value)
}

// appendOptional appends the field unless value is empty, as omitempty
// does.
func appendOptional(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	return appendField(b, key, value)
}

// dropLeadingComma removes the comma that the first member written after
// mark starts with.
func dropLeadingComma(b []byte, mark int) []byte {
	if len(b) > mark && b[mark] == ',' {
		return append(b[:mark], b[mark+1:]...)
	}
	return b
}
