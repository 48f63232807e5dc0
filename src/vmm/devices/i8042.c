/* i8042: reset on command 0xfe; everything else reads as an idle controller. */
#include "vmm/devices/i8042.h"

#include <string.h>

#include "vmm/bus.h"
#include "error.h"
#include "vmm/vmm.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define CMD_RESET 0xFE

static void i8042_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        (void)opaque;
        (void)off;
        memset(data, 0, len); /* status: output buffer empty, input buffer empty */
}

static void i8042_cmd_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        (void)off;
        (void)len;
        if (data[0] == CMD_RESET)
                hull_vmm_fail(opaque, HULL_VMM_EXIT_RESET, "guest reset (i8042)");
}

static const struct hull_vmm_dev_ops i8042_data_ops = { .read = i8042_read };
static const struct hull_vmm_dev_ops i8042_cmd_ops = { .read = i8042_read, .write = i8042_cmd_write };

int hull_i8042_add(struct hull_vmm *vmm, struct hull_error **err)
{
        /* 0x60-0x64; 0x61 (PIT channel 2 gate, speaker) lies between and is KVM's PIT's own. */
        int r = hull_bus_add(hull_vmm_io_bus(vmm), I8042_DATA, 1, &i8042_data_ops, vmm, err);

        if (r >= 0)
                r = hull_bus_add(hull_vmm_io_bus(vmm), I8042_CMD, 1, &i8042_cmd_ops, vmm, err);
        return r;
}
