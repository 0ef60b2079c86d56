# liverburden service image: slim Python 3.11, non-root user, `liverburden serve` as entrypoint.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LIVERBURDEN_HOME=/data

WORKDIR /opt/liverburden
COPY pyproject.toml README.md requirements.lock ./
COPY app ./app
COPY dicomio ./dicomio
COPY volumetrics ./volumetrics
COPY recist ./recist
COPY reporting ./reporting
COPY segmentation ./segmentation
COPY sample_dicom ./sample_dicom
# Exactly the locked versions, every file checked against its sha256; then the project without resolving.
RUN pip install --require-hashes -r requirements.lock \
    && pip install --no-deps --no-build-isolation . \
    && useradd --system --uid 10001 --home-dir /data --create-home liverburden \
    && chown -R liverburden /data

USER liverburden
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["liverburden"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
