# One image for every process; compose.yaml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY workers ./workers
COPY service ./service
RUN pip install --no-cache-dir .
ENV DD_HOST=0.0.0.0
USER nobody
ENTRYPOINT ["dossier-dispatch"]
