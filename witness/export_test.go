package witness

import "time"

// SetBounds lowers the history and fork bounds of the stores opened until
// restore is called.
func SetBounds(history, forks int) (restore func()) {
	h, f := historySize, maxForks
	historySize, maxForks = history, forks
	return func() { historySize, maxForks = h, f }
}

// SetClock replaces the witness's clock until restore is called.
func SetClock(now func() time.Time) (restore func()) {
	old := timeNow
	timeNow = now
	return func() { timeNow = old }
}

// StoreReads returns the number of database reads of s's History.
func StoreReads(s *Store) uint64 { return s.reads.Load() }
