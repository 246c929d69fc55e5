// Package atomicfile replaces a file so that a crash or a failed write leaves
// either the old content or the new one, never a mix. The fault state
// (input) and the disk queue's metadata (output) both use it.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// file is what WriteFile needs of the temporary file; *os.File outside
// tests, which inject failures through createTemp.
type file interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// createTemp creates the temporary file beside the target, so that the
// rename stays inside one file system.
var createTemp = func(dir, pattern string) (file, error) { return os.CreateTemp(dir, pattern) }

// WriteFile replaces path with data durably: it writes a temporary file in
// path's directory, fsyncs it, renames it over path and fsyncs the
// directory, so that the rename itself survives a power loss. On any error
// path keeps its previous content and the temporary file is removed.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := createTemp(dir, tempPrefix(base)+"*")
	if err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = os.Remove(tmp)
		}
	}()

	// Every step runs only when the one before succeeded: a short or failed
	// write must never be renamed over the old content.
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	renamed = true
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("replace %s: sync directory: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs a directory, making the creations, renames and removals in
// it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveTemps removes the temporary files a WriteFile of path left behind
// when the process died during it. Call it before path is written again.
func RemoveTemps(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	matches, _ := filepath.Glob(filepath.Join(dir, tempPrefix(base)+"*"))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}

// tempPrefix starts the names of path's temporary files: hidden, and never
// a name diskcache or the state store reads.
func tempPrefix(base string) string { return "." + base + ".tmp-" }
