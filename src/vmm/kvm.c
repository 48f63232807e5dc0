/* /dev/kvm and the VM: capabilities, irqchip, PIT, supported CPUID. */
#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "error.h"
#include "host/kvm-probe.h"
#include "macros.h"

#define KVM_API_STABLE 12
/* Where KVM puts the pages Intel's VMX needs for real mode (TSS, identity map): just below the 4 GiB BIOS area, in
 * the MMIO hole where no RAM is. */
#define KVM_TSS_ADDR 0xFFFBD000UL
#define KVM_IDENTITY_MAP_ADDR 0xFFFBC000ULL
#define CPUID_MAX_ENTRIES 256

int hull_kvm_open(struct hull_kvm *k, const char *dev, struct hull_error **err)
{
        static const struct {
                int cap;
                const char *name;
        } needed[] = {
                { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },     { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
                { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" }, { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
                { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" }, { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
                { KVM_CAP_PIT2, "KVM_CAP_PIT2" },           { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
        };
        struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
        uint64_t identity = KVM_IDENTITY_MAP_ADDR;
        int r;

        k->kvm_fd = k->vm_fd = -1;
        if (!dev)
                dev = HULL_KVM_DEVICE;
        k->kvm_fd = open(dev, O_RDWR | O_CLOEXEC);
        if (k->kvm_fd < 0)
                return hull_error_errno(err, errno, "open %s", dev);
        r = ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0);
        if (r != KVM_API_STABLE) {
                hull_kvm_close(k);
                return hull_error_set(err, ENOTSUP, "%s: KVM API version %d, need %d", dev, r, KVM_API_STABLE);
        }
        for (size_t i = 0; i < ARRAY_SIZE(needed); i++)
                if (ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
                        hull_kvm_close(k);
                        return hull_error_set(err, ENOTSUP, "%s: KVM lacks %s", dev, needed[i].name);
                }
        r = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (r < (int)sizeof(struct kvm_run)) {
                hull_kvm_close(k);
                return hull_error_set(err, EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %d", r);
        }
        k->run_size = (size_t)r;
        k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
        if (k->vm_fd < 0) {
                r = errno;
                hull_kvm_close(k);
                return hull_error_errno(err, r, "KVM_CREATE_VM");
        }
        if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0 ||
            ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0 || ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0 ||
            ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
                r = errno;
                hull_kvm_close(k);
                return hull_error_errno(err, r, "set up the VM (TSS, identity map, irqchip, PIT)");
        }
        return 0;
}

void hull_kvm_close(struct hull_kvm *k)
{
        hull_closep(&k->vm_fd);
        hull_closep(&k->kvm_fd);
}

int hull_kvm_supported_cpuid(const struct hull_kvm *k, struct kvm_cpuid2 **ret, struct hull_error **err)
{
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));

        if (!c)
                return hull_error_oom(err);
        c->nent = CPUID_MAX_ENTRIES;
        if (ioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
                int e = errno;
                free(c);
                return hull_error_errno(err, e, "KVM_GET_SUPPORTED_CPUID");
        }
        *ret = c;
        return 0;
}

int hull_kvm_irq_line(const struct hull_kvm *k, uint32_t gsi, int level)
{
        struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };

        return ioctl(k->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}
