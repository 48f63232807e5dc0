/* QEMU's command line for one VM: machine (microvm or q35), accelerator, shared memfd memory, kernel, console, QMP,
 * agent channel (vhost-vsock or virtio-serial), virtio-fs, block and net devices. Pure: reads no files. */
#include "qemu.h"

#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>

#include "argv.h"
#include "buf.h"
#include "error.h"

int hull_qemu_machine_from_string(const char *s, enum hull_qemu_machine *ret, struct hull_error **err)
{
        if (!s || !*s || streq(s, "microvm"))
                *ret = HULL_QEMU_MICROVM;
        else if (streq(s, "q35") || strneq(s, "pc-q35-", 7))
                *ret = HULL_QEMU_Q35;
        else
                return hull_error_set(err, EINVAL, "machine_type '%s': the QEMU driver runs microvm or q35", s);
        return 0;
}

/* QEMU option values escape a comma by doubling it. */
static void buf_put_escaped(struct hull_buf *b, const char *s, bool *oom)
{
        for (; *s; s++)
                if (hull_buf_putc(b, *s) < 0 || (*s == ',' && hull_buf_putc(b, ',') < 0))
                        *oom = true;
}

/* Add "<prefix><escaped value><suffix>" as one argument. */
static void add_escaped(struct hull_argv *a, const char *prefix, const char *value, const char *suffix)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;
        bool oom = false;

        if (hull_buf_puts(&b, prefix) < 0)
                oom = true;
        buf_put_escaped(&b, value, &oom);
        if (hull_buf_puts(&b, suffix) < 0)
                oom = true;
        if (oom) {
                a->oom = true;
                return;
        }
        hull_argv_add(a, b.data);
}

/* Extra options from the configuration go into an option string as they are; keep them to one option list. */
static int check_option_list(const char *what, const char *s, struct hull_error **err)
{
        for (const char *p = s; *p; p++)
                if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
                        return hull_error_set(err, EINVAL, "%s '%s': a comma-separated option list has no spaces", what,
                                              s);
        return 0;
}

int hull_qemu_build_cmdline(const struct hull_hv_desc *desc, const struct hull_qemu_plan *plan, char **ret,
                            struct hull_error **err)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;
        int r = 0;

        r |= hull_buf_puts(&b, desc->console == HULL_HV_CONSOLE_VIRTIO ? "console=hvc0" : "console=ttyS0");
        /* panic=1 with -no-reboot: a guest panic ends QEMU and so becomes an exit event instead of a hung VM.
         * reboot=: a reset that -no-reboot turns into QEMU's exit. q35 has an i8042 (k, the fast one); microvm has
         * none, and there a kernel built without the fallback chain (hull's trimmed one) jumps into the firmware
         * and boots again forever, so microvm asks for a triple fault (t), which every machine sees as a reset. */
        r |= hull_buf_puts(&b, plan->machine == HULL_QEMU_MICROVM ? " reboot=t" : " reboot=k");
        /* cryptomgr.notests: skip the crypto self-tests every boot would run (as Kata's runtime does). */
        r |= hull_buf_puts(&b, " panic=1 rcupdate.rcu_expedited=1 cryptomgr.notests");
        r |= hull_buf_puts(&b, " i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1 i8042.dumbkbd=1");
        if (plan->machine == HULL_QEMU_MICROVM)
                r |= hull_buf_puts(&b, " pci=off"); /* microvm has no PCI: skip probing for it */
        /* The TSC is QEMU's (the host's under TCG, KVM's invariant one): trust it, as Kata does, rather than have
         * the kernel watch it against clocks microvm does not have. */
        r |= hull_buf_puts(&b, " tsc=reliable no_timer_check");
        /* Under TCG the guest cannot measure the TSC rate either: calibration against the PIT fails on a busy host,
         * the TSC is then marked unstable, and a microvm guest (no HPET, no PM timer) hangs in early boot. QEMU's
         * TCG TSC runs at the host's rate, so tell the guest that rate. */
        if (!plan->kvm && plan->tsc_khz && !(desc->kernel_params && strstr(desc->kernel_params, "tsc_early_khz=")))
                r |= hull_buf_printf(&b, " tsc_early_khz=%u", plan->tsc_khz);
        if (!desc->debug)
                r |= hull_buf_puts(&b, " quiet");
        if (desc->kernel_params && *desc->kernel_params) {
                r |= hull_buf_putc(&b, ' ');
                r |= hull_buf_puts(&b, desc->kernel_params);
        }
        if (r < 0)
                return hull_error_oom(err);
        if (strpbrk(b.data, "\n\r"))
                return hull_error_set(err, EINVAL, "kernel command line holds a newline");
        if (b.len >= HULL_QEMU_CMDLINE_MAX)
                return hull_error_set(err, E2BIG, "kernel command line is %zu bytes, the guest takes at most %d", b.len,
                                      HULL_QEMU_CMDLINE_MAX - 1);
        *ret = hull_buf_steal(&b);
        return *ret ? 0 : hull_error_oom(err);
}

static const char *dev_suffix(const struct hull_qemu_plan *plan)
{
        return plan->machine == HULL_QEMU_MICROVM ? "device" : "pci";
}

static int add_block(struct hull_argv *a, const struct hull_qemu_plan *plan, const struct hull_hv_device *d,
                     struct hull_error **err)
{
        struct json_object *o, *file;
        char node[48];
        struct stat st;
        bool is_dev = stat(d->block.path, &st) == 0 && S_ISBLK(st.st_mode);

        /* JSON -blockdev: no escaping rules to get wrong for odd file names. */
        o = json_object_new_object();
        file = json_object_new_object();
        if (!o || !file) {
                json_object_put(o);
                json_object_put(file);
                return hull_error_oom(err);
        }
        json_object_object_add(file, "driver", json_object_new_string(is_dev ? "host_device" : "file"));
        json_object_object_add(file, "filename", json_object_new_string(d->block.path));
        json_object_object_add(file, "read-only", json_object_new_boolean(d->block.read_only));
        snprintf(node, sizeof(node), "blk-%s", d->id);
        json_object_object_add(o, "driver", json_object_new_string("raw"));
        json_object_object_add(o, "node-name", json_object_new_string(node));
        json_object_object_add(o, "read-only", json_object_new_boolean(d->block.read_only));
        json_object_object_add(o, "file", file);
        hull_argv_add(a, "-blockdev");
        hull_argv_add(a, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        hull_argv_add(a, "-device");
        hull_argv_addf(a, "virtio-blk-%s,drive=blk-%s,id=%s", dev_suffix(plan), d->id, d->id);
        return 0;
}

int hull_qemu_build_argv(const struct hull_hv_desc *desc, const struct hull_qemu_plan *plan, char ***ret_argv,
                         struct hull_error **err)
{
        _cleanup_argv_ struct hull_argv a = { 0 };
        _cleanup_free_ char *cmdline = NULL;
        const bool microvm = plan->machine == HULL_QEMU_MICROVM;
        const char *accels = desc->machine_accelerators && *desc->machine_accelerators ? desc->machine_accelerators
                                                                                       : NULL;
        const char *features = desc->cpu_features && *desc->cpu_features ? desc->cpu_features : NULL;
        bool need_serial_bus;
        int r;

        if (!plan->binary || !desc->kernel)
                return hull_error_set(err, EINVAL, "qemu: binary and kernel are required");
        if (accels && (r = check_option_list("machine_accelerators", accels, err)) < 0)
                return r;
        if (features && (r = check_option_list("cpu_features", features, err)) < 0)
                return r;
        r = hull_qemu_build_cmdline(desc, plan, &cmdline, err);
        if (r < 0)
                return r;

        hull_argv_add(&a, plan->binary);
        if (desc->id) {
                hull_argv_add(&a, "-name");
                add_escaped(&a, "", desc->id, "");
        }
        /* The machine: guest RAM comes from the memfd backend below, shareable with vhost-user daemons. */
        hull_argv_add(&a, "-machine");
        hull_argv_addf(&a, "%s,memory-backend=mem%s%s", microvm ? "microvm,x-option-roms=off" : "q35",
                       accels ? "," : "", accels ? accels : "");
        /* vhost-user devices (virtio-fs) need modern virtio-mmio; microvm defaults to legacy. */
        if (microvm) {
                hull_argv_add(&a, "-global");
                hull_argv_add(&a, "virtio-mmio.force-legacy=false");
        }
        hull_argv_add(&a, "-accel");
        hull_argv_add(&a, plan->kvm ? "kvm" : "tcg");
        hull_argv_add(&a, "-cpu");
        hull_argv_addf(&a, "%s%s%s", plan->kvm ? "host" : "max", features ? "," : "", features ? features : "");
        hull_argv_add(&a, "-smp");
        hull_argv_addf(&a, "%u", desc->vcpus);
        hull_argv_add(&a, "-m");
        hull_argv_addf(&a, "%lluM", (unsigned long long)desc->memory_mib);
        hull_argv_add(&a, "-object");
        hull_argv_addf(&a, "memory-backend-memfd,id=mem,size=%lluM,share=on", (unsigned long long)desc->memory_mib);

        /* -kernel, -initrd and -append take their argument as it is (no option-list parsing, no escaping). */
        hull_argv_add(&a, "-kernel");
        hull_argv_add(&a, desc->kernel);
        if (desc->initrd && *desc->initrd) {
                hull_argv_add(&a, "-initrd");
                hull_argv_add(&a, desc->initrd);
        }
        hull_argv_add(&a, "-append");
        hull_argv_add(&a, cmdline);

        hull_argv_add(&a, "-nodefaults");
        hull_argv_add(&a, "-no-user-config");
        hull_argv_add(&a, "-nographic");
        hull_argv_add(&a, "-no-reboot");

        /* QMP on a listening socket hull made and handed over: it exists before QEMU runs, so hull connects at once
         * and the greeting, not a sleep, says that QEMU is up. */
        hull_argv_add(&a, "-chardev");
        hull_argv_addf(&a, "socket,id=qmp,fd=%d,server=on,wait=off", plan->qmp_fd);
        hull_argv_add(&a, "-mon");
        hull_argv_add(&a, "chardev=qmp,mode=control");

        hull_argv_add(&a, "-chardev");
        add_escaped(&a, "file,id=console,path=", plan->console_log, "");
        need_serial_bus = desc->console == HULL_HV_CONSOLE_VIRTIO || plan->channel == HULL_HV_CAP_SERIAL_CHANNEL;
        if (need_serial_bus) {
                hull_argv_add(&a, "-device");
                hull_argv_addf(&a, "virtio-serial-%s,id=vser0", dev_suffix(plan));
        }
        if (desc->console == HULL_HV_CONSOLE_VIRTIO) {
                hull_argv_add(&a, "-device");
                hull_argv_add(&a, "virtconsole,bus=vser0.0,chardev=console");
        } else {
                hull_argv_add(&a, "-serial");
                hull_argv_add(&a, "chardev:console");
        }

        if (plan->channel == HULL_HV_CAP_VSOCK) {
                hull_argv_add(&a, "-device");
                if (plan->vhost_fd >= 0)
                        hull_argv_addf(&a, "vhost-vsock-%s,id=vsock0,guest-cid=%u,vhostfd=%d", dev_suffix(plan),
                                       plan->cid, plan->vhost_fd);
                else
                        hull_argv_addf(&a, "vhost-vsock-%s,id=vsock0,guest-cid=%u", dev_suffix(plan), plan->cid);
        } else if (plan->channel == HULL_HV_CAP_SERIAL_CHANNEL) {
                hull_argv_add(&a, "-chardev");
                hull_argv_addf(&a, "socket,id=agent,fd=%d,server=on,wait=off", plan->agent_fd);
                hull_argv_add(&a, "-device");
                hull_argv_add(&a, "virtserialport,bus=vser0.0,chardev=agent,name=" HULL_HV_SERIAL_NAME);
        } else
                return hull_error_set(err, EINVAL, "qemu: no agent channel planned");

        if (plan->virtiofsd_socket) {
                char queue[32];

                snprintf(queue, sizeof(queue), ",queue-size=%u", desc->fs_queue_size ? desc->fs_queue_size : 1024);
                hull_argv_add(&a, "-chardev");
                add_escaped(&a, "socket,id=vfs,path=", plan->virtiofsd_socket, "");
                hull_argv_add(&a, "-device");
                add_escaped(&a,
                            microvm ? "vhost-user-fs-device,chardev=vfs,tag=" : "vhost-user-fs-pci,chardev=vfs,tag=",
                            desc->shared_tag ? desc->shared_tag : HULL_HV_SHARED_TAG, queue);
        }

        for (size_t i = 0; i < desc->n_devices; i++) {
                const struct hull_hv_device *d = &desc->devices[i];
                if (d->kind == HULL_HV_DEVICE_BLOCK) {
                        r = add_block(&a, plan, d, err);
                        if (r < 0)
                                return r;
                } else if (d->kind == HULL_HV_DEVICE_NET) {
                        if (!plan->net_fds)
                                return hull_error_set(err, EINVAL, "qemu: no tap fd for net device %s", d->id);
                        hull_argv_add(&a, "-netdev");
                        hull_argv_addf(&a, "tap,id=net-%s,fd=%d", d->id, plan->net_fds[i]);
                        hull_argv_add(&a, "-device");
                        hull_argv_addf(&a, "virtio-net-%s,netdev=net-%s,id=%s%s%s", dev_suffix(plan), d->id, d->id,
                                       d->net.mac[0] ? ",mac=" : "", d->net.mac);
                } else
                        return hull_error_set(err, EINVAL, "qemu: device %s has an unknown kind", d->id);
        }
        return hull_argv_finish(&a, ret_argv, err);
}
