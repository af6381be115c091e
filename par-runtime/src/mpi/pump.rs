//! The MPI thread of each rank: the only code that calls MPI (initialize, send, receive,
//! finalize). See `README.md` beside this file for the protocol.
//!
//! On rank 0 it pumps frames between the pipes of each link (a pool's worker that is a rank)
//! and the ranks; on the other ranks it pumps `Call` frames from rank 0 into a pipe read by
//! `pool::serve`, the serving loop of a local pool worker, and its answers back.
//!
//! What this module must never do: block on a pipe (every pipe end it holds is non-blocking,
//! with an output buffer, so that no pool and no serving loop can deadlock against it); block
//! in an MPI send without receiving meanwhile (two ranks sending each other large messages
//! would wait for each other for ever); forward a partial frame.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, mpsc};
use std::time::{Duration, Instant};

use ::mpi::Threading;
use ::mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use ::mpi::topology::{Communicator, SimpleCommunicator};

use super::world::{CONTROL, Peer, Request, WORLD, World, request, world};
use crate::error::Result;
use crate::sys::{self, AsFd, Fd, Pid, Watch};
use crate::wire::{self, Fill, FrameReader, Kind};

/// A rank's first message to rank 0: `[u32 pid][host name]`.
const HELLO: i32 = 1;
/// Rank 0 to a rank: the job is over, finalize and exit.
const STOP: i32 = 2;
/// Rank 0 to a rank: `[u64 link]`, the link is closed, drop its calls not yet started.
const CANCEL: i32 = 3;
/// Both ways: `[u64 link][one whole frame]`.
const FRAME: i32 = 4;
/// A rank to rank 0: `[u64 link][u64 job]...`, calls dropped after a `CANCEL`.
const DROPPED: i32 = 5;
/// Rank 0 to a rank at start: `[u64 per-call timeout in nanoseconds, 0 for none]`.
const CONFIG: i32 = 6;
/// A rank to rank 0, after `STOP`: it will send nothing more.
const STOPPED: i32 = 7;

use crate::error::{DIED, TIMED_OUT};

/// Frames a rank's serving loop holds at once (one running, one waiting in its pipe), so that
/// it never waits for the MPI thread between two calls.
const SERVING_DEPTH: usize = 2;
/// Idle turns of the loop spent spinning (yielding) before it sleeps between looks at MPI.
const SPIN: u32 = 16;

/// `PAR_MPI_TIMEOUT` (seconds): how long a call may run on a rank.
fn timeout() -> Option<Duration> {
    std::env::var("PAR_MPI_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .map(Duration::from_secs_f64)
}

/// What the MPI thread reports once MPI is up.
struct Started {
    rank: usize,
    size: usize,
    peers: Vec<Peer>,
}

/// `par::main` under an MPI launcher.
pub(super) fn main<T>(body: impl FnOnce() -> T) -> T {
    if WORLD.get().is_some() {
        return body(); // a nested `par::main`: MPI is up already
    }
    match start() {
        Err(message) => {
            eprintln!("par: {message}; running without MPI");
            body()
        }
        Ok(thread) => {
            let Some(w) = world() else {
                unreachable!("start() sets the world before it returns Ok")
            };
            if w.rank != 0 {
                // The MPI thread serves calls (in a forked child) until rank 0 says stop,
                // then finalizes MPI and exits the process.
                let _ = thread.join();
                std::process::exit(0)
            }
            w.serving.store(true, Ordering::Relaxed);
            let r = catch_unwind(AssertUnwindSafe(body));
            w.serving.store(false, Ordering::Relaxed);
            request(Request::Stop);
            // The MPI thread finalizes MPI and ends; a panic there was printed already.
            let _ = thread.join();
            match r {
                Ok(v) => v,
                Err(p) => resume_unwind(p),
            }
        }
    }
}

/// Starts the MPI thread and waits until MPI is initialized and every rank has said hello.
fn start() -> std::result::Result<std::thread::JoinHandle<()>, String> {
    // Before the MPI thread exists: a rank's serving child is forked from that thread, and
    // reports its panics' locations through this hook.
    crate::child::report::install_panic_hook();
    let (wake_r, wake_w) = sys::pipe().map_err(|e| format!("could not create a pipe: {e}"))?;
    for fd in [&wake_r, &wake_w] {
        sys::set_nonblocking(fd).map_err(|e| format!("could not set up a pipe: {e}"))?;
    }
    CONTROL.lock().unwrap_or_else(PoisonError::into_inner).wake = Some(wake_w);
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("par-mpi".into())
        .spawn(move || mpi_thread(tx, wake_r))
        .map_err(|e| format!("could not start the MPI thread: {e}"))?;
    let started: Started = match rx.recv() {
        Ok(Ok(s)) => s,
        Ok(Err(message)) => {
            let _ = thread.join();
            return Err(message);
        }
        Err(_) => {
            let _ = thread.join();
            return Err("the MPI thread ended during start-up".into());
        }
    };
    let _ = WORLD.set(World {
        rank: started.rank,
        size: started.size,
        peers: started.peers,
        owner: sys::getpid(),
        serving: AtomicBool::new(false),
    });
    Ok(thread)
}

fn mpi_thread(started: mpsc::Sender<std::result::Result<Started, String>>, wake: Fd) {
    let Some((universe, _threading)) = ::mpi::initialize_with_threading(Threading::Funneled) else {
        let _ = started.send(Err("MPI could not be initialized".into()));
        return;
    };
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let host = ::mpi::environment::processor_name().unwrap_or_else(|_| "?".into());
    let pid = sys::getpid();
    if rank == 0 {
        let mut peers = vec![Peer { pid, host }];
        peers.resize_with(size, || Peer {
            pid: Pid::from_raw(0),
            host: String::new(),
        });
        for _ in 1..size {
            let (msg, status) = world.any_process().matched_probe_with_tag(HELLO);
            let (bytes, _) = (msg, status).matched_receive_vec::<u8>();
            let from = status.source_rank() as usize;
            if let (Some(p), Some(b)) = (peers.get_mut(from), bytes.get(..4)) {
                p.pid = Pid::from_raw(i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                p.host = String::from_utf8_lossy(&bytes[4..]).into_owned();
            }
        }
        // The per-call timeout, which each rank enforces on its serving child.
        let timeout = timeout().map_or(0, |t| t.as_nanos() as u64);
        for r in 1..size {
            world
                .process_at_rank(r as i32)
                .send_with_tag(&timeout.to_le_bytes()[..], CONFIG);
        }
        if started.send(Ok(Started { rank, size, peers })).is_ok() {
            Root::new(world, wake).run();
        }
    } else {
        let mut hello = pid.as_raw().to_le_bytes().to_vec();
        hello.extend_from_slice(host.as_bytes());
        world.process_at_rank(0).send_with_tag(&hello[..], HELLO);
        let peers = (0..=rank)
            .map(|r| Peer {
                pid: if r == rank { pid } else { Pid::from_raw(0) },
                host: if r == rank {
                    host.clone()
                } else {
                    String::new()
                },
            })
            .collect();
        drop(wake);
        if started.send(Ok(Started { rank, size, peers })).is_ok() {
            Rank::new(world).run();
        }
        // After this, rank 0 finalizes: nothing more is sent.
        let world = universe.world();
        world
            .process_at_rank(0)
            .send_with_tag(&[0u8; 8][..], STOPPED);
        // Rank 0 said stop: finalize (dropping the universe) and leave, even if the serving
        // loop is still inside a call whose result nobody wants.
        drop(universe);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(0);
    }
    drop(universe); // MPI_Finalize, on the thread that initialized MPI
}

/// A whole frame as it travels: `[u32 length][u8 kind][payload]`.
fn frame_bytes(prefix: &[u8], kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(prefix.len() + wire::HEADER + payload.len());
    b.extend_from_slice(prefix);
    b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    b.push(kind as u8);
    b.extend_from_slice(payload);
    b
}

/// What precedes a rank's answer in a `FRAME` to rank 0: the link, and the process on the
/// rank that ran the call (its serving child), which names it in the call's failure.
fn answer_prefix(link: u64, pid: i32) -> Vec<u8> {
    let mut b = link.to_le_bytes().to_vec();
    b.extend_from_slice(&pid.to_le_bytes());
    b
}

/// The bytes of [`answer_prefix`].
const ANSWER_PREFIX: usize = 12;

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// The next message for this rank, if one has arrived: `(from, tag, bytes)`.
fn receive(world: &SimpleCommunicator) -> Option<(usize, i32, Vec<u8>)> {
    let (msg, status) = world.any_process().immediate_matched_probe()?;
    let (bytes, _) = (msg, status).matched_receive_vec::<u8>();
    Some((status.source_rank() as usize, status.tag(), bytes))
}

/// Sends `bytes` to rank `to`, handing every message that arrives meanwhile to `arrived`: a
/// blocking send of a large message would wait for the receiver to post its receive, and the
/// receiver may be sending to us at that moment.
fn send(
    world: &SimpleCommunicator,
    to: usize,
    tag: i32,
    bytes: &[u8],
    mut arrived: impl FnMut(usize, i32, Vec<u8>),
) {
    ::mpi::request::scope(|scope| {
        let mut req = world
            .process_at_rank(to as i32)
            .immediate_send_with_tag(scope, bytes, tag);
        loop {
            match req.test() {
                Ok(_) => break,
                Err(r) => req = r,
            }
            match receive(world) {
                Some((from, tag, bytes)) => arrived(from, tag, bytes),
                None => std::thread::yield_now(),
            }
        }
    });
}

/// What [`flush`] did.
#[derive(PartialEq)]
enum Flushed {
    /// Wrote some bytes (maybe not all).
    Some,
    /// Wrote nothing: the pipe is full.
    None,
    /// The reader is gone; the bytes are dropped.
    Broken,
}

/// Writes what it can of `out[*sent..]` to the non-blocking `fd`.
fn flush(fd: &Fd, out: &mut Vec<u8>, sent: &mut usize) -> Flushed {
    let mut wrote = Flushed::None;
    while *sent < out.len() {
        match sys::write(fd, &out[*sent..]) {
            Ok(n) => {
                *sent += n;
                wrote = Flushed::Some;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return wrote,
            Err(_) => {
                out.clear();
                *sent = 0;
                return Flushed::Broken;
            }
        }
    }
    out.clear();
    *sent = 0;
    wrote
}

/// Waits a little when a turn of the loop did nothing: spins first (an answer may be a few
/// microseconds away), then sleeps in `poll` on the pipes, which wakes it when one is ready.
/// `poll` sleeps at least a millisecond; rank 0 with calls out (`soon`: an answer from a rank
/// may come at any moment, and only a look at MPI sees it) sleeps instead, from 10 us up to
/// 1 ms the longer nothing comes, so a long call costs few wake-ups and a short one little
/// latency.
fn idle(turns: &mut u32, soon: bool, watches: &mut [Watch]) {
    *turns += 1;
    if *turns < SPIN {
        std::thread::yield_now();
        return;
    }
    if soon {
        let _ = sys::poll(watches, Some(Duration::ZERO));
        if !watches.iter().any(|w| w.readable || w.writable) {
            let step = ((*turns - SPIN) / 16).min(7);
            std::thread::sleep(Duration::from_micros(10 << step).min(Duration::from_millis(1)));
        }
    } else {
        let _ = sys::poll(watches, Some(Duration::from_millis(1)));
    }
}

/// One link on rank 0: a pool's worker that is a rank.
struct Chan {
    id: u64,
    rank: usize,
    cmd: Fd,
    reader: FrameReader,
    res: Fd,
    out: Vec<u8>,
    sent: usize,
    closed: bool,
}

/// Rank 0's side.
struct Root {
    world: SimpleCommunicator,
    state: RootState,
    wake: Fd,
}

struct RootState {
    chans: Vec<Chan>,
    /// By rank: the calls it holds, `(link, job)`, oldest first.
    busy: Vec<VecDeque<(u64, u64)>>,
    /// By rank: when it last answered (or was given work while it had none).
    since: Vec<Instant>,
}

impl RootState {
    fn arrived(&mut self, from: usize, tag: i32, bytes: Vec<u8>) {
        let Some(id) = u64_at(&bytes, 0) else { return };
        match tag {
            FRAME => {
                let Some(frame) = bytes.get(ANSWER_PREFIX..) else {
                    return;
                };
                let job = u64_at(frame, wire::HEADER);
                if let (Some(busy), Some(job)) = (self.busy.get_mut(from), job) {
                    if let Some(at) = busy.iter().position(|&c| c == (id, job)) {
                        busy.remove(at);
                    }
                    self.since[from] = Instant::now();
                }
                let Some(c) = self.chans.iter_mut().find(|c| c.id == id && !c.closed) else {
                    return;
                };
                // A failure names the process that ran the call: recorded before the pool
                // can read the frame from its link.
                if let (Some(&kind), Some(job)) = (frame.get(wire::HEADER - 1), job)
                    && kind == Kind::Panic as u8
                {
                    let pid = i32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
                    super::world::served(id, job, pid);
                }
                c.out.extend_from_slice(frame);
            }
            DROPPED => {
                if let Some(busy) = self.busy.get_mut(from) {
                    let mut at = 8;
                    while let Some(job) = u64_at(&bytes, at) {
                        busy.retain(|&c| c != (id, job));
                        at += 8;
                    }
                }
            }
            _ => {}
        }
    }
}

impl Root {
    fn new(world: SimpleCommunicator, wake: Fd) -> Self {
        let size = world.size() as usize;
        Root {
            world,
            state: RootState {
                chans: Vec::new(),
                busy: vec![VecDeque::new(); size],
                since: vec![Instant::now(); size],
            },
            wake,
        }
    }

    fn run(mut self) {
        // The last resort: a rank whose own watch on its calls (`timeout()`) did not fire.
        let timeout = timeout().map(|t| t * 2 + Duration::from_secs(10));
        let mut turns = 0;
        loop {
            let mut worked = false;
            let requests = std::mem::take(
                &mut CONTROL
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .requests,
            );
            for r in requests {
                worked = true;
                match r {
                    Request::Link { id, rank, cmd, res } => self.state.chans.push(Chan {
                        id,
                        rank,
                        cmd,
                        reader: FrameReader::new(wire::DEFAULT_MAX),
                        res,
                        out: Vec::new(),
                        sent: 0,
                        closed: false,
                    }),
                    Request::Stop => return self.stop(),
                }
            }
            let mut b = [0u8; 64];
            while matches!(sys::read(&self.wake, &mut b), Ok(n) if n > 0) {}
            while let Some((from, tag, bytes)) = receive(&self.world) {
                worked = true;
                self.state.arrived(from, tag, bytes);
            }
            for i in 0..self.state.chans.len() {
                worked |= self.forward_calls(i);
            }
            for c in &mut self.state.chans {
                if !c.out.is_empty() {
                    match flush(&c.res, &mut c.out, &mut c.sent) {
                        Flushed::Some => worked = true,
                        Flushed::None => {}
                        Flushed::Broken => c.closed = true,
                    }
                }
            }
            worked |= self.close_links();
            if let Some(t) = timeout {
                self.check_timeout(t);
            }
            if worked {
                turns = 0;
                continue;
            }
            let busy = self.state.busy.iter().any(|b| !b.is_empty());
            let mut watches: Vec<Watch> = std::iter::once(Watch::new(&self.wake, true, false))
                .chain(
                    self.state
                        .chans
                        .iter()
                        .map(|c| Watch::new(&c.cmd, true, false)),
                )
                .chain(
                    self.state
                        .chans
                        .iter()
                        .filter(|c| !c.out.is_empty())
                        .map(|c| Watch::new(&c.res, false, true)),
                )
                .collect();
            idle(&mut turns, busy, &mut watches);
        }
    }

    /// Sends link `i`'s `Call` frames to its rank; marks it closed at end of file (or garbage).
    fn forward_calls(&mut self, i: usize) -> bool {
        let mut worked = false;
        loop {
            let c = &mut self.state.chans[i];
            let (id, rank) = (c.id, c.rank);
            let msg = match c.reader.next() {
                Ok(Some((Kind::Call, payload))) => {
                    let job = u64_at(payload, 0);
                    job.map(|job| (job, frame_bytes(&id.to_le_bytes(), Kind::Call, payload)))
                }
                Ok(Some(_)) => None, // a pool sends only calls
                Err(_) => {
                    c.closed = true;
                    return worked;
                }
                Ok(None) => {
                    if c.closed {
                        return worked;
                    }
                    let fd = &c.cmd;
                    match c.reader.fill(|b| sys::read(fd, b)) {
                        Ok(Fill::Read(_)) => continue,
                        Ok(Fill::WouldBlock) => return worked,
                        Ok(Fill::Eof) | Err(_) => {
                            c.closed = true;
                            return true;
                        }
                    }
                }
            };
            let Some((job, bytes)) = msg else { continue };
            worked = true;
            let state = &mut self.state;
            if state.busy[rank].is_empty() {
                state.since[rank] = Instant::now();
            }
            state.busy[rank].push_back((id, job));
            send(&self.world, rank, FRAME, &bytes, |f, t, b| {
                state.arrived(f, t, b)
            });
        }
    }

    /// Drops the links whose pool is gone, telling their ranks to drop their waiting calls.
    fn close_links(&mut self) -> bool {
        let mut worked = false;
        while let Some(at) = self.state.chans.iter().position(|c| c.closed) {
            let c = self.state.chans.swap_remove(at);
            let state = &mut self.state;
            send(
                &self.world,
                c.rank,
                CANCEL,
                &c.id.to_le_bytes(),
                |f, t, b| state.arrived(f, t, b),
            );
            worked = true;
        }
        worked
    }

    /// The last resort: a rank that holds calls and has not answered for `timeout`.
    fn check_timeout(&self, timeout: Duration) {
        for (rank, busy) in self.state.busy.iter().enumerate() {
            let Some(&(_, job)) = busy.front() else {
                continue;
            };
            let waited = self.state.since[rank].elapsed();
            if waited > timeout {
                let host = world()
                    .and_then(|w| w.peers.get(rank))
                    .map_or("?", |p| p.host.as_str());
                eprintln!(
                    "par: rank {rank} ({host}) has not answered for {waited:.1?} while holding job {job} of a pool, although PAR_MPI_TIMEOUT should have stopped that call; aborting the MPI job"
                );
                self.world.abort(124);
            }
        }
    }

    /// Tells every rank to stop, then receives (and drops) what they still send until each
    /// has said `STOPPED`: a rank in the middle of sending a large answer can finish it only
    /// while rank 0 receives, and MPI is finalized only after that.
    fn stop(mut self) {
        for c in &mut self.state.chans {
            c.closed = true;
        }
        self.close_links();
        let size = self.world.size() as usize;
        let stopped: Vec<std::cell::Cell<bool>> = (0..size).map(|r| (r == 0).into()).collect();
        let state = &mut self.state;
        let mut arrived = |f: usize, t: i32, b: Vec<u8>| {
            if t == STOPPED {
                stopped[f.min(size - 1)].set(true);
            } else {
                state.arrived(f, t, b)
            }
        };
        for rank in 1..size {
            send(&self.world, rank, STOP, &[0u8; 8][..], &mut arrived);
        }
        // A rank's MPI thread never waits on its calls, so it answers at once; the limit is
        // for a rank that is gone (then the launcher is ending the job anyway).
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stopped.iter().all(|s| s.get()) && Instant::now() < deadline {
            match receive(&self.world) {
                Some((f, t, b)) => arrived(f, t, b),
                None => std::thread::sleep(Duration::from_micros(100)),
            }
        }
    }
}

/// The serving loop of a rank: a forked child running `pool::serve`, as a local pool worker
/// does. A call that kills it (a signal, `exit`) or runs past the timeout costs only the child:
/// the rank reports it to rank 0 with the job index, and forks a new one for the next calls.
struct Server {
    /// Killed and reaped when dropped.
    child: crate::child::Child,
    /// Write end of its command pipe (non-blocking), and what waits to go in.
    cmd: Fd,
    out: Vec<u8>,
    sent: usize,
    /// Read end of its answers (non-blocking).
    res: Fd,
    reader: FrameReader,
}

impl Server {
    fn fork() -> Result<Server> {
        use crate::child::{self, Pipes, What};
        let pipes = Pipes {
            cmd: true,
            cmd_nonblocking: true,
            large: true,
            what: What::POOL_WORKER,
            ..Pipes::default()
        };
        // The child never calls MPI (it has no MPI thread: only the forking thread exists in
        // a child) and leaves by `_exit`.
        let (child, ends) = child::spawn(pipes, |ends| {
            // Not a pool worker's mark: loops in a call fork here (MPI between nodes, fork
            // within a node), and panics are reported to rank 0, not printed.
            crate::mode::mark_detached();
            // A crash is reported by par (rank 0 names the call and the signal), without
            // Open MPI's backtrace first.
            sys::default_crash_signals();
            match &ends.cmd {
                Some(cmd) => crate::jobs::pool::serve(cmd.as_fd(), ends.res.as_fd()),
                None => 1,
            }
        })?;
        let Some(cmd) = ends.cmd else {
            unreachable!("a command pipe was asked for")
        };
        Ok(Server {
            child,
            cmd,
            out: Vec::new(),
            sent: 0,
            res: ends.res,
            reader: FrameReader::new(wire::DEFAULT_MAX),
        })
    }
}

/// A call on a rank: `(link, job, frame)`.
type RankCall = (u64, u64, Vec<u8>);

/// A rank's side: feeds its serving child, sends the answers to rank 0.
struct Rank {
    world: SimpleCommunicator,
    server: Option<Server>,
    /// Calls not yet handed to the serving child.
    queue: VecDeque<RankCall>,
    /// Calls handed to it, in the order it answers them (the first is running).
    in_flight: VecDeque<RankCall>,
    /// When the first of `in_flight` started (about: when the one before it was answered).
    started: Instant,
    /// Per-call timeout (`PAR_MPI_TIMEOUT` on rank 0, sent at start).
    timeout: Option<Duration>,
    /// Messages that arrived during a send, `(tag, bytes)`, handled next.
    backlog: VecDeque<(i32, Vec<u8>)>,
}

impl Rank {
    fn new(world: SimpleCommunicator) -> Self {
        Rank {
            world,
            server: None,
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            started: Instant::now(),
            timeout: None,
            backlog: VecDeque::new(),
        }
    }

    /// Until rank 0 says stop.
    fn run(mut self) {
        let mut turns = 0;
        loop {
            let mut worked = false;
            while let Some((tag, bytes)) = self
                .backlog
                .pop_front()
                .or_else(|| receive(&self.world).map(|(_, t, b)| (t, b)))
            {
                worked = true;
                if !self.arrived(tag, bytes) {
                    return;
                }
            }
            worked |= self.feed();
            worked |= self.answers();
            if let (Some(t), Some(&(_, job, _))) = (self.timeout, self.in_flight.front())
                && self.started.elapsed() > t
            {
                self.ended(job, TIMED_OUT, &t.as_nanos().to_string());
                worked = true;
            }
            if worked {
                turns = 0;
                continue;
            }
            // While a call runs, its answer wakes the poll; with none, the next call comes by MPI.
            let busy = self.in_flight.is_empty();
            let mut watches: Vec<Watch> = self
                .server
                .iter()
                .flat_map(|s| {
                    [
                        Watch::new(&s.res, true, false),
                        Watch::new(&s.cmd, false, !s.out.is_empty()),
                    ]
                })
                .collect();
            idle(&mut turns, busy, &mut watches);
        }
    }

    /// Hands queued calls to the serving child (forking one if there is none).
    fn feed(&mut self) -> bool {
        let mut worked = false;
        while self.in_flight.len() < SERVING_DEPTH && !self.queue.is_empty() {
            if self.server.is_none() {
                match Server::fork() {
                    Ok(s) => self.server = Some(s),
                    Err(e) => self.abort(&format!("could not fork its serving process: {e}")),
                }
            }
            let (Some(server), Some(call)) = (self.server.as_mut(), self.queue.pop_front()) else {
                break;
            };
            server.out.extend_from_slice(&call.2);
            if self.in_flight.is_empty() {
                self.started = Instant::now();
            }
            self.in_flight.push_back(call);
            worked = true;
        }
        if let Some(s) = self.server.as_mut() {
            // A broken pipe: the child is gone, and its end of file on the answers tells how.
            if !s.out.is_empty() && flush(&s.cmd, &mut s.out, &mut s.sent) == Flushed::Some {
                worked = true;
            }
        }
        worked
    }

    /// Handles a message from rank 0; false on stop.
    fn arrived(&mut self, tag: i32, bytes: Vec<u8>) -> bool {
        let id = u64_at(&bytes, 0).unwrap_or(0);
        match tag {
            FRAME => {
                let job = u64_at(&bytes, 8 + wire::HEADER).unwrap_or(0);
                self.queue
                    .push_back((id, job, bytes[8.min(bytes.len())..].to_vec()));
            }
            CONFIG => self.timeout = (id > 0).then(|| Duration::from_nanos(id)),
            CANCEL => {
                // Nobody waits for the link's answers any more (its pool timed the call out,
                // was cancelled or dropped): the call it has running is killed with its
                // serving child (the calls behind go back to the queue), its waiting calls
                // dropped.
                if let Some(&(_, job, _)) = self.in_flight.front().filter(|c| c.0 == id) {
                    self.ended(job, DIED, "");
                }
                let mut dropped = id.to_le_bytes().to_vec();
                self.queue.retain(|(link, job, _)| {
                    if *link == id {
                        dropped.extend_from_slice(&job.to_le_bytes());
                    }
                    *link != id
                });
                if dropped.len() > 8 {
                    self.send(DROPPED, &dropped);
                }
            }
            STOP => return false,
            _ => {}
        }
        true
    }

    /// Sends to rank 0; what arrives meanwhile waits in `backlog`.
    fn send(&mut self, tag: i32, bytes: &[u8]) {
        let backlog = &mut self.backlog;
        send(&self.world, 0, tag, bytes, |_, t, b| {
            backlog.push_back((t, b))
        });
    }

    /// Sends the serving child's answers to rank 0; at its end of file (it died), reports the
    /// call it was running. True if anything happened.
    fn answers(&mut self) -> bool {
        let mut worked = false;
        loop {
            let Some(server) = self.server.as_mut() else {
                return worked;
            };
            let msg = match server.reader.next() {
                Ok(Some((kind, payload))) => {
                    let Some((id, _, _)) = self.in_flight.pop_front() else {
                        self.abort("its serving process answered a call it was not given")
                    };
                    self.started = Instant::now();
                    frame_bytes(&answer_prefix(id, server.child.pid()), kind, payload)
                }
                Ok(None) => {
                    let fd = &server.res;
                    match server.reader.fill(|b| sys::read(fd, b)) {
                        Ok(Fill::Read(_)) => continue,
                        Ok(Fill::WouldBlock) => return worked,
                        Ok(Fill::Eof) | Err(_) => {
                            let job = self.in_flight.front().map_or(0, |c| c.1);
                            self.ended(job, DIED, "");
                            return true;
                        }
                    }
                }
                Err(m) => {
                    let job = self.in_flight.front().map_or(0, |c| c.1);
                    self.ended(job, DIED, &format!("garbage: {m}"));
                    return true;
                }
            };
            worked = true;
            self.send(FRAME, &msg);
        }
    }

    /// The serving child is gone or must go: it is killed and reaped, the call it was running
    /// (`job`) is answered with how it ended (`DIED`, or `TIMED_OUT` with the timeout in
    /// nanoseconds as `what`), the one waiting behind it goes back to the queue, and the next
    /// call forks a new child.
    fn ended(&mut self, job: u64, how: u8, what: &str) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        let pid = server.child.pid();
        server.child.kill();
        let status = server.child.reap();
        let mut calls = std::mem::take(&mut self.in_flight);
        let running = calls.pop_front();
        while let Some(call) = calls.pop_back() {
            self.queue.push_front(call);
        }
        let Some((id, _, _)) = running else { return };
        let what = match (how, status) {
            (TIMED_OUT, _) => what.to_string(),
            (_, Some(Ok(sys::Status::Signaled(sig)))) => format!("signal {}", sig.number()),
            (_, Some(Ok(sys::Status::Exited(code)))) => format!("exit {code}"),
            (_, _) => "unknown".to_string(),
        };
        let mut frame = wire::FrameBuf::default();
        if crate::child::report::panic_frame(&mut frame, job as usize, how, &what) {
            let mut msg = answer_prefix(id, pid);
            msg.extend_from_slice(&frame.buf);
            self.send(FRAME, &msg);
        }
        self.started = Instant::now();
    }

    fn abort(&self, why: &str) -> ! {
        let rank = self.world.rank();
        eprintln!("par: rank {rank}: {why}; aborting the MPI job");
        self.world.abort(125)
    }
}
