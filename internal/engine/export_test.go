package engine

// SetBeforeLock makes e call f between opening a backup image and taking its
// lock, where a concurrent writer can slip in.
func SetBeforeLock(e *Engine, f func()) { e.beforeLock = f }

// SetBeforeCopy makes e call f when a backup's copy is planned, while the
// obsolete source snapshots are being removed beside it; an error from f
// fails the copy there.
func SetBeforeCopy(e *Engine, f func() error) { e.beforeCopy = f }
