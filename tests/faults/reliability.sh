#!/usr/bin/env bash
# Regenerates RELIABILITY.md: one run of the fault-injection example, stamped with the commit,
# the date and the machine. Never edit the figures in RELIABILITY.md by hand: run this.
#
#   bash tests/faults/reliability.sh               # --loops 1000 (about 10 minutes on 2 cores)
#   bash tests/faults/reliability.sh --loops 100   # any option of the example
set -euo pipefail
cd "$(dirname "$0")/../.."
out=RELIABILITY.md
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--loops 1000)
commit=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain --untracked-files=no | grep -q . && echo " (with uncommitted changes)" || true)
cargo build --release --example faults >/dev/null 2>&1
start=$(date +%s)
figures=$(cargo run --release --example faults -- "${args[@]}" 2>/dev/null) || status=$?
took=$(($(date +%s) - start))
{
    cat <<'EOF'
# Reliability

par runs other people's code in processes it forks. This file holds the figures of one run of
the fault-injection suite at large counts: every fault injected and how it was reported, what
was left behind (zombies, fds, memory), hangs, and how fast children go when their parent is
killed. The same engine runs at small counts in `cargo test` (`tests/faults.rs`); its code is
`tests/faults/engine.rs`.

## How to read the figures

- **Faults.** Each fault kind is injected at a random item or job (a seeded generator: every
  run injects the same faults) in `--loops` runs, taken in turn by the APIs that support it:
  `Loop::try_collect` and `Loop::try_reduce` with each schedule, `par!(try, ...)` collect and
  reduce, `Queue`, `Map`, `pmap`, `Pool`, `start`/`Channel` (the child sends `k` messages,
  then faults) and `Exchange`. A report counts as right only if it is the variant the fault
  must give (`Panicked` with the panic's message; `WorkerDied` with `Death::Signal(6)`,
  `Signal(9)`, `Signal(11)`, `Exit(3)` or `Exit(0)`; `Interrupted` with signal 2; `Lost`
  saying the pipes were dup2'd over; `TimedOut` with the loop's timeout),
  about the index the fault was injected at, with the pid of the process that ran that item
  (each faulty item writes its pid to a file before it faults; never the parent's), every
  other value right, and if the next run of the same API (on the same `Pool` for pools) gives
  every value right. After each case: no child of the parent left (live or zombie), and the
  parent's open fds unchanged. The faults: `panic!`, `std::process::abort()`,
  `kill(getpid(), SIGKILL)`, `raise(SIGSEGV)` after restoring its default action (std's own
  SIGSEGV handler, there to detect stack overflows, returns from a *raised* SIGSEGV once, so a
  bare `raise` is survived in any Rust program), `std::process::exit(3)` and `exit(0)`,
  `raise(SIGINT)` (what a Ctrl-C does to a worker: an interruption, never retried), a `dup2`
  of `/dev/null` over every fd above stderr (par's pipes among them) after which the item
  runs on for 300 ms and returns (the values its worker held never arrive), and a sleep of an
  hour under the loop's `timeout`.
- **Soak.** Mixed runs on every API in one process, one in four with a fault (not a timeout):
  fds and children at the end against the start, resident set (`/proc/self/statm`) after a
  warm-up (the first tenth of the runs) against the end. `tests/faults.rs` asserts a growth
  of at most 4 MiB over its 500 runs.
- **Threads.** A parent with 8 threads running checked loops, and one more thread printing to
  stdout (holding its lock) and allocating without pause, forks all the time: a worker
  forked while a lock is held must not hang. The run is bounded (killed after its duration
  plus 60 s, which would be reported as HUNG).
- **Parent stopped.** A parent with two children of a family, each sleeping in its item or
  job, is sent `SIGKILL` or `SIGTERM` (the parent alone), `SIGKILL` after it blocked every
  signal (`pthread_sigmask`) before forking, or `SIGINT` or `SIGTERM` (its process group): the time from the signal until no child runs any more (a zombie waiting
  for init counts as gone). These are wall-clock times on a shared machine: a worst case is
  the slowest of the rounds, not a typical one.
- **Lowered limits.** A process lowers its soft `RLIMIT_NOFILE` (or `RLIMIT_NPROC`) to what
  it uses plus 0 to 24 and runs every API (4 workers, 8 items) under each: each run must be
  right or a clean `Error::Io`, never a panic, another error, a wrong value, a hang or a
  child left; then, with the limit restored, every API must be right again. Root is not
  bound by `RLIMIT_NPROC`: as root, that process first becomes uid 65534 (`nobody`).

## Bugs this suite found

Three, all fixed since (each test now runs): `exit(0)` in the middle of a `Pool` call was
reported as a lost result instead of `Error::WorkerDied { death: Death::Exit(0) }`;
`exit(0)` in the middle of a started child's function (`par::start`, `Exchange::start`) was read
as the child's normal end (a started child now says when its function returned); and a `Pool`
call that `dup2`ed over its worker's pipes was reported as `WorkerDied` by a `SIGKILL` "from
outside par" (the pool killed the worker before asking how it ended), where loops and `Queue`
say `Error::Lost` and which values never arrived.

## Reproduce

EOF
    echo '```sh'
    echo "cargo run --release --example faults -- ${args[*]}"
    echo "bash tests/faults/reliability.sh ${args[*]}   # the same, and rewrites this file"
    echo '```'
    echo
    echo "## The figures"
    echo
    echo "Generated by \`bash tests/faults/reliability.sh ${args[*]}\` at commit \`$commit\`$dirty on"
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), as $(id -un);"
    echo "the run took ${took} s and exited with status ${status:-0}. Its output, unedited:"
    echo
    echo '```text'
    echo "$figures"
    echo '```'
} >"$out"
echo "wrote $out"
exit "${status:-0}"
