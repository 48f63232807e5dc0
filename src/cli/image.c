/* `hull image build`: the guest kernel and hull-initrd.img, made by the guest asset builder (the same one `make`
 * runs) from Debian's cloud kernel and the hull-agent that belongs to this hull; with --kernel also hull's trimmed
 * kernel (guest/kernel/build.sh, cached per machine) and the agent-only initramfs it boots with. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"
#include "error.h"
#include "hull-build-config.h"

/* The first of candidates that exists, or NULL. */
static const char *first_existing(const char *const *candidates, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (candidates[i] && access(candidates[i], F_OK) == 0)
                        return candidates[i];
        return NULL;
}

/* Runs argv (a NULL-terminated list) and waits for it; what names the step in errors. */
static int run_builder(const char *const *argv, const char *what, struct hull_error **err)
{
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return hull_error_errno(err, errno, "image build: fork");
        if (pid == 0) {
                execvp(argv[0], (char **)argv);
                fprintf(stderr, "hull: image build: %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return hull_error_errno(err, errno, "image build: wait");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return hull_error_set(err, EIO, "image build: %s failed", what);
        return 0;
}

/* <dir of the running hull>/../libexec/hull/hull-agent: where `make install` puts the agent. */
static char *installed_agent(void)
{
        char self[PATH_MAX], *slash, *path = NULL;
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        if (n <= 0)
                return NULL;
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (!slash)
                return NULL;
        *slash = '\0';
        if (asprintf(&path, "%s/../libexec/hull/hull-agent", self) < 0)
                return NULL;
        return path;
}

static void usage(FILE *f)
{
        fprintf(f,
                "usage: hull image build [--output DIR] [--agent PATH] [--package DEB] [--kernel]\n"
                "Builds DIR/vmlinuz and DIR/hull-initrd.img (default DIR: the current directory) from Debian's\n"
                "cloud kernel (fetched once into ~/.cache/hull) and hull-agent.\n"
                "--kernel: also hull's trimmed kernel from Debian's linux-source (DIR/vmlinuz-hull, DIR/vmlinux-hull;\n"
                "minutes the first time, then from ~/.cache/hull/kernel) and DIR/hull-initrd-agent.img.\n");
}

static int image_build(int argc, char **argv, struct hull_error **err)
{
        static const struct option longopts[] = {
                { "output", required_argument, NULL, 'o' },  { "agent", required_argument, NULL, 'a' },
                { "package", required_argument, NULL, 'p' }, { "kernel", no_argument, NULL, 'k' },
                { "help", no_argument, NULL, 'h' },          {},
        };
        _cleanup_free_ char *inst_agent = installed_agent();
        const char *const scripts[] = { HULL_DATA_DIR "/guest/build-assets.py",
                                        HULL_SOURCE_DIR "/guest/build-assets.py" };
        const char *const lists[] = { HULL_DATA_DIR "/guest/modules.txt", HULL_SOURCE_DIR "/guest/modules.txt" };
        const char *const agents[] = { inst_agent, HULL_BUILD_DIR "/agent/hull-agent" };
        const char *const kernel_scripts[] = { HULL_DATA_DIR "/guest/kernel/build.sh",
                                               HULL_SOURCE_DIR "/guest/kernel/build.sh" };
        const char *output = ".", *agent = NULL, *package = NULL, *script, *list, *kernel_script = NULL;
        bool kernel = false;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "o:a:p:kh", longopts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        output = optarg;
                        break;
                case 'a':
                        agent = optarg;
                        break;
                case 'p':
                        package = optarg;
                        break;
                case 'k':
                        kernel = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return hull_error_set(err, EINVAL, "image build: bad option");
                }
        }
        script = first_existing(scripts, ARRAY_SIZE(scripts));
        list = first_existing(lists, ARRAY_SIZE(lists));
        if (!script || !list)
                return hull_error_set(err, ENOENT, "image build: the guest asset builder is not installed (%s)",
                                      scripts[0]);
        if (!agent)
                agent = first_existing(agents, ARRAY_SIZE(agents));
        if (!agent || access(agent, X_OK) < 0)
                return hull_error_set(err, ENOENT, "image build: no hull-agent (looked in %s and %s; use --agent)",
                                      agents[0] ? agents[0] : "libexec", agents[1]);
        if (kernel) {
                kernel_script = first_existing(kernel_scripts, ARRAY_SIZE(kernel_scripts));
                if (!kernel_script)
                        return hull_error_set(err, ENOENT, "image build: the kernel builder is not installed (%s)",
                                              kernel_scripts[0]);
        }

        const char *const assets[] = { "python3",  script,      "--agent",
                                       agent,      "--modules", list,
                                       "--outdir", output,      package ? "--package" : NULL,
                                       package,    NULL };
        r = run_builder(assets, "the guest asset builder", err);
        if (r < 0 || !kernel)
                return r;
        const char *const initrd[] = {
                "python3",  script, "--agent", agent, "--agent-only", "--initrd-name", "hull-initrd-agent.img",
                "--outdir", output, NULL
        };
        r = run_builder(initrd, "the guest asset builder (agent-only initramfs)", err);
        if (r < 0)
                return r;
        const char *const kbuild[] = { kernel_script, output, NULL };
        return run_builder(kbuild, "the kernel builder", err);
}

int hull_cli_image(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? hull_error_set(err, EINVAL, "image: a subcommand is needed (build)") : 0;
        }
        if (streq(argv[1], "build"))
                return image_build(argc - 1, argv + 1, err);
        return hull_error_set(err, EINVAL, "image: unknown subcommand '%s' (try build)", argv[1]);
}
