package keys

import "time"

// SetClock replaces the clock of cosignature timestamps until the returned
// function is called.
func SetClock(now func() time.Time) (restore func()) {
	old := timeNow
	timeNow = now
	return func() { timeNow = old }
}
