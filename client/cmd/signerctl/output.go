package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// bundleFile is a temporary file beside the bundle's destination that is
// renamed into place once the bundle is written, so a failed write never
// leaves a truncated bundle under the final name.
type bundleFile struct {
	path string
	tmp  *os.File
}

// createBundleFile checks that path can be written by creating the
// temporary file beside it.
func createBundleFile(path string) (*bundleFile, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("output %s is a directory; give a file name with -o", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot write output %s: %w; check that the directory exists and is writable", path, err)
	}
	return &bundleFile{path: path, tmp: tmp}, nil
}

// commit writes data and renames the temporary file to the final path.
// The bundle holds no secret, so it is made readable by all (0644).
func (f *bundleFile) commit(data []byte) error {
	if _, err := f.tmp.Write(data); err != nil {
		return err
	}
	if err := f.tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := f.tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.tmp.Name(), f.path); err != nil {
		return err
	}
	f.tmp = nil
	return nil
}

// discard removes the temporary file unless commit renamed it.
func (f *bundleFile) discard() {
	if f.tmp == nil {
		return
	}
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}
