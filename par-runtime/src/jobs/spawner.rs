//! [`Spawner`]: what `#[parallel]`'s `spawn` submits to, below the families that implement it
//! ([`Queue`](crate::Queue) and [`Map`](crate::Map) in `queue`, [`Pool`](crate::Pool) in `pool`;
//! a `Queue` on MPI ranks uses a `Pool`, so `pool` sits under `queue`).

use crate::wire::codec::Transfer;

/// Where a call of a `#[parallel]` function can be submitted: [`Queue`](crate::Queue) and [`Map`](crate::Map) (which run
/// `f(args)` in a forked child) and [`Pool`](crate::Pool) (which sends `name` and the encoded
/// `args` to a reusable worker). The companion `spawn` that `#[parallel]` generates takes any
/// `Spawner`.
///
/// ```
/// #[par::parallel]
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
/// // One helper submits to any of them.
/// fn submit_all<'a, S: par::Spawner<'a, u32>>(to: &mut S) {
///     for x in 0..3 {
///         double::spawn(to, x);
///     }
/// }
/// let mut queue = par::Queue::new(2);
/// submit_all(&mut queue);
/// let mut got: Vec<u32> = queue.map(|(_job, r)| r.unwrap()).collect();
/// got.sort();
/// assert_eq!(got, [0, 2, 4]);
/// let mut pool = par::Pool::new(2);
/// submit_all(&mut pool);
/// assert_eq!(pool.ordered().map(|r| r.unwrap()).collect::<Vec<_>>(), [0, 2, 4]);
/// ```
///
/// It is sealed: a hook for the code `#[parallel]` generates, implemented by par's families
/// only (use it as a bound, as above, not as a trait to implement).
pub trait Spawner<'a, T: Transfer>: sealed::Sealed {
    /// Submits a call of the function registered as `name`, which is `f`, with `args` (its
    /// arguments as a tuple); returns the job number. Never blocks.
    fn spawn_call<A: Transfer + 'a>(&mut self, name: &'static str, args: A, f: fn(A) -> T)
    -> usize;
}

pub(crate) mod sealed {
    /// Implemented by [`Queue`](crate::Queue), [`Map`](crate::Map) and [`Pool`](crate::Pool).
    pub trait Sealed {}
}
