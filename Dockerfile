# Walle on Ray for KubeRay: the walle package, the Serve application, the
# examples and the benchmarks, on the Ray image whose version matches the
# "ray" dependency that the project is tested with.
#
#   docker build -t REGISTRY/walle-ray:0.1.0 .
#
# KubeRay starts Ray in this image on the head and worker pods; the
# RayService imports serve_app.app:app from /app, and the RayJobs run
# "walle run" and "python -m walle_ray.kube.benchjob" there.
FROM rayproject/ray:2.60.0-py311

ENV WALLE_APP_DIR=/app \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The base image runs as the unprivileged user "ray"; /app belongs to it so
# the benchmarks can write benchmarks/results/.
USER root
RUN mkdir -p /app && chown ray:users /app
USER ray
WORKDIR /app

# Ray is already in the base image at the pinned version, so pip keeps it
# and installs only the other dependencies.
COPY --chown=ray:users . /app
RUN pip install --no-cache-dir /app \
    && mkdir -p /app/benchmarks/results \
    && walle --version

EXPOSE 8000 8265
