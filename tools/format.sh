#!/usr/bin/env bash
# Formats every C++ file git tracks under src/, include/, tests/ and tools/ with the
# repository's .clang-format; `tools/format.sh --check` changes nothing, lists the files that
# differ and exits 1 if there are any (tools/test.sh runs it so).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-fix}
if ! command -v clang-format >/dev/null; then
    echo "format: clang-format is missing (Debian package clang-format; tools/setup.sh installs it)" >&2
    exit 1
fi
mapfile -t files < <(git ls-files -- 'src/*.cpp' 'src/*.hpp' 'include/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 'tools/*.cpp')
if [[ $mode == --check ]]; then
    bad=()
    for f in "${files[@]}"; do
        if ! clang-format --style=file "$f" | cmp -s - "$f"; then bad+=("$f"); fi
    done
    if ((${#bad[@]} > 0)); then
        echo "format: ${#bad[@]} file(s) differ from .clang-format (run tools/format.sh):" >&2
        printf '  %s\n' "${bad[@]}" >&2
        exit 1
    fi
    echo "format: ${#files[@]} C++ files match .clang-format"
    exit 0
fi
clang-format --style=file -i "${files[@]}"
echo "format: formatted ${#files[@]} C++ files"
