//! CPU affinity: the CPUs this process may run on (`sched_getaffinity`, which `taskset`,
//! `numactl` and cgroup cpusets set), pinning the calling process to a set of them
//! (`sched_setaffinity`), and the CPU topology Linux publishes in sysfs (which CPUs share a
//! core, a socket). All through nix's safe wrappers: no `unsafe` here.
//!
//! What this module must never do: allocate or lock in [`pin`], which a freshly forked child
//! calls (the mask is built in the parent, [`CpuMask::new`]).
//!
//! Other targets (no `sched_setaffinity`: macOS, the BSDs but FreeBSD's own API): no set is
//! known and pinning is `Unsupported`; loops then run their workers unpinned.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::io;

    use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
    use nix::unistd::Pid;

    /// A set of CPUs to pin a process to, built in the parent before the fork.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct CpuMask(CpuSet);

    impl CpuMask {
        /// The mask of `cpus`; `InvalidInput` for a CPU number the kernel's set cannot hold
        /// (1024 and above, `CPU_SETSIZE`).
        pub(crate) fn new(cpus: &[usize]) -> io::Result<CpuMask> {
            let mut set = CpuSet::new();
            for &cpu in cpus {
                set.set(cpu).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("CPU {cpu} is above the largest CPU number a CPU set holds"),
                    )
                })?;
            }
            Ok(CpuMask(set))
        }
    }

    /// The CPUs this process may run on, in increasing order.
    pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
        let set = sched_getaffinity(Pid::from_raw(0))?;
        Ok((0..CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .collect())
    }

    /// Pins the calling process (its calling thread: a freshly forked child has only that one)
    /// to `mask`. Allocates nothing and takes no lock.
    pub(crate) fn pin(mask: &CpuMask) -> io::Result<()> {
        sched_setaffinity(Pid::from_raw(0), &mask.0)?;
        Ok(())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use std::io;

    /// No CPU sets on this target.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct CpuMask;

    impl CpuMask {
        pub(crate) fn new(_cpus: &[usize]) -> io::Result<CpuMask> {
            Err(unsupported())
        }
    }

    pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
        Err(unsupported())
    }

    pub(crate) fn pin(_mask: &CpuMask) -> io::Result<()> {
        Err(unsupported())
    }

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "this target has no sched_setaffinity",
        )
    }
}

pub(crate) use imp::{CpuMask, allowed_cpus, pin};

/// Which CPUs a topology list groups together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    /// The hardware threads of one core (`thread_siblings_list`).
    Core,
    /// The CPUs of one socket, a physical package (`core_siblings_list`).
    Socket,
}

/// The CPUs that share `cpu`'s core or socket, as sysfs lists them (`0-3,8`), or `None`
/// where sysfs does not say (not Linux, no such CPU, a container without `/sys`).
pub(crate) fn topology_list(cpu: usize, group: Group) -> Option<String> {
    let file = match group {
        Group::Core => "thread_siblings_list",
        Group::Socket => "core_siblings_list",
    };
    std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu{cpu}/topology/{file}")).ok()
}
