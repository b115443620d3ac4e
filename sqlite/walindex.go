package sqlite

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// The WAL-index header. In WAL mode every connection of every process
// shares the database's -shm file, and its first 96 bytes are two copies of
// a 48-byte header that a committing writer rewrites (its change counter,
// last frame, salts and checksums; https://www.sqlite.org/walformat.html,
// "The WAL-Index Header"). Equal headers at two moments mean that nobody
// committed in between: that is how a read can trust the writer's memory of
// account rows without a statement (see accountRows.Remembered).
//
// The file is read with pread, not mapped: a mapping of a file that another
// process truncates (SQLite does when the first connection opens it) would
// fault, and a read cannot.

const walIndexHeaderBytes = 48

type walIndexHeader [walIndexHeaderBytes]byte

type walIndex struct {
	path string

	mu     sync.Mutex // opening and closing
	closed bool
	file   atomic.Pointer[os.File]
}

// newWalIndex finds the -shm file of the database at path as SQLite names
// it: beside the file that path leads to, symbolic links followed.
func newWalIndex(path string) *walIndex {
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return &walIndex{path: path}
}

// header reads the current header; ok is false when there is none to trust
// (no file yet, or a writer in the middle of rewriting it: the copies
// differ, or it is not initialised).
func (w *walIndex) header() (h walIndexHeader, ok bool) {
	f := w.open()
	if f == nil {
		return h, false
	}
	var buf [2 * walIndexHeaderBytes]byte
	if n, err := f.ReadAt(buf[:], 0); err != nil || n != len(buf) {
		return h, false
	}
	if unlinked(f) {
		w.reopen(f)
		return h, false
	}
	first, second := buf[:walIndexHeaderBytes], buf[walIndexHeaderBytes:]
	const isInit = 12 // the header's isInit byte
	if !bytes.Equal(first, second) || first[isInit] == 0 {
		return h, false
	}
	copy(h[:], first)
	return h, true
}

func (w *walIndex) open() *os.File {
	if f := w.file.Load(); f != nil {
		return f
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if f := w.file.Load(); f != nil || w.closed {
		return f
	}
	f, err := os.Open(w.path + "-shm")
	if err != nil {
		return nil // not made yet: the next read tries again
	}
	w.file.Store(f)
	return f
}

// reopen drops f, a removed file, so that the next read opens the file
// that now has the name.
func (w *walIndex) reopen(f *os.File) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.file.CompareAndSwap(f, nil) {
		f.Close()
	}
}

// close closes the file; a read racing with it fails, and is not trusted.
func (w *walIndex) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	f := w.file.Swap(nil)
	if f == nil {
		return nil
	}
	return f.Close()
}
