/* Links the no_std probe into a C program and runs it once (size + smoke). */
#include <stdio.h>
#include <stddef.h>
int serf_probe_run(const unsigned char *data, size_t len, unsigned char *out, size_t out_len);
int main(void) {
    unsigned char out[1400];
    int n = serf_probe_run(NULL, 0, out, sizeof out);
    printf("serf_probe_run wrote %d bytes\n", n);
    return n > 0 ? 0 : 1;
}
