# Included into llama.cpp's own CMake project while pip builds llama-cpp-python
# (CMAKE_PROJECT_llama.cpp_INCLUDE, set by scripts/install-deps.sh): llama-cpp-python forces
# LLAMA_BUILD_COMMON on in its cache, and a normal variable of the same name overrides the
# cache inside llama.cpp's scope, so the `common` library (argument parsing, chat templates,
# none of which the Python bindings load) is neither built nor installed. The build is then
# libggml-base, libggml-cpu, libggml and libllama only.
set(LLAMA_BUILD_COMMON OFF)
