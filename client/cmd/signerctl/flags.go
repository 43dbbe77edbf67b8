package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// globalFlags are the flags signerctl reads before the command name.
var globalFlags = []string{"socket", "admin-socket"}

// parseFlags parses a command's flags. The flag package would print a
// parse error and then the whole flag list to stderr, and exitCode would
// print the error again, so parseFlags keeps the flag package quiet:
// -h prints the command's usage to stdout and returns flag.ErrHelp (exit
// status 0), and any other mistake returns a usage error (exit status 2)
// that exitCode prints once.
func parseFlags(e *env, fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	if err == nil {
		return nil
	}

	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(e.stdout)
		if usage != nil {
			usage()
		} else {
			fmt.Fprintf(e.stdout, "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
		return flag.ErrHelp
	}

	if msg, ok := misplacedGlobalFlag(err, fs.Name(), args); ok {
		return usageError("%s", msg)
	}
	return usageError("%v; run %s -h for its flags", err, fs.Name())
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, and returns the positional arguments in order.
// A "--" ends the flags as usual.
func parseInterspersed(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := parseFlags(e, fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}

		// The flag package stops at the first non-flag argument or after
		// "--". After "--" every argument is positional.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// misplacedGlobalFlag checks whether err is the flag package's error for
// an undefined flag that is a global flag. If so, it returns a message
// with the corrected command line, global flag first.
func misplacedGlobalFlag(err error, command string, args []string) (string, bool) {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return "", false
	}
	isGlobal := false
	for _, g := range globalFlags {
		isGlobal = isGlobal || g == name
	}
	if !isGlobal {
		return "", false
	}

	value := "PATH"
	for i, a := range args {
		flagName, flagValue, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || flagName != name {
			continue
		}
		if hasValue {
			value = flagValue
		} else if i+1 < len(args) {
			value = args[i+1]
		}
		break
	}
	sub := strings.TrimPrefix(command, "signerctl ")
	return fmt.Sprintf("flag --%s is a global flag; put it before the command: signerctl --%s %s %s", name, name, value, sub), true
}

// requireFlags returns a usage error that names every flag in values
// (flag name to value) whose value is empty.
func requireFlags(command string, values map[string]string) error {
	var missing []string
	for name, v := range values {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return usageError("%s needs %s", command, strings.Join(missing, " and "))
}
