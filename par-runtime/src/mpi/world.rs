//! What this process knows of the MPI job (its rank, the size, rank 0's view of the other
//! ranks) and the links that pools on rank 0 open to the ranks: the low half of the MPI
//! backend, used by the pools (`jobs::pool`), under the MPI thread and its serving loops
//! (`pump`), which sit above the pools. Calls no MPI function: only the MPI thread does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::Link;
use crate::error::{Error, Result};
use crate::sys::{self, Fd, Pid};

/// What rank 0 knows of each rank.
pub(super) struct Peer {
    pub(super) pid: Pid,
    pub(super) host: String,
}

/// The MPI job as this process sees it.
pub(super) struct World {
    pub(super) rank: usize,
    pub(super) size: usize,
    /// By rank (rank 0's view; on other ranks only their own entry is filled).
    pub(super) peers: Vec<Peer>,
    /// The process that runs the MPI thread (a forked child does not).
    pub(super) owner: Pid,
    /// True on rank 0 while `main`'s body runs: pools may link to ranks.
    pub(super) serving: AtomicBool,
}

impl World {
    /// True in rank 0's own process (not a forked child) while the body of `main` runs.
    pub(super) fn serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed) && self.owner == sys::getpid() && self.size > 1
    }
}

pub(super) static WORLD: OnceLock<World> = OnceLock::new();

pub(super) fn world() -> Option<&'static World> {
    WORLD.get()
}

/// Requests from pools on rank 0 to its MPI thread, which is woken by a byte on `wake`.
pub(super) enum Request {
    Link {
        id: u64,
        rank: usize,
        /// Read end of the pool's command pipe.
        cmd: Fd,
        /// Write end of the pool's result pipe.
        res: Fd,
    },
    Stop,
}

pub(super) struct Control {
    pub(super) requests: Vec<Request>,
    /// Write end of the MPI thread's wake-up pipe.
    pub(super) wake: Option<Fd>,
}

pub(super) static CONTROL: Mutex<Control> = Mutex::new(Control {
    requests: Vec::new(),
    wake: None,
});
static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// The process on its rank that failed a call, by `(link, job)`: recorded by the MPI thread
/// when the failure arrives (before the pool can read it from its link), taken by the pool.
static SERVED: Mutex<Option<HashMap<(u64, u64), i32>>> = Mutex::new(None);

/// Job `job` of `link` failed in process `pid` of its rank.
pub(super) fn served(link: u64, job: u64, pid: i32) {
    let mut s = SERVED.lock().unwrap_or_else(PoisonError::into_inner);
    s.get_or_insert_with(HashMap::new).insert((link, job), pid);
}

/// The process that failed job `job` of `link` (see [`served`]), once.
pub(super) fn served_by(link: u64, job: u64) -> Option<i32> {
    let mut s = SERVED.lock().unwrap_or_else(PoisonError::into_inner);
    s.as_mut()?.remove(&(link, job))
}

pub(super) fn request(r: Request) {
    let mut c = CONTROL.lock().unwrap_or_else(PoisonError::into_inner);
    c.requests.push(r);
    if let Some(w) = &c.wake {
        // A full wake-up pipe already holds a wake-up: nothing is lost.
        let _ = sys::write(w, &[1]);
    }
}

pub(super) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(context, e)
}

/// A new link to `rank`: two pipes, whose far ends go to the MPI thread.
pub(super) fn connect(rank: usize) -> Result<Link> {
    let w = world()
        .filter(|w| w.serving() && rank >= 1 && rank < w.size)
        .ok_or_else(|| {
            Error::io(
                "could not link to an MPI rank",
                std::io::Error::other(format!("no rank {rank} serves this process")),
            )
        })?;
    let (cmd_r, cmd_w) = sys::pipe().map_err(io("could not create a rank link's pipe"))?;
    let (res_r, res_w) = sys::pipe().map_err(io("could not create a rank link's pipe"))?;
    for fd in [&cmd_r, &res_w, &res_r] {
        sys::set_nonblocking(fd).map_err(io("could not make a rank link non-blocking"))?;
    }
    sys::grow_pipe(&res_r, 1 << 20);
    sys::grow_pipe(&cmd_w, 1 << 20);
    let id = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
    request(Request::Link {
        id,
        rank,
        cmd: cmd_r,
        res: res_w,
    });
    Ok(Link {
        id,
        rank,
        pid: w.peers[rank].pid,
        tx: cmd_w,
        rx: res_r,
    })
}
