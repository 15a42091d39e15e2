# The front door: `make run` runs the main job, `make test` runs every test.
BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all build run test test-cpu install gpu-check bench accuracy resources sass-compare python-deps clean

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/fp8block run

python-deps:
	@scripts/ensure-python-deps

# Every test: GPU tests skip cleanly (ctest "Not Run/Skipped") where there is no GPU. The
# project's .venv, where ensure-python-deps made one, comes first on the tests' PATH.
TEST_PATH = PATH="$(CURDIR)/.venv/bin:$$PATH"
test: build python-deps
	cd $(BUILD) && $(TEST_PATH) ctest --output-on-failure -j $(JOBS)

test-cpu: build python-deps
	cd $(BUILD) && $(TEST_PATH) ctest --output-on-failure -j $(JOBS) -L cpu

# The header, both libraries, the CMake package and fp8block.pc: make install PREFIX=$HOME/.local
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# On a GPU machine: build, GPU tests, sanitizers and the benchmark in one go.
gpu-check:
	scripts/gpu-check

bench: build
	./$(BUILD)/fp8block bench

accuracy: build
	./$(BUILD)/fp8block accuracy

# Registers, shared memory and spills of every kernel (ptxas -v).
resources:
	cmake -S . -B $(BUILD)-ptxas $(CMAKE_FLAGS) -DFP8BLOCK_PTXAS_VERBOSE=ON
	cmake --build $(BUILD)-ptxas -j $(JOBS) --target fp8block_objects --clean-first 2>&1 | grep -E 'Compiling entry|registers|spill' || true

# Same machine code for every kernel as commit BASE (builds both sides, compares
# cuobjdump -sass per kernel): make sass-compare BASE=8dc6f85 [SASS_FLAGS=--resources]
BASE ?= HEAD
sass-compare:
	scripts/sass-compare $(SASS_FLAGS) $(BASE)

clean:
	rm -rf $(BUILD) $(BUILD)-ptxas
