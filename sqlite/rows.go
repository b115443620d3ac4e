package sqlite

import (
	"sync"
	"time"

	"github.com/credits/credits"
)

// Account rows in the writer's memory. The group-commit writer is the only
// writer in the process, so it can remember the account rows it read and
// wrote, and lock an account without reading its row again (a debit's
// SELECT of its account was 8 % of the writer's time). It keeps what a write
// changed only if the write is kept (its savepoint released, its batch
// committed), and forgets everything when another connection may have
// written: another process (the CLI) or a migration, which SQLite's
// data_version shows the writer after each BEGIN IMMEDIATE, or a raw Exec.
//
// Reads of one account may use the committed rows too (Remembered), when
// they are the database's rows now: the writer marks them with the
// WAL-index header that its commit left (walindex.go), after checking that
// no other connection had committed since its BEGIN IMMEDIATE; a read
// compares the header it finds with the mark. Any commit since, by anyone,
// changes the header, and the read goes to SQL.
//
// Rows that reads fetched that way are remembered too, apart (read), for
// the accounts the writer has not touched: a read offers its row when the
// header was the mark before and after it, so the row is the database's at
// the mark. The writer never uses them, and each commit drops the ones of
// the accounts its batch changed; a commit by anyone else drops them all.

// maxRememberedAccounts bounds the memory: past it, the rows are forgotten
// and read again as they are used.
const maxRememberedAccounts = 100_000

type accountRows struct {
	mu        sync.Mutex // the writer goroutine; Exec, which forgets; reads
	committed map[string]credits.Account
	// committedAt is the WAL-index header of the database whose rows
	// committed holds; marked is false when there is none.
	committedAt walIndexHeader
	marked      bool
	batch       map[string]credits.Account // kept by the released writes of the running batch
	write       map[string]credits.Account // read or changed by the running write
	read        map[string]credits.Account // offered by reads, as of the mark
	changed     map[string]bool            // accounts the running batch changed, remembered or not
}

func newAccountRows() *accountRows {
	return &accountRows{committed: map[string]credits.Account{}, batch: map[string]credits.Account{},
		write: map[string]credits.Account{}, read: map[string]credits.Account{}, changed: map[string]bool{}}
}

func (r *accountRows) Account(id string) (credits.Account, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookUp(id)
}

func (r *accountRows) lookUp(id string) (credits.Account, bool) {
	if a, ok := r.write[id]; ok {
		return a, true
	}
	if a, ok := r.batch[id]; ok {
		return a, true
	}
	a, ok := r.committed[id]
	return a, ok
}

func (r *accountRows) Keep(a credits.Account) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.write[a.ID] = a
}

// Change applies a statement's change to a remembered row; a row not
// remembered stays so (the next lock reads it).
func (r *accountRows) Change(id string, change func(*credits.Account)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changed[id] = true
	a, ok := r.lookUp(id)
	if !ok {
		return
	}
	change(&a)
	if a.DueAt != nil { // as SQLite stores it, to the microsecond
		due := time.UnixMicro(a.DueAt.UnixMicro()).UTC()
		a.DueAt = &due
	}
	r.write[id] = a
}

// Remembered returns a committed row when the database is still as the
// writer marked it: at is the WAL-index header a read found just before.
func (r *accountRows) Remembered(id string, at walIndexHeader) (credits.Account, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.marked || r.committedAt != at {
		return credits.Account{}, false
	}
	if a, ok := r.committed[id]; ok {
		return a, true
	}
	a, ok := r.read[id]
	return a, ok
}

// offer remembers a row that a read found while the header was at, before
// and after: the database's row at at. When nothing is remembered (after a
// start, or another connection's commit) and no mark stands, the memory
// starts at at if at is still the header now (now reads it): an empty
// memory is the database's at any header.
func (r *accountRows) offer(a credits.Account, at walIndexHeader, now func() (walIndexHeader, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.marked && len(r.committed) == 0 {
		if current, ok := now(); ok && current == at {
			clear(r.read)
			r.committedAt, r.marked = at, true
		}
	}
	if !r.marked || r.committedAt != at {
		return
	}
	if len(r.read) >= maxRememberedAccounts {
		clear(r.read)
	}
	r.read[a.ID] = a
}

// mark records the header of the database that the remembered rows are
// now; unmark says they may not be (another connection committed), and
// drops what reads offered.
func (r *accountRows) mark(at walIndexHeader) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.committedAt, r.marked = at, true
}

func (r *accountRows) unmark() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marked = false
	clear(r.read)
}

// released keeps the running write's rows for the batch; rolledBack drops them.
func (r *accountRows) released() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, a := range r.write {
		r.batch[id] = a
	}
	clear(r.write)
}

func (r *accountRows) rolledBack() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.write)
}

// ended keeps the batch's rows once it committed, and drops them if not.
func (r *accountRows) ended(committed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Until the writer marks the rows with the header its commit left, reads
	// neither use nor offer rows; what reads offered of the accounts this
	// batch changed is dropped.
	r.marked = false
	for id := range r.changed {
		delete(r.read, id)
	}
	clear(r.changed)
	if committed {
		if len(r.committed)+len(r.batch) > maxRememberedAccounts {
			clear(r.committed)
		}
		for id, a := range r.batch {
			r.committed[id] = a
		}
	}
	clear(r.batch)
	clear(r.write)
}

// forget drops every row: someone else may have written.
func (r *accountRows) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marked = false
	clear(r.committed)
	clear(r.batch)
	clear(r.write)
	clear(r.read)
}
