/* The i8042 keyboard controller as far as a VM needs it: the reset line (command 0xfe on port 0x64), which is how
 * Linux reboots with reboot=k, and a status port that says "no data". */
#pragma once

struct hull_error;
struct hull_vmm;

int hull_i8042_add(struct hull_vmm *vmm, struct hull_error **err);
