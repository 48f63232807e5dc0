/* `hull state <id>` (the OCI state document, as runc prints it) and `hull list` (every container under --root). */
#include <dirent.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "oci.h"

#define JSON_OUT (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

static int state_of(const struct hull_cli_ctx *ctx, const char *id, struct json_object **ret, struct hull_error **err)
{
        _cleanup_(hull_oci_container_freep) struct hull_oci_container *c = NULL;
        const char *status;
        pid_t pid;
        int r;

        r = hull_oci_container_load(ctx, id, &c, err);
        if (r < 0)
                return r;
        r = hull_oci_container_status(c, NULL, &status, &pid, err);
        if (r < 0)
                return r;
        return hull_oci_state_json(c, status, pid, ret, err);
}

int hull_cli_state(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        struct json_object *o;
        int r;

        if (argc == 2 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
                printf("usage: hull state <container-id>\n\nPrint the container's OCI state as JSON.\n");
                return 0;
        }
        if (argc != 2)
                return hull_error_set(err, EINVAL, "state: expected exactly one container id");
        r = state_of(ctx, argv[1], &o, err);
        if (r < 0)
                return r;
        printf("%s\n", json_object_to_json_string_ext(o, JSON_OUT));
        json_object_put(o);
        return 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char ***names)
{
        for (char **p = *names; p && *p; p++)
                free(*p);
        free(*names);
}

/* The ids of the directories under the root that are containers, sorted; an absent root is an empty list. */
static int list_ids(const struct hull_cli_ctx *ctx, char ***ret, size_t *ret_n, struct hull_error **err)
{
        _cleanup_(free_names) char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de = NULL;
        DIR *d;

        d = opendir(ctx->root);
        if (!d && errno != ENOENT)
                return hull_error_errno(err, errno, "list: open %s", ctx->root);
        names = calloc(1, sizeof(char *));
        if (!names) {
                if (d)
                        closedir(d);
                return hull_error_oom(err);
        }
        while (d && (de = readdir(d))) {
                if (de->d_type != DT_DIR || hull_oci_id_check(de->d_name, NULL) < 0)
                        continue;
                if (n + 1 >= cap) {
                        char **p;
                        cap = cap ? 2 * cap : 16;
                        p = realloc(names, cap * sizeof(char *));
                        if (!p)
                                break;
                        names = p;
                }
                names[n] = strdup(de->d_name);
                if (!names[n])
                        break;
                names[++n] = NULL;
        }
        if (d)
                closedir(d);
        if (de)
                return hull_error_oom(err);
        qsort(names, n, sizeof(char *), cmp_names);
        *ret = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

int hull_cli_list(const struct hull_cli_ctx *ctx, int argc, char **argv, struct hull_error **err)
{
        static const struct option options[] = {
                { "format", required_argument, NULL, 'f' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(free_names) char **ids = NULL;
        const char *format = "table";
        struct json_object *all;
        bool quiet = false;
        size_t n = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "+f:qh", options, NULL)) != -1) {
                switch (c) {
                case 'f':
                        format = optarg;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'h':
                        printf("usage: hull list [--format table|json] [--quiet]\n\n"
                               "List the containers under --root.\n\n"
                               "  -f, --format FORMAT   table (default) or json (a list of OCI states)\n"
                               "  -q, --quiet           print the ids only\n");
                        return 0;
                default:
                        return hull_error_set(err, EINVAL, "list: bad option %s", argv[optind - 1]);
                }
        }
        if (!streq(format, "table") && !streq(format, "json"))
                return hull_error_set(err, EINVAL, "list: invalid format \"%s\" (table or json)", format);
        if (optind < argc)
                return hull_error_set(err, EINVAL, "list: unexpected argument \"%s\"", argv[optind]);
        r = list_ids(ctx, &ids, &n, err);
        if (r < 0)
                return r;
        if (quiet) {
                for (size_t i = 0; i < n; i++)
                        printf("%s\n", ids[i]);
                return 0;
        }
        all = json_object_new_array();
        if (!all)
                return hull_error_oom(err);
        for (size_t i = 0; i < n; i++) {
                struct json_object *o;
                /* A container that vanished meanwhile (or a stray directory) is left out, as runc does. */
                if (state_of(ctx, ids[i], &o, NULL) >= 0)
                        json_object_array_add(all, o);
        }
        if (streq(format, "json")) {
                printf("%s\n",
                       json_object_to_json_string_ext(all, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        } else {
                printf("%-20s %-10s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
                for (size_t i = 0; i < json_object_array_length(all); i++) {
                        struct json_object *o = json_object_array_get_idx(all, i), *v;
#define FIELD(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "")
                        printf("%-20s ", FIELD("id"));
                        printf("%-10s ", FIELD("pid"));
                        printf("%-10s ", FIELD("status"));
                        printf("%-40s ", FIELD("bundle"));
                        printf("%-30s ", FIELD("created"));
                        printf("%s\n", FIELD("owner")[0] ? FIELD("owner") : "root");
#undef FIELD
                }
        }
        json_object_put(all);
        return 0;
}
