FROM python:3.13-slim

# git: SOURCE_DATE_EPOCH from the tagged commit, and setuptools-scm / hatch-vcs versions.
# DL3008 ignored: git follows the base image's Debian release; a pinned version would
# stop installing at that release's next point update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    # The runner mounts the checkout owned by another uid; git refuses such a repository
    # ("dubious ownership") unless it is marked safe.
    && git config --system --add safe.directory '*'

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NATIVE_TLS=1

# Dependencies first, hash-locked, in a venv at a fixed path (the runner sets HOME), so a
# code change does not reinstall them. The base image's pip installs into the venv; the
# venv itself carries no pip.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN python -m venv --without-pip /opt/release \
    && python -m pip --python /opt/release/bin/python install --no-deps --require-hashes \
       -r /tmp/runtime.txt \
    && rm /tmp/runtime.txt

COPY entrypoint.py /opt/action/entrypoint.py
COPY release /opt/action/release

ENV PATH="/opt/release/bin:$PATH"
ENTRYPOINT ["/opt/release/bin/python", "/opt/action/entrypoint.py"]
