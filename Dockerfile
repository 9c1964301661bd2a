# metalab's services (registry, tunnel, orchestrator) in one image; see docs/containers.md.
# Build with scripts/build-image.sh: it fills build/wheelhouse/ on the host (pip wheel) and this
# file installs from it alone (pip --no-index), so the build needs no Python package index.
ARG BASE_IMAGE=python:3.11-slim

# The virtualenv, built apart so that the wheels never land in a layer of the final image.
FROM ${BASE_IMAGE} AS venv
COPY build/wheelhouse/deps/ /wheels/deps/
RUN python3 -m venv /opt/metalab \
 && /opt/metalab/bin/pip install -q --no-index --no-deps --disable-pip-version-check /wheels/deps/*.whl
COPY build/wheelhouse/metalab/ /wheels/metalab/
RUN /opt/metalab/bin/pip install -q --no-index --no-deps --disable-pip-version-check /wheels/metalab/*.whl \
 && /opt/metalab/bin/pip check --disable-pip-version-check \
 && /opt/metalab/bin/pip uninstall -q -y --disable-pip-version-check pip setuptools

FROM ${BASE_IMAGE}
# PostgreSQL's server programs for `local` provisioning: the base image's own when it has them
# (air-gapped sites: bake them into the base image), else from the base image's apt sources,
# without the JIT (LLVM alone is 130 MB; PostgreSQL runs without JIT when its provider is
# absent) and without docs.
RUN if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then exit 0; fi \
 && printf 'path-exclude=%s\n' '/usr/lib/*/libLLVM*' '/usr/lib/*/libz3.so*' \
      '/usr/lib/postgresql/*/lib/llvmjit*' '/usr/lib/postgresql/*/lib/bitcode/*' \
      '/usr/share/doc/*' '/usr/share/man/*' >/etc/dpkg/dpkg.cfg.d/metalab-slim \
 && mkdir -p /etc/postgresql-common \
 && echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf \
 && apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
# The account the services run as; its uid/gid should be those of the host user who owns the
# shared root (initdb and getpass need the uid in /etc/passwd). Never root. /root becomes
# searchable (not readable) so that root's shared root, e.g. /root/metalab-shared, mounted at
# the same path, is reachable by the account.
ARG METALAB_UID=1000
ARG METALAB_GID=1000
RUN test "$METALAB_UID" -ne 0 \
 && { getent group "$METALAB_GID" >/dev/null || groupadd --gid "$METALAB_GID" metalab; } \
 && useradd --uid "$METALAB_UID" --gid "$METALAB_GID" --create-home --shell /usr/sbin/nologin \
      metalab \
 && chmod o+x /root
COPY --from=venv /opt/metalab /opt/metalab
ENV PATH=/opt/metalab/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1
USER metalab
WORKDIR /home/metalab
ENTRYPOINT ["metalab"]
CMD ["server", "--help"]
