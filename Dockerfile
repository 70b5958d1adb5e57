# One image for every OneWindow service and the operator command:
#   docker run IMAGE serve intake | setup | health --service fees | ...
#
# The base is pinned by digest (the multi-arch index of python:3.11-slim as
# published on Docker Hub), so a rebuild gets the same Python and Debian.
# To move to a newer patch release: `docker pull python:3.11-slim`, then
# `docker inspect --format '{{index .RepoDigests 0}}' python:3.11-slim` and
# put that digest here.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# ---- build: the runtime lock (requirements.txt, hashes checked; the test lock
# requirements-test.txt never enters the image) and the project, in a virtualenv
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/onewindow
WORKDIR /src
COPY requirements.txt ./
RUN /opt/onewindow/bin/pip install --require-hashes -r requirements.txt
COPY pyproject.toml ./
COPY onewindow ./onewindow
COPY services ./services
RUN /opt/onewindow/bin/pip install --no-deps --no-build-isolation . \
    && /opt/onewindow/bin/python -m compileall -q /opt/onewindow

# ---- run: the virtualenv only, no compiler, no pip cache, no source tree
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/onewindow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PSYCOPG_WAIT_FUNC=wait_select \
    OW_TIME_ZONE=Asia/Shanghai \
    TZ=Asia/Shanghai
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin onewindow
COPY --from=build /opt/onewindow /opt/onewindow
WORKDIR /opt/onewindow
USER 10001:10001
EXPOSE 9101 9102 9103 9104 9105 9106 9107 8000 8001 8002
# Healthy when the service this container serves (`serve SERVICE`, read from
# PID 1's command line) answers `health` over RPC through the broker and
# reaches its database. Containers that serve nothing (setup) count healthy.
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "service=$(tr '\\000' '\\n' < /proc/1/cmdline | sed -n '/^serve$/{n;p;q;}'); [ -z \"$service\" ] || exec onewindow health --service \"$service\" --timeout 5"]
ENTRYPOINT ["onewindow"]
CMD ["--help"]
