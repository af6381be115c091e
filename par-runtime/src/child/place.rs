//! Where children run: OpenMP's `proc_bind` policies (`close`, `spread`, `false`) over a list
//! of places (`PAR_PLACES`: `threads`, `cores`, `sockets`, or explicit lists such as
//! `{0},{1}`, `{0:4}:2:4`), always inside the CPUs this process is allowed
//! (`sched_getaffinity`: `taskset`, `numactl`, cgroup cpusets). Computed in the parent when a
//! team starts; each worker pins itself right after the fork with the mask computed here
//! ([`sys::pin`]).
//!
//! What this module must never do: run in the child, or fail a loop. A variable that does not
//! parse is a one-line warning on stderr naming it and its value, and the loop runs with the
//! default it names.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::sys::{self, CpuMask, Group};

/// The variable that sets the binding policy of every loop that does not set its own
/// ([`Loop::proc_bind`](crate::Loop::proc_bind)); OpenMP's `OMP_PROC_BIND`.
pub(crate) const PROC_BIND_ENV: &str = "PAR_PROC_BIND";
/// The variable that lists the places workers are bound to; OpenMP's `OMP_PLACES`.
pub(crate) const PLACES_ENV: &str = "PAR_PLACES";

/// How a loop's workers are bound to places (CPUs, or groups of them), with OpenMP's
/// meanings: the `proc_bind` clause of `par!`,
/// [`Loop::proc_bind`](crate::Loop::proc_bind), and the variable `PAR_PROC_BIND`
/// (`false`, `true`, `close` or `spread`, in any case; `true` is `close`).
///
/// The places are `PAR_PLACES` (OpenMP's `OMP_PLACES`): `threads` (each hardware thread a
/// place), `cores` (each core, with its hardware threads; the default), `sockets`, each
/// optionally with a count (`cores(4)`: the first 4), or an explicit list of CPU numbers as
/// OpenMP writes it: `{0},{1},{2,3}`, intervals `{0:4}` (0 to 3), `{0:4:2}` (0, 2, 4, 6), a
/// place repeated with a stride `{0:2}:4:2` (`{0,1},{2,3},{4,5},{6,7}`; strides default to 1), and `!` to leave out a CPU or a
/// place. Places are taken inside the CPUs the process is allowed (`taskset`, cgroup
/// cpusets): a CPU outside is dropped, a place with none left too. With `PAR_PLACES` set and
/// no policy given, workers are bound `close` (as libgomp does).
///
/// Worker `i` of `n`, over `p` places (the parent is not bound, so the first place plays the
/// OpenMP primary thread's):
/// - `Close`: worker `i` on place `i` when `n <= p`; with more workers than places,
///   consecutive workers share a place, `n / p` or one more each (place `i * p / n`).
/// - `Spread`: the places are cut into `n` runs of consecutive places and worker `i` takes
///   the first place of run `i` (place `i * p / n`); with more workers than places, as
///   `Close`.
/// - `False`: not bound (the default); the kernel moves workers as it likes.
///
/// The variables place the job families' children too (they have no clause): the workers of
/// a [`Pool`](crate::Pool) of `n`, and the children a [`Queue`](crate::Queue) or
/// [`Map`](crate::Map) of limit `n` runs at once, take the places a team of `n` workers would
/// (the lowest slot free when each is forked).
///
/// Binding never makes a loop fork: a loop that runs inline (one worker, nested in a worker,
/// the sequential modes, `auto` choosing inline) ignores it, since it names where workers
/// run and there is none. A target without `sched_setaffinity` (macOS) says once on stderr
/// that it cannot bind and runs the workers unbound.
///
/// ```
/// use par::ProcBind;
/// // On a machine with 2 allowed CPUs and `PAR_PLACES=threads`, worker 0 runs on CPU 0 and
/// // worker 1 on CPU 1; the values are the same, bound or not.
/// let v = par::Loop::new().workers(2).proc_bind(ProcBind::Close).collect(0..4u32, |i| i * 2);
/// assert_eq!(v, [0, 2, 4, 6]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcBind {
    /// Workers are not bound (OpenMP's `false`).
    False,
    /// Worker `i` on place `i`: workers packed on neighbouring places (OpenMP's `close`).
    Close,
    /// Workers spread evenly over the places (OpenMP's `spread`).
    Spread,
}

/// The CPU masks of a team's workers, by worker slot.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    masks: Vec<CpuMask>,
}

impl Placement {
    /// The placement of `workers` workers of a loop that asked for `bind` (its option, else
    /// `PAR_PROC_BIND`, else `close` if `PAR_PLACES` is set, else none); `None`: unbound.
    pub(crate) fn for_workers(bind: Option<ProcBind>, workers: usize) -> Option<Placement> {
        let places_var = std::env::var(PLACES_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        let policy = bind.or_else(env_policy).unwrap_or(if places_var.is_some() {
            ProcBind::Close
        } else {
            ProcBind::False
        });
        if policy == ProcBind::False || workers == 0 {
            return None;
        }
        let allowed = match sys::allowed_cpus() {
            Ok(cpus) if !cpus.is_empty() => cpus,
            Ok(_) => return None,
            Err(e) => {
                warn_once(&format!(
                    "par: proc_bind ignored: the CPUs this process may use are unknown ({e}); workers run unbound"
                ));
                return None;
            }
        };
        let text = places_var.unwrap_or_else(|| "cores".to_string());
        let places = cached_places(&text, &allowed);
        if places.is_empty() {
            warn_once(&format!(
                "par: {PLACES_ENV}={text:?} names none of the CPUs this process may use ({}); workers run unbound",
                list(&allowed)
            ));
            return None;
        }
        let mut masks = Vec::with_capacity(workers);
        for place in assign(policy, places.len(), workers) {
            match CpuMask::new(&places[place]) {
                Ok(m) => masks.push(m),
                Err(e) => {
                    warn_once(&format!("par: proc_bind ignored: {e}; workers run unbound"));
                    return None;
                }
            }
        }
        Some(Placement { masks })
    }

    /// The mask of the worker in slot `worker` (a replacement worker gets its slot's).
    pub(crate) fn mask(&self, worker: usize) -> Option<CpuMask> {
        self.masks.get(worker % self.masks.len().max(1)).copied()
    }
}

/// The lowest worker slot not in `used`: where a job family (`Pool`, `Queue`, `Map`) puts its
/// next child, so that `limit` children at once take the `limit` places of a team of that size
/// and a replacement takes the place of the child it replaces.
pub(crate) fn free_slot(used: impl Iterator<Item = usize>) -> usize {
    let mut used: Vec<usize> = used.collect();
    used.sort_unstable();
    used.iter()
        .enumerate()
        .find(|&(i, &s)| i != s)
        .map_or(used.len(), |(i, _)| i)
}

/// The place of each of `workers` workers over `places` places, by `policy` (see
/// [`ProcBind`]).
fn assign(policy: ProcBind, places: usize, workers: usize) -> Vec<usize> {
    (0..workers)
        .map(|i| match policy {
            ProcBind::Close if workers <= places => i,
            _ => i * places / workers,
        })
        .collect()
}

/// `PAR_PROC_BIND`, parsed; a bad value is warned about once and reads as unset.
fn env_policy() -> Option<ProcBind> {
    let raw = std::env::var(PROC_BIND_ENV).ok()?;
    match parse_policy(&raw) {
        Ok(p) => p,
        Err(why) => {
            warn_once(&format!(
                "par: {PROC_BIND_ENV}={raw:?}: {why}; expected `false`, `true`, `close` or `spread`; workers run unbound"
            ));
            Some(ProcBind::False)
        }
    }
}

/// A policy as `OMP_PROC_BIND` writes it; a list (`spread,close`, one per nesting level)
/// takes its first element, since loops nested in a worker never fork. Empty: `None`.
fn parse_policy(raw: &str) -> Result<Option<ProcBind>, String> {
    let first = raw.split(',').next().unwrap_or("").trim();
    match first.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "false" => Ok(Some(ProcBind::False)),
        "true" | "close" => Ok(Some(ProcBind::Close)),
        "spread" => Ok(Some(ProcBind::Spread)),
        "primary" | "master" => Err(format!(
            "`{first}` (every worker on the parent's place) is not supported"
        )),
        _ => Err(format!("unknown policy `{first}`")),
    }
}

/// The places of `text` inside `allowed`, computed once per (text, allowed set): sysfs is
/// read for `cores` and `sockets`, which a loop's start must not pay each time.
fn cached_places(text: &str, allowed: &[usize]) -> Vec<Vec<usize>> {
    type Entry = (String, Vec<usize>, Vec<Vec<usize>>);
    static LAST: Mutex<Option<Entry>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((t, a, p)) = last.as_ref()
        && t == text
        && a == allowed
    {
        return p.clone();
    }
    let places = match parse_places(text, allowed, &sys::topology_list) {
        Ok(p) => p,
        Err(why) => {
            warn_once(&format!(
                "par: {PLACES_ENV}={text:?}: {why}; expected `threads`, `cores`, `sockets` (each optionally with a count: `cores(4)`) or a list of places such as `{{0}},{{1}}` or `{{0:4}}:2:4`; using `cores`"
            ));
            parse_places("cores", allowed, &sys::topology_list).unwrap_or_default()
        }
    };
    *last = Some((text.to_string(), allowed.to_vec(), places.clone()));
    places
}

/// Parses a place list (see [`ProcBind`]) into places of CPU numbers, keeping only the CPUs
/// in `allowed` and the places left with one. `topology` gives sysfs's list of the CPUs
/// sharing a CPU's core or socket.
fn parse_places(
    text: &str,
    allowed: &[usize],
    topology: &dyn Fn(usize, Group) -> Option<String>,
) -> Result<Vec<Vec<usize>>, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let (name, count) = match lower.split_once('(') {
        Some((name, rest)) => {
            let n = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("`{text}` has no closing `)`"))?;
            let n = n
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("the count `{}` is not a positive number", n.trim()))?;
            (name.trim(), Some(n))
        }
        None => (lower.as_str(), None),
    };
    let places = match name {
        "threads" => allowed.iter().map(|&c| vec![c]).collect(),
        "cores" => grouped(allowed, Group::Core, topology),
        "sockets" => grouped(allowed, Group::Socket, topology),
        "ll_caches" | "numa_domains" => {
            return Err(format!("the places `{name}` are not supported"));
        }
        _ if text.starts_with('{') || text.starts_with('!') => {
            if count.is_some() {
                return Err("a list of places takes no count".to_string());
            }
            let places = Parser::new(text).place_list()?;
            places
                .into_iter()
                .map(|p| p.into_iter().filter(|c| allowed.contains(c)).collect())
                .filter(|p: &Vec<usize>| !p.is_empty())
                .collect()
        }
        _ => return Err(format!("unknown places `{text}`")),
    };
    Ok(match count {
        Some(n) => places.into_iter().take(n).collect(),
        None => places,
    })
}

/// The allowed CPUs grouped by the core (or socket) sysfs says each belongs to, in the order
/// of each group's first allowed CPU; a CPU sysfs says nothing about is a group of its own.
fn grouped(
    allowed: &[usize],
    group: Group,
    topology: &dyn Fn(usize, Group) -> Option<String>,
) -> Vec<Vec<usize>> {
    let mut by_key: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut order = Vec::new();
    for &cpu in allowed {
        let key = topology(cpu, group)
            .and_then(|l| parse_cpu_list(&l))
            .and_then(|l| l.into_iter().min())
            .unwrap_or(cpu);
        let members = by_key.entry(key).or_default();
        if members.is_empty() {
            order.push(key);
        }
        members.push(cpu);
    }
    order
        .into_iter()
        .filter_map(|k| by_key.remove(&k))
        .collect()
}

/// Linux's CPU list format (`0-3,8,10-11`); `None` if it is not one.
fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?);
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// A CPU list as Linux writes it, for messages.
fn list(cpus: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j > i {
            out.push_str(&format!("{}-{}", cpus[i], cpus[j]));
        } else {
            out.push_str(&cpus[i].to_string());
        }
        i = j + 1;
    }
    out
}

/// OpenMP's explicit place list:
///
/// ```text
/// place-list     := place-interval ("," place-interval)*
/// place-interval := place (":" length (":" stride)?)? | "!" place
/// place          := "{" res-list "}"
/// res-list       := res-interval ("," res-interval)*
/// res-interval   := res (":" length (":" stride)?)? | "!" res
/// ```
///
/// Lengths are positive, strides may be negative; a replicated place is shifted by the stride
/// each time.
struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { text, at: 0 }
    }

    fn place_list(&mut self) -> Result<Vec<Vec<usize>>, String> {
        let mut places: Vec<Vec<usize>> = Vec::new();
        loop {
            self.skip_spaces();
            if self.eat('!') {
                let place = self.place()?;
                places.retain(|p| *p != place);
            } else {
                let place = self.place()?;
                let (len, stride) = self.interval()?;
                for k in 0..len {
                    let shifted = place
                        .iter()
                        .map(|&c| self.cpu(c as i64 + k as i64 * stride))
                        .collect::<Result<Vec<_>, _>>()?;
                    places.push(shifted);
                }
            }
            self.skip_spaces();
            if self.at == self.text.len() {
                return Ok(places);
            }
            if !self.eat(',') {
                return Err(self.unexpected("`,` between places"));
            }
        }
    }

    fn place(&mut self) -> Result<Vec<usize>, String> {
        self.skip_spaces();
        if !self.eat('{') {
            return Err(self.unexpected("`{` to open a place"));
        }
        let mut cpus: Vec<usize> = Vec::new();
        loop {
            self.skip_spaces();
            if self.eat('!') {
                let cpu = self.number()?;
                let cpu = self.cpu(cpu)?;
                cpus.retain(|&c| c != cpu);
            } else {
                let first = self.number()?;
                let (len, stride) = self.interval()?;
                for k in 0..len {
                    let cpu = self.cpu(first + k as i64 * stride)?;
                    if !cpus.contains(&cpu) {
                        cpus.push(cpu);
                    }
                }
            }
            self.skip_spaces();
            if self.eat('}') {
                break;
            }
            if !self.eat(',') {
                return Err(self.unexpected("`,` or `}` in a place"));
            }
        }
        if cpus.is_empty() {
            return Err(format!("an empty place before position {}", self.at));
        }
        Ok(cpus)
    }

    /// An optional `:length(:stride)`; the stride defaults to 1, as OpenMP says.
    fn interval(&mut self) -> Result<(usize, i64), String> {
        self.skip_spaces();
        if !self.eat(':') {
            return Ok((1, 1));
        }
        let len = self.number()?;
        if len <= 0 {
            return Err(format!("the length `{len}` is not positive"));
        }
        self.skip_spaces();
        let stride = if self.eat(':') { self.number()? } else { 1 };
        Ok((len as usize, stride))
    }

    fn cpu(&self, n: i64) -> Result<usize, String> {
        usize::try_from(n).map_err(|_| format!("the CPU number {n} is negative"))
    }

    fn number(&mut self) -> Result<i64, String> {
        self.skip_spaces();
        let rest = &self.text[self.at..];
        let len = rest
            .char_indices()
            .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')))
            .count();
        let digits = &rest[..len];
        match digits.parse::<i64>() {
            Ok(n) => {
                self.at += len;
                Ok(n)
            }
            Err(_) => Err(self.unexpected("a number")),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.text[self.at..].starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    fn unexpected(&self, wanted: &str) -> String {
        match self.text[self.at..].chars().next() {
            Some(c) => format!("expected {wanted} at position {}, found `{c}`", self.at),
            None => format!("expected {wanted} at the end"),
        }
    }
}

/// Prints `message` on stderr unless this process printed it already.
fn warn_once(message: &str) {
    static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(PoisonError::into_inner);
    if !warned.iter().any(|m| m == message) {
        warned.push(message.to_string());
        eprintln!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(_: usize, _: Group) -> Option<String> {
        None
    }

    #[test]
    fn free_slot_is_the_lowest_unused() {
        assert_eq!(free_slot([].into_iter()), 0);
        assert_eq!(free_slot([0, 1, 2].into_iter()), 3);
        assert_eq!(free_slot([2, 0, 3].into_iter()), 1);
        assert_eq!(free_slot([1].into_iter()), 0);
    }

    /// Two hardware threads per core (0,4 / 1,5 / ...), two sockets of 4 CPUs.
    fn smt(cpu: usize, g: Group) -> Option<String> {
        Some(match g {
            Group::Core => format!("{},{}", cpu % 4, cpu % 4 + 4),
            Group::Socket if cpu % 4 < 2 => "0-1,4-5".to_string(),
            Group::Socket => "2-3,6-7".to_string(),
        })
    }

    fn places(text: &str, allowed: &[usize]) -> Vec<Vec<usize>> {
        parse_places(text, allowed, &smt).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn close_and_spread_place_workers_as_openmp_does() {
        // n <= p: close packs, spread spaces them out.
        assert_eq!(assign(ProcBind::Close, 8, 4), [0, 1, 2, 3]);
        assert_eq!(assign(ProcBind::Spread, 8, 4), [0, 2, 4, 6]);
        assert_eq!(assign(ProcBind::Spread, 8, 3), [0, 2, 5]);
        assert_eq!(assign(ProcBind::Close, 2, 2), [0, 1]);
        // n > p: consecutive workers share a place, n/p or one more each.
        assert_eq!(assign(ProcBind::Close, 2, 5), [0, 0, 0, 1, 1]);
        assert_eq!(assign(ProcBind::Spread, 2, 4), [0, 0, 1, 1]);
        assert_eq!(assign(ProcBind::Close, 1, 3), [0, 0, 0]);
    }

    #[test]
    fn abstract_names_follow_the_topology_inside_the_allowed_set() {
        let all: Vec<usize> = (0..8).collect();
        assert_eq!(places("threads", &[1, 3]), [vec![1], vec![3]]);
        assert_eq!(
            places("cores", &all),
            [vec![0, 4], vec![1, 5], vec![2, 6], vec![3, 7]]
        );
        assert_eq!(places("CORES(2)", &all), [vec![0, 4], vec![1, 5]]);
        assert_eq!(places("cores", &[1, 4, 5]), [vec![1, 5], vec![4]]);
        assert_eq!(
            places("sockets", &all),
            [vec![0, 1, 4, 5], vec![2, 3, 6, 7]]
        );
        // Without sysfs, each CPU is its own core.
        assert_eq!(
            parse_places("cores", &[0, 1], &flat).unwrap(),
            [vec![0], vec![1]]
        );
    }

    #[test]
    fn explicit_lists_as_omp_places_writes_them() {
        let all: Vec<usize> = (0..16).collect();
        assert_eq!(places("{0},{1}", &all), [vec![0], vec![1]]);
        assert_eq!(places("{0:4}", &all), [vec![0, 1, 2, 3]]);
        assert_eq!(places("{0:4:2}", &all), [vec![0, 2, 4, 6]]);
        assert_eq!(places(" { 0 , 2 } , {1} ", &all), [vec![0, 2], vec![1]]);
        assert_eq!(
            places("{0:2}:4:2", &all),
            [vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]]
        );
        // The stride defaults to 1, for places too.
        assert_eq!(
            places("{0:4}:2", &all),
            [vec![0, 1, 2, 3], vec![1, 2, 3, 4]]
        );
        assert_eq!(
            places("{0:4}:2:4", &all),
            [vec![0, 1, 2, 3], vec![4, 5, 6, 7]]
        );
        assert_eq!(places("{3:3:-1}", &all), [vec![3, 2, 1]]);
        assert_eq!(places("{0:4,!2}", &all), [vec![0, 1, 3]]);
        assert_eq!(places("{0},{1},{2},!{1}", &all), [vec![0], vec![2]]);
        // Outside the allowed set: dropped, and a place left empty too.
        assert_eq!(places("{0},{1,5},{2}", &[0, 5]), [vec![0], vec![5]]);
        assert!(places("{7}", &[0, 1]).is_empty());
    }

    #[test]
    fn bad_place_lists_say_what_is_wrong() {
        for (text, why) in [
            ("cpus", "unknown places `cpus`"),
            ("cores(0)", "`0` is not a positive number"),
            ("cores(2", "no closing `)`"),
            ("ll_caches", "`ll_caches` are not supported"),
            ("{0", "expected `,` or `}` in a place at the end"),
            ("{}", "expected a number at position 1"),
            ("{0}{1}", "expected `,` between places at position 3"),
            ("{0:0}", "the length `0` is not positive"),
            ("{0:2:-1}", "the CPU number -1 is negative"),
            ("{a}", "expected a number at position 1, found `a`"),
        ] {
            let e = parse_places(text, &[0, 1], &flat).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn policies_parse_as_omp_proc_bind() {
        assert_eq!(parse_policy("close"), Ok(Some(ProcBind::Close)));
        assert_eq!(parse_policy(" Spread "), Ok(Some(ProcBind::Spread)));
        assert_eq!(parse_policy("TRUE"), Ok(Some(ProcBind::Close)));
        assert_eq!(parse_policy("false"), Ok(Some(ProcBind::False)));
        assert_eq!(parse_policy("spread,close"), Ok(Some(ProcBind::Spread)));
        assert_eq!(parse_policy(""), Ok(None));
        assert!(
            parse_policy("sideways")
                .unwrap_err()
                .contains("unknown policy `sideways`")
        );
        assert!(
            parse_policy("primary")
                .unwrap_err()
                .contains("not supported")
        );
    }

    #[test]
    fn cpu_lists_read_and_write_as_linux_does() {
        assert_eq!(parse_cpu_list("0-3,8\n"), Some(vec![0, 1, 2, 3, 8]));
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
    }
}
