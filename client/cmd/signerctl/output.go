package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// bundleFile is the destination of a bundle. For a regular file it is a
// temporary file beside the destination that is renamed into place once
// the bundle is written, so a failed write never leaves a truncated bundle
// under the final name. Anything else that exists (a device such as /dev/null or
// /dev/stdout, or a FIFO) is opened and written in place, because a rename
// would replace the node itself.
type bundleFile struct {
	path string
	tmp  *os.File

	// direct is the opened destination when it is not a regular file.
	direct *os.File
}

// createBundleFile checks that path can be written: it opens a destination
// that is not a regular file, and otherwise creates the temporary file
// beside the file that path names, following symbolic links so that a
// link stays a link.
func createBundleFile(path string) (*bundleFile, error) {
	fi, err := os.Stat(path)
	if err == nil && fi.IsDir() {
		return nil, fmt.Errorf("output %s is a directory; give a file name with -o", path)
	}
	if err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("cannot write output %s: %w", path, err)
		}
		return &bundleFile{path: path, direct: f}, nil
	}

	target := path
	if err == nil {
		if target, err = filepath.EvalSymlinks(path); err != nil {
			return nil, fmt.Errorf("cannot write output %s: %w", path, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot write output %s: %w; check that the directory exists and is writable", path, err)
	}
	return &bundleFile{path: target, tmp: tmp}, nil
}

// commit writes data and renames the temporary file to the final path.
// The bundle holds no secret, so it is made readable by all (0644).
func (f *bundleFile) commit(data []byte) error {
	if f.direct != nil {
		_, err := f.direct.Write(data)
		if closeErr := f.direct.Close(); err == nil {
			err = closeErr
		}
		f.direct = nil
		return err
	}

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

// discard closes what commit did not, and removes the temporary file
// unless commit renamed it.
func (f *bundleFile) discard() {
	if f.direct != nil {
		f.direct.Close()
		return
	}
	if f.tmp == nil {
		return
	}
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}
