FROM python:3.13-slim

# PATH puts the venv first; the RUN below looks up the base image's python before the
# venv exists and sets up with that one. No PYTHONDONTWRITEBYTECODE here: the build
# backend's hooks inherit the environment, and each of the four would compile the backend
# afresh (~0.2 s of a small release); the action itself runs with -B (ENTRYPOINT).
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NATIVE_TLS=1 \
    PATH="/opt/release/bin:$PATH"

COPY requirements/runtime.txt /tmp/runtime.txt

# One step, two jobs at once: the runner builds this image on every run, without a
# layer cache, so the cold build is part of every release.
#
# git, in the background. The action's checks (tracked changes, the tag's commit and its
# time) and setuptools-scm / hatch-vcs (describe, log, rev-parse, and ls-files and
# check-attr for what goes into an sdist) run only local commands: builtins of the one
# `git` executable, which links only libc, zlib and PCRE2, all in the base. So only that
# executable is taken from Debian's package (fetched by apt, which checks it against the
# signed index), with its copyright file; installing the package would add Perl, git-man
# and libcurl, 114 MB for commands never run here. The runner mounts the checkout owned
# by another uid, which git refuses ("dubious ownership") unless it is marked safe; doing
# that here also proves that git finds its libraries.
#
# The build's user: the action runs as root, and drops to this user (no login, no home:
# each build gets a private one) for every install and hook of the untrusted build, so
# that it cannot read the action's /proc/<pid>/environ or memory, nor write its files or
# the runner's (release/build.py, Sandbox).
#
# The dependencies, hash-locked, into a venv at a fixed path (the runner sets HOME): the
# base image's pip installs uv from its lines in the lock, then uv installs the lock.
# No bytecode is compiled: that costs more build time than it saves in one run's imports.
#
# DL3003: apt-get download saves into the working directory.
# hadolint ignore=DL3003
RUN set -eu; \
    export PYTHONDONTWRITEBYTECODE=1; \
    ( cd /tmp \
      && apt-get update -qq -o Acquire::Languages=none \
      && apt-get download -qq git \
      && dpkg-deb --fsys-tarfile git_*.deb >/tmp/git.tar ) >/tmp/git.log 2>&1 & \
    git_job=$!; \
    python=$(command -v python); \
    "$python" -m venv --without-pip /opt/release; \
    awk '/^uv==/ { found = 1 } found { print; if (!/\\$/) exit }' /tmp/runtime.txt >/tmp/uv.txt; \
    "$python" -m pip --python /opt/release/bin/python install -q --no-deps --no-compile \
        --require-hashes -r /tmp/uv.txt; \
    /opt/release/bin/uv pip install -q --no-cache --python /opt/release/bin/python \
        --no-deps --require-hashes -r /tmp/runtime.txt; \
    wait "$git_job" || { cat /tmp/git.log; exit 1; }; \
    tar -xf /tmp/git.tar -C / ./usr/bin/git ./usr/share/doc/git/copyright; \
    git config --system --add safe.directory '*'; \
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin release-build; \
    rm -rf /tmp/* /var/lib/apt/lists/* /var/cache/apt/*.bin

# The code last: a change to it rebuilds only these layers.
COPY entrypoint.py /opt/action/entrypoint.py
COPY release /opt/action/release

# -B: the action imports each module once, so bytecode written now would never be read.
ENTRYPOINT ["/opt/release/bin/python", "-B", "/opt/action/entrypoint.py"]
