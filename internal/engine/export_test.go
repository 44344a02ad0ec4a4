package engine

// SetBeforeLock makes e call f between opening a backup image and taking its
// lock, where a concurrent writer can slip in.
func SetBeforeLock(e *Engine, f func()) { e.beforeLock = f }
