//! Chunking policies: which consecutive *units* (items, or reduction grains) a worker runs next.
//!
//! The scheduler never blocks and never looks at pipes: the team asks it for the next chunk of
//! a given worker and reports how long finished chunks took.

use std::ops::Range;
use std::time::Duration;

/// How a loop's items are divided into chunks and handed to workers.
///
/// ```
/// use par::Schedule;
/// // Items of very different cost: hand them out one at a time.
/// let opts = par::Loop::new().workers(2).schedule(Schedule::Dynamic(1));
/// let v = opts.collect(0..8u64, |i| (0..i * 1000).sum::<u64>());
/// assert_eq!(v[3], (0..3000).sum::<u64>());
/// // As OpenMP's `OMP_SCHEDULE` writes it (a command line, a config file):
/// let s: Schedule = "dynamic,4".parse().unwrap();
/// assert_eq!(s, Schedule::Dynamic(4));
/// assert_eq!(Schedule::default(), Schedule::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// Sizes chunks from the measured time per item: small probes first, then chunks of about
    /// two milliseconds, shrinking near the end so that the tail is short. The default. A loop
    /// whose earlier run showed that forking costs more than it saves runs inline (see
    /// [`Loop::parallel`](crate::Loop::parallel)).
    #[default]
    Auto,
    /// One contiguous block per worker (OpenMP `static`), handed out in a few pieces.
    Static,
    /// A shared queue of chunks of this many items (OpenMP `dynamic`, pprocess' one job per item
    /// with `Dynamic(1)`).
    Dynamic(usize),
    /// Chunks of half the remaining work divided by the workers, never below this many items
    /// (OpenMP `guided`).
    Guided(usize),
}

/// Chunk duration the auto schedule aims at: long enough that the per-chunk cost (a frame each
/// way, a few syscalls: tens of microseconds here) is below 1%, short enough to balance load.
const TARGET: Duration = Duration::from_millis(2);

/// Work kept queued per worker (see `Sched::depth`).
const QUEUED: Duration = Duration::from_micros(200);
/// Chunks at least this long are never queued behind another: the round trip for the next one
/// (tens of microseconds) is below 1% of them, and a chunk queued behind one of them would
/// wait that long while another worker may idle.
const ALONE: Duration = Duration::from_millis(5);
/// The deepest queue per worker.
const MAX_DEPTH: usize = 64;

/// Per-worker scheduling state for a known number of units (`total`) or a stream (`None`).
#[derive(Debug)]
pub(crate) struct Sched {
    policy: Schedule,
    /// Units per item-chunk request when the policy counts items but units are grains.
    unit_items: usize,
    total: Option<usize>,
    next: usize,
    workers: usize,
    /// `Static`: each worker's own block `[next, end)` and the piece size it is handed out in.
    blocks: Vec<(Range<usize>, usize)>,
    /// `Auto`: measured nanoseconds per unit (exponentially weighted), and the probe size.
    ns_per_unit: Option<f64>,
    probe: usize,
    /// Probe chunks handed out at the current probe size (each worker gets one before it grows).
    probes: usize,
    /// Size of the chunk handed out last (units).
    last: usize,
}

impl Sched {
    /// `unit_items` is how many items one unit holds (1, or the reduction grain).
    pub(crate) fn new(
        policy: Schedule,
        total: Option<usize>,
        workers: usize,
        unit_items: usize,
    ) -> Self {
        let workers = workers.max(1);
        let blocks = match (policy, total) {
            (Schedule::Static, Some(n)) => (0..workers)
                .map(|w| {
                    let block = (n * w / workers)..(n * (w + 1) / workers);
                    // Pieces of a quarter block, so results stream back while the block runs.
                    let piece = (block.len() / 4).max(1);
                    (block, piece)
                })
                .collect(),
            _ => Vec::new(),
        };
        Sched {
            policy,
            unit_items: unit_items.max(1),
            total,
            next: 0,
            workers,
            blocks,
            ns_per_unit: None,
            probe: 1,
            probes: 0,
            last: 1,
        }
    }

    /// The next chunk of units for `worker`, or `None` when it has nothing more to do.
    /// For a stream the range's end may exceed what the stream still holds.
    pub(crate) fn next(&mut self, worker: usize) -> Option<Range<usize>> {
        if !self.blocks.is_empty() {
            let (block, piece) = &mut self.blocks[worker];
            if block.start >= block.end {
                return None;
            }
            let end = (block.start + *piece).min(block.end);
            let r = block.start..end;
            block.start = end;
            return Some(r);
        }
        let remaining = match self.total {
            Some(n) if self.next >= n => return None,
            Some(n) => Some(n - self.next),
            None => None,
        };
        let size = self.size(remaining).max(1);
        let size = remaining.map_or(size, |r| size.min(r));
        let r = self.next..self.next + size;
        self.next += size;
        self.last = size;
        Some(r)
    }

    fn units_for_items(&self, items: usize) -> usize {
        items.div_ceil(self.unit_items).max(1)
    }

    fn size(&mut self, remaining: Option<usize>) -> usize {
        let w = self.workers;
        let guided = |r: usize| r.div_ceil(2 * w);
        match self.policy {
            Schedule::Dynamic(k) => self.units_for_items(k),
            Schedule::Guided(min) => {
                let min = self.units_for_items(min);
                remaining.map_or(min, |r| guided(r).max(min))
            }
            Schedule::Static | Schedule::Auto => {
                let want = match self.ns_per_unit {
                    Some(ns) => (TARGET.as_nanos() as f64 / ns.max(0.1)) as usize,
                    None => {
                        // Probe: every worker gets one chunk of the probe size, then it grows
                        // geometrically, until the first measurement arrives.
                        let p = self.probe;
                        self.probes += 1;
                        if self.probes >= w {
                            self.probes = 0;
                            self.probe = self.probe.saturating_mul(4);
                        }
                        p
                    }
                };
                // Near the end, no chunk longer than a share of what remains: a short tail.
                remaining.map_or(want, |r| want.min(guided(r).max(1)))
            }
        }
    }

    /// True when `worker` will get no more chunks (a stream's end is known only to the team).
    pub(crate) fn exhausted(&self, worker: usize) -> bool {
        match (self.blocks.get(worker), self.total) {
            (Some((block, _)), _) => block.start >= block.end,
            (None, Some(n)) => self.next >= n,
            (None, None) => false,
        }
    }

    /// How many chunks to keep queued per worker. Before anything is measured, one: an item
    /// may take seconds, and a chunk queued behind it would wait that long while another
    /// worker idles. Once measured: one for chunks of `ALONE` or longer (their round trip is
    /// negligible), else about `QUEUED` of work, at least two (which hide the pipe latency) and
    /// at most `MAX_DEPTH`. Short chunks need a deep queue so that a worker finds its next
    /// chunks already in its pipe and sends their results in one write; long chunks must not
    /// get one: queued work can't move to an idle worker at the tail, so the tail is at most
    /// about `QUEUED` long. The team hands chunks out level by level (`Team::dispatch`): no
    /// worker gets a second chunk while another that can take one has none.
    pub(crate) fn depth(&self) -> usize {
        match self.ns_per_unit {
            Some(ns) => {
                let chunk_ns = (ns * self.last as f64).max(1.0);
                if chunk_ns >= ALONE.as_nanos() as f64 {
                    1
                } else {
                    ((QUEUED.as_nanos() as f64 / chunk_ns) as usize).clamp(2, MAX_DEPTH)
                }
            }
            None => 1,
        }
    }

    /// True when a chunk that has run for `age` has taken well over the measured chunk time
    /// (twice it, plus `QUEUED`): the worker is on a long item, and nothing more is queued
    /// behind it while it is.
    pub(crate) fn overdue(&self, age: Duration) -> bool {
        self.ns_per_unit.is_some_and(|ns| {
            age.as_nanos() as f64 > 2.0 * ns * self.last as f64 + QUEUED.as_nanos() as f64
        })
    }

    /// A finished chunk of `units` units took `elapsed` in a worker.
    pub(crate) fn observe(&mut self, units: usize, elapsed: Duration) {
        if units == 0 {
            return;
        }
        let ns = elapsed.as_nanos() as f64 / units as f64;
        self.ns_per_unit = Some(match self.ns_per_unit {
            None => ns,
            Some(old) => 0.7 * old + 0.3 * ns,
        });
    }
}

/// The worker to hand the next chunk to: of those that can take one (`Some((chunks queued, how
/// long its oldest chunk has been the one it runs))`), the one with the fewest chunks queued, if
/// that is below `depth`; on a tie the one whose running chunk started last (the other may be
/// on a long item), then the lowest index. Chunks so go out level by level: every worker has
/// one before any has two, and so on.
pub(crate) fn pick(queued: &[Option<(usize, Duration)>], depth: usize) -> Option<usize> {
    queued
        .iter()
        .enumerate()
        .filter_map(|(i, q)| q.filter(|q| q.0 < depth).map(|(q, age)| (q, age, i)))
        .min()
        .map(|(_, _, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out chunks as `Team::dispatch` does; returns (worker, chunk) in order.
    fn dispatch(
        s: &mut Sched,
        queued: &mut [Option<(usize, Duration)>],
    ) -> Vec<(usize, Range<usize>)> {
        let mut out = Vec::new();
        while let Some(w) = pick(queued, s.depth()) {
            match s.next(w) {
                Some(r) => {
                    out.push((w, r));
                    queued[w] = queued[w].map(|(q, age)| (q + 1, age));
                }
                None => queued[w] = None,
            }
        }
        out
    }

    #[test]
    fn every_worker_gets_a_chunk_before_any_gets_a_second() {
        let idle = || Some((0, Duration::ZERO));
        let busy = |q, us| Some((q, Duration::from_micros(us)));
        // Two long items on two workers: one each, nothing queued behind either.
        for p in [Schedule::Auto, Schedule::Dynamic(1), Schedule::Static] {
            let mut s = Sched::new(p, Some(2), 2, 1);
            let got = dispatch(&mut s, &mut [idle(), idle()]);
            assert_eq!(got, vec![(0, 0..1), (1, 1..2)], "{p:?}");
        }
        // Three items: before anything is measured the third waits for whichever is free.
        let mut s = Sched::new(Schedule::Dynamic(1), Some(3), 2, 1);
        let got = dispatch(&mut s, &mut [idle(), idle()]);
        assert_eq!(got, vec![(0, 0..1), (1, 1..2)]);
        s.observe(1, Duration::from_millis(200));
        let got = dispatch(&mut s, &mut [idle(), busy(1, 200_000)]);
        assert_eq!(
            got,
            vec![(0, 2..3)],
            "to the idle worker, none queued behind 200 ms"
        );
        // Auto probes: each worker gets a probe of the same size before the probe grows.
        let mut s = Sched::new(Schedule::Auto, Some(1000), 3, 1);
        let got = dispatch(&mut s, &mut [idle(), idle(), idle()]);
        assert_eq!(got, vec![(0, 0..1), (1, 1..2), (2, 2..3)]);
        // Short measured chunks: deep queues, filled level by level.
        let mut s = Sched::new(Schedule::Dynamic(1), Some(1000), 2, 1);
        s.next(0);
        s.observe(1, Duration::from_micros(50));
        let got = dispatch(&mut s, &mut [busy(3, 10), idle()]);
        let workers: Vec<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            workers,
            vec![1, 1, 1, 1, 0],
            "depth 4: worker 1 catches up first"
        );
        // A long item followed by short ones: the worker on the long item gets nothing queued
        // behind it, on a tie or once it has run well past the measured chunk time.
        let mut s = Sched::new(Schedule::Dynamic(1), Some(1000), 2, 1);
        s.next(0);
        s.next(1);
        s.observe(1, Duration::from_micros(50));
        let got = dispatch(&mut s, &mut [busy(1, 100), idle()]);
        assert_eq!(got[0], (1, 2..3), "to the idle worker first");
        assert_eq!(got[1], (1, 3..4), "a tie: to the chunk that started last");
        assert!(s.overdue(Duration::from_millis(1)) && !s.overdue(Duration::from_micros(50)));
    }

    fn drain(s: &mut Sched, workers: usize) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        loop {
            let mut any = false;
            for w in 0..workers {
                if let Some(r) = s.next(w) {
                    out.push(r);
                    any = true;
                }
            }
            if !any {
                return out;
            }
        }
    }

    fn covers(mut chunks: Vec<Range<usize>>, n: usize) {
        chunks.sort_by_key(|r| r.start);
        let mut at = 0;
        for r in chunks {
            assert_eq!(r.start, at, "gap or overlap");
            assert!(r.end > r.start, "empty chunk");
            at = r.end;
        }
        assert_eq!(at, n);
    }

    #[test]
    fn every_policy_covers_every_unit_exactly_once() {
        for n in [0, 1, 2, 7, 100, 1001, 65536] {
            for w in 1..=8 {
                for p in [
                    Schedule::Auto,
                    Schedule::Static,
                    Schedule::Dynamic(1),
                    Schedule::Dynamic(7),
                    Schedule::Guided(3),
                ] {
                    let mut s = Sched::new(p, Some(n), w, 1);
                    covers(drain(&mut s, w), n);
                }
            }
        }
    }

    #[test]
    fn static_gives_each_worker_its_own_contiguous_block() {
        let mut s = Sched::new(Schedule::Static, Some(100), 2, 1);
        let mut w0 = Vec::new();
        while let Some(r) = s.next(0) {
            w0.push(r);
        }
        assert_eq!(w0.first().map(|r| r.start), Some(0));
        assert_eq!(w0.last().map(|r| r.end), Some(50));
        assert_eq!(s.next(1).map(|r| r.start), Some(50));
    }

    #[test]
    fn auto_grows_to_the_target_and_shrinks_at_the_tail() {
        let mut s = Sched::new(Schedule::Auto, Some(10_000_000), 2, 1);
        assert_eq!(s.next(0), Some(0..1));
        s.observe(1, Duration::from_nanos(10));
        let big = s.next(0).unwrap();
        assert!(
            big.len() > 10_000,
            "2 ms of 10 ns items is ~200k items, got {}",
            big.len()
        );
        let mut last = big;
        while let Some(r) = s.next(0) {
            last = r;
        }
        assert!(last.len() < 10_000, "tail chunk too long: {}", last.len());
    }

    #[test]
    fn dynamic_counts_items_not_grains() {
        let mut s = Sched::new(Schedule::Dynamic(100), Some(50), 2, 10);
        assert_eq!(s.next(0), Some(0..10));
    }

    #[test]
    fn queues_deepen_only_for_short_chunks() {
        let mut s = Sched::new(Schedule::Dynamic(1), Some(1000), 2, 1);
        assert_eq!(s.depth(), 1, "nothing measured yet: an item may be long");
        s.next(0);
        s.observe(1, Duration::from_micros(5));
        assert_eq!(s.depth(), 40, "about 200 us of 5 us chunks");
        s.observe(1, Duration::from_millis(2));
        assert_eq!(
            s.depth(),
            2,
            "chunks of a few ms: two, so the tail stays short"
        );
        s.observe(1, Duration::from_millis(200));
        assert_eq!(s.depth(), 1, "long chunks: never one behind another");
        let mut tiny = Sched::new(Schedule::Dynamic(1), Some(1000), 2, 1);
        tiny.next(0);
        tiny.observe(1, Duration::from_nanos(100));
        assert_eq!(tiny.depth(), MAX_DEPTH, "capped");
    }

    #[test]
    fn exhaustion_is_known_before_asking() {
        let mut s = Sched::new(Schedule::Static, Some(2), 2, 1);
        assert!(!s.exhausted(0));
        s.next(0);
        assert!(s.exhausted(0) && !s.exhausted(1));
        let mut d = Sched::new(Schedule::Dynamic(1), Some(1), 2, 1);
        d.next(1);
        assert!(d.exhausted(0) && d.exhausted(1));
        assert!(!Sched::new(Schedule::Auto, None, 2, 1).exhausted(0));
    }
}
