# One image for both processes; docker-compose.yml runs it twice.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HOME=/data/hf
WORKDIR /app
# OpenBLAS: MLX's CPU backend multiplies float32 matrices with it (MLX_SERVER_CPU_BLAS=auto).
RUN apt-get update && apt-get install -y --no-install-recommends libopenblas0-pthread \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY shared_schemas ./shared_schemas
COPY service_kit ./service_kit
COPY manager ./manager
COPY inference_server ./inference_server
COPY modelyard ./modelyard
COPY modelyard_dev ./modelyard_dev
RUN pip install .
RUN useradd --create-home modelyard && mkdir -p /data && chown modelyard /data
USER modelyard
