package credits

// Progress is told, from time to time, how far long work (verify, a replay)
// has come: done of total units (total 0 when not known), and a few words
// of counts. The command line shows it; the work does not depend on it.
type Progress func(done, total int64, detail string)

func (p Progress) report(done, total int64, detail string) {
	if p != nil {
		p(done, total, detail)
	}
}
