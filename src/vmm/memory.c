/* Guest RAM: allocation, KVM memory slots, and the bounds-checked GPA -> host pointer translation. */
#include "vmm/memory.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"

int hull_guest_mem_init(struct hull_guest_mem *m, uint64_t size, bool memfd, struct hull_error **err)
{
        int fd = -1;
        void *p;

        memset(m, 0, sizeof(*m));
        m->memfd = -1;
        if (size < (1ULL << 20) || size > (1ULL << 40) || size % 4096)
                return hull_error_set(err, EINVAL, "guest memory of %llu bytes: need 1 MiB..1 TiB in pages",
                                      (unsigned long long)size);
        if (memfd) {
                fd = memfd_create("hull-guest-ram", MFD_CLOEXEC);
                if (fd < 0)
                        return hull_error_errno(err, errno, "memfd_create");
                if (ftruncate(fd, (off_t)size) < 0) {
                        int e = errno;
                        close(fd);
                        return hull_error_errno(err, e, "memfd of %llu bytes", (unsigned long long)size);
                }
                p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
        } else {
                p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        }
        if (p == MAP_FAILED) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return hull_error_errno(err, e, "map %llu bytes of guest memory", (unsigned long long)size);
        }
        /* Guest RAM never goes into a core dump of the VMM, and prefers huge pages. */
        madvise(p, size, MADV_DONTDUMP);
        madvise(p, size, MADV_HUGEPAGE);
        m->host = p;
        m->size = size;
        m->low_size = size < HULL_VMM_MMIO_HOLE ? size : HULL_VMM_MMIO_HOLE;
        m->memfd = fd;
        return 0;
}

void hull_guest_mem_release(struct hull_guest_mem *m)
{
        if (m->host)
                munmap(m->host, m->size);
        if (m->memfd >= 0)
                close(m->memfd);
        memset(m, 0, sizeof(*m));
        m->memfd = -1;
}

int hull_guest_mem_register(const struct hull_guest_mem *m, int vm_fd, struct hull_error **err)
{
        struct kvm_userspace_memory_region r = {
                .slot = 0,
                .guest_phys_addr = 0,
                .memory_size = m->low_size,
                .userspace_addr = (uintptr_t)m->host,
        };

        if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                return hull_error_errno(err, errno, "KVM_SET_USER_MEMORY_REGION (low RAM)");
        if (m->size > m->low_size) {
                r.slot = 1;
                r.guest_phys_addr = HULL_VMM_HIGH_RAM;
                r.memory_size = m->size - m->low_size;
                r.userspace_addr = (uintptr_t)(m->host + m->low_size);
                if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                        return hull_error_errno(err, errno, "KVM_SET_USER_MEMORY_REGION (high RAM)");
        }
        return 0;
}

void *hull_guest_mem_ptr(const struct hull_guest_mem *m, uint64_t gpa, uint64_t len)
{
        uint64_t high_len = m->size - m->low_size;

        if (len == 0 || !m->host)
                return NULL;
        /* Written so that no sum can wrap: gpa + len is never formed before the bound is known. */
        if (gpa < m->low_size && len <= m->low_size - gpa)
                return m->host + gpa;
        if (gpa >= HULL_VMM_HIGH_RAM && gpa - HULL_VMM_HIGH_RAM < high_len &&
            len <= high_len - (gpa - HULL_VMM_HIGH_RAM))
                return m->host + m->low_size + (gpa - HULL_VMM_HIGH_RAM);
        return NULL;
}

int hull_guest_mem_write(const struct hull_guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
        void *p = hull_guest_mem_ptr(m, gpa, len);

        if (!p)
                return -EFAULT;
        memcpy(p, src, len);
        return 0;
}

int hull_guest_mem_read(const struct hull_guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
        const void *p = hull_guest_mem_ptr(m, gpa, len);

        if (!p)
                return -EFAULT;
        memcpy(dst, p, len);
        return 0;
}
