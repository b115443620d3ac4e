//go:build unix

package sqlite

import (
	"os"
	"syscall"
)

// unlinked reports whether f's file has been removed from its directory:
// then SQLite works on a new -shm file, and f's header no longer moves. (It
// happens only when every connection to the database closed, ours
// included, but a header that never moves would vouch for rows forever.)
func unlinked(f *os.File) bool {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return true
	}
	return st.Nlink == 0
}
