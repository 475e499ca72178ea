/* dcpki agent: serve the signing service to local processes over a Unix
 * socket (dcpki/agent.h), in the foreground until SIGTERM or SIGINT. */
#include "cli_common.h"
#include "dcpki/agent.h"
#include "../core/internal.h"

#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { OPT_SOCKET = CLI_OPT_FIRST_FREE };

static volatile sig_atomic_t g_stop, g_report;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_report = 1;
    else
        g_stop = 1;
}

static dcpki_code forward(void *arg, const char *method, const char *path, const char *body, size_t body_len,
                          int idempotent, dcpki_http_response *resp, dcpki_err *err)
{
    return dcpki_signing_forward(arg, method, path, body, body_len, idempotent, resp, err);
}

/* sd_notify(3)'s READY=1 without libsystemd: one datagram to $NOTIFY_SOCKET
 * (an absolute path, or '@' for the abstract namespace). Nothing when unset. */
static void notify_ready(void)
{
    const char *p = getenv("NOTIFY_SOCKET");
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    size_t n = p ? strlen(p) : 0;
    if (n < 2 || n >= sizeof(a.sun_path) || (p[0] != '/' && p[0] != '@'))
        return;
    memcpy(a.sun_path, p, n);
    if (p[0] == '@')
        a.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    static const char ready[] = "READY=1";
    if (sendto(fd, ready, sizeof(ready) - 1, MSG_NOSIGNAL, (struct sockaddr *)&a,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
        cli_warn("cannot tell systemd the agent is ready (NOTIFY_SOCKET=%s)", p);
    close(fd);
}

static int agent_run(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"socket", required_argument, NULL, OPT_SOCKET},
        {NULL, 0, NULL, 0},
    };
    const char *sock = NULL;
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc;
        case OPT_SOCKET: sock = optarg; break;
        default: return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 0, 0))
        return CLI_EXIT_USAGE;
    if (sock && !dcpki_agent_path_ok(sock))
        return cli_usage_error(ctx, "--socket needs an absolute path of at most 107 bytes, not '%s'", sock);
    dcpki_err err;
    dcpki_err_clear(&err);
    const dcpki_config *cfg;
    dcpki_ctx *core;
    dcpki_signing *s;
    if (cli_config(ctx, &cfg, &err) != DCPKI_OK)
        return cli_error(&err);
    if (!sock && !(sock = cfg->signing.agent))
        return cli_errorf(DCPKI_E_CONFIG_INCOMPLETE, "[signing] agent (the socket's path) is not set in %s; set it "
                          "(e.g. /run/dcpki/agent.sock) or give --socket PATH", cfg->path);
    /* the agent connects to the service itself: the identity and the API key are read now */
    if (cli_core(ctx, &core, &err) != DCPKI_OK || dcpki_ctx_signing_direct(core, &s, &err) != DCPKI_OK)
        return cli_error(&err);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    dcpki_agent_service svc = {
        .socket_path = sock,
        .base = dcpki_signing_base(s),
        .label = dcpki_signing_label(s),
        .timeout_ms = cfg->ca.timeout_ms,
        .forward = forward,
        .arg = s,
        .ready = notify_ready,
    };
    if (dcpki_agent_serve(&svc, &g_stop, &g_report, &err) != DCPKI_OK)
        return cli_error(&err);
    return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_agent = {
    .name = "agent",
    .summary = "serve the signing service to local processes over a Unix socket",
    .usage =
        "Usage: dcpki agent [--socket PATH]\n"
        "\n"
        "Runs in the foreground until SIGTERM or SIGINT (dcpki-agent.service runs it).\n"
        "SIGUSR1 logs the connections and requests served and the CPU time used.\n"
        "It holds the RA identity, the API key and kept-alive TLS connections to the\n"
        "signing service; processes whose configuration sets [signing] agent use their\n"
        "remote keys through it, without reading the RA key or the API key and without\n"
        "a TLS handshake of their own. It forwards only what remote keys need: list,\n"
        "describe and sign.\n"
        "\n"
        "The socket is made with mode 0660; root, the agent's user and members of its\n"
        "group may connect (checked again with SO_PEERCRED). A stale socket is replaced;\n"
        "a socket another agent serves is not.\n"
        "\n"
        "Options:\n"
        "  --socket PATH  the socket to make (default: [signing] agent of the configuration)\n",
    .run = agent_run,
};
