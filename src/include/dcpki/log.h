/* Diagnostics to stderr, enabled by the environment variable DCPKI_DEBUG=1
 * (or DCPKI_DEBUG=2 for HTTP traces without bodies). Never log a secret. */
#ifndef DCPKI_LOG_H
#define DCPKI_LOG_H
int dcpki_log_level(void);
void dcpki_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define DCPKI_DEBUG(...) do { if (dcpki_log_level() >= 1) dcpki_log(1, __VA_ARGS__); } while (0)
#endif
