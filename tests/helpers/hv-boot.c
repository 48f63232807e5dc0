/* Test driver for the hypervisor layer: builds a VM description from options, then takes commands on stdin (start,
 * pause, resume, stop, kill-vmm, ...) and prints one line per answer and per driver event, for pytest to read. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

#include "buf.h"
#include "error.h"
#include "hypervisor/hypervisor.h"
#include "log.h"
#include "loop.h"

struct app {
        struct hull_loop *loop;
        struct hull_hypervisor *hv;
        struct hull_buf in;
        int exit_code;
};

static void out(const char *fmt, ...) _printf_(1, 2);
static void out(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static unsigned long long now_ms(void)
{
        return (unsigned long long)(hull_now_usec() / 1000);
}

static void on_event(struct hull_hypervisor *hv, const struct hull_hv_event *ev, void *userdata)
{
        int code = 0;

        if (ev->kind == HULL_HV_EVENT_EXITED || ev->kind == HULL_HV_EVENT_DAEMON_EXITED)
                code = WIFEXITED(ev->status) ? WEXITSTATUS(ev->status) : 128 + WTERMSIG(ev->status);
        out("event %s pid=%d code=%d guest=%d t=%llu message=%s", hull_hv_event_kind_to_string(ev->kind), (int)ev->pid,
            code, ev->guest ? 1 : 0, now_ms(), ev->message ? ev->message : "");
}

static void print_error(const char *cmd, struct hull_error *e)
{
        out("error %s: %s", cmd, hull_error_message(e));
}

static void command(struct app *app, char *line)
{
        _cleanup_error_ struct hull_error *e = NULL;
        char *arg = strchr(line, ' ');
        pid_t pids[4];
        size_t n;

        if (arg)
                *arg++ = '\0';
        if (streq(line, "start")) {
                unsigned long long t0 = now_ms();
                if (hull_hypervisor_start(app->hv, &e) < 0)
                        print_error(line, e);
                else
                        out("started ms=%llu", now_ms() - t0);
        } else if (streq(line, "pause") || streq(line, "resume")) {
                int r = streq(line, "pause") ? hull_hypervisor_pause(app->hv, &e) : hull_hypervisor_resume(app->hv, &e);
                if (r < 0)
                        print_error(line, e);
                else
                        out("ok %s", line);
        } else if (streq(line, "stop")) {
                int status = 0;
                unsigned timeout = arg ? (unsigned)strtoul(arg, NULL, 10) : 0;
                if (hull_hypervisor_stop(app->hv, timeout, &status, &e) < 0)
                        print_error(line, e);
                else
                        out("stopped code=%d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        } else if (streq(line, "kill-vmm") || streq(line, "kill-daemon")) {
                size_t want = streq(line, "kill-vmm") ? 0 : 1;
                n = hull_hypervisor_pids(app->hv, pids, ARRAY_SIZE(pids));
                if (n <= want) {
                        out("error %s: no such process", line);
                        return;
                }
                kill(pids[want], SIGKILL);
                out("killed pid=%d t=%llu", (int)pids[want], now_ms());
        } else if (streq(line, "pids")) {
                _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;
                n = hull_hypervisor_pids(app->hv, pids, ARRAY_SIZE(pids));
                hull_buf_puts(&b, "pids");
                for (size_t i = 0; i < n && i < ARRAY_SIZE(pids); i++)
                        hull_buf_printf(&b, " %d", (int)pids[i]);
                out("%s", b.data);
        } else if (streq(line, "channel")) {
                struct hull_hv_channel c;
                if (hull_hypervisor_agent_channel(app->hv, &c, &e) < 0)
                        print_error(line, e);
                else if (c.kind == HULL_HV_CAP_VSOCK)
                        out("channel vsock cid=%u port=%u", c.cid, c.port);
                else if (c.kind == HULL_HV_CAP_HYBRID_VSOCK)
                        out("channel hybrid-vsock path=%s port=%u", c.path, c.port);
                else
                        out("channel serial path=%s", c.path);
        } else if (streq(line, "state")) {
                out("state %s", hull_hv_state_to_string(hull_hypervisor_state(app->hv)));
        } else if (streq(line, "caps")) {
                out("caps 0x%x", hull_hypervisor_capabilities(app->hv));
        } else if (streq(line, "quit")) {
                hull_loop_quit(app->loop, 0);
        } else
                out("error %s: unknown command", line);
}

static int on_stdin(struct hull_loop_source *src, int fd, uint32_t events, void *userdata)
{
        struct app *app = userdata;
        char chunk[512];
        ssize_t k = read(fd, chunk, sizeof(chunk));
        char *nl;

        if (k <= 0) {
                hull_loop_source_remove(src);
                hull_loop_quit(app->loop, 0);
                return 0;
        }
        if (hull_buf_append(&app->in, chunk, (size_t)k) < 0 || app->in.len > 4096)
                return -ENOMEM;
        while ((nl = memchr(app->in.data, '\n', app->in.len))) {
                size_t len = (size_t)(nl - app->in.data);
                char line[4097];
                memcpy(line, app->in.data, len);
                line[len] = '\0';
                hull_buf_consume(&app->in, len + 1);
                if (len > 0)
                        command(app, line);
        }
        return 0;
}

static void usage(void)
{
        fprintf(stderr,
                "usage: hv-boot --kernel K [--initrd I] --state-dir D [--shared-dir S] [--machine M] [--accel "
                "auto|kvm|tcg] [--channel auto|vsock|serial] [--append P] [--memory MIB] [--vcpus N] [--binary "
                "B] [--fs-daemon V] [--hypervisor qemu|builtin] [--debug]\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "kernel", required_argument, NULL, 'k' },
                { "initrd", required_argument, NULL, 'i' },
                { "state-dir", required_argument, NULL, 's' },
                { "shared-dir", required_argument, NULL, 'S' },
                { "machine", required_argument, NULL, 'M' },
                { "accel", required_argument, NULL, 'a' },
                { "channel", required_argument, NULL, 'c' },
                { "append", required_argument, NULL, 'A' },
                { "memory", required_argument, NULL, 'm' },
                { "vcpus", required_argument, NULL, 'n' },
                { "binary", required_argument, NULL, 'b' },
                { "fs-daemon", required_argument, NULL, 'f' },
                { "debug", no_argument, NULL, 'd' },
                { "id", required_argument, NULL, 'I' },
                { "hypervisor", required_argument, NULL, 'H' },
                { NULL, 0, NULL, 0 },
        };
        _cleanup_error_ struct hull_error *e = NULL;
        struct hull_hv_desc d = { .vcpus = 1, .memory_mib = 256, .id = "hv-boot" };
        struct app app = { .in = HULL_BUF_INIT };
        int c, r, kind = HULL_CONFIG_HYPERVISOR_QEMU;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'k':
                        d.kernel = optarg;
                        break;
                case 'i':
                        d.initrd = optarg;
                        break;
                case 's':
                        d.state_dir = optarg;
                        break;
                case 'S':
                        d.shared_dir = optarg;
                        break;
                case 'M':
                        d.machine_type = optarg;
                        break;
                case 'A':
                        d.kernel_params = optarg;
                        break;
                case 'm':
                        d.memory_mib = strtoull(optarg, NULL, 10);
                        break;
                case 'n':
                        d.vcpus = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'b':
                        d.binary = optarg;
                        break;
                case 'f':
                        d.fs_daemon = optarg;
                        break;
                case 'd':
                        d.debug = true;
                        break;
                case 'I':
                        d.id = optarg;
                        break;
                case 'H':
                        kind = hull_config_hypervisor_kind_from_string(optarg);
                        if (kind < 0) {
                                fprintf(stderr, "hv-boot: unknown hypervisor %s\n", optarg);
                                return 2;
                        }
                        break;
                case 'a':
                        d.accel = streq(optarg, "kvm") ? HULL_HV_ACCEL_KVM
                                : streq(optarg, "tcg") ? HULL_HV_ACCEL_TCG
                                                       : HULL_HV_ACCEL_AUTO;
                        break;
                case 'c':
                        d.channel = streq(optarg, "vsock") ? HULL_HV_CHANNEL_VSOCK
                                : streq(optarg, "serial")  ? HULL_HV_CHANNEL_SERIAL
                                                           : HULL_HV_CHANNEL_AUTO;
                        break;
                default:
                        usage();
                        return 2;
                }
        }
        hull_log_setup("hv-boot", d.debug ? HULL_LOG_DEBUG : HULL_LOG_INFO, HULL_LOG_TEXT, NULL, NULL);
        /* A dead reader of our stdout must not kill us before we clean up. */
        signal(SIGPIPE, SIG_IGN);

        r = hull_loop_new(&app.loop, &e);
        if (r >= 0)
                r = hull_hypervisor_new((enum hull_config_hypervisor_kind)kind, &d, app.loop, on_event, &app, &app.hv,
                                        &e);
        if (r < 0) {
                out("error create: %s", hull_error_message(e));
                hull_loop_free(app.loop);
                return 1;
        }
        out("created caps=0x%x", hull_hypervisor_capabilities(app.hv));
        r = hull_loop_add_fd(app.loop, STDIN_FILENO, EPOLLIN, on_stdin, &app, NULL, &e);
        if (r >= 0)
                r = hull_loop_run(app.loop);
        app.hv = hull_hypervisor_free(app.hv);
        hull_loop_free(app.loop);
        hull_buf_free(&app.in);
        out("bye");
        return r < 0 ? 1 : 0;
}
