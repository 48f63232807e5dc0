/* The foreground part of `hull run` and `hull exec`: signal forwarding, the terminal relay and the wait. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "console.h"
#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "error.h"
#include "log.h"
#include "loop.h"
#include "oci.h"
#include "rpc/client.h"
#include "rpc/pb.h"
#include "task-client.h"

/* What runc forwards, less those a terminal relay handles itself (SIGWINCH) and those about our own I/O. */
static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH };

struct hull_oci_fg {
        struct hull_task_client *client;
        struct hull_loop_source *signals[ARRAY_SIZE(forwarded)];
        struct hull_cli_console *console;
        char *id;
        char *exec_id;
        bool started;
        int early_signal;
        bool done;
        int status;
        struct hull_error *wait_err;
};

static void ignore_reply(int r, const uint8_t *payload, size_t len, const struct hull_error *err, void *userdata)
{
        if (r < 0)
                log_warn("%s: %s", (const char *)userdata, err ? hull_error_message(err) : strerror(-r));
}

static void resize(struct hull_oci_fg *fg)
{
        Containerd__Task__V2__ResizePtyRequest req = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;
        uint32_t w, h;

        if (!fg->console || !fg->started || hull_cli_console_size(&w, &h) < 0)
                return;
        req.id = fg->id;
        req.exec_id = fg->exec_id ? fg->exec_id : "";
        req.width = w;
        req.height = h;
        hull_ttrpc_client_call(hull_task_client_ttrpc(fg->client), HULL_TASK_SERVICE, "ResizePty", &req.base, NULL,
                               ignore_reply, (void *)"resize terminal", NULL, NULL);
}

static int on_signal(struct hull_loop_source *src, int signo, void *userdata)
{
        Containerd__Task__V2__KillRequest req = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
        struct hull_oci_fg *fg = userdata;

        if (signo == SIGWINCH) {
                resize(fg);
                return 0;
        }
        if (!fg->started) {
                if (!fg->early_signal)
                        fg->early_signal = signo;
                return 0;
        }
        log_debug("forwarding signal %d to %s", signo, fg->id);
        req.id = fg->id;
        req.exec_id = fg->exec_id ? fg->exec_id : "";
        req.signal = (uint32_t)signo;
        hull_ttrpc_client_call(hull_task_client_ttrpc(fg->client), HULL_TASK_SERVICE, "Kill", &req.base, NULL,
                               ignore_reply, (void *)"forward signal", NULL, NULL);
        return 0;
}

int hull_oci_fg_new(struct hull_task_client *client, const char *id, struct hull_oci_fg **ret, struct hull_error **err)
{
        _cleanup_(hull_oci_fg_freep) struct hull_oci_fg *fg = NULL;
        int r;

        fg = calloc(1, sizeof(*fg));
        if (!fg)
                return hull_error_oom(err);
        fg->client = client;
        fg->id = strdup(id);
        if (!fg->id)
                return hull_error_oom(err);
        for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++) {
                r = hull_loop_add_signal(hull_task_client_loop(client), forwarded[i], on_signal, fg, &fg->signals[i],
                                         err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(fg);
        return 0;
}

struct hull_oci_fg *hull_oci_fg_free(struct hull_oci_fg *fg)
{
        sigset_t set;

        if (!fg)
                return NULL;
        sigemptyset(&set);
        for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++) {
                hull_loop_source_remove(fg->signals[i]);
                sigaddset(&set, forwarded[i]);
        }
        /* The signals were blocked for the signalfd: let them act on us again. */
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        hull_error_free(fg->wait_err);
        free(fg->exec_id);
        free(fg->id);
        free(fg);
        return NULL;
}

int hull_oci_fg_started(struct hull_oci_fg *fg, const char *exec_id)
{
        free(fg->exec_id);
        fg->exec_id = exec_id && *exec_id ? strdup(exec_id) : NULL;
        fg->started = true;
        resize(fg);
        return fg->early_signal;
}

void hull_oci_fg_set_console(struct hull_oci_fg *fg, struct hull_cli_console *console)
{
        fg->console = console;
        resize(fg);
}

static int run_until_done(struct hull_oci_fg *fg, struct hull_error **err)
{
        while (!fg->done) {
                int r = hull_loop_run_once(hull_task_client_loop(fg->client), -1);
                if (r < 0)
                        return hull_error_errno(err, -r, "event loop");
        }
        if (fg->console)
                hull_cli_console_drain(fg->console);
        if (fg->wait_err) {
                int r = hull_error_code(fg->wait_err);
                if (err)
                        *err = TAKE_PTR(fg->wait_err);
                return r;
        }
        return 0;
}

static int on_child(struct hull_loop_source *src, pid_t pid, int status, void *userdata)
{
        struct hull_oci_fg *fg = userdata;

        if (WIFEXITED(status))
                fg->status = WEXITSTATUS(status);
        else {
                log_warn("container %s: its monitor (pid %d) died of signal %d", fg->id, (int)pid, WTERMSIG(status));
                fg->status = 128 + WTERMSIG(status);
        }
        fg->done = true;
        hull_loop_source_remove(src);
        return 0;
}

int hull_oci_fg_wait_child(struct hull_oci_fg *fg, pid_t pid, int *ret_status, struct hull_error **err)
{
        int r;

        r = hull_loop_add_child(hull_task_client_loop(fg->client), pid, on_child, fg, NULL, err);
        if (r < 0)
                return r;
        r = run_until_done(fg, err);
        if (r < 0)
                return r;
        *ret_status = fg->status;
        return 0;
}

static void on_wait_reply(int r, const uint8_t *payload, size_t len, const struct hull_error *err, void *userdata)
{
        struct hull_oci_fg *fg = userdata;
        ProtobufCMessage *resp = NULL;

        fg->done = true;
        if (r < 0) {
                hull_error_set(&fg->wait_err, -r, "wait: %s", err ? hull_error_message(err) : strerror(-r));
                return;
        }
        if (hull_pb_unpack(&containerd__task__v2__wait_response__descriptor, payload, len, &resp, &fg->wait_err) < 0)
                return;
        fg->status = (int)((Containerd__Task__V2__WaitResponse *)resp)->exit_status;
        protobuf_c_message_free_unpacked(resp, NULL);
}

int hull_oci_fg_wait_process(struct hull_oci_fg *fg, int *ret_status, struct hull_error **err)
{
        Containerd__Task__V2__WaitRequest req = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
        int r;

        req.id = fg->id;
        req.exec_id = fg->exec_id ? fg->exec_id : "";
        r = hull_ttrpc_client_call(hull_task_client_ttrpc(fg->client), HULL_TASK_SERVICE, "Wait", &req.base, NULL,
                                   on_wait_reply, fg, NULL, err);
        if (r < 0)
                return r;
        r = run_until_done(fg, err);
        if (r < 0)
                return r;
        *ret_status = fg->status;
        return 0;
}
