/* hull-agent: PID 1 of the guest. Boots the guest (mounts, modules, reaper), opens the channel to the host and
 * serves it. Outside a VM (pid != 1) it runs as a plain process on a unix socket, for development and tests. */
#include <getopt.h>
#include <signal.h>
#include <string.h>

#include "boot.h"
#include "cgroup.h"
#include "buf.h"
#include "channel.h"
#include "cmdline.h"
#include "error.h"
#include "fd.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "modules.h"
#include "network.h"
#include "reaper.h"
#include "server.h"
#include "service.h"

/* Under TCG a port can take seconds to be announced; the host gives up long before this. */
#define PORT_WAIT_USEC (120ull * 1000 * 1000)
/* After DestroySandbox's reply the host normally hangs up at once. */
#define POWEROFF_GRACE_USEC (2ull * 1000 * 1000)

struct agent {
        bool pid1;
        char *cmdline;
        struct hull_agent_options opts;
        struct hull_loop *loop;
        struct hull_agent_reaper *reaper;
        struct hull_agent_link *link;
        struct hull_ttrpc_server *server;
        struct hull_agent_service *service;
        char *modules_dir;
        bool destroyed;
        struct hull_buf modules_loaded, modules_failed;
};

static int on_connection(int fd, void *userdata)
{
        struct agent *a = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        if (hull_ttrpc_server_add_conn(a->server, fd, &e) < 0) {
                log_error("channel: %s", hull_error_message(e));
                close(fd);
                if (a->link)
                        hull_agent_link_conn_closed(a->link);
                return -EIO;
        }
        /* The link may call this from inside hull_agent_link_start() (a host already connected to the serial
         * port), before a->link is set. */
        log_info("channel %s: host connected", a->link ? hull_agent_link_describe(a->link) : "(starting)");
        return 0;
}

static void on_disconnect(struct hull_ttrpc_server *s, const struct hull_error *reason, void *userdata)
{
        struct agent *a = userdata;

        log_info("channel: host disconnected%s%s", reason ? ": " : "", reason ? hull_error_message(reason) : "");
        hull_agent_link_conn_closed(a->link);
        if (a->destroyed)
                hull_loop_quit(a->loop, 0);
}

static int on_poweroff_timer(struct hull_loop_source *src, void *userdata)
{
        struct agent *a = userdata;

        hull_loop_quit(a->loop, 0);
        return 0;
}

/* DestroySandbox was answered: power off once the host hangs up, or after a bounded grace for the reply to leave. */
static void on_destroyed(void *userdata)
{
        struct agent *a = userdata;
        _cleanup_error_ struct hull_error *e = NULL;

        a->destroyed = true;
        if (a->pid1 && hull_loop_add_timer(a->loop, POWEROFF_GRACE_USEC, on_poweroff_timer, a, NULL, &e) < 0)
                hull_loop_quit(a->loop, 0);
}

static void on_link_fail(const struct hull_error *e, void *userdata)
{
        struct agent *a = userdata;

        log_error("channel: %s", hull_error_message(e));
        hull_loop_quit(a->loop, hull_error_code(e));
}

static int on_quit_signal(struct hull_loop_source *src, int signo, void *userdata)
{
        struct agent *a = userdata;

        log_info("signal %d: stopping", signo);
        hull_loop_quit(a->loop, 0);
        return 0;
}

static double uptime_seconds(void)
{
        _cleanup_free_ char *data = NULL;
        _cleanup_error_ struct hull_error *e = NULL;

        if (hull_read_file("/proc/uptime", 256, &data, NULL, &e) < 0)
                return -1;
        return strtod(data, NULL);
}

static int load_modules(struct agent *a, struct hull_error **err)
{
        const char *dir;
        int r;

        r = hull_agent_modules_dir(&a->modules_dir, err);
        if (r < 0)
                return r;
        dir = a->modules_dir;
        r = hull_agent_modules_load_list(dir, a->cmdline, &a->modules_loaded, &a->modules_failed, err);
        if (r == -ENOENT) {
                /* A kernel with everything built in (guest/kernel/) comes with no modules for its release. */
                log_debug("no module list under %s", dir);
                if (err)
                        *err = hull_error_free(*err);
        } else if (r < 0) {
                return r;
        }
        if (a->opts.kernel_modules) {
                _cleanup_free_ char *list = strdup(a->opts.kernel_modules);
                char *name, *save = NULL;
                if (!list)
                        return hull_error_oom(err);
                for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
                        _cleanup_error_ struct hull_error *e = NULL;
                        _cleanup_free_ char *params = NULL;
                        if (hull_agent_cmdline_module_params(a->cmdline, name, &params, &e) < 0 ||
                            hull_agent_module_load(dir, name, params, &e) < 0)
                                hull_buf_printf(&a->modules_failed, "%s%s (%s)", a->modules_failed.len ? ", " : "",
                                                name, hull_error_message(e));
                        else
                                hull_buf_printf(&a->modules_loaded, "%s%s", a->modules_loaded.len ? " " : "", name);
                }
        }
        return 0;
}

/* vsock when the guest has a vsock transport, else the virtio-serial port; agent.server_addr overrides. */
static int choose_channel(struct agent *a, struct hull_agent_channel_addr *ret, struct hull_error **err)
{
        uint32_t cid;

        if (a->opts.server_addr)
                return hull_agent_channel_addr_parse(a->opts.server_addr, ret, err);
        if (!a->pid1)
                return hull_error_set(err, EINVAL, "outside a VM the agent needs --server-addr unix:///PATH");
        if (hull_agent_vsock_local_cid(&cid) == 0) {
                log_debug("vsock transport present, local CID %u", cid);
                *ret = (struct hull_agent_channel_addr){ .kind = HULL_AGENT_CHANNEL_VSOCK,
                                                         .port = HULL_AGENT_VSOCK_PORT };
                return 0;
        }
        *ret = (struct hull_agent_channel_addr){ .kind = HULL_AGENT_CHANNEL_SERIAL };
        strcpy(ret->name, HULL_AGENT_SERIAL_NAME);
        return 0;
}

static int agent_boot(struct agent *a, struct hull_error **err)
{
        int r;

        r = hull_agent_boot_switch_root(err);
        if (r < 0)
                return r;
        r = hull_agent_boot_mount_basics(err);
        if (r < 0)
                return r;
        r = hull_read_file("/proc/cmdline", HULL_AGENT_CMDLINE_MAX, &a->cmdline, NULL, err);
        if (r < 0)
                return r;
        return 0;
}

static int parse_args(struct agent *a, int argc, char **argv, struct hull_error **err)
{
        static const struct option longopts[] = {
                { "server-addr", required_argument, NULL, 'a' },
                { "log", required_argument, NULL, 'l' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "a:l:h", longopts, NULL)) != -1) {
                switch (c) {
                case 'a':
                        free(a->opts.server_addr);
                        a->opts.server_addr = strdup(optarg);
                        if (!a->opts.server_addr)
                                return hull_error_oom(err);
                        break;
                case 'l':
                        if (hull_log_parse_level(optarg, &a->opts.log_level) < 0)
                                return hull_error_set(err, EINVAL, "--log %s: unknown level", optarg);
                        break;
                case 'h':
                        printf("usage: hull-agent [--server-addr vsock://-1:1024|serial://NAME|unix:///PATH] "
                               "[--log LEVEL]\n");
                        return 1;
                default:
                        return hull_error_set(err, EINVAL, "bad arguments (try --help)");
                }
        }
        return 0;
}

static int agent_run(struct agent *a, int argc, char **argv, struct hull_error **err)
{
        struct hull_agent_channel_addr addr;
        char addr_text[160];
        pid_t shell;
        int r;

        if (a->pid1) {
                r = agent_boot(a, err);
                if (r < 0)
                        return hull_error_prefix(err, "boot");
        } else {
                a->cmdline = strdup("");
                if (!a->cmdline)
                        return hull_error_oom(err);
        }
        r = hull_agent_options_parse(a->cmdline, &a->opts, err);
        if (r < 0)
                return r;
        if (!a->pid1) {
                r = parse_args(a, argc, argv, err);
                if (r != 0)
                        return r;
        }
        hull_log_set_level(a->opts.log_level);
        if (a->pid1) {
                r = load_modules(a, err);
                if (r < 0)
                        return hull_error_prefix(err, "kernel modules");
                if (a->modules_failed.len)
                        log_warn("kernel modules that failed to load: %s", a->modules_failed.data);
                r = hull_agent_boot_enable_controllers("/sys/fs/cgroup", err);
                if (r < 0)
                        return hull_error_prefix(err, "cgroup controllers");
                /* localhost for the sandbox: lo up gives it 127.0.0.1 and ::1 (no network is no failure) */
                _cleanup_error_ struct hull_error *e = NULL;
                if (hull_agent_net_loopback_up(&e) < 0)
                        log_warn("%s", hull_error_message(e));
        }

        r = hull_loop_new(&a->loop, err);
        if (r < 0)
                return r;
        r = hull_agent_reaper_new(a->loop, &a->reaper, err);
        if (r < 0)
                return r;
        if (!a->pid1) {
                r = hull_loop_add_signal(a->loop, SIGTERM, on_quit_signal, a, NULL, err);
                if (r >= 0)
                        r = hull_loop_add_signal(a->loop, SIGINT, on_quit_signal, a, NULL, err);
                if (r < 0)
                        return r;
        }
        r = hull_ttrpc_server_new(a->loop, &a->server, err);
        if (r < 0)
                return r;
        hull_ttrpc_server_on_disconnect(a->server, on_disconnect, a);
        struct hull_agent_service_config scfg = {
                .loop = a->loop,
                .reaper = a->reaper,
                .cgroup_root = a->pid1 && hull_agent_cgroup_available(HULL_AGENT_CGROUP_ROOT) ? HULL_AGENT_CGROUP_ROOT
                                                                                              : NULL,
                .modules_dir = a->modules_dir,
                .cmdline = a->cmdline,
                .init_daemon = a->pid1,
                .on_destroyed = on_destroyed,
                .userdata = a,
        };
        r = hull_agent_service_new(&scfg, a->server, &a->service, err);
        if (r < 0)
                return r;
        r = choose_channel(a, &addr, err);
        if (r < 0)
                return r;
        hull_agent_channel_addr_format(&addr, addr_text, sizeof(addr_text));
        r = hull_agent_link_start(a->loop, &addr, PORT_WAIT_USEC, on_connection, on_link_fail, a, &a->link, err);
        if (r < 0)
                return r;

        if (a->pid1 && a->opts.debug_console) {
                _cleanup_error_ struct hull_error *e = NULL;
                shell = hull_agent_boot_debug_console(&e);
                if (shell < 0)
                        log_warn("%s", hull_error_message(e));
                else
                        log_info("debug console: shell pid %d", (int)shell);
        }

        /* The line the host and the tests wait for; the channel may still be waiting for its port. */
        log_info("ready: channel=%s (%s) uptime=%.3fs modules=[%s]", addr_text, hull_agent_link_describe(a->link),
                 uptime_seconds(), a->modules_loaded.len ? a->modules_loaded.data : "");

        r = hull_loop_run(a->loop);
        if (r < 0)
                return hull_error_set(err, -r, "serving stopped");
        return 0;
}

int main(int argc, char **argv)
{
        struct agent a = { .pid1 = getpid() == 1, .modules_loaded = HULL_BUF_INIT, .modules_failed = HULL_BUF_INIT };
        _cleanup_error_ struct hull_error *e = NULL;
        int r;

        (void)hull_log_setup("hull-agent", HULL_LOG_INFO, HULL_LOG_TEXT, NULL, NULL);
        r = agent_run(&a, argc, argv, &e);
        if (r < 0)
                log_error("%s", hull_error_message(e));

        hull_agent_link_free(a.link);
        hull_agent_service_free(a.service);
        hull_ttrpc_server_free(a.server);
        free(a.modules_dir);
        hull_agent_reaper_free(a.reaper);
        hull_loop_free(a.loop);
        hull_agent_options_clear(&a.opts);
        hull_buf_free(&a.modules_loaded);
        hull_buf_free(&a.modules_failed);
        free(a.cmdline);
        if (a.pid1) {
                /* PID 1 must not exit (the kernel would panic): the VM ends instead. */
                log_error("powering off");
                hull_agent_boot_poweroff();
        }
        return r < 0 ? 1 : 0;
}
