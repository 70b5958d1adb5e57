# One image for every OneWindow service and the operator command:
#   docker run IMAGE serve intake | setup | health --service fees | ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PSYCOPG_WAIT_FUNC=wait_select \
    OW_TIME_ZONE=Asia/Shanghai

WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements.txt

COPY pyproject.toml ./
COPY onewindow ./onewindow
COPY services ./services
COPY scripts ./scripts
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation . \
    && useradd --system --uid 10001 onewindow

USER onewindow
EXPOSE 9101 9102 9103 9104
ENTRYPOINT ["onewindow"]
CMD ["--help"]
