/* An 8250/16550A UART (COM1, ports 0x3f8-0x3ff, IRQ 4) for the guest's console: output to a file descriptor,
 * transmit-holding-register-empty interrupts, loopback for the kernel's UART detection; no input yet. */
#pragma once

#include <stdint.h>

struct hull_error;
struct hull_vmm;
struct hull_serial;

#define HULL_SERIAL_COM1 0x3F8
#define HULL_SERIAL_COM1_IRQ 4

/* out_fd (not owned; -1: output dropped) gets what the guest writes. */
int hull_serial_new(struct hull_vmm *vmm, uint16_t port, uint32_t irq, int out_fd, struct hull_serial **ret,
                    struct hull_error **err);
struct hull_serial *hull_serial_free(struct hull_serial *s);
