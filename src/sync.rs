//! The one lock helper every shared structure uses.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering it if a thread panicked while holding it: every
/// structure behind these locks stays consistent between statements (a
/// panicking handler never holds one), so its data is still good, and one
/// connection's panic must not stop every other from taking the lock.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
