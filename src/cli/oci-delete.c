/* `hull delete [--force] <id>`: through the monitor when it lives (it stops the VM and cleans up, then exits), and
 * by hand when it is dead: kill what state.json recorded (only processes whose start time still matches), then
 * remove the state directory. */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "cli.h"
#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "error.h"
#include "log.h"
#include "oci.h"
#include "sandbox/network.h"
#include "sandbox/state.h"
#include "task-client.h"

#define MONITOR_EXIT_TIMEOUT_MS 60000
#define PROCESS_EXIT_TIMEOUT_MS 10000
#define MONITOR_GOING_TIMEOUT_MS 15000
#define MAX_TREE_DEPTH 32

/* Remove name under dfd and all below it, never leaving dev (a mount point is not descended into). */
static int remove_tree_at(int dfd, const char *name, dev_t dev, int depth, struct hull_error **err)
{
        struct stat st;
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : hull_error_errno(err, errno, "stat %s", name);
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                        return hull_error_errno(err, errno, "unlink %s", name);
                return 0;
        }
        if (st.st_dev != dev)
                return hull_error_set(err, EBUSY, "%s is a mount point: not removed", name);
        if (depth > MAX_TREE_DEPTH)
                return hull_error_set(err, ELOOP, "%s: deeper than %d levels", name, MAX_TREE_DEPTH);
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return hull_error_errno(err, errno, "open %s", name);
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return hull_error_errno(err, errno, "opendir %s", name);
        }
        while (r >= 0 && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = remove_tree_at(dirfd(d), de->d_name, dev, depth + 1, err);
        closedir(d);
        if (r < 0)
                return hull_error_prefix(err, "%s", name);
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return hull_error_errno(err, errno, "rmdir %s", name);
        return 0;
}

static int remove_state_dir(const char *dir, struct hull_error **err)
{
        struct stat st;

        if (lstat(dir, &st) < 0)
                return errno == ENOENT ? 0 : hull_error_errno(err, errno, "stat %s", dir);
        return remove_tree_at(AT_FDCWD, dir, st.st_dev, 0, err);
}

/* The monitor is dead (or would not go): kill what it left, under the sandbox's lock, and remove the state. */
int hull_oci_delete_dead(const struct hull_oci_container *c, struct hull_error **err)
{
        _cleanup_free_ char *lock_path = NULL;
        _cleanup_close_ int lock = -1;

        /* A monitor that still lives here is one that would not answer: it goes first, then what it recorded
         * (start times checked: a reused pid is never hit). Only then is the lock free: QEMU and virtiofsd may
         * hold it too, until they are gone. */
        if (hull_oci_monitor_alive(c)) {
                log_debug("container %s: killing its monitor (pid %d)", c->id, (int)c->monitor_pid);
                kill(c->monitor_pid, SIGKILL);
                if (hull_oci_wait_pid_gone(c->monitor_pid, PROCESS_EXIT_TIMEOUT_MS, err) < 0)
                        return hull_error_prefix(err, "monitor (pid %d)", (int)c->monitor_pid);
        }
        for (size_t i = 0; i < c->n_processes; i++) {
                const struct hull_state_process *p = &c->processes[i];
                if (!hull_proc_matches(p->pid, p->start_time))
                        continue;
                log_debug("container %s: killing leftover %s (pid %d)", c->id, p->what, (int)p->pid);
                if (kill(p->pid, SIGKILL) < 0 && errno != ESRCH)
                        return hull_error_errno(err, errno, "kill %s (pid %d)", p->what, (int)p->pid);
        }
        for (size_t i = 0; i < c->n_processes; i++) {
                const struct hull_state_process *p = &c->processes[i];
                if (hull_proc_matches(p->pid, p->start_time) &&
                    hull_oci_wait_pid_gone(p->pid, PROCESS_EXIT_TIMEOUT_MS, err) < 0)
                        return hull_error_prefix(err, "%s (pid %d)", p->what, (int)p->pid);
        }
        if (asprintf(&lock_path, "%s/lock", c->dir) < 0)
                return hull_error_oom(err);
        lock = open(lock_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return hull_error_errno(err, errno, "lock %s", lock_path);
                /* Every process recorded is gone: someone else holds the sandbox (another delete, or a create
                 * not recorded yet). */
                return hull_error_set(err, EBUSY, "container \"%s\" is in use (its lock is held)", c->id);
        }
        /* The taps went with the VMM; the tc filters on the pod's veth stay until removed (docs/sandbox.md). */
        if (hull_network_cleanup_state_dir(c->dir, err) < 0)
                return -EIO;
        return remove_state_dir(c->dir, err);
}

/* Delete through the live monitor; a negative return with *err set means it did not answer as it should. */
static int delete_by_monitor(const struct hull_oci_container *c, bool force, struct hull_error **err)
{
        _cleanup_(hull_task_client_freep) struct hull_task_client *client = NULL;
        Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        const char *status;
        pid_t pid;
        int r;

        r = hull_task_client_connect(c->dir, &client, err);
        if (r < 0)
                return r;
        r = hull_oci_container_status(c, client, &status, &pid, err);
        if (r < 0)
                return r;
        if (streq(status, "running") || streq(status, "paused")) {
                Containerd__Task__V2__KillRequest kreq = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
                Containerd__Task__V2__WaitRequest wreq = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;

                if (!force)
                        return hull_error_set(err, EBUSY, "cannot delete container %s that is not stopped: %s", c->id,
                                              status);
                kreq.id = wreq.id = c->id;
                kreq.signal = SIGKILL;
                kreq.all = true;
                r = hull_task_client_call_empty(client, "Kill", &kreq.base, HULL_TASK_TIMEOUT_SHORT_USEC, err);
                if (r < 0)
                        return hull_error_prefix(err, "kill");
                r = hull_task_client_call(client, "Wait", &wreq.base, &containerd__task__v2__wait_response__descriptor,
                                          HULL_TASK_TIMEOUT_SHORT_USEC, &resp, err);
                if (resp)
                        protobuf_c_message_free_unpacked(resp, NULL);
                resp = NULL;
                if (r < 0)
                        return hull_error_prefix(err, "wait");
        }
        req.id = c->id;
        r = hull_task_client_call(client, "Delete", &req.base, &containerd__task__v2__delete_response__descriptor,
                                  HULL_TASK_TIMEOUT_LONG_USEC, &resp, err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        if (r < 0)
                return r;
        /* The sandbox is gone with its last container: the monitor exits once the VM is down. */
        client = hull_task_client_free(client);
        return hull_oci_wait_pid_gone(c->monitor_pid, MONITOR_EXIT_TIMEOUT_MS, err);
}

int hull_cli_delete(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        static const struct option options[] = {
                { "force", no_argument, NULL, 'f' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        _cleanup_error_ struct hull_error *monitor_err = NULL;
        bool force = false;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "+fh", options, NULL)) != -1) {
                switch (opt) {
                case 'f':
                        force = true;
                        break;
                case 'h':
                        printf("usage: hull delete [--force] <container-id>\n\n"
                               "Delete a container: stop its VM and remove everything it made.\n\n"
                               "  -f, --force   kill a running container first\n");
                        return 0;
                default:
                        return hull_error_set(err, EINVAL, "delete: bad option %s", argv[optind - 1]);
                }
        }
        if (argc - optind != 1)
                return hull_error_set(err, EINVAL, "delete: expected exactly one container id");
        r = hull_oci_container_load_any(ctx, argv[optind], &c, err);
        if (r == -ENOENT && force)
                return 0; /* runc: deleting what is not there, with --force, succeeds */
        if (r < 0)
                return r;
        if (hull_oci_monitor_alive(c)) {
                r = delete_by_monitor(c, force, &monitor_err);
                if (r == -EBUSY) {
                        if (err)
                                *err = TAKE_PTR(monitor_err);
                        return r;
                }
                /* A monitor on its way out (its container has exited: it stops the VM, closes its socket and
                 * exits) is no failure: give it a moment, then clean up after it. */
                if (r < 0 && !force && hull_oci_wait_pid_gone(c->monitor_pid, MONITOR_GOING_TIMEOUT_MS, NULL) < 0) {
                        if (err)
                                *err = TAKE_PTR(monitor_err);
                        return hull_error_prefix(err, "delete %s", c->id);
                }
                if (r < 0)
                        log_debug("delete %s: %s; cleaning up by hand", c->id, hull_error_message(monitor_err));
        }
        r = hull_oci_delete_dead(c, err);
        return r < 0 ? hull_error_prefix(err, "delete %s", c->id) : 0;
}
