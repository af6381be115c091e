/* OpenMP versions of the W1-W5 workloads of benches/README.md, for benches/compare.rs.
 * Built with: gcc -O2 -fopenmp -ffp-contract=off compare_omp.c -o compare_omp
 * Prints one line per workload: NAME best_ms checksum rep_ms,rep_ms,... (2 threads). */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double now_ms(void) { return omp_get_wtime() * 1e3; }

static void report(const char *name, double *t, int reps, const char *checksum) {
    double best = t[0];
    for (int r = 1; r < reps; r++) if (t[r] < best) best = t[r];
    printf("%s %.2f %s ", name, best, checksum);
    for (int r = 0; r < reps; r++) printf(r ? ",%.1f" : "%.1f", t[r]);
    printf("\n");
    fflush(stdout);
}

static uint16_t pixel(int x, int y) {
    double dx = 3.0 / 2048.0, ci = -1.5 + y * dx, cr = -2.0 + x * dx, zr = 0.0, zi = 0.0;
    int n = 0;
    while (n < 256) {
        double zr2 = zr * zr, zi2 = zi * zi;
        if (zr2 + zi2 > 4.0) break;
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        n++;
    }
    return (uint16_t)n;
}

static double w4(long i) {
    double x = 1.0;
    for (long k = 0; k < i * 10; k++) x = x * 1.0000001 + 1e-9;
    return x;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    double t[16];
    char sum[64];
    omp_set_num_threads(2);
    if (reps > 16) reps = 16;

    uint64_t *w1 = malloc(sizeof(uint64_t) * 1000000);
    for (int r = 0; r < reps; r++) {
        double s = now_ms();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < 1000000; i++) {
            uint64_t v = (uint64_t)i;
            __asm__ volatile("" : "+r"(v));
            w1[i] = v * 2;
        }
        t[r] = now_ms() - s;
    }
    uint64_t c = 0;
    for (long i = 0; i < 1000000; i++) c += w1[i];
    snprintf(sum, sizeof sum, "%llu", (unsigned long long)c);
    report("W1", t, reps, sum);

    for (int r = 0; r < reps; r++) {
        double s = now_ms();
#pragma omp parallel for schedule(dynamic, 1)
        for (long i = 0; i < 20000; i++) {
            uint64_t v = (uint64_t)i;
            __asm__ volatile("" : "+r"(v));
            w1[i] = v * 2;
        }
        t[r] = now_ms() - s;
    }
    c = 0;
    for (long i = 0; i < 20000; i++) c += w1[i];
    snprintf(sum, sizeof sum, "%llu", (unsigned long long)c);
    report("W2", t, reps, sum);

    uint16_t *img = malloc(sizeof(uint16_t) * 2048 * 2048);
    for (int r = 0; r < reps; r++) {
        double s = now_ms();
#pragma omp parallel for schedule(dynamic, 1)
        for (int y = 0; y < 2048; y++)
            for (int x = 0; x < 2048; x++) img[y * 2048 + x] = pixel(x, y);
        t[r] = now_ms() - s;
    }
    c = 0;
    for (long i = 0; i < 2048 * 2048; i++) c += img[i];
    snprintf(sum, sizeof sum, "%llu", (unsigned long long)c);
    report("W3", t, reps, sum);

    double *w4v = malloc(sizeof(double) * 10000);
    for (int r = 0; r < reps; r++) {
        double s = now_ms();
#pragma omp parallel for schedule(dynamic, 1)
        for (long i = 0; i < 10000; i++) w4v[i] = w4(i);
        t[r] = now_ms() - s;
    }
    double d = 0.0;
    for (long i = 0; i < 10000; i++) d += w4v[i];
    snprintf(sum, sizeof sum, "%.16e", d);
    report("W4", t, reps, sum);

    for (int r = 0; r < reps; r++) {
        double s = now_ms();
        d = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : d)
        for (long i = 0; i < 100000000; i++) d += 1.0 / ((double)i + 1.0);
        t[r] = now_ms() - s;
    }
    snprintf(sum, sizeof sum, "%.16e", d);
    report("W5", t, reps, sum);
    return 0;
}
