/* The 8250 UART model: registers per the 16550A data sheet, the THRE interrupt as Linux's 8250 driver uses it. */
#include "vmm/devices/serial.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmm/bus.h"
#include "error.h"
#include "vmm/vmm.h"

#define REG_DATA 0 /* RBR / THR, DLL when DLAB */
#define REG_IER 1 /* DLM when DLAB */
#define REG_IIR 2 /* FCR on write */
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCR 7
#define LCR_DLAB 0x80
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_FIFO 0xC0
#define FCR_FIFO_ENABLE 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct hull_serial {
        struct hull_vmm *vmm;
        uint32_t irq;
        int out_fd;
        uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
        int thri_pending; /* the THRE interrupt is raised and not yet acknowledged by reading IIR */
        int line;
};

static void update_irq(struct hull_serial *s)
{
        int level = (s->ier & IER_THRI) && s->thri_pending;

        if (level != s->line) {
                s->line = level;
                hull_vmm_irq_line(s->vmm, s->irq, level);
        }
}

static void serial_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct hull_serial *s = opaque;
        uint8_t v = data[0];

        (void)len;
        switch (off) {
        case REG_DATA:
                if (s->lcr & LCR_DLAB) {
                        s->dll = v;
                        break;
                }
                if (!(s->mcr & MCR_LOOP) && s->out_fd >= 0) {
                        /* A console that cannot keep up loses output rather than stalling the vCPU. */
                        ssize_t n = write(s->out_fd, &v, 1);
                        (void)n;
                }
                s->thri_pending = 1; /* transmitted at once: the holding register is empty again */
                break;
        case REG_IER:
                if (s->lcr & LCR_DLAB) {
                        s->dlm = v;
                        break;
                }
                /* Enabling THRI with an empty holding register raises the interrupt (8250 behaviour). */
                if ((v & IER_THRI) && !(s->ier & IER_THRI))
                        s->thri_pending = 1;
                s->ier = v & 0x0F;
                break;
        case REG_IIR:
                s->fcr = v;
                break;
        case REG_LCR:
                s->lcr = v;
                break;
        case REG_MCR:
                s->mcr = v & 0x1F;
                break;
        case REG_SCR:
                s->scr = v;
                break;
        default:
                break;
        }
        update_irq(s);
}

static void serial_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct hull_serial *s = opaque;
        uint8_t v = 0;

        switch (off) {
        case REG_DATA:
                v = (s->lcr & LCR_DLAB) ? s->dll : 0;
                break;
        case REG_IER:
                v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
                break;
        case REG_IIR:
                if ((s->ier & IER_THRI) && s->thri_pending) {
                        v = IIR_THRI;
                        s->thri_pending = 0; /* reading IIR acknowledges THRE */
                } else {
                        v = IIR_NONE;
                }
                if (s->fcr & FCR_FIFO_ENABLE)
                        v |= IIR_FIFO;
                break;
        case REG_LCR:
                v = s->lcr;
                break;
        case REG_MCR:
                v = s->mcr;
                break;
        case REG_LSR:
                v = LSR_THRE | LSR_TEMT;
                break;
        case REG_MSR:
                if (s->mcr & MCR_LOOP)
                        v = ((s->mcr & 0x01) ? MSR_DSR : 0) | ((s->mcr & 0x02) ? MSR_CTS : 0) |
                                ((s->mcr & 0x04) ? MSR_RI : 0) | ((s->mcr & 0x08) ? MSR_DCD : 0);
                else
                        v = MSR_DCD | MSR_DSR | MSR_CTS;
                break;
        case REG_SCR:
                v = s->scr;
                break;
        default:
                break;
        }
        for (uint32_t i = 0; i < len; i++)
                data[i] = i == 0 ? v : 0;
        update_irq(s);
}

static const struct hull_vmm_dev_ops serial_ops = { .read = serial_read, .write = serial_write };

int hull_serial_new(struct hull_vmm *vmm, uint16_t port, uint32_t irq, int out_fd, struct hull_serial **ret,
                    struct hull_error **err)
{
        struct hull_serial *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return hull_error_oom(err);
        s->vmm = vmm;
        s->irq = irq;
        s->out_fd = out_fd;
        r = hull_bus_add(hull_vmm_io_bus(vmm), port, 8, &serial_ops, s, err);
        if (r < 0) {
                free(s);
                return hull_error_prefix(err, "serial 0x%x", port);
        }
        *ret = s;
        return 0;
}

struct hull_serial *hull_serial_free(struct hull_serial *s)
{
        free(s);
        return NULL;
}
