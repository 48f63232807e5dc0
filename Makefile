# Thin wrapper over meson: `make`, `make demo`, `make check`, `make bench`, `make install PREFIX=...`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
PREFIX     ?= /usr/local
PYTHON     ?= /usr/bin/python3
MESON_OPTS ?=

.PHONY: all deps build kernel demo check bench install clean format

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(abspath $(PREFIX)) $(MESON_OPTS) >/dev/null

build: $(BUILD)/build.ninja
	@ninja -C $(BUILD)

# hull's trimmed guest kernel (guest/kernel/): minutes the first time, then taken from the per-machine cache.
kernel: deps
	@guest/kernel/build.sh $(BUILD)/guest

demo: deps build kernel
	@scripts/demo.sh $(BUILD)

check: deps
	@scripts/check.sh $(BUILD) $(ASAN_BUILD)

bench: deps build kernel
	@scripts/bench.sh $(BUILD)

# Installs under PREFIX; the installed configuration files point at the installed guest assets.
# A build directory of its own, so that the prefix baked into it never changes the test build.
INSTALL_BUILD ?= build-install
install:
	@if [ -f $(INSTALL_BUILD)/build.ninja ]; then meson configure $(INSTALL_BUILD) --prefix=$(abspath $(PREFIX)) >/dev/null; \
	 else meson setup $(INSTALL_BUILD) --prefix=$(abspath $(PREFIX)) $(MESON_OPTS) >/dev/null; fi
	@ninja -C $(INSTALL_BUILD)
	meson install -C $(INSTALL_BUILD) --quiet $(if $(DESTDIR),--destdir $(DESTDIR))

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(INSTALL_BUILD)
