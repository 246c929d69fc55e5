package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// faultyFile is a temporary file whose steps can fail.
type faultyFile struct {
	*os.File
	writeErr error // returned by Write after writing half of the data
	syncErr  error
	closeErr error
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if f.writeErr != nil {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, f.writeErr
	}
	return f.File.Write(p)
}

func (f *faultyFile) Sync() error {
	if f.syncErr != nil {
		return f.syncErr
	}
	return f.File.Sync()
}

func (f *faultyFile) Close() error {
	err := f.File.Close()
	if f.closeErr != nil {
		return f.closeErr
	}
	return err
}

func TestWriteFile(t *testing.T) {
	errDisk := errors.New("no space left on device")
	const old, next = "old content\n", "new content, longer than the old one\n"
	tests := []struct {
		name    string
		exists  bool       // the target exists with old before the write
		fault   faultyFile // the failures injected; zero: none
		wantErr error      // nil: success
		want    string     // the target's content afterwards; "" for absent
	}{
		{name: "creates", want: next},
		{name: "replaces", exists: true, want: next},
		{name: "failed write keeps the old content", exists: true, fault: faultyFile{writeErr: errDisk}, wantErr: errDisk, want: old},
		{name: "failed write creates nothing", fault: faultyFile{writeErr: errDisk}, wantErr: errDisk},
		{name: "failed fsync keeps the old content", exists: true, fault: faultyFile{syncErr: errDisk}, wantErr: errDisk, want: old},
		{name: "failed close keeps the old content", exists: true, fault: faultyFile{closeErr: errDisk}, wantErr: errDisk, want: old},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if tc.exists {
				if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			orig := createTemp
			t.Cleanup(func() { createTemp = orig })
			createTemp = func(dir, pattern string) (file, error) {
				f, err := os.CreateTemp(dir, pattern)
				if err != nil {
					return nil, err
				}
				ff := tc.fault
				ff.File = f
				return &ff, nil
			}

			err := WriteFile(path, []byte(next), 0o640)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("WriteFile() error = %v, want %v", err, tc.wantErr)
			}
			got, err := os.ReadFile(path)
			if tc.want == "" {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("target: %q, %v; want it absent", got, err)
				}
			} else if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("target content (-want +got):\n%s", diff)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			var wantNames []string
			if tc.want != "" {
				wantNames = []string{"state.json"}
			}
			if diff := cmp.Diff(wantNames, names); diff != "" {
				t.Errorf("directory (-want +got), no temporary file may stay:\n%s", diff)
			}
		})
	}
}

func TestWriteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(path, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o640 {
		t.Errorf("mode = %v, want %v", got, os.FileMode(0o640))
	}
}
