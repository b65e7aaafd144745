# kpi-operator image: `kpi-operator run` as a non-root user on a read-only root filesystem.
#
#   docker build -t kpi-operator:0.1.0 .
#
# Dependencies come pinned from requirements.lock; the project itself is installed without resolving anything
# (--no-deps), so the image holds exactly the locked set. tests/ship/test_image_install.py runs the same two pip
# steps in a fresh venv.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/kpi-operator
ENV PATH=/opt/kpi-operator/bin:$PATH
WORKDIR /src
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps . && pip check

FROM python:3.11-slim
ENV PATH=/opt/kpi-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 65532 kpi-operator \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin kpi-operator
COPY --from=build /opt/kpi-operator /opt/kpi-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["kpi-operator", "run"]
