package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	// positionRE splits a yaml.TypeError message into its line, the
	// column that typeErrorf adds, and the rest.
	positionRE = regexp.MustCompile(`^line (\d+)(?: column (\d+))?: (.*)$`)

	// unknownFieldRE matches yaml.v3's message for a key with no struct
	// field.
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

	// wrongTypeRE matches yaml.v3's message for a value of the wrong type,
	// such as "cannot unmarshal !!str `1001` into uint32" or "cannot
	// unmarshal !!map into []config.Tenant". yaml.v3 shortens a scalar of
	// more than 10 bytes to its first 7 and "...".
	wrongTypeRE = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// decodeProblems turns a yaml.TypeError into one Problem per message, with
// the key path and column of the value it is about, and records each path
// in v.undecoded so that later checks skip values that did not decode.
func (v *validator) decodeProblems(te *yaml.TypeError) []Problem {
	out := make([]Problem, 0, len(te.Errors))
	for _, msg := range te.Errors {
		p := Problem{File: v.file, Message: msg}
		if m := positionRE.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Column, _ = strconv.Atoi(m[2])
			p.Message = m[3]
		}

		if m := unknownFieldRE.FindStringSubmatch(p.Message); m != nil {
			p.Path, p.Column = v.findKey(p.Line, m[1])
			p.Message = fmt.Sprintf("unknown key %q; check its spelling against docs/configuration.md", m[1])
		} else if m := wrongTypeRE.FindStringSubmatch(p.Message); m != nil {
			tag, value, goType := m[1], m[2], m[3]
			n, path := v.findValue(p.Line, tag, value, goType)
			if n != nil {
				p.Path, p.Column = path, n.Column
			}
			p.Message = wrongTypeMessage(p.Path, tag, value, goType)
			if n != nil && path == "" {
				// The whole document failed to decode.
				v.undecoded[""] = true
			}
		} else if p.Column > 0 {
			p.Path = v.findPath(p.Line, p.Column)
		}

		if p.Path != "" {
			v.undecoded[p.Path] = true
		}
		out = append(out, p)
	}
	return out
}

// wrongTypeMessage rewords yaml.v3's "cannot unmarshal !!tag `value` into
// goType" as what the key expects and how to write it.
func wrongTypeMessage(path, tag, value, goType string) string {
	if path == "" && goType == "config.Config" {
		return "the config must be a mapping of top-level keys such as tenants and socket, but is " + describeNode(tag, value)
	}
	key := "this value"
	if path != "" {
		// The problem's own path already gives the location, so name only
		// the last key.
		key = path[strings.LastIndex(path, ".")+1:]
	}

	found := describeNode(tag, value)

	switch {
	case strings.HasPrefix(goType, "[]"):
		return fmt.Sprintf("%s must be a list, but is %s; start each item on its own line with \"- \"", key, found)
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(strings.TrimPrefix(goType, "*"), "config."):
		return fmt.Sprintf("%s must be a mapping of keys to values, but is %s", key, found)
	case strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "int"):
		if _, err := strconv.ParseUint(value, 10, 64); err == nil && tag == "str" {
			return fmt.Sprintf("%s must be a number, but is the string %q; remove the quotes", key, value)
		}
		unsigned := ""
		if strings.HasPrefix(goType, "uint") {
			unsigned = " non-negative"
		}
		return fmt.Sprintf("%s must be a%s whole number, but is %s", key, unsigned, found)
	case goType == "bool":
		return fmt.Sprintf("%s must be true or false, but is %s", key, found)
	case goType == "string":
		return fmt.Sprintf("%s must be a single value, but is %s", key, found)
	}
	return fmt.Sprintf("%s cannot be %s; it must decode into %s", key, found, goType)
}

// describeNode names a YAML value of the given tag for a message.
func describeNode(tag, value string) string {
	switch tag {
	case "map":
		return "a mapping"
	case "seq":
		return "a list"
	case "str":
		return fmt.Sprintf("the string %q", value)
	case "null":
		return "empty"
	}
	return value
}

// findValue returns the node on line whose kind matches tag and, for a
// scalar, whose value matches value, with its key path. yaml.v3 reports a
// collection at the line of its first item, so a mapping and the mapping
// in its first value can share a line. Of such nested matches, the one
// whose key path has Go type goType in Config is taken, or else the
// innermost.
func (v *validator) findValue(line int, tag, value, goType string) (*yaml.Node, string) {
	prefix, shortened := strings.CutSuffix(value, "...")
	matches := func(n *yaml.Node) bool {
		if n.Line != line {
			return false
		}
		switch tag {
		case "map":
			return n.Kind == yaml.MappingNode
		case "seq":
			return n.Kind == yaml.SequenceNode
		}
		if n.Kind != yaml.ScalarNode {
			return false
		}
		if shortened {
			return strings.HasPrefix(n.Value, prefix)
		}
		return n.Value == value
	}
	n, path := walkValues(v.root, "", matches)
	for n != nil && typeAtPath(path) != goType {
		inner, innerPath := walkChildren(n, path, matches)
		if inner == nil {
			break
		}
		n, path = inner, innerPath
	}
	return n, path
}

// typeAtPath returns the Go type, as yaml.v3 names it in messages, of the
// Config value at a key path, or "" when the path leads to no field.
func typeAtPath(path string) string {
	t := reflect.TypeOf(Config{})
	for _, part := range splitPath(path) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case strings.HasPrefix(part, "["):
			if t.Kind() != reflect.Slice {
				return ""
			}
			t = t.Elem()
		case t.Kind() == reflect.Map:
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			field, ok := fieldByYAMLName(t, part)
			if !ok {
				return ""
			}
			t = field.Type
		default:
			return ""
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.String()
}

func fieldByYAMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.Split(f.Tag.Get("yaml"), ",")[0] == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// findPath returns the key path of the value node at line and column, or
// "" when there is none.
func (v *validator) findPath(line, column int) string {
	_, path := walkValues(v.root, "", func(n *yaml.Node) bool { return n.Line == line && n.Column == column })
	return path
}

// walkValues returns the first value node under n, in document order, for
// which match is true, with its key path below path. Mapping keys are not
// visited.
func walkValues(n *yaml.Node, path string, match func(*yaml.Node) bool) (*yaml.Node, string) {
	if n == nil {
		return nil, ""
	}
	if n.Kind != yaml.DocumentNode && match(n) {
		return n, path
	}
	return walkChildren(n, path, match)
}

// walkChildren is walkValues on the children of n only.
func walkChildren(n *yaml.Node, path string, match func(*yaml.Node) bool) (*yaml.Node, string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if found, p := walkValues(c, path, match); found != nil {
				return found, p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			keyPath := n.Content[i].Value
			if path != "" {
				keyPath = path + "." + keyPath
			}
			if found, p := walkValues(n.Content[i+1], keyPath, match); found != nil {
				return found, p
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if found, p := walkValues(c, fmt.Sprintf("%s[%d]", path, i), match); found != nil {
				return found, p
			}
		}
	}
	return nil, ""
}
