/* Internal to src/config: the tables that describe every known section and key of Kata's
 * configuration.toml (type, where the value lives, default, limits, whether hull acts on it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum hull_config_type {
        HULL_CONFIG_BOOL,
        HULL_CONFIG_STRING, /* char *; choices restrict the values when set */
        HULL_CONFIG_PATH, /* char *; a host path: made absolute against the file's directory */
        HULL_CONFIG_STRV, /* char **, NULL-terminated */
        HULL_CONFIG_PATHV, /* char **, each a host path */
        HULL_CONFIG_I32,
        HULL_CONFIG_U32,
        HULL_CONFIG_I64,
        HULL_CONFIG_U64, /* TOML integers are signed 64-bit: 0..INT64_MAX */
        HULL_CONFIG_FLOAT, /* double; integers are accepted too (Kata writes default_vcpus = 1) */
        HULL_CONFIG_ARRAY, /* any array (of tables), kept only in hull_config.toml */
        HULL_CONFIG_TABLE, /* a nested table described by .sub */
};

/* Key flags */
#define HULL_CONFIG_ACTED 0x1u /* hull acts on the value; otherwise a non-default value warns */
#define HULL_CONFIG_ALIAS 0x2u /* a second spelling of the previous key: same field, not printed */

struct hull_config_section;

struct hull_config_key {
        const char *name;
        enum hull_config_type type;
        size_t offset; /* into the section's struct */
        unsigned flags;
        int64_t min, max; /* integers: inclusive range (defaults to the type's range when both are 0) */
        /* defaults */
        const char *def_str; /* STRING/PATH; NULL means "" */
        const char *const *def_str_by_kind; /* hypervisor keys whose default depends on the kind */
        int64_t def_int; /* integers and BOOL */
        double def_float;
        const char *const *choices; /* STRING: NULL-terminated list of accepted values ("" always ok) */
        const struct hull_config_section *sub; /* TABLE */
};

struct hull_config_section {
        const char *name; /* as printed in messages, e.g. "agent.kata.mem_agent" */
        const struct hull_config_key *keys;
        size_t n_keys;
};

extern const struct hull_config_section hull_config_section_hypervisor;
extern const struct hull_config_section hull_config_section_agent;
extern const struct hull_config_section hull_config_section_runtime;
extern const struct hull_config_section hull_config_section_factory;
extern const struct hull_config_section hull_config_section_image;

/* Limits on what a configuration file may hold. */
#define HULL_CONFIG_MAX_FILE_SIZE (1u << 20)
#define HULL_CONFIG_MAX_STRING 4096
#define HULL_CONFIG_MAX_ARRAY 1024

/* Store the default of every key of section into base (strings duplicated). -ENOMEM on failure. */
int hull_config_keys_set_defaults(const struct hull_config_section *section, void *base,
                                  enum hull_config_hypervisor_kind kind);
/* Free the strings and vectors of a section's struct. */
void hull_config_keys_free(const struct hull_config_section *section, void *base);
/* The default string of a key for a kind ("" when none). */
const char *hull_config_key_default_str(const struct hull_config_key *k, enum hull_config_hypervisor_kind kind);
void hull_config_key_range(const struct hull_config_key *k, int64_t *ret_min, int64_t *ret_max);
