/* hil-pulse: clocks a Wiegand frame into two gpio-sim lines by changing their simulated
 * pulls, with reader-like timing (a 100 us low pulse every 2 ms). A shell cannot keep
 * that timing under emulation: a frame ends after 25 ms of silence, and a fork can take
 * longer than that. Built statically on the host and run in the HIL guest.
 *
 *   hil-pulse SIMDIR D0 D1 BITS      e.g. hil-pulse /sys/.../gpiochip0 11 12 01010...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int set_pull(const char *dir, int line, const char *pull) {
    char path[512];
    snprintf(path, sizeof path, "%s/sim_gpio%d/pull", dir, line);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return -1; }
    int ok = fputs(pull, f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static void pause_us(long us) {
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0) {}
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: hil-pulse SIMDIR D0 D1 BITS\n"); return 2; }
    int d0 = atoi(argv[2]), d1 = atoi(argv[3]);
    for (const char *b = argv[4]; *b; b++) {
        if (*b != '0' && *b != '1') { fprintf(stderr, "hil-pulse: bits must be 0 or 1\n"); return 2; }
        int line = *b == '1' ? d1 : d0;   /* Wiegand: a pulse on D1 is a 1, on D0 a 0 */
        if (set_pull(argv[1], line, "pull-down") != 0) return 1;
        pause_us(100);
        if (set_pull(argv[1], line, "pull-up") != 0) return 1;
        pause_us(1900);
    }
    return 0;
}
