//! pprocess' `BackgroundCallable` and `BackgroundQueue`: a detached process computes a result
//! and keeps it at a Unix socket path until a collector connects (this program later, or
//! another program, or a later run of this one).
//!
//! What this module must never do: leave a zombie (the detached process is a grandchild,
//! adopted by init), lose a result (the detached process waits until one collector has read
//! all of it), or hang a collector on a job that died (its connection then ends early).

use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::child::report::{flush_stdout, panic_message, take_panic_location};
use crate::child::{self, Pipes, What};
use crate::error::{Error, Result};
use crate::jobs::report::Recorder;
use crate::sys::{self, Pid};
use crate::wire::codec::{self, Transfer};
use crate::wire::{self, Fill, FrameBuf, FrameReader, Kind};

/// What a background process sends: its pid, then how the job ended.
type Outcome = (i32, Ended);

/// How a background job ended.
#[derive(serde::Serialize, serde::Deserialize)]
enum Ended {
    /// Its encoded result.
    Value(Vec<u8>),
    /// It panicked (message, location), or the `Serialize` of its result did.
    Panicked(String, Option<String>),
    /// Its result's `Serialize` returned `Err` (serde's message).
    Encode(String),
}

/// A job running in a detached background process (pprocess' `BackgroundCallable`), whose
/// result waits at a Unix socket path. Collect it with [`BackgroundQueue`].
///
/// The process is detached: it does not die with this program (that is the point), is not
/// this program's child (no zombie, nothing to reap), and leaves the terminal's process group
/// (Ctrl-C does not reach it). Its stdin, stdout and stderr are `/dev/null`, as for any daemon:
/// it must not keep the starter's pipes open (`program | tee log` would wait for it), so a job
/// that reports progress writes it to a file. It removes its socket once a collector has read
/// the result.
/// A result nobody collects waits forever: kill the [`pid`](Background::pid) to give up.
///
/// ```
/// let path = std::env::temp_dir().join(format!("par-doc-{}.socket", std::process::id()));
/// let job = par::background(&path, || (1..=10u64).product::<u64>()).unwrap();
/// // ... later, or from another process:
/// let mut queue = par::BackgroundQueue::<u64>::connect(job.path()).unwrap();
/// assert_eq!(queue.recv().unwrap(), 3_628_800);
/// ```
#[derive(Debug)]
pub struct Background {
    pid: Pid,
    path: PathBuf,
    /// The start: one job, the detached process and the time it took to start it.
    report: Recorder,
}

impl Background {
    /// The detached process.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("par-doc-pid-{}.socket", std::process::id()));
    /// let job = par::background(&path, || 7u8).unwrap();
    /// assert_ne!(job.pid(), std::process::id()); // not this process, and not its child either
    /// let mut queue = par::BackgroundQueue::<u8>::connect(job.path()).unwrap();
    /// assert_eq!(queue.recv().unwrap(), 7);
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Where its result waits: the socket path it was started with, for
    /// [`BackgroundQueue::connect`] (from this process or a later one).
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("par-doc-path-{}.socket", std::process::id()));
    /// let job = par::background(&path, || 1u8).unwrap();
    /// assert_eq!(job.path(), path);
    /// # let _ = par::BackgroundQueue::<u8>::connect(job.path()).unwrap().recv();
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What starting the job did, as a [`FamilyReport`](crate::FamilyReport): family
    /// `"Background"`, the site of the [`background`] call, one job, the detached process
    /// in `per_worker` (its pid, as [`Background::pid`]) and the time the start took
    /// (`fork`: the launcher's fork, its fork of the detached process and its exit). Its
    /// result is received by a [`BackgroundQueue`], which reports that. Under `PAR_REPORT=1`
    /// the same is printed when this handle is dropped, and
    /// [`last_family_report`](crate::last_family_report) returns it then.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("par-doc-report-{}.socket", std::process::id()));
    /// let job = par::background(&path, || 7u8).unwrap();
    /// let r = job.report();
    /// assert_eq!((r.family, r.jobs, r.per_worker.len()), ("Background", 1, 1));
    /// assert_eq!(r.per_worker[0].pid as u32, job.pid());
    /// assert!(r.fork > std::time::Duration::ZERO);
    /// # let _ = par::BackgroundQueue::<u8>::connect(job.path()).unwrap().recv();
    /// ```
    pub fn report(&self) -> crate::FamilyReport {
        self.report.snapshot()
    }
}

/// The start is reported when the handle is dropped (as asked: `PAR_REPORT`, `PAR_TRACE`);
/// the job runs on.
impl Drop for Background {
    fn drop(&mut self) {
        self.report.end();
    }
}

fn io_at(context: &'static str, path: &Path, e: std::io::Error) -> Error {
    Error::io(
        context,
        std::io::Error::new(e.kind(), format!("{}: {e}", path.display())),
    )
}

/// Runs `job` in a detached background process whose result waits at the Unix socket `path`
/// (see [`Background`]). Fails if another background job is waiting at `path`; a stale socket
/// file (nobody listening) is replaced. `job` runs as a normal process, not as a par worker:
/// its own parallel loops and queues fork workers.
///
/// ```
/// let path = std::env::temp_dir().join(format!("par-doc-bg-{}.socket", std::process::id()));
/// let job = par::background(&path, || "done".to_string()).unwrap();
/// // A second job at the same path is refused while the first one waits there.
/// assert!(par::background(&path, || "again".to_string()).is_err());
/// let mut queue = par::BackgroundQueue::<String>::connect(job.path()).unwrap();
/// assert_eq!(queue.recv().unwrap(), "done");
/// ```
#[track_caller]
pub fn background<T: Transfer>(
    path: impl AsRef<Path>,
    job: impl FnOnce() -> T,
) -> Result<Background> {
    let site = Location::caller();
    let path = path.as_ref().to_path_buf();
    if path.exists() {
        if sys::connect(&path).is_ok() {
            return Err(io_at(
                "a background job is already waiting at this path",
                &path,
                std::io::Error::from(std::io::ErrorKind::AddrInUse),
            ));
        }
        std::fs::remove_file(&path)
            .map_err(|e| io_at("could not remove a stale background socket", &path, e))?;
    }
    // Bound before the fork: a collector may connect as soon as this returns.
    let listener =
        sys::listen(&path).map_err(|e| io_at("could not listen at a socket", &path, e))?;
    let socket = path.clone();
    let pipes = Pipes {
        what: What::LAUNCHER,
        ..Pipes::default()
    };
    let listener_fd = sys::listener_fd(&listener);
    // Made before the fork, so that its wall time includes it.
    let mut report = Recorder::new("Background", site, 1);
    let at = Instant::now();
    let (mut middle, ends) = child::spawn_keeping(pipes, &[listener_fd], move |ends| {
        // The launcher: leave the session, start the real one, tell its pid, exit; the real
        // one is then adopted by init, which reaps it.
        if sys::setsid().is_err() || sys::detach_stdio().is_err() {
            return 3;
        }
        let detached = child::detach(sys::listener_fd(&listener), move || {
            serve(&listener, &socket, job)
        });
        match detached {
            Ok(pid) => i32::from(sys::write_all(&ends.res, &pid.as_raw().to_le_bytes()).is_err()),
            Err(_) => 4,
        }
    })?;
    let status = middle.reap();
    let mut b = [0u8; 4];
    let mut got = 0;
    // The launcher has exited: what it wrote is all in the pipe, and no writer is left.
    while got < 4 {
        match sys::read(&ends.res, &mut b[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    if got < 4 {
        let _ = std::fs::remove_file(&path);
        return Err(Error::io(
            "could not start a background job",
            std::io::Error::other(format!("its launcher ended with {status:?}")),
        ));
    }
    let pid = Pid::from_raw(i32::from_le_bytes(b));
    report.submitted();
    report.forked(pid.as_raw(), at, at.elapsed());
    Ok(Background { pid, path, report })
}

/// The detached process: compute, then hand the result to the first collector that reads it
/// all, remove the socket, exit.
fn serve<T: Transfer>(listener: &sys::Listener, path: &Path, job: impl FnOnce() -> T) -> i32 {
    let panicked = |p: Box<dyn std::any::Any + Send>| {
        Ended::Panicked(panic_message(&*p), take_panic_location())
    };
    let outcome = match catch_unwind(AssertUnwindSafe(job)) {
        // The result's `Serialize` (and `Drop`) are user code too.
        Ok(v) => catch_unwind(AssertUnwindSafe(move || {
            let mut bytes = Vec::new();
            match codec::encode_into(&v, &mut bytes) {
                Ok(()) => Ended::Value(bytes),
                Err(Error::Encode { message, .. }) => Ended::Encode(message),
                Err(e) => Ended::Encode(e.to_string()),
            }
        }))
        .unwrap_or_else(panicked),
        Err(p) => panicked(p),
    };
    flush_stdout();
    let mut frame = FrameBuf::default();
    frame.begin(Kind::Message);
    let outcome: Outcome = (sys::getpid().as_raw(), outcome);
    if codec::encode_into(&outcome, &mut frame.buf).is_err() || frame.end().is_err() {
        return 2;
    }
    loop {
        let Ok(mut stream) = sys::accept(listener) else {
            return 2;
        };
        // Only the user who started the job may collect it: another user's connection is
        // closed at once, and the result waits for the next one.
        if sys::peer_uid(&stream).ok() != Some(sys::euid()) {
            continue;
        }
        // Delivered when the collector read everything and closed (it then sends nothing,
        // so a read of 0 bytes after the write says so); otherwise wait for the next one.
        if stream.write_all(&frame.buf).is_ok() && stream.flush().is_ok() {
            let mut b = [0u8; 1];
            if let Ok(0) = stream.read(&mut b) {
                let _ = std::fs::remove_file(path);
                return 0;
            }
        }
    }
}

/// Collects the result of a [`background`] job waiting at a socket path (pprocess'
/// `BackgroundQueue`): iterate it (one item) or call [`recv`](BackgroundQueue::recv).
/// Connecting works from any process, also a later run of the program that started the job.
///
/// ```
/// let path = std::env::temp_dir().join(format!("par-doc-bq-{}.socket", std::process::id()));
/// par::background(&path, || (1..=10u64).product::<u64>()).unwrap();
/// // ... later, maybe from another run of the program:
/// let queue = par::BackgroundQueue::<u64>::connect(&path).unwrap();
/// let results: Vec<u64> = queue.map(|r| r.unwrap()).collect();
/// assert_eq!(results, [3_628_800]);
/// ```
#[derive(Debug)]
pub struct BackgroundQueue<T> {
    path: PathBuf,
    stream: Option<sys::Stream>,
    /// One job to collect: its result's bytes, or how collecting it failed.
    report: Recorder,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T: Transfer> BackgroundQueue<T> {
    /// Connects to the job waiting at `path`. Fails if no job is waiting there.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("par-doc-connect-{}.socket", std::process::id()));
    /// // Nothing waits there yet: an `Io` error that names the path.
    /// let err = par::BackgroundQueue::<u32>::connect(&path).unwrap_err();
    /// assert!(err.to_string().contains("no background job is waiting"));
    ///
    /// par::background(&path, || 42u32).unwrap();
    /// let got: Vec<u32> = par::BackgroundQueue::<u32>::connect(&path).unwrap().map(|r| r.unwrap()).collect();
    /// assert_eq!(got, [42]);
    /// ```
    #[track_caller]
    pub fn connect(path: impl AsRef<Path>) -> Result<Self> {
        let site = Location::caller();
        let path = path.as_ref().to_path_buf();
        let stream = sys::connect(&path)
            .map_err(|e| io_at("no background job is waiting at this path", &path, e))?;
        // A result is read only from a job of this user (another user could have bound a
        // socket at a path in a shared directory).
        match sys::peer_uid(&stream) {
            Ok(uid) if uid == sys::euid() => {}
            Ok(uid) => {
                return Err(io_at(
                    "the socket at this path belongs to another user's process",
                    &path,
                    std::io::Error::other(format!("its peer's uid is {uid}")),
                ));
            }
            Err(e) => return Err(io_at("could not check the socket's owner", &path, e)),
        }
        let mut report = Recorder::new("BackgroundQueue", site, 1);
        report.submitted();
        Ok(BackgroundQueue {
            path,
            stream: Some(stream),
            report,
            _type: std::marker::PhantomData,
        })
    }

    /// Gives up waiting after `timeout` (by default `recv` waits as long as the job runs).
    ///
    /// ```
    /// use std::time::Duration;
    /// let path = std::env::temp_dir().join(format!("par-doc-timeout-{}.socket", std::process::id()));
    /// let job = par::background(&path, || {
    ///     std::thread::sleep(Duration::from_secs(2));
    ///     1u8
    /// })
    /// .unwrap();
    /// let mut queue = par::BackgroundQueue::<u8>::connect(&path).unwrap().timeout(Duration::from_millis(50)).unwrap();
    /// assert!(queue.recv().is_err()); // not done within 50 ms
    /// // A later collector still gets the result.
    /// let mut queue = par::BackgroundQueue::<u8>::connect(job.path()).unwrap();
    /// assert_eq!(queue.recv().unwrap(), 1);
    /// ```
    pub fn timeout(self, timeout: Duration) -> Result<Self> {
        if let Some(s) = &self.stream {
            s.set_read_timeout(Some(timeout))
                .map_err(|e| io_at("could not set a timeout", &self.path, e))?;
        }
        Ok(self)
    }

    /// Waits for the job's result. Its panic (message and location) is an
    /// [`Error::Panicked`]; a job that died before sending is an `Io` error naming the path.
    /// After the result was taken, `recv` says so with an `Io` error.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("par-doc-recv-{}.socket", std::process::id()));
    /// par::background(&path, || -> u32 { panic!("bad input") }).unwrap();
    /// let mut queue = par::BackgroundQueue::<u32>::connect(&path).unwrap();
    /// let err = queue.recv().unwrap_err();
    /// assert!(matches!(err, par::Error::Panicked { .. }));
    /// assert!(err.to_string().contains("bad input"));
    /// assert!(queue.recv().is_err()); // already collected
    /// ```
    pub fn recv(&mut self) -> Result<T> {
        let Some(stream) = self.stream.take() else {
            return Err(io_at(
                "the result was already collected",
                &self.path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        };
        let r = self.collect(stream);
        self.report.finished(&r);
        r
    }

    /// What the job sent on `stream`: its result, its failure; or how its connection ended
    /// early (a death, counted) or took too long (a timeout, counted).
    fn collect(&mut self, mut stream: sys::Stream) -> Result<T> {
        let mut reader = FrameReader::new(wire::DEFAULT_MAX);
        let path = &self.path;
        let payload = loop {
            if reader.ready() {
                break match reader.next() {
                    Ok(Some((Kind::Message, p))) => p,
                    Ok(Some((kind, _))) => {
                        return Err(decode_error(format!(
                            "a {kind:?} frame from the background job"
                        )));
                    }
                    Ok(None) => unreachable!("a ready reader has a frame"),
                    Err(m) => return Err(decode_error(m)),
                };
            }
            match reader.fill(|b| stream.read(b)) {
                Ok(Fill::Read(_)) => {}
                Ok(Fill::Eof) => {
                    let e = io_at(
                        "the background job ended without sending its result",
                        path,
                        std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                    );
                    self.report.death(0, &e);
                    return Err(e);
                }
                Ok(Fill::WouldBlock) => {
                    self.report.timed_out(0, 0);
                    return Err(io_at(
                        "timed out waiting for a background job",
                        path,
                        std::io::Error::from(std::io::ErrorKind::TimedOut),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    let e = io_at(
                        "the background job ended without sending its result",
                        path,
                        e,
                    );
                    self.report.death(0, &e);
                    return Err(e);
                }
                Err(e) => return Err(io_at("could not read a background job's result", path, e)),
            }
        };
        let received = payload.len();
        let (pid, outcome): Outcome = codec::decode(payload)?;
        // A pid of 0 would be garbage that decoded: no process has it.
        let pid = if pid > 0 {
            pid
        } else {
            return Err(decode_error(format!("a report from process {pid}")));
        };
        self.report.message(pid, received);
        // Closing the socket tells the job its result was delivered. (Without Unix sockets the
        // type has no values and no `Drop`, hence the allow.)
        #[allow(clippy::drop_non_drop)]
        drop(stream);
        match outcome {
            Ended::Value(bytes) => codec::decode(&bytes).map_err(|e| e.about(0, pid)),
            Ended::Panicked(message, location) => Err(Error::Panicked {
                index: 0,
                pid,
                message,
                location,
            }),
            Ended::Encode(message) => Err(Error::Encode {
                index: Some(0),
                pid: Some(pid),
                message,
            }),
        }
    }
}

impl<T> BackgroundQueue<T> {
    /// What collecting did so far, as a [`FamilyReport`](crate::FamilyReport): family
    /// `"BackgroundQueue"`, the site of the [`connect`](BackgroundQueue::connect) call, one
    /// job, nothing forked, and once `recv` returned: the result received (`messages` 1,
    /// `result_bytes` its size as it travelled: the job's pid and how it ended included), or the
    /// failure (`failed`; `deaths` when the job's connection ended before its result,
    /// `timeouts` when the [`timeout`](BackgroundQueue::timeout) ran out). Under
    /// `PAR_REPORT=1` the same is printed when the queue is dropped, and
    /// [`last_family_report`](crate::last_family_report) returns it then.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("par-doc-bq-report-{}.socket", std::process::id()));
    /// par::background(&path, || vec![7u8; 1000]).unwrap();
    /// let mut queue = par::BackgroundQueue::<Vec<u8>>::connect(&path).unwrap();
    /// assert_eq!(queue.recv().unwrap().len(), 1000);
    /// let r = queue.report();
    /// assert_eq!((r.family, r.jobs, r.failed, r.messages), ("BackgroundQueue", 1, 0, 1));
    /// assert!((1000..1100).contains(&r.result_bytes)); // the value, its pid and its framing
    /// ```
    pub fn report(&self) -> crate::FamilyReport {
        self.report.snapshot()
    }
}

/// The collection is reported when the queue is dropped (as asked: `PAR_REPORT`,
/// `PAR_TRACE`).
impl<T> Drop for BackgroundQueue<T> {
    fn drop(&mut self) {
        self.report.end();
    }
}

fn decode_error(message: String) -> Error {
    Error::Decode {
        index: Some(0),
        pid: None,
        message,
    }
}

impl<T: Transfer> Iterator for BackgroundQueue<T> {
    type Item = Result<T>;
    /// The job's result, once; then `None`.
    fn next(&mut self) -> Option<Result<T>> {
        self.stream.as_ref()?;
        Some(self.recv())
    }
}
