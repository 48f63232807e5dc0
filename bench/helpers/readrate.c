/* readrate FILE [BLOCK]: read FILE to its end in BLOCK-byte reads (default 1 MiB) and print "bytes=N seconds=S".
 * Built static by bench/run so that the same program times the read on the host and in a guest container. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char buf[16 << 20];

int main(int argc, char **argv)
{
        struct timespec a, b;
        size_t block = argc > 2 ? strtoul(argv[2], NULL, 10) : 1u << 20;
        long long total = 0;
        ssize_t n;
        int fd;

        if (argc < 2 || block == 0 || block > sizeof(buf)) {
                fprintf(stderr, "usage: readrate FILE [BLOCK <= 16 MiB]\n");
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &a);
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                perror(argv[1]);
                return 1;
        }
        while ((n = read(fd, buf, block)) > 0)
                total += n;
        if (n < 0) {
                perror("read");
                return 1;
        }
        close(fd);
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("bytes=%lld seconds=%.6f\n", total, (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
        return 0;
}
