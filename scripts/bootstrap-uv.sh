#!/usr/bin/env bash
# Source this file: it puts uv (the locked environment manager) on PATH, installing the
# pinned version with pip on a fresh machine.
UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1 || [[ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]]; then
    python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" >&2
    export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
fi
