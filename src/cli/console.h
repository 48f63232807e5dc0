/* The receiving end of runc's --console-socket protocol, for `hull run`/`hull exec` with a terminal in the
 * foreground: a unix socket in a private temp directory, the pty master received over it (SCM_RIGHTS), and a relay
 * between our stdin/stdout and that master, with stdin in raw mode while it is a terminal. */
#pragma once

#include <stdint.h>

#include "macros.h"

struct hull_error;
struct hull_loop;
struct hull_cli_console;

int hull_cli_console_new(struct hull_cli_console **ret, struct hull_error **err);
/* The socket's path, for hull-console://PATH. */
const char *hull_cli_console_path(const struct hull_cli_console *c);
/* Accept the runtime's connection and take the master (waits at most timeout_ms), then relay on loop. */
int hull_cli_console_attach(struct hull_cli_console *c, struct hull_loop *loop, int timeout_ms,
                            struct hull_error **err);
/* Our terminal's size (stdin's, else stdout's); -ENOTTY when neither is a terminal. */
int hull_cli_console_size(uint32_t *ret_width, uint32_t *ret_height);
/* Copy what the master still holds to stdout (the process has exited: its output ends at EOF/EIO). */
void hull_cli_console_drain(struct hull_cli_console *c);
/* Restores the terminal, removes the socket and its directory. */
struct hull_cli_console *hull_cli_console_free(struct hull_cli_console *c);
HULL_DEFINE_FREEP(struct hull_cli_console, hull_cli_console_free)

/* Receive one fd sent with SCM_RIGHTS on a connected socket (runc's console protocol). */
int hull_cli_recv_fd(int sock, int *ret_fd, struct hull_error **err);
