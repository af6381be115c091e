"""Python multiprocessing.Pool(2) versions of the workloads of benches/README.md, for benches/compare.rs.

Prints one line per workload: `NAME best_ms checksum rep_ms,rep_ms,...` (pool start-up not
included: the pool is created once, before the timed regions, as a user would).
"""
import sys
import time
from multiprocessing import Pool

MIB = 1 << 20


def w1(i):
    return i * 2


def w3_row(y):
    from array import array
    dx = 3.0 / 2048.0
    ci = -1.5 + y * dx
    row = array("H")
    for x in range(2048):
        cr = -2.0 + x * dx
        zr = zi = 0.0
        n = 0
        while n < 256:
            zr2 = zr * zr
            zi2 = zi * zi
            if zr2 + zi2 > 4.0:
                break
            zi = 2.0 * zr * zi + ci
            zr = zr2 - zi2 + cr
            n += 1
        row.append(n)
    return row


def w4(i):
    x = 1.0
    for _ in range(i * 10):
        x = x * 1.0000001 + 1e-9
    return x


def w5_half(r):
    s = 0.0
    for i in range(r[0], r[1]):
        s += 1.0 / (i + 1.0)
    return s


def w6(i):
    return bytes([i % 256]) * MIB


def best(pool, name, reps, f):
    times = []
    value = None
    for _ in range(reps):
        t = time.perf_counter()
        value = f(pool)
        times.append((time.perf_counter() - t) * 1e3)
        if name == "W6":
            value, big = value
            del big
    print(name, f"{min(times):.2f}", value, ",".join(f"{t:.1f}" for t in times), flush=True)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    which = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else {"W1", "W2", "W3", "W4", "W5", "W6"}
    with Pool(2) as pool:
        pool.map(w1, range(4))  # warm the workers up
        if "W1" in which:
            best(pool, "W1", reps, lambda p: sum(p.map(w1, range(1_000_000))))
        if "W2" in which:
            best(pool, "W2", reps, lambda p: sum(p.map(w1, range(20_000), chunksize=1)))
        if "W3" in which:
            best(pool, "W3", reps, lambda p: sum(sum(r) for r in p.map(w3_row, range(2048))))
        if "W4" in which:
            best(pool, "W4", reps, lambda p: "%.16e" % sum(p.map(w4, range(10_000))))
        if "W5" in which:
            halves = [(0, 50_000_000), (50_000_000, 100_000_000)]
            best(pool, "W5", reps, lambda p: "%.16e" % sum(p.map(w5_half, halves)))
        if "W6" in which:
            def run(p):
                out = p.map(w6, range(1024))
                return sum(len(b) + b[0] + b[-1] for b in out), out
            best(pool, "W6", reps, run)


if __name__ == "__main__":
    main()
