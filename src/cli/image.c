/* `hull image build`: the guest kernel and hull-initrd.img, made by the guest asset builder (the same one `make`
 * runs) from Debian's cloud kernel and the hull-agent that belongs to this hull. */
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
                "usage: hull image build [--output DIR] [--agent PATH] [--package DEB]\n"
                "Builds DIR/vmlinuz and DIR/hull-initrd.img (default DIR: the current directory) from Debian's\n"
                "cloud kernel (fetched once into ~/.cache/hull) and hull-agent.\n");
}

static int image_build(int argc, char **argv, struct hull_error **err)
{
        static const struct option longopts[] = {
                { "output", required_argument, NULL, 'o' },
                { "agent", required_argument, NULL, 'a' },
                { "package", required_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *inst_agent = installed_agent();
        const char *const scripts[] = { HULL_DATA_DIR "/guest/build-assets.py",
                                        HULL_SOURCE_DIR "/guest/build-assets.py" };
        const char *const lists[] = { HULL_DATA_DIR "/guest/modules.txt", HULL_SOURCE_DIR "/guest/modules.txt" };
        const char *const agents[] = { inst_agent, HULL_BUILD_DIR "/agent/hull-agent" };
        const char *output = ".", *agent = NULL, *package = NULL, *script, *list;
        int c, status;
        pid_t pid;

        optind = 0;
        while ((c = getopt_long(argc, argv, "o:a:p:h", longopts, NULL)) != -1) {
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
        pid = fork();
        if (pid < 0)
                return hull_error_errno(err, errno, "image build: fork");
        if (pid == 0) {
                const char *args[] = { "python3",  script,      "--agent",
                                       agent,      "--modules", list,
                                       "--outdir", output,      package ? "--package" : NULL,
                                       package,    NULL };
                execvp("python3", (char **)args);
                perror("hull: image build: python3");
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return hull_error_errno(err, errno, "image build: wait");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return hull_error_set(err, EIO, "image build: the guest asset builder failed");
        return 0;
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
